"""The shared poll cache: what live fragments show is computed once per poll interval.

Twenty open tabs polling the overview every 5 s must not cost twenty times the Redis work
of one. Each polled computation is keyed by what it shows (e.g. ``("overview",)`` or
``("queue", "emails", "failed", 0, 25, ...)``) plus the number of the current interval
(``int(now // poll_seconds)``). The first poller of an interval computes; everyone else in
the same process, including requests that arrive *while* it computes (single flight), gets
that result.

The cache lives in process memory, so with N server processes the cost is at most N
computations per interval whatever the number of viewers. Values are the core's Python
objects and never leave the process (nothing is serialised, nothing read back from Redis).
Actions clear it so the page rendered after an action shows fresh data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

MAX_ENTRIES = 512  # distinct views cached at once; old intervals are dropped first


class LiveCache:
    """Per-interval, single-flight memo of polled computations (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        #: Where "now" comes from (tests inject a fixed clock to stay inside one interval).
        self.clock = clock
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[int, Any]] = {}
        self._flights: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, interval: float, compute: Callable[[], T],
            now: float | None = None) -> T:
        """``compute()``'s value for ``key`` in the current interval of ``interval`` seconds."""
        bucket = int((self.clock() if now is None else now) // interval)
        with self._lock:
            entry = self._values.get(key)
            if entry is not None and entry[0] == bucket:
                self.hits += 1
                return entry[1]  # type: ignore[no-any-return]  # stored by compute() below
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            # Someone else may have computed it while we waited for the flight lock.
            with self._lock:
                entry = self._values.get(key)
                if entry is not None and entry[0] == bucket:
                    self.hits += 1
                    return entry[1]  # type: ignore[no-any-return]
            value = compute()  # errors (e.g. Redis down) propagate and are not cached
            with self._lock:
                self.misses += 1
                self._values[key] = (bucket, value)
                if len(self._values) > MAX_ENTRIES:
                    self._evict(bucket)
                self._flights.pop(key, None)
            return value

    def _evict(self, bucket: int) -> None:
        stale = [k for k, (b, _) in self._values.items() if b != bucket]
        for k in stale:
            del self._values[k]
        while len(self._values) > MAX_ENTRIES:  # all current: drop the oldest inserted
            del self._values[next(iter(self._values))]

    def invalidate(self) -> None:
        """Forget everything (after an action, so the next render is fresh)."""
        with self._lock:
            self._values.clear()
