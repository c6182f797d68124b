"""Helpers for core tests: a tracked Huey with a few tasks, and an in-process consumer."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis

import jobboard


def make_huey(url: str, name: str = "core", **options: Any) -> jobboard.RedisHuey:
    """A tracked Huey with the tasks the core tests use."""
    huey = jobboard.RedisHuey(name, url=url, **options)
    side = redis.Redis.from_url(url)

    @huey.task()
    def double(n: int) -> int:
        return n * 2

    @huey.task(retries=2, retry_delay=1, retry_backoff=2)
    def flaky(n: int) -> int:
        # Fails until the test sets the "fixed" key: then returns its original argument.
        if not side.exists("fixed"):
            raise ValueError(f"flaky failure for {n}")
        return n

    @huey.task()
    def reporting(n: int) -> str:
        jobboard.progress(40, "halfway-ish")
        jobboard.log(f"working on {n}")
        jobboard.progress(100)
        return "ok"

    @huey.task()
    def slow(ms: int) -> int:
        time.sleep(ms / 1000)
        return ms

    huey.test_tasks = {"double": double, "flaky": flaky, "reporting": reporting,  # type: ignore[attr-defined]
                       "slow": slow}
    return huey


@contextlib.contextmanager
def running_consumer(huey: Any, workers: int = 4, **options: Any) -> Iterator[Any]:
    """Huey's own consumer, started in this process with thread workers."""
    options.setdefault("periodic", False)
    consumer = huey.create_consumer(workers=workers, worker_type="thread", **options)
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.stop(graceful=True)


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> bool:
    """Poll predicate until true; returns False on timeout (the test then asserts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
