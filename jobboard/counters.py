"""The per-job counters of consumers and producers, kept in memory and written to Redis every fraction of a second.

Each HINCRBY in a Lua script costs as much Redis time as a state change of the job, and a
job's end and take used to make six of them (ends per queue and per task, the run-time and
wait-time histograms, each per queue and per task). Sidekiq's processor does what this does:
count in memory, and let a background thread write the counts. A consumer process adds
each end and each take here; ``flush()`` writes them, summed, to the same per-minute hashes
(``mx:<minute>``) and fields the scripts write (the METRICS script: one call per minute
of counts), so every reader (``Queue.metrics``, ``totals``, ``health``, the rollup) is
unchanged. Producers count their new jobs the same way (one HINCRBY less per enqueue), written
by a flusher thread of their own when the process runs no heartbeat.

The heartbeat thread flushes every ``FLUSH_SECONDS``; a worker that stops, the consumer's
stop and the interpreter's exit flush too. What a process killed outright had not flushed
(at most its last ``FLUSH_SECONDS`` of ends) is missing from the charts; the jobs and their
records are not affected. The daily rollup (the heartbeat's ROLLUP) leaves a minute alone
until a minute after it ended, so that counts written late still reach it. The rare ends (stalled, revoked by an operator, late ends, retries)
are still counted inside their scripts.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from typing import Any

#: How often the heartbeat thread writes the counts (seconds).
FLUSH_SECONDS = 0.25

#: End states counted as ``fail`` (the scripts' FAILURES); ``completed`` is ``done``, any
#: other end its own state name.
FAILURE_STATES = frozenset(("failed", "locked", "rate_limited"))


def bucket(ms: float) -> int:
    """Histogram bucket of a duration: about 2 per doubling; the scripts' ``bucket()``."""
    if ms < 1:
        return 0
    return math.floor(2 * math.log(ms) / math.log(2)) + 1


def end_name(state: str) -> str:
    """The counter a job's end adds to (``done``, ``fail``, or the state's name)."""
    if state == "completed":
        return "done"
    return "fail" if state in FAILURE_STATES else state


class Counters:
    """Per-process, thread-safe sums of the counts to add to the minute hashes."""

    def __init__(self) -> None:
        # minute -> {(kind, task, value): n}; kind "end" (value: (name, run bucket or
        # None)), "wait" (value: the wait bucket), "enq" (a producer's new job) or "sum"
        # (value: "rs" or "ws", the sum of run or wait times; n: milliseconds)
        self._counts: dict[int, dict[tuple[str, str, Any], int]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _minute(self, now_ms: int) -> dict[tuple[str, str, Any], int]:
        if self._pid != os.getpid():  # a forked worker: the parent's counts are the parent's
            self._counts, self._lock, self._pid = {}, threading.Lock(), os.getpid()
        minute = now_ms // 60000
        counts = self._counts.get(minute)
        if counts is None:
            counts = self._counts[minute] = {}
        return counts

    def ended(self, now_ms: int, state: str, task: str, run_ms: int | None) -> None:
        key = ("end", task, (end_name(state), None if run_ms is None else bucket(run_ms)))
        with self._lock:
            counts = self._minute(now_ms)
            counts[key] = counts.get(key, 0) + 1
            if run_ms is not None:  # the sum of run times ('rs'): the Prometheus histograms
                total = ("sum", task, "rs")
                counts[total] = counts.get(total, 0) + run_ms

    def enqueued(self, now_ms: int, task: str) -> None:
        key = ("enq", task, None)
        with self._lock:
            counts = self._minute(now_ms)
            counts[key] = counts.get(key, 0) + 1

    def took(self, now_ms: int, task: str, wait_ms: int) -> None:
        key = ("wait", task, bucket(wait_ms))
        total = ("sum", task, "ws")
        with self._lock:
            counts = self._minute(now_ms)
            counts[key] = counts.get(key, 0) + 1
            counts[total] = counts.get(total, 0) + wait_ms

    def __len__(self) -> int:
        return sum(len(c) for c in self._counts.values()) if self._pid == os.getpid() else 0

    def flush(self, write: Callable[[int, list[Any]], Any]) -> None:
        """Write what was counted: ``write(minute, [field, n, field, n, ...])`` per minute.
        Counts whose write raised are kept for the next flush."""
        with self._lock:
            if self._pid != os.getpid() or not self._counts:
                return
            taken, self._counts = self._counts, {}
        failed: dict[int, dict[tuple[str, str, Any], int]] = {}
        error: BaseException | None = None
        for minute, counts in sorted(taken.items()):
            fields: dict[str, int] = {}
            for (kind, task, value), n in counts.items():
                if kind == "end":
                    name, b = value
                    names = [name, f"{name}|{task}"]
                    if b is not None:
                        names += [f"r:{b}", f"r|{task}|{b}"]
                elif kind == "enq":
                    names = [f"enq|{task}"]
                elif kind == "sum":
                    names = [value, f"{value}|{task}"]
                else:
                    names = [f"w:{value}", f"w|{task}|{value}"]
                for field in names:
                    fields[field] = fields.get(field, 0) + n
            try:
                write(minute, [x for item in fields.items() for x in item])
            except BaseException as exc:  # kept, and the caller hears of it
                failed[minute] = counts
                error = exc
        if failed:
            with self._lock:
                for minute, counts in failed.items():
                    mine = self._counts.setdefault(minute, {})
                    for key, n in counts.items():
                        mine[key] = mine.get(key, 0) + n
            assert error is not None
            raise error
