"""``<prefix>/metrics``: Prometheus exposition, read from Redis at scrape time.

A custom collector asks the core for the current numbers on every scrape instead of keeping
counters in this process, so every web process reports the same truth (the one in Redis)
and a restart loses nothing. Needs the viewer role unless ``JOBBOARD_METRICS_OPEN``.
Clean under ``promtool check metrics`` (tests/test_prometheus.py runs it on a scrape).

Families (labelled by ``queue``; ``task`` only while ``JOBBOARD_METRICS_PER_TASK``):

* ``jobboard_build_info{version,huey_version,python_version}`` (always 1);
* ``jobboard_jobs{queue,state}``: jobs in each state now (the numbers of ``Queue.counts()``);
* ``jobboard_queue_paused``, ``jobboard_consumers_alive``, ``jobboard_consumer_workers``,
  ``jobboard_oldest_waiting_age_seconds``;
* ``jobboard_job_events_total{queue,task,event}``: lifetime counters (use ``rate()``) of
  enqueued / completed / failed / retried / revoked / expired / canceled;
* ``jobboard_job_wait_seconds`` and ``jobboard_job_run_seconds{queue,task}``: cumulative
  histograms (``_bucket{le}``, ``_sum``, ``_count``) built from the core's latency buckets,
  exact at every ``le`` (1 ms to 2**24 ms, doubling), so ``histogram_quantile`` works over
  any window and across instances;
* ``jobboard_stalled_recovered_total``, ``jobboard_duplicate_runs_total``;
* ``jobboard_health_healthy{queue}`` and ``jobboard_health_problem{queue,check}`` (0/1 per
  rule of ``jobboard.checks``: the same verdicts as ``/health/detailed`` and the alerts),
  ``jobboard_redis_memory_used_bytes`` / ``jobboard_redis_memory_max_bytes``;
* ``jobboard_queue_events{queue,event,window}``: events over the last hour and day (a
  sliding window, hence a gauge);
* ``jobboard_redis_up``: 0 when Redis did not answer (the scrape itself still succeeds so the
  outage is visible as a value, not as a missing target).

Task labels are capped at ``JOBBOARD_METRICS_MAX_TASKS`` per queue (the first names in
sorted order); the counts of every other task, and anything counted before per-task
counters existed, go to ``task="_other"``, so a sum over tasks is always the queue's total.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Iterator, Mapping
from typing import Any

import huey
from flask import Blueprint, Response, request
from prometheus_client import CollectorRegistry
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
                                    InfoMetricFamily, Metric)
from prometheus_client.exposition import choose_encoder

from ..board import Board
from ..checks import CHECKS
from ..errors import REDIS_OUTAGE
from ..records import EVENT_FIELDS, STATES, Distribution, Lifetime
from ..shared.state import get_board, get_state, health_thresholds
from ..version import __version__
from . import access
from .errors import to_response

log = logging.getLogger("jobboard.api")

metrics_blueprint = Blueprint("jobboard_metrics", __name__)

#: Events reported by the sliding-window gauge jobboard_queue_events.
WINDOW_EVENTS = ("enqueued", "completed", "failed", "retried")
#: Windows reported by jobboard_queue_events (the core's own metric windows).
EVENT_WINDOWS = ("1h", "24h")
#: The histograms' upper bounds: 2**k ms for k in 0..HISTOGRAM_MAX_EXPONENT. Every other
#: core bucket ends there (they are sqrt(2) wide), so each cumulative count is exact.
HISTOGRAM_MAX_EXPONENT = 24
HISTOGRAM_BOUNDS = tuple(2 ** k / 1000.0 for k in range(HISTOGRAM_MAX_EXPONENT + 1))
#: The task label of counts not attributed to a labelled task.
OTHER_TASK = "_other"
DEFAULT_MAX_TASKS = 50


def cumulative(d: Distribution) -> list[tuple[str, float]]:
    """``(le, cumulative count)`` pairs of a distribution, +Inf last.

    Core bucket ``b`` ends at ``2**(b/2)`` ms, so the count at ``le = 2**k`` ms is the sum
    of buckets ``0..2k``."""
    out: list[tuple[str, float]] = []
    ordered = sorted(d.buckets.items())
    seen, i = 0, 0
    for k, bound in enumerate(HISTOGRAM_BOUNDS):
        while i < len(ordered) and ordered[i][0] <= 2 * k:
            seen += ordered[i][1]
            i += 1
        out.append((repr(bound), float(seen)))  # 2**k / 1000: never integral
    out.append(("+Inf", float(d.count)))
    return out


def _minus(a: Distribution, parts: list[Distribution]) -> Distribution:
    buckets = dict(a.buckets)
    for p in parts:
        for b, n in p.buckets.items():
            buckets[b] = buckets.get(b, 0) - n
    return Distribution({b: max(0, n) for b, n in buckets.items() if n > 0},
                        max(0, a.sum_ms - sum(p.sum_ms for p in parts)))


class BoardCollector:
    """Collects every jobboard family from one core Board, at scrape time."""

    def __init__(self, board: Board, per_task: bool = True,
                 health_thresholds: Mapping[str, Any] | None = None,
                 max_tasks: int = DEFAULT_MAX_TASKS) -> None:
        self.board = board
        self.per_task = per_task
        self.health_thresholds = health_thresholds
        self.max_tasks = max(0, int(max_tasks))

    def describe(self) -> list[Metric]:
        # Nothing to describe up front: describing would mean a Redis round trip at
        # registration time, and a registry built per scrape does not need it.
        return []

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily("jobboard_build", "The jobboard serving this scrape.")
        info.add_metric([], {"version": __version__, "huey_version": huey.__version__,
                             "python_version": platform.python_version()})
        yield info
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

    def _task_split(self, life: Lifetime) -> tuple[list[str], bool]:
        """(labelled tasks, whether an _other series is needed)."""
        tasks = life.tasks()
        return tasks[: self.max_tasks], len(tasks) > self.max_tasks

    def _families(self) -> Iterator[Metric]:
        board = self.board
        queues = board.queues()
        all_counts = board.all_counts()
        health = board.health(self.health_thresholds)
        by_queue = {h.queue: h for h in health.queues}

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

        task_labels = ["queue", "task"] if self.per_task else ["queue"]
        events_total = CounterMetricFamily(
            "jobboard_job_events", "Jobs enqueued/completed/failed/retried/revoked/expired/canceled "
            "since the queue began (monotonic: use rate()). 'failed' counts locked and "
            "rate_limited ends too.", labels=[*task_labels, "event"])
        wait = HistogramMetricFamily(
            "jobboard_job_wait_seconds", "Time from ready (enqueued, due or put back) to start.",
            labels=task_labels)
        run = HistogramMetricFamily("jobboard_job_run_seconds", "Run time of finished runs.",
                                    labels=task_labels)
        stalled = CounterMetricFamily(
            "jobboard_stalled_recovered", "Jobs put back to waiting because their consumer "
            "stopped heartbeating (lease lapsed).", labels=["queue"])
        duplicates = CounterMetricFamily(
            "jobboard_duplicate_runs", "Runs of a job by a delivery that had lost its lease "
            "(a consumer paused past its lease): their late ends were ignored.", labels=["queue"])
        window_events = GaugeMetricFamily(
            "jobboard_queue_events",
            "Jobs enqueued/completed/failed/retried over a sliding window.",
            labels=["queue", "event", "window"])
        for q in queues:
            life = q.lifetime()
            stalled.add_metric([q.name], life.stalled)
            duplicates.add_metric([q.name], life.duplicates)
            if not self.per_task:
                for event, n in life.events().items():
                    events_total.add_metric([q.name, event], n)
                wait.add_metric([q.name], cumulative(life.wait()), life.wait().sum_ms / 1000.0)
                run.add_metric([q.name], cumulative(life.run()), life.run().sum_ms / 1000.0)
            else:
                self._per_task(q.name, life, events_total, wait, run)
            for window in EVENT_WINDOWS:
                totals = q.metrics(window).totals
                for event in WINDOW_EVENTS:
                    window_events.add_metric([q.name, event, window], getattr(totals, event))
        yield events_total
        yield wait
        yield run
        yield stalled
        yield duplicates
        yield window_events

        healthy = GaugeMetricFamily("jobboard_health_healthy",
                                    "1 when the queue passes every health check (jobboard.checks).",
                                    labels=["queue"])
        problem = GaugeMetricFamily(
            "jobboard_health_problem", "1 while a health check fails for the queue (the "
            "reasons of /health/detailed; thresholds: JOBBOARD_HEALTH_THRESHOLDS).",
            labels=["queue", "check"])
        oldest = GaugeMetricFamily("jobboard_oldest_waiting_age_seconds",
                                   "Age of the oldest waiting job (0 when none waits).",
                                   labels=["queue"])
        queue_checks = [c for c in CHECKS if not c.startswith("redis_")]
        for q in queues:
            h = by_queue.get(q.name) or q.health(self.health_thresholds)
            healthy.add_metric([q.name], 1 if h.healthy else 0)
            failing = {p.check for p in h.problems}
            for check in queue_checks:
                problem.add_metric([q.name, check], 1 if check in failing else 0)
            oldest.add_metric([q.name], float(h.oldest_waiting_age or 0.0))
        yield healthy
        yield problem
        yield oldest
        if health.redis is not None:
            used = GaugeMetricFamily("jobboard_redis_memory_used_bytes",
                                     "Redis used_memory (INFO memory).")
            used.add_metric([], health.redis.used_memory)
            limit = GaugeMetricFamily("jobboard_redis_memory_max_bytes",
                                      "Redis maxmemory (0: no limit).")
            limit.add_metric([], health.redis.maxmemory)
            yield used
            yield limit

    def _per_task(self, queue: str, life: Lifetime, events_total: CounterMetricFamily,
                  wait: HistogramMetricFamily, run: HistogramMetricFamily) -> None:
        tasks, _ = self._task_split(life)
        queue_events = life.events()
        labelled = {t: life.events(t) for t in tasks}
        for task, events in labelled.items():
            for event, n in events.items():
                events_total.add_metric([queue, task, event], n)
        other = {e: max(0, n - sum(labelled[t][e] for t in tasks)) for e, n in queue_events.items()}
        if any(other.values()):
            for event in EVENT_FIELDS:
                events_total.add_metric([queue, OTHER_TASK, event], other[event])
        for family, of in ((wait, life.wait), (run, life.run)):
            parts = [of(t) for t in tasks]
            for task, d in zip(tasks, parts):
                if d.count:
                    family.add_metric([queue, task], cumulative(d), d.sum_ms / 1000.0)
            rest = _minus(of(None), parts)
            if rest.count:
                family.add_metric([queue, OTHER_TASK], cumulative(rest), rest.sum_ms / 1000.0)


def render(board: Board, accept: str | None = None, per_task: bool = True,
           health_thresholds: Mapping[str, Any] | None = None,
           max_tasks: int = DEFAULT_MAX_TASKS) -> tuple[bytes, str]:
    """The exposition text for ``board`` and its content type (OpenMetrics if accepted)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BoardCollector(board, per_task, health_thresholds, max_tasks))
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
        health_thresholds=health_thresholds(),
        max_tasks=int(get_state().config["JOBBOARD_METRICS_MAX_TASKS"]))
    resp = Response(body, content_type=content_type)
    resp.headers["Cache-Control"] = "no-store"
    return resp
