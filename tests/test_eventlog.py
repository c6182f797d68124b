"""The opt-in JSON event log: one line per transition, from a real consumer."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import redis

import jobboard
import jobboard.eventlog
from jobboard.primitives import now_ms
from tests.support import make_core_huey, running_consumers, wait_for


def lines_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_one_json_line_per_transition(redis_url: str) -> None:
    stream = io.StringIO()
    huey = make_core_huey(redis_url, event_log=logging.StreamHandler(stream))
    side = redis.Redis.from_url(redis_url)

    @huey.task(retries=1)
    def once_then_ok() -> str:
        if side.incr("tries") == 1:
            raise ConnectionError("SMTP timed out")
        return "ok"

    q = jobboard.Board([huey]).queue("core")
    ok = huey.test_tasks["double"](4)  # type: ignore[attr-defined]
    retried = once_then_ok()
    with running_consumers([huey]):
        wait_for(lambda: q.counts()["completed"] == 2)
        wait_for(lambda: sum(1 for e in lines_of(stream) if e["event"] == "completed") == 2)
    events = lines_of(stream)
    assert all(set(e) >= {"event", "queue", "job_id", "at"} and e["queue"] == "core" for e in events)

    mine = [e for e in events if e["job_id"] == ok.id]
    assert [e["event"] for e in mine] == ["enqueued", "started", "completed"]
    assert mine[0]["task"].endswith("double") and mine[2]["attempt"] == 1
    assert mine[2]["duration_ms"] >= 0 and "/" in mine[2]["consumer"]

    again = [e for e in events if e["job_id"] == retried.id]
    assert [e["event"] for e in again] == ["enqueued", "started", "retrying", "enqueued",
                                           "started", "completed"]
    failed_try = again[2]
    assert failed_try["error_class"] == "ConnectionError" and failed_try["error_message"] == "SMTP timed out"
    assert failed_try["retries_left"] == 1 and failed_try["attempt"] == 1
    assert again[-1]["attempt"] == 2


def test_failures_and_stalled_jobs(redis_url: str) -> None:
    stream = io.StringIO()
    huey = make_core_huey(redis_url)
    jobboard.eventlog.enable(huey, stream=stream)
    assert jobboard.eventlog.enable(huey, stream=stream) is huey.jobboard.event_log  # once

    @huey.task()
    def broken() -> None:
        raise ValueError("x" * 2000)

    q = jobboard.Board([huey]).queue("core")
    job = broken()
    with running_consumers([huey]):
        wait_for(lambda: q.counts()["failed"] == 1)
        wait_for(lambda: any(e["event"] == "failed" for e in lines_of(stream)))
    failed = next(e for e in lines_of(stream) if e["event"] == "failed")
    assert failed["job_id"] == job.id and failed["error_class"] == "ValueError"
    assert len(failed["error_message"]) <= jobboard.eventlog.ERROR_LIMIT

    # A job taken by a consumer that died: its lease lapses, a heartbeat puts it back.
    stalled = huey.test_tasks["double"](1)  # type: ignore[attr-defined]
    now = now_ms()
    q.board.script("DEQUEUE")(keys=[q.keys.base], args=[now, now - 1, "ghost:1/Worker-1"])
    huey.jobboard.beat()
    event = [e for e in lines_of(stream) if e["event"] == "stalled"]
    assert [e["job_id"] for e in event] == [stalled.id]
    assert q.job(stalled.id).state == "waiting"


def test_off_by_default(redis_url: str, capsys: Any) -> None:
    huey = make_core_huey(redis_url)
    huey.test_tasks["double"](1)  # type: ignore[attr-defined]
    assert huey.jobboard.event_log is None and huey.jobboard.recovery_listeners == []
    assert capsys.readouterr().out == ""
