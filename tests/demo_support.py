"""Helpers for the demo tests: the clinic worker bound to a test's Redis, consumers in threads.

``worker.py`` reads its Redis URL and folders from the environment when imported, so each
test imports a fresh copy after setting the environment (and drops it afterwards).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

DEMO_MODULES = ("worker", "wsgi")


def fresh_import(name: str) -> ModuleType:
    """Import ``worker`` / ``wsgi`` anew, so they read the current environment."""
    for module in DEMO_MODULES:
        sys.modules.pop(module, None)
    return importlib.import_module(name)


def forget_demo_modules() -> None:
    for module in DEMO_MODULES:
        mod = sys.modules.pop(module, None)
        pool = getattr(mod, "_pool", None)
        if pool is not None:
            pool.disconnect()


@contextlib.contextmanager
def consumers(hueys: list[Any], workers: int = 2) -> Iterator[list[Any]]:
    """Huey's own consumer for each queue, in this process with thread workers."""
    started = []
    try:
        for huey in hueys:
            consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=False,
                                            check_worker_health=False)
            consumer.start()
            started.append(consumer)
        yield started
    finally:
        for consumer in started:
            consumer.stop(graceful=True)


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something true; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
