"""Days of history for the charts: jobs really run, on a clock set back in time.

:mod:`demo.seed` runs a clinic's day of work when the demo starts, so on its own every
sparkline and the 24h / 7d / 90d charts would show one spike: the last few minutes. Before
it, this module runs small batches of emails and notifications "in the past": for each
moment of the last 90 days it chooses (hourly for a day, a few times a day for a week,
every few days before that), it sets jobboard's clock back to that moment, queues the
batch through the demo's own Huey instances, lets an in-process consumer run it, and rolls
the minute counters up into the daily ones, as the consumers' heartbeat does.

Nothing is written into jobboard's keys by hand: the records, timings and metric buckets
are what jobboard itself wrote, only with an earlier ``now``. The clock is jobboard's
``now_ms`` (every timestamp it records comes from it); Huey's own clock is untouched, so
jobs are run at once whatever their recorded time. Retention then trims the old records as
it would have (completed after a day, failed after a week); the metrics remain.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import jobboard
import jobboard.storage
import jobboard.tracking
from jobboard.primitives import now_ms as real_now_ms

HOUR = 3600
DAY = 86400


def moments(now: float, rng: random.Random) -> list[float]:
    """The past times (Unix seconds, oldest first) that get a batch of jobs."""
    out = [now - h * HOUR - rng.uniform(0, HOUR) for h in range(1, 24)]  # the last day
    for day in range(1, 7):  # the last week, clinic hours
        out += [now - day * DAY - rng.uniform(0, 10 * HOUR) for _ in range(4)]
    out += [now - day * DAY - rng.uniform(0, DAY) for day in range(7, 90, 3)]  # 90 days
    return sorted(out)


@contextlib.contextmanager
def clock_set_back() -> Iterator[Callable[[float], None]]:
    """jobboard's clock, set back by what the yielded function is given (seconds ago)."""
    offset = {"ms": 0}

    def now_ms() -> int:
        return real_now_ms() - offset["ms"]

    def set_back(seconds: float) -> None:
        offset["ms"] = int(seconds * 1000)

    modules = (jobboard.tracking, jobboard.storage)
    saved = [m.now_ms for m in modules]
    for m in modules:
        m.now_ms = now_ms  # type: ignore[assignment]
    try:
        yield set_back
    finally:
        for m, original in zip(modules, saved):
            m.now_ms = original  # type: ignore[assignment]


def _consumers(hueys: list[Any]) -> list[Any]:
    """Huey's consumer for each queue, in threads of this process (no signal handlers)."""
    started = []
    for huey in hueys:
        consumer = huey.create_consumer(workers=4, worker_type="thread", periodic=False,
                                        check_worker_health=False, scheduler_interval=1)
        consumer.scheduler.start()
        for _, worker_thread in consumer.worker_threads:
            worker_thread.start()
        started.append(consumer)
    return started


def backfill(*, rng_seed: int = 11, per_moment: int = 4, verbose: bool = True) -> int:
    """Run the batches of the past 90 days; returns how many jobs ran."""
    import worker  # imported late: REDIS_URL must be set before worker connects

    from . import payloads

    rng = random.Random(rng_seed)
    board = jobboard.Board([worker.emails, worker.notifications])
    queues = [board.queue("emails"), board.queue("notifications")]
    trackers = [worker.emails.jobboard, worker.notifications.jobboard]
    now = time.time()
    ran = 0
    started = time.monotonic()
    times = moments(now, rng)
    with clock_set_back() as set_back:
        # Set back before the consumers start: their heartbeat rolls minutes up too, and
        # must never see a later time than the batch being run.
        set_back(now - times[0])
        consumers = _consumers([worker.emails, worker.notifications])
        try:
            for at in times:
                set_back(now - at)
                for tracker in trackers:  # the heartbeat's rollup marker starts here
                    tracker.beat()
                for i in range(per_moment):
                    bounce = rng.random() < 0.08  # a mistyped address: the email fails
                    email = payloads.email_payload({
                        "to": f"history-{ran + i}@example.{'invalid' if bounce else 'org'}",
                        "subject": "Your visit summary", "template": "notification",
                        "priority": 3, "context": {"title": "Your visit summary",
                                                   "message": "Thank you for visiting.",
                                                   "action_url": None}})
                    notice = payloads.notification_payload({
                        "type": "visit_summary", "recipient_id": "history",
                        "title": "Visit summary", "message": "Your summary is ready.",
                        "channels": ["in_app"]})
                    # No retries: a retry's backoff would run on Huey's (real) clock.
                    queues[0].enqueue("send_email", args=(email,), retries=0)
                    queues[1].enqueue("send_notification", args=(notice,), retries=0)
                ran += 2 * per_moment
                deadline = time.monotonic() + 30
                while any(q.counts()["waiting"] + q.counts()["active"] for q in queues):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the history's jobs did not run within 30 s")
                    time.sleep(0.02)
                set_back(now - at - 120)  # two minutes on: those minutes are complete
                for tracker in trackers:
                    tracker.beat()  # rolls the batch's minutes into the daily counters
        finally:
            for consumer in consumers:
                consumer.stop(graceful=True)
    if verbose:
        print(f"ran {ran} jobs of the last 90 days in {time.monotonic() - started:.1f}s",
              flush=True)
    return ran
