"""sentry_sdk's Huey integration (enabled automatically when Huey is installed) against
jobboard.RedisHuey, with a local transport that keeps every envelope: submit spans, task
transactions continuing the producer's trace, one error event per failed attempt.

It runs in a child process: ``sentry_sdk.init`` patches Huey's class for the rest of the
process, which the other tests of this worker must not inherit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = r"""
import json, sys
sys.path.insert(0, sys.argv[2])
import sentry_sdk
from sentry_sdk.transport import Transport

items = []

class LocalTransport(Transport):
    def capture_envelope(self, envelope):
        items.extend((item.type, item.payload.json) for item in envelope.items)

sentry_sdk.init(dsn="http://key@127.0.0.1:9/1", transport=LocalTransport, traces_sample_rate=1.0)

import jobboard
from tests.support import make_core_huey, running_consumers, wait_for

huey = make_core_huey(sys.argv[1])

@huey.task()
def always_fails():
    raise ValueError("bad input")

@huey.task(retries=1)
def fails_twice():
    raise KeyError("twice")

q = jobboard.Board([huey]).queue("core")
with sentry_sdk.start_transaction(name="web request", op="http.server"):
    ok, bad, twice = huey.test_tasks["double"](2), always_fails(), fails_twice()
with running_consumers([huey]):
    wait_for(lambda: q.counts()["completed"] == 1 and q.counts()["failed"] == 2, timeout=30)
sentry_sdk.flush()
out = {"ids": {"ok": ok.id, "bad": bad.id, "twice": twice.id}, "items": items,
       "kwargs_shown": q.job(ok.id).kwargs, "result": huey.result(ok.id)}
print("RESULT " + json.dumps(out, default=str))
"""


def run_scenario(redis_url: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", SCENARIO, redis_url, str(ROOT)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(line[len("RESULT "):])  # type: ignore[no-any-return]


def test_sentry_huey_integration_works_with_jobboard(redis_url: str) -> None:
    out = run_scenario(redis_url)
    ids, items = out["ids"], out["items"]
    transactions = [p for t, p in items if t == "transaction"]
    events = [p for t, p in items if t == "event"]
    web = next(t for t in transactions if t["transaction"] == "web request")
    submits = [s["description"] for s in web["spans"] if s["op"] == "queue.submit.huey"]
    assert submits == ["double", "always_fails", "fails_twice"]
    trace_id = web["contexts"]["trace"]["trace_id"]
    runs = [t for t in transactions if t["contexts"]["trace"]["op"] == "queue.task.huey"]
    assert sorted(t["transaction"] for t in runs) == ["always_fails", "double", "fails_twice", "fails_twice"]
    assert {t["contexts"]["trace"]["trace_id"] for t in runs} == {trace_id}  # the trace went through Redis
    status = {t["transaction"]: t["contexts"]["trace"]["status"] for t in runs}
    assert status["double"] == "ok" and status["always_fails"] == "internal_error"
    # One event per failed attempt: not a second one from Huey's "Unhandled exception"
    # log line (Sentry's logging integration sees it; its dedupe drops the copy).
    by_job: dict[str, list[str]] = {}
    for e in events:
        by_job.setdefault(e["tags"]["huey_task_id"], []).append(e["exception"]["values"][-1]["type"])
    assert by_job == {ids["bad"]: ["ValueError"], ids["twice"]: ["KeyError", "KeyError"]}
    retry_tags = sorted(e["tags"]["huey_task_retry"] for e in events if e["tags"]["huey_task_id"] == ids["twice"])
    assert retry_tags == [False, True]
    # The integration's trace headers ride in the kwargs; the task never saw them (it ran)
    # and the dashboard does not show them as an argument.
    assert out["result"] == 4
    assert "sentry_headers" not in out["kwargs_shown"]
