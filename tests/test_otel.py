"""OpenTelemetry: a PRODUCER span at enqueue, a CONSUMER span per run under it, across a
real Huey consumer, recorded by the SDK's in-memory exporter."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import jobboard
import jobboard.otel
from jobboard.config import TrackingConfig
from jobboard.primitives import now_ms
from jobboard.tracking import message_argv
from tests.support import API, auth, make_app, make_core_huey, running_consumers, wait_for


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def traced(url: str, exporter: InMemorySpanExporter) -> Any:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    huey = make_core_huey(url)
    side = redis.Redis.from_url(url)

    @huey.task(retries=1)  # retried at once: Huey re-enqueues it from inside the run
    def fails_once(n: int) -> int:
        if side.incr(f"tries:{n}") == 1:
            raise ConnectionError(f"first try of {n} fails")
        return n

    @huey.task()
    def always_fails() -> None:
        raise ValueError("bad input")

    huey.test_tasks.update(fails_once=fails_once, always_fails=always_fails)  # type: ignore[attr-defined]
    jobboard.otel.instrument(huey, tracer_provider=provider)
    return huey


def spans_of(exporter: InMemorySpanExporter, job_id: str) -> list[ReadableSpan]:
    return sorted((s for s in exporter.get_finished_spans()
                   if (s.attributes or {}).get("messaging.message.id") == job_id),
                  key=lambda s: s.start_time or 0)


def test_consumer_span_is_a_child_of_the_producer_span(redis_url: str, exporter: InMemorySpanExporter) -> None:
    huey = traced(redis_url, exporter)
    q = jobboard.Board([huey]).queue("core")
    result = huey.test_tasks["double"](21)  # type: ignore[attr-defined]
    with running_consumers([huey]):
        wait_for(lambda: len(spans_of(exporter, result.id)) == 2)
    producer, consumer = spans_of(exporter, result.id)
    assert (producer.kind, producer.name) == (SpanKind.PRODUCER, "send core")
    assert (consumer.kind, consumer.name) == (SpanKind.CONSUMER, "process core")
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert consumer.context.trace_id == producer.context.trace_id
    attrs = dict(consumer.attributes or {})
    assert attrs["messaging.system"] == "huey" and attrs["messaging.destination.name"] == "core"
    assert attrs["messaging.operation.type"] == "process" and attrs["jobboard.task"].endswith("double")
    assert attrs["jobboard.attempt"] == 1 and attrs["jobboard.outcome"] == "completed"
    assert dict(producer.attributes or {})["messaging.operation.type"] == "send"
    assert q.job(result.id).state == "completed"
    assert consumer.status.status_code == StatusCode.UNSET


def test_retries_chain_and_failures_are_recorded(redis_url: str, exporter: InMemorySpanExporter) -> None:
    huey = traced(redis_url, exporter)
    retried = huey.test_tasks["fails_once"](7)  # type: ignore[attr-defined]
    failed = huey.test_tasks["always_fails"]()  # type: ignore[attr-defined]
    with running_consumers([huey]):
        wait_for(lambda: len(spans_of(exporter, retried.id)) == 4 and len(spans_of(exporter, failed.id)) == 2)
    p1, c1, p2, c2 = spans_of(exporter, retried.id)
    assert [s.kind for s in (p1, c1, p2, c2)] == [SpanKind.PRODUCER, SpanKind.CONSUMER] * 2
    # enqueue -> attempt 1 (failed, retry) -> Huey's re-enqueue inside it -> attempt 2
    assert c1.parent.span_id == p1.context.span_id  # type: ignore[union-attr]
    assert p2.parent.span_id == c1.context.span_id  # type: ignore[union-attr]
    assert c2.parent.span_id == p2.context.span_id  # type: ignore[union-attr]
    assert len({s.context.trace_id for s in (p1, c1, p2, c2)}) == 1
    assert (c1.attributes or {})["jobboard.outcome"] == "retry" and (c1.attributes or {})["jobboard.attempt"] == 1
    assert c1.status.status_code == StatusCode.ERROR
    assert [e.attributes["exception.type"] for e in c1.events if e.name == "exception"] == ["ConnectionError"]  # type: ignore[index]
    assert (c2.attributes or {})["jobboard.outcome"] == "completed" and (c2.attributes or {})["jobboard.attempt"] == 2

    _, run = spans_of(exporter, failed.id)
    assert (run.attributes or {})["jobboard.outcome"] == "failed"
    assert run.status.status_code == StatusCode.ERROR and "bad input" in (run.status.description or "")
    events = [e for e in run.events if e.name == "exception"]
    assert len(events) == 1 and events[0].attributes["exception.message"] == "bad input"  # type: ignore[index]


def test_api_submissions_are_traced_too(redis_url: str, exporter: InMemorySpanExporter) -> None:
    huey = traced(redis_url, exporter)
    client = make_app(huey).test_client()
    resp = client.post(f"{API}/queues/core/jobs", json={"task": "double", "args": [2]}, headers=auth("operator"))
    assert resp.status_code == 201
    job_id = resp.get_json()["id"]
    with running_consumers([huey]):
        wait_for(lambda: len(spans_of(exporter, job_id)) == 2)
    producer, consumer = spans_of(exporter, job_id)
    assert consumer.parent.span_id == producer.context.span_id  # type: ignore[union-attr]


def test_untraced_enqueues_write_exactly_what_they_did(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    result = huey.test_tasks["double"](1)  # type: ignore[attr-defined]
    q = jobboard.Board([huey]).queue("core")
    assert q.redis.hget(q.keys.record(result.id), "tp") is None
    msg = huey.serializer.deserialize(q.redis.get(q.keys.message(result.id)))
    argv = message_argv("b", b"", msg, priority=None, utc=True, config=TrackingConfig())
    assert len(json.loads(argv[2])) == 17  # the array the ENQUEUE script takes untraced
    traced_argv = message_argv("b", b"", msg, priority=None, utc=True, config=TrackingConfig(),
                               trace="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    plain, with_trace = json.loads(argv[2]), json.loads(traced_argv[2])
    assert len(with_trace) == 18 and with_trace[17] == "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    assert with_trace[:1] + with_trace[2:17] == plain[:1] + plain[2:]  # [1] is the time
    assert huey.jobboard.tracing is None


def test_a_redelivered_job_is_a_second_attempt_under_the_same_producer(
        redis_url: str, exporter: InMemorySpanExporter) -> None:
    huey = traced(redis_url, exporter)
    q = jobboard.Board([huey]).queue("core")
    job = huey.test_tasks["double"](5)  # type: ignore[attr-defined]
    # A consumer took it and died: its lease lapses and a heartbeat puts it back.
    now = now_ms()
    q.board.script("DEQUEUE")(keys=[q.keys.base], args=[now, now - 1, "ghost:1/Worker-1"])
    huey.jobboard.beat()
    assert q.job(job.id).state == "waiting" and q.job(job.id).stalls == 1
    with running_consumers([huey]):
        wait_for(lambda: len(spans_of(exporter, job.id)) == 2)
    producer, consumer = spans_of(exporter, job.id)
    assert consumer.parent.span_id == producer.context.span_id  # type: ignore[union-attr]
    assert (consumer.attributes or {})["jobboard.attempt"] == 2
    assert (consumer.attributes or {})["jobboard.outcome"] == "completed"
