"""``<prefix>/metrics``: Prometheus exposition, read from Redis at scrape time.

A custom collector asks the core for the current numbers on every scrape instead of keeping
counters in this process, so every web process reports the same truth (the one in Redis)
and a restart loses nothing. Needs the viewer role unless ``JOBBOARD_METRICS_OPEN``.

Families (all labelled by ``queue``):

* ``jobboard_jobs{queue,state}``: jobs in each state now (the numbers of ``Queue.counts()``);
* ``jobboard_queue_paused``, ``jobboard_consumers_alive``, ``jobboard_consumer_workers``;
* ``jobboard_queue_events{queue,event,window}``: jobs enqueued / completed / failed / retried
  over the last hour and day, from the core's per-minute buckets (a sliding window, hence a
  gauge: a Prometheus counter must never go down);
* ``jobboard_job_wait_seconds`` / ``jobboard_job_run_seconds{queue,task,quantile}``: p50,
  p95 and p99 of the last hour per task, from the core's distributions;
* ``jobboard_health_healthy``, ``jobboard_oldest_waiting_age_seconds``;
* ``jobboard_redis_up``: 0 when Redis did not answer (the scrape itself still succeeds so the
  outage is visible as a value, not as a missing target).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, request
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from ..board import Board
from ..errors import REDIS_OUTAGE
from ..records import STATES
from ..shared.state import get_board, get_state
from . import access
from .errors import to_response

log = logging.getLogger("jobboard.api")

metrics_blueprint = Blueprint("jobboard_metrics", __name__)

QUANTILES = (("p50", "0.5"), ("p95", "0.95"), ("p99", "0.99"))
EVENTS = ("enqueued", "completed", "failed", "retried")
#: Windows reported by jobboard_queue_events (the core's own metric windows).
EVENT_WINDOWS = ("1h", "24h")


class BoardCollector:
    """Collects every jobboard family from one core Board, at scrape time."""

    def __init__(self, board: Board, per_task: bool = True,
                 health_thresholds: dict[str, Any] | None = None) -> None:
        self.board = board
        self.per_task = per_task
        self.health_thresholds = health_thresholds

    def describe(self) -> list[Metric]:
        # Nothing to describe up front: describing would mean a Redis round trip at
        # registration time, and a registry built per scrape does not need it.
        return []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("jobboard_redis_up", "1 when Redis answered this scrape, else 0.")
        started = time.perf_counter()
        try:
            families = list(self._families())
        except REDIS_OUTAGE as e:
            log.warning("metrics scrape: Redis unavailable: %s", e)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families
        took = GaugeMetricFamily("jobboard_scrape_duration_seconds",
                                 "Time spent reading Redis for this scrape.")
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _families(self) -> Iterator[Metric]:
        board = self.board
        queues = board.queues()
        all_counts = board.all_counts()

        jobs = GaugeMetricFamily("jobboard_jobs", "Jobs in each state now.",
                                 labels=["queue", "state"])
        paused = GaugeMetricFamily("jobboard_queue_paused", "1 when the queue is paused.",
                                   labels=["queue"])
        for q in queues:
            counts = all_counts.get(q.name) or q.counts()
            for state in STATES:
                jobs.add_metric([q.name, state], int(counts.get(state, 0)))
            paused.add_metric([q.name], 1 if counts.paused else 0)
        yield jobs
        yield paused

        alive = GaugeMetricFamily("jobboard_consumers_alive",
                                  "Consumer processes with a live heartbeat.", labels=["queue"])
        workers = GaugeMetricFamily("jobboard_consumer_workers",
                                    "Worker threads/processes/greenlets of live consumers.",
                                    labels=["queue"])
        n_alive = {q.name: 0 for q in queues}
        n_workers = {q.name: 0 for q in queues}
        for c in board.consumers():
            n_alive[c.queue] = n_alive.get(c.queue, 0) + 1
            n_workers[c.queue] = n_workers.get(c.queue, 0) + int(c.workers)
        for name in sorted(n_alive):
            alive.add_metric([name], n_alive[name])
            workers.add_metric([name], n_workers.get(name, 0))
        yield alive
        yield workers

        events = GaugeMetricFamily(
            "jobboard_queue_events",
            "Jobs enqueued/completed/failed/retried over a sliding window.",
            labels=["queue", "event", "window"])
        wait = GaugeMetricFamily("jobboard_job_wait_seconds",
                                 "Time from enqueue to start, quantiles over the last hour.",
                                 labels=["queue", "task", "quantile"])
        run = GaugeMetricFamily("jobboard_job_run_seconds",
                                "Run time, quantiles over the last hour.",
                                labels=["queue", "task", "quantile"])
        healthy = GaugeMetricFamily("jobboard_health_healthy",
                                    "1 when the queue passes its health thresholds.",
                                    labels=["queue"])
        oldest = GaugeMetricFamily("jobboard_oldest_waiting_age_seconds",
                                   "Age of the oldest waiting job (0 when none waits).",
                                   labels=["queue"])
        lifetime = CounterMetricFamily(
            "jobboard_job_events", "Jobs enqueued/completed/failed/retried since the queue began "
            "(monotonic: use rate()).", labels=["queue", "event"])
        duplicates = CounterMetricFamily(
            "jobboard_duplicate_runs", "Runs of a job by a delivery that had lost its lease "
            "(a consumer paused past its lease): their late ends were ignored.", labels=["queue"])
        for q in queues:
            totals_all = q.totals()
            for event in EVENTS:
                lifetime.add_metric([q.name, event], getattr(totals_all, event))
            duplicates.add_metric([q.name], totals_all.duplicates)
            for window in EVENT_WINDOWS:
                totals = q.metrics(window).totals
                for event in EVENTS:
                    events.add_metric([q.name, event, window], getattr(totals, event))
            if self.per_task:
                for task in q.tasks():
                    m = q.metrics("1h", task=task)
                    for key, quantile in QUANTILES:
                        w, r = m.wait_ms.get(key), m.run_ms.get(key)
                        if w is not None:
                            wait.add_metric([q.name, task, quantile], float(w) / 1000.0)
                        if r is not None:
                            run.add_metric([q.name, task, quantile], float(r) / 1000.0)
            h = q.health(self.health_thresholds)
            healthy.add_metric([q.name], 1 if h.healthy else 0)
            oldest.add_metric([q.name], float(h.oldest_waiting_age or 0.0))
        yield lifetime
        yield duplicates
        yield events
        yield wait
        yield run
        yield healthy
        yield oldest


def render(board: Board, accept: str | None = None, per_task: bool = True,
           health_thresholds: dict[str, Any] | None = None) -> tuple[bytes, str]:
    """The exposition text for ``board`` and its content type (OpenMetrics if accepted)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BoardCollector(board, per_task, health_thresholds))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


metrics_blueprint.register_error_handler(Exception, to_response)


@metrics_blueprint.get("/metrics")
def metrics() -> Response:
    if not access.open_flag("JOBBOARD_METRICS_OPEN"):
        access.check("viewer")
    body, content_type = render(
        get_board(), request.headers.get("Accept"),
        per_task=access.open_flag("JOBBOARD_METRICS_PER_TASK"),
        health_thresholds=get_state().config["JOBBOARD_HEALTH_THRESHOLDS"] or None)
    resp = Response(body, content_type=content_type)
    resp.headers["Cache-Control"] = "no-store"
    return resp
