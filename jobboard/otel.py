"""OpenTelemetry tracing of Huey jobs (the ``jobboard[otel]`` extra).

    import jobboard.otel
    jobboard.otel.instrument(huey)            # producers and consumers alike

Then every enqueue is a ``PRODUCER`` span (``send <queue>``) and every run a ``CONSUMER``
span (``process <queue>``) whose parent is the producer's: the W3C trace context travels
with the job, in its record (field ``tp``, written by the same ENQUEUE call as the job).
Huey's retry without delay re-enqueues from inside the failed run, so it is a producer
span of its own, child of that run, and the next attempt hangs below it: retries show as
a chain. A job run again after its consumer died (stalled, re-delivered) is a new
consumer span under the same producer, with a higher ``jobboard.attempt``.

Attributes: the messaging semantic conventions (``messaging.system`` "huey",
``messaging.destination.name``, ``messaging.message.id``, ``messaging.operation.type`` /
``.name``) plus ``jobboard.task``, ``jobboard.attempt`` (the delivery number),
``jobboard.retries_left`` and, on the consumer span, ``jobboard.outcome`` (completed,
failed, retry, revoked, expired, canceled, locked, rate_limited, interrupted). An
exception is recorded on the span, whose status is then ERROR.

Cost: nothing when ``instrument`` was not called (one attribute check per enqueue and per
run). When on, a span each and one more Redis read per run (the trace context); the
figures are in bench/bench_throughput.py's ``--otel`` line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from huey import signals as S
from huey.exceptions import CancelExecution, RateLimitExceeded, TaskLockedException
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from .version import __version__

if TYPE_CHECKING:
    from huey import Huey

    from .tracking import Tracker

SYSTEM = "huey"
#: The record field that carries the producer span's context (W3C traceparent).
TRACE_FIELD = "tp"


def instrument(huey: Huey, tracer_provider: trace.TracerProvider | None = None) -> Tracing:
    """Trace ``huey``'s enqueues and runs (a tracked Huey: ``jobboard.RedisHuey`` or
    ``jobboard.track``). Idempotent; returns the Tracing attached to it."""
    tracker: Tracker | None = getattr(huey, "jobboard", None)
    if tracker is None:
        from .errors import ConfigurationError

        raise ConfigurationError("jobboard.otel.instrument() needs a tracked Huey: "
                                 "jobboard.RedisHuey(...) or jobboard.track(huey).")
    if tracker.tracing is None:
        tracker.tracing = Tracing(tracker, trace.get_tracer("jobboard", __version__,
                                                            tracer_provider=tracer_provider))
    return tracker.tracing  # type: ignore[no-any-return]


def uninstrument(huey: Huey) -> None:
    """Stop tracing ``huey`` (its hooks stay registered but do nothing)."""
    tracker = getattr(huey, "jobboard", None)
    if tracker is not None and tracker.tracing is not None:
        tracker.tracing.enabled = False
        tracker.tracing = None


def _outcome(exc: BaseException | None, retries: int) -> str:
    if exc is None:
        return "completed"
    if retries:
        return "retry"
    if isinstance(exc, TaskLockedException):
        return "locked"
    if isinstance(exc, RateLimitExceeded):
        return "rate_limited"
    if isinstance(exc, CancelExecution):
        return "canceled"
    return "failed"


class Tracing:
    """The spans of one tracked Huey (see the module docstring)."""

    def __init__(self, tracker: Tracker, tracer: trace.Tracer) -> None:
        self.tracker = tracker
        self.tracer = tracer
        self.enabled = True
        huey = tracker.huey
        huey.post_execute("jobboard-otel")(self._on_post_execute)
        huey.signal(S.SIGNAL_REVOKED, S.SIGNAL_EXPIRED, S.SIGNAL_CANCELED,
                    S.SIGNAL_INTERRUPTED)(self._on_signal)

    def _attributes(self, operation: str, job_id: str, task: str) -> dict[str, Any]:
        return {"messaging.system": SYSTEM, "messaging.destination.name": self.tracker.queue,
                "messaging.message.id": job_id, "messaging.operation.type": operation,
                "messaging.operation.name": operation, "jobboard.task": task}

    # Producer ------------------------------------------------------------------------------

    @contextmanager
    def send(self, job_id: str, task: str, retries: int | None = None) -> Iterator[tuple[Span, str]]:
        """A PRODUCER span around one enqueue; yields it and the traceparent to store."""
        attrs = self._attributes("send", job_id, task)
        if retries is not None:
            attrs["jobboard.retries_left"] = int(retries)
        with self.tracer.start_as_current_span(f"send {self.tracker.queue}", kind=SpanKind.PRODUCER,
                                               attributes=attrs) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            yield span, carrier.get("traceparent", "")

    def enqueue(self, storage: Any, data: bytes, priority: int | None) -> None:
        """``TrackingStorage.enqueue`` with a PRODUCER span and the context in the record."""
        tracker = self.tracker
        msg, task = tracker.peek_message(data)
        if task is not None and getattr(task, "_jobboard_promoted", False):
            storage.send_enqueue(tracker, None)  # already waiting: nothing sent, no span
            return
        with self.send(msg.id, msg.name, getattr(msg, "retries", None)) as (_, traceparent):
            storage.send_enqueue(tracker, tracker.enqueue_argv(data, priority, trace=traceparent))

    # Consumer ------------------------------------------------------------------------------

    def execute(self, run: Callable[[Any, Any, Any], Any], huey_run: Any, task: Any,
                timestamp: Any) -> Any:
        """``Tracker.execute`` inside a CONSUMER span whose parent is the producer's."""
        tracker = self.tracker
        if not self.enabled or not tracker.owns(task.id):
            return run(huey_run, task, timestamp)
        traceparent, attempt = tracker.conn.hmget(tracker.keys.record(task.id), TRACE_FIELD, "att")
        parent = propagate.extract({"traceparent": traceparent.decode()}) if traceparent else None
        name = tracker.huey._registry.task_to_string(type(task))
        attrs = self._attributes("process", task.id, name)
        attrs["jobboard.attempt"] = int(attempt or 0)
        attrs["jobboard.retries_left"] = int(task.retries or 0)
        with self.tracer.start_as_current_span(f"process {tracker.queue}", context=parent,
                                               kind=SpanKind.CONSUMER, attributes=attrs,
                                               record_exception=False, set_status_on_exception=False):
            return run(huey_run, task, timestamp)

    def _on_post_execute(self, task: Any, value: Any, exc: BaseException | None) -> None:
        span = trace.get_current_span()
        if not self.enabled or not span.is_recording():
            return
        outcome = _outcome(exc, task.retries)
        span.set_attribute("jobboard.outcome", outcome)
        if exc is not None:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:300]))

    def _on_signal(self, signal: str, task: Any, *args: Any) -> None:
        span = trace.get_current_span()
        if not self.enabled or not span.is_recording():
            return
        outcome = {S.SIGNAL_REVOKED: "revoked", S.SIGNAL_EXPIRED: "expired",
                   S.SIGNAL_INTERRUPTED: "interrupted", S.SIGNAL_CANCELED: "canceled"}[signal]
        span.set_attribute("jobboard.outcome", outcome)
