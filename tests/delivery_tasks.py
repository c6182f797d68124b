"""Tasks for the delivery tests, run by real ``huey_consumer`` subprocesses.

    REDIS_URL=redis://... huey_consumer tests.delivery_tasks.huey -k process -w 2

Environment: ``REDIS_URL`` (required to build ``huey``; tests call ``build(url)``), ``LEASE_TIMEOUT`` (seconds, default 3),
``MAX_STALLS`` (default 5), ``JB_GEVENT=1`` to monkey-patch for ``-k greenlet`` (it must
happen before redis and threading are used, so here, at import), ``PERIODIC_CLOCK`` (an ISO
time, UTC) to freeze the clock the consumer's scheduler checks periodic tasks against, so
tests decide when a periodic task is due instead of waiting for the wall clock.

Every run of ``work`` / ``long_job`` / ``reporting`` RPUSHes its argument to the Redis list
``executions`` when it finishes its body, and ``started`` when it begins, so the tests
can count executions (duplicates) and see whether a job started at all.
"""

from __future__ import annotations

import os

if os.environ.get("JB_GEVENT") == "1":  # pragma: no cover - only in greenlet consumers
    from gevent import monkey

    monkey.patch_all()

import datetime as dt  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import redis  # noqa: E402
from huey import crontab  # noqa: E402
from huey import signals as S  # noqa: E402

import jobboard  # noqa: E402

_side: redis.Redis | None = None
_side_pid: int | None = None


def side(url: str) -> redis.Redis:
    """A client of our own for the test bookkeeping (one per process)."""
    global _side, _side_pid
    if _side is None or _side_pid != os.getpid():
        _side = redis.Redis.from_url(url)
        _side_pid = os.getpid()
    return _side


def build(url: str, lease_timeout: float = 3, max_stalls: int = 5) -> jobboard.RedisHuey:
    """The "fault" queue with its tasks. Tests build one in-process to enqueue; the
    consumers build theirs from the environment (``huey`` below)."""
    huey = jobboard.RedisHuey("fault", url=url, lease_timeout=lease_timeout,
                              max_stalls=max_stalls)

    @huey.task()
    def work(n: int, ms: int) -> int:
        """Sleep ``ms`` milliseconds; record the start and the execution of ``n``."""
        side(url).rpush("started", n)
        time.sleep(ms / 1000)
        side(url).rpush("executions", n)
        return n

    @huey.task()
    def long_job(n: int, seconds: float) -> int:
        """A job that runs longer than the lease timeout, reporting progress as it goes."""
        side(url).rpush("started", n)
        steps = max(1, int(seconds * 4))
        for i in range(steps):
            time.sleep(seconds / steps)
            jobboard.progress(100 * (i + 1) / steps, f"step {i + 1} of {steps}")
        side(url).rpush("executions", n)
        return n

    @huey.task()
    def reporting(n: int) -> str:
        """Progress and log lines from inside the task, and which worker kind ran it."""
        side(url).rpush("started", n)
        jobboard.progress(50, "halfway")
        jobboard.log(f"working on {n}")
        jobboard.progress(100, "done")
        side(url).rpush("executions", n)
        return f"ok {n}"

    @huey.task()
    def hold_worker(n: int, seconds: float) -> int:
        """Ends at once; then its worker stays ``seconds`` in the completion signal below,
        after the end (and the take of the worker's next job) and before its next dequeue."""
        side(url).rpush("started", n)
        side(url).rpush("executions", n)
        return n

    @huey.signal(S.SIGNAL_COMPLETE)
    def linger(signal: str, task: Any) -> None:
        if isinstance(task, hold_worker.task_class):
            time.sleep(task.args[1])

    @huey.task()
    def boom(n: int) -> None:
        """Always fails (no retries): a failed job for the consumer counters."""
        side(url).rpush("started", n)
        raise ValueError(f"boom {n}")

    @huey.periodic_task(crontab(minute="*/15"))
    def every_quarter() -> str:
        side(url).rpush("periodic_runs", "every_quarter")
        return "tick"

    @huey.periodic_task(crontab(minute="0", hour="1"))
    def nightly() -> str:
        side(url).rpush("periodic_runs", "nightly")
        return "nightly"

    huey.test_tasks = {"work": work, "long_job": long_job, "reporting": reporting,  # type: ignore[attr-defined]
                       "boom": boom, "hold_worker": hold_worker,
                       "every_quarter": every_quarter, "nightly": nightly}
    return huey


def freeze_periodic_clock(huey: jobboard.RedisHuey, at: dt.datetime) -> None:
    """Make the scheduler's periodic check see ``at`` (an explicit time still wins)."""
    read = huey.read_periodic

    def read_periodic(timestamp: dt.datetime | None = None) -> Any:
        return read(timestamp if timestamp is not None else at)

    huey.read_periodic = read_periodic  # type: ignore[method-assign]


huey = build(os.environ["REDIS_URL"], lease_timeout=float(os.environ.get("LEASE_TIMEOUT", 3)),
             max_stalls=int(os.environ.get("MAX_STALLS", 5))) if "REDIS_URL" in os.environ else None
if huey is not None and os.environ.get("PERIODIC_CLOCK"):
    freeze_periodic_clock(huey, dt.datetime.fromisoformat(os.environ["PERIODIC_CLOCK"]))
