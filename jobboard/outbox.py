"""Ends of jobs that Redis did not take yet, retried in order until it does.

A consumer records a job's end (FINISH, a failed attempt, its retry, a put-back) in one
Lua call. When Redis cannot answer at that moment (a restart, a failover, a dropped
connection, a full memory), raising would lose the outcome and leave the job ``active``
under a lease the heartbeat goes on extending. Instead the end waits here and a thread of
its own sends it again, oldest first, with a short backoff, while the worker moves on.

- **In order**: while anything waits, later ends queue behind it, so a job's failed
  attempt is always recorded before the retry that follows it.
- **Bounded**: an end that still fails after ``max_age`` seconds is dropped and its job
  let go (``on_give_up``): its lease then lapses and a live consumer runs it again.
  At-least-once, never stuck.
- **Fenced**: what is sent carries its delivery's token (see ``scripts.stale``), so an
  end that arrives after the job was handed to another consumer changes nothing.

Only errors that say "Redis is not there right now" are retried; any other error (a bug,
a script error) is logged and the end dropped, as before.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import redis.exceptions as rx

from .errors import NotReplicated

logger = logging.getLogger("jobboard")

# "Not now" errors: a connection refused or dropped (BusyLoadingError is one: the server
# is loading its data), a timeout, a replica promoted or demoted (READONLY), a full memory,
# durable mode's replicas not confirming yet.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    rx.ConnectionError, rx.TimeoutError, rx.ReadOnlyError, rx.OutOfMemoryError,
    rx.TryAgainError, rx.ClusterDownError, OSError, NotReplicated,
)


def is_transient(exc: BaseException) -> bool:
    """True for "not now" errors, NOREPLICAS included: a master that lost its replicas
    (``min-replicas-to-write``) refuses writes until the failover ends."""
    return isinstance(exc, TRANSIENT_ERRORS) or (
        isinstance(exc, rx.ResponseError) and "NOREPLICAS" in str(exc))  # also as a pipeline reply


class Outbox:
    """An ordered, bounded retry queue for one process's job ends."""

    def __init__(self, name: str, max_age: float = 300.0) -> None:
        self.name = name
        self.max_age = max_age
        self._items: deque[tuple[float, str, Callable[[], Any], Callable[[], None]]] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.sent_late = 0  # ends that got through on a retry
        self.given_up = 0

    def __len__(self) -> int:
        return len(self._items)

    def submit(self, label: str, send: Callable[[], Any],
               on_give_up: Callable[[], None] = lambda: None) -> bool:
        """Send now unless earlier ends wait (then queue behind them); on a transient
        Redis error, keep it for the retry thread. True if it was sent now."""
        self._after_fork()
        if not self._items:
            try:
                send()
                return True
            except Exception as exc:
                if not is_transient(exc):
                    raise
                logger.warning("jobboard: Redis did not take %s (%s: %s); retrying it in the "
                               "background", label, type(exc).__name__, exc)
        with self._lock:
            self._items.append((time.monotonic(), label, send, on_give_up))
            self._start()
        self._wake.set()
        return False

    def _after_fork(self) -> None:
        if self._pid != os.getpid():
            # A forked worker: the parent's pending ends are the parent's to send.
            self._items = deque()
            self._lock = threading.Lock()
            self._wake = threading.Event()
            self._thread = None
            self._pid = os.getpid()

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"jobboard-outbox-{self.name}")
            self._thread.start()

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for every pending end to be sent (consumer shutdown)."""
        deadline = time.monotonic() + timeout
        while self._items and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.02)
        return not self._items

    def _run(self) -> None:
        delay = 0.05
        while True:
            with self._lock:
                if not self._items:
                    return  # the next submit starts a new thread
                created, label, send, on_give_up = self._items[0]
            try:
                send()
            except Exception as exc:
                if not is_transient(exc):
                    logger.exception("jobboard could not record %s", label)
                    self._pop(on_give_up)
                    continue
                if time.monotonic() - created > self.max_age:
                    logger.error("jobboard: gave up recording %s after %.0f s (%s); its job "
                                 "will run again once its lease lapses", label, self.max_age, exc)
                    self._pop(on_give_up)
                    self.given_up += 1
                    continue
                self._wake.wait(delay)
                self._wake.clear()
                delay = min(delay * 2, 1.0)
                continue
            delay = 0.05
            self.sent_late += 1
            with self._lock:
                self._items.popleft()

    def _pop(self, then: Callable[[], None]) -> None:
        with self._lock:
            self._items.popleft()
        try:
            then()
        except Exception:
            logger.exception("jobboard: error letting a job go")
