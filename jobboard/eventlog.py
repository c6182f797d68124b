"""Structured job events: one JSON line per transition, opt-in.

    jobboard.eventlog.enable(huey)                    # JSON lines on stdout
    jobboard.eventlog.enable(huey, handler=my_handler) # or any logging.Handler
    jobboard.RedisHuey("emails", event_log=True)      # the same, as an option

Each line is one object: ``event`` (enqueued, scheduled, started, completed, retrying,
failed, revoked, expired, canceled, locked, rate_limited, interrupted, stalled),
``queue``, ``task``, ``job_id``, ``at`` (ISO 8601, UTC), and where they apply
``attempt`` (the delivery number), ``duration_ms``, ``retries_left``, ``error_class``,
``error_message``, ``consumer``. The records go through the ``jobboard.events`` logger
(``jobboard.events.<queue>``, level INFO, not propagated to the root logger), each also
carrying the object as
``record.jobboard`` for handlers that format fields themselves.

Producers log ``enqueued``/``scheduled`` (Huey's signals in the enqueuing process);
consumers log the rest from Huey's signals in the worker that runs the job, and
``stalled`` from the heartbeat that put a job back. Nothing is written to Redis.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any

from huey import signals as S

from .display import clean_text

if TYPE_CHECKING:
    from huey import Huey

    from .tracking import Tracker

LOGGER_NAME = "jobboard.events"
ERROR_LIMIT = 500

#: Huey signal -> event name (SIGNAL_ERROR is "retrying" or "failed", by retries left).
_SIGNALS = {
    S.SIGNAL_ENQUEUED: "enqueued", S.SIGNAL_SCHEDULED: "scheduled", S.SIGNAL_EXECUTING: "started",
    S.SIGNAL_COMPLETE: "completed", S.SIGNAL_REVOKED: "revoked", S.SIGNAL_EXPIRED: "expired",
    S.SIGNAL_CANCELED: "canceled", S.SIGNAL_LOCKED: "locked", S.SIGNAL_RATE_LIMITED: "rate_limited",
    S.SIGNAL_INTERRUPTED: "interrupted", S.SIGNAL_ERROR: "failed",
}


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(getattr(record, "jobboard", None) or {"message": record.getMessage()},
                          ensure_ascii=False, separators=(",", ":"), default=str)


class EventLog:
    """Logs the transitions of one tracked Huey (see the module docstring)."""

    def __init__(self, tracker: Tracker, logger: logging.Logger) -> None:
        self.tracker = tracker
        self.logger = logger
        self._local = threading.local()
        tracker.huey.signal(*_SIGNALS)(self._on_signal)
        tracker.recovery_listeners.append(self._on_recovered)

    def emit(self, event: str, **fields: Any) -> None:
        """Log one event (``None`` fields are left out)."""
        body = {"event": event, "queue": self.tracker.queue,
                **{k: v for k, v in fields.items() if v is not None},
                "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")}
        self.logger.info("%s %s", event, fields.get("job_id", ""), extra={"jobboard": body})

    def _on_signal(self, signal: str, task: Any, *args: Any) -> None:
        try:
            self._log_signal(signal, task, *args)
        except Exception:  # a log line must never break a job
            logging.getLogger("jobboard").warning("jobboard event log failed", exc_info=True)

    def _log_signal(self, signal: str, task: Any, *args: Any) -> None:
        tracker = self.tracker
        name = tracker.huey._registry.task_to_string(type(task))
        event = _SIGNALS[signal]
        fields: dict[str, Any] = {"task": name, "job_id": task.id}
        if signal in (S.SIGNAL_ENQUEUED, S.SIGNAL_SCHEDULED):
            if signal == S.SIGNAL_ENQUEUED and getattr(task, "_jobboard_promoted", False):
                return  # a due job handed back by the scheduler: already "scheduled" -> waiting
            self.emit(event, **fields, retries_left=task.retries)
            return
        if signal == S.SIGNAL_EXECUTING:
            entry = tracker.inflight.get(task.id)
            self._local.run = (task.id, time.monotonic(), entry[3] if entry else None,
                               entry[2] if entry else tracker.worker_label())
        run = getattr(self._local, "run", None)
        if run is not None and run[0] == task.id:
            fields["attempt"] = int(run[2]) if run[2] else None
            fields["consumer"] = run[3]
            if signal != S.SIGNAL_EXECUTING:
                fields["duration_ms"] = round((time.monotonic() - run[1]) * 1000, 3)
        if signal == S.SIGNAL_ERROR:
            exc = args[0] if args else None
            event = "retrying" if task.retries else "failed"
            fields["retries_left"] = task.retries
            if exc is not None:
                fields["error_class"] = type(exc).__name__
                fields["error_message"] = clean_text(str(exc), ERROR_LIMIT)
        self.emit(event, **fields)

    def _on_recovered(self, recovered: list[str], failed: list[str]) -> None:
        for job_id in recovered:
            self.emit("stalled", job_id=job_id, error_class="StalledJobError",
                      error_message="lease lapsed (its consumer stopped heartbeating): put back to waiting")
        for job_id in failed:
            self.emit("failed", job_id=job_id, error_class="StalledJobError",
                      error_message="stalled more than max_stalls times")


def enable(huey: Huey, stream: IO[str] | None = None, handler: logging.Handler | None = None) -> EventLog:
    """Log ``huey``'s job transitions as JSON lines, to ``handler`` or else ``stream``
    (default stdout). Idempotent per Huey; returns its EventLog."""
    tracker: Tracker | None = getattr(huey, "jobboard", None)
    if tracker is None:
        from .errors import ConfigurationError

        raise ConfigurationError("jobboard.eventlog.enable() needs a tracked Huey: "
                                 "jobboard.RedisHuey(...) or jobboard.track(huey).")
    existing = getattr(tracker, "event_log", None)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    # One logger per queue (``jobboard.events.<queue>``), so two Hueys given two handlers
    # do not write each other's lines; it does not propagate (the lines are the output).
    logger = logging.getLogger(f"{LOGGER_NAME}.{tracker.queue}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if handler is None:
        handler = logging.StreamHandler(stream or sys.stdout)
    if handler.formatter is None:
        handler.setFormatter(_JsonLines())
    if handler not in logger.handlers:
        logger.addHandler(handler)
    log = EventLog(tracker, logger)
    tracker.event_log = log
    return log
