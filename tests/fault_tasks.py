"""Tasks for the fault suite (tests/test_faults.py), run by real ``huey_consumer`` processes.

    FAULT_REDIS_URL=redis://... FAULT_SIDE_URL=redis://... \
        huey_consumer tests.fault_tasks.huey -k thread -w 4 -n

Environment: ``FAULT_REDIS_URL`` (the Redis the faults are injected into: jobboard's
keys), ``FAULT_SIDE_URL`` (a second redis-server that is never faulted: the tasks' own
bookkeeping, so the counts survive the faulted one's restart, outage or data loss),
``LEASE_TIMEOUT`` (seconds, default 30: jobboard's default), ``MAX_STALLS`` (default 5).

Bookkeeping in the side Redis, per job id (``task.id``, which is jobboard's job id):

- ``HINCRBY started <id> 1`` when a run's body begins (the return value is the run number);
- ``HINCRBY ran <id> 1`` when a run's body reaches its end (returned or about to raise);
- ``RPUSH order <pid>|<id>`` when a body begins (start order, per process);
- ``HINCRBY per_minute <UTC minute of the run's start> 1`` and ``RPUSH periodic_runs <id>``
  for the periodic task.
"""

from __future__ import annotations

import os
import time

import redis
from huey import crontab

import jobboard

QUEUE = "faults"
_side: redis.Redis | None = None
_side_pid: int | None = None


def side(url: str) -> redis.Redis:
    """The bookkeeping client (one per process: process workers are forked)."""
    global _side, _side_pid
    if _side is None or _side_pid != os.getpid():
        _side = redis.Redis.from_url(url)
        _side_pid = os.getpid()
    return _side


def begin(url: str, job_id: str) -> int:
    s = side(url)
    pipe = s.pipeline(transaction=False)
    pipe.hincrby("started", job_id, 1)
    pipe.rpush("order", f"{os.getpid()}|{job_id}")
    return int(pipe.execute()[0])


def end(url: str, job_id: str) -> None:
    side(url).hincrby("ran", job_id, 1)


def build(url: str, side_url: str, lease_timeout: float = 30, max_stalls: int = 5) -> jobboard.RedisHuey:
    """The ``faults`` queue and its tasks. The tests build one in-process to enqueue (the
    producer); the consumers build theirs from the environment (``huey`` below)."""
    huey = jobboard.RedisHuey(QUEUE, url=url, lease_timeout=lease_timeout, max_stalls=max_stalls)

    @huey.task(context=True)
    def work(ms: int, again_ms: int | None = None, task: object = None) -> str:
        """Sleep ``ms`` (the first run) or ``again_ms`` (later runs, when given)."""
        job_id = task.id  # type: ignore[attr-defined]
        run = begin(side_url, job_id)
        time.sleep((ms if run == 1 or again_ms is None else again_ms) / 1000)
        end(side_url, job_id)
        return f"run {run} pid {os.getpid()}"

    @huey.task(context=True, retries=1)
    def flaky(ms: int, again_ms: int, task: object = None) -> str:
        """First run: sleep ``ms`` then raise (Huey retries it at once). Later runs:
        sleep ``again_ms`` and return."""
        job_id = task.id  # type: ignore[attr-defined]
        run = begin(side_url, job_id)
        time.sleep((ms if run == 1 else again_ms) / 1000)
        end(side_url, job_id)
        if run == 1:
            raise RuntimeError(f"run {run} fails")
        return f"run {run} pid {os.getpid()}"

    @huey.task(context=True, retries=1, retry_delay=1)
    def flaky_delayed(ms: int, again_ms: int, task: object = None) -> str:
        """As ``flaky``, but Huey retries it after 1 s (through the schedule)."""
        job_id = task.id  # type: ignore[attr-defined]
        run = begin(side_url, job_id)
        time.sleep((ms if run == 1 else again_ms) / 1000)
        end(side_url, job_id)
        if run == 1:
            raise RuntimeError(f"run {run} fails")
        return f"run {run} pid {os.getpid()}"

    @huey.periodic_task(crontab(), context=True)
    def every_minute(task: object = None) -> str:
        job_id = task.id  # type: ignore[attr-defined]
        begin(side_url, job_id)
        s = side(side_url)
        pipe = s.pipeline(transaction=False)
        pipe.hincrby("per_minute", str(int(time.time() // 60)), 1)
        pipe.rpush("periodic_runs", job_id)
        pipe.execute()
        end(side_url, job_id)
        return "tick"

    huey.fault_tasks = {"work": work, "flaky": flaky, "flaky_delayed": flaky_delayed,  # type: ignore[attr-defined]
                        "every_minute": every_minute}
    return huey


huey = (build(os.environ["FAULT_REDIS_URL"], os.environ["FAULT_SIDE_URL"],
              lease_timeout=float(os.environ.get("LEASE_TIMEOUT", "30")),
              max_stalls=int(os.environ.get("MAX_STALLS", "5")))
        if "FAULT_REDIS_URL" in os.environ else None)
