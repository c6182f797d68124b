"""Flows (issue 17): Huey pipelines (.then / .error), groups and chords recorded at
enqueue and shown with every step's state, steps not enqueued yet included; retrying a
failed step continues the flow."""

from __future__ import annotations

import json
from typing import Any

import pytest
from huey.api import group

from jobboard.tracking import flow_argv, message_argv
from tests.support import (API, PREFIX, SHAKY, RunningConsumer, auth, login, make_app,
                           make_flow_huey, soup, wait_for)


@pytest.fixture
def env(redis_url: str) -> Any:
    SHAKY["fail"] = True
    huey = make_flow_huey(redis_url)
    app = make_app(huey)
    return huey, app, None


def flow_json(client: Any, job_id: str) -> dict[str, Any]:
    r = client.get(f"{API}/queues/emails/jobs/{job_id}/flow", headers=auth("viewer"))
    assert r.status_code == 200
    return r.get_json()["flow"]  # type: ignore[no-any-return]


def statuses(flow: dict[str, Any]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []

    def walk(s: dict[str, Any]) -> None:
        out.append((s["task"].rsplit(".", 1)[-1], s["relation"], s["status"]))
        for c in s["steps"]:
            walk(c)

    for m in flow["members"]:
        walk(m)
    if flow["callback"]:
        walk(flow["callback"])
    return out


def test_a_plain_job_adds_no_flow_fields() -> None:
    class Msg:  # the attributes message_argv reads of a Huey message
        id, name, eta, priority, args, kwargs = "x", "t", None, 0, (), {}
        on_complete = on_error = chord_config = None
        retries = retry_delay = retry_backoff = timeout = expires = None

    assert flow_argv(Msg(), None) == []
    from jobboard.config import TrackingConfig
    meta = message_argv("b", b"", Msg(), priority=None, utc=True, config=TrackingConfig())[2]
    assert len(json.loads(meta)) == 17  # the fields ENQUEUE always reads, nothing more


def test_pipeline_with_a_failing_middle_step_then_retried(env: Any) -> None:
    huey, app, _ = env
    t = huey.flow_tasks
    api = app.test_client()
    results = huey.enqueue(t["step"].s(1).then(t["shaky"]).then(t["step"]))
    ids = [r.id for r in results]
    q = app.extensions["jobboard"].board.queue("emails")
    before = flow_json(api, ids[0])
    assert before["kind"] == "pipeline"
    assert statuses(before) == [("step", "first", "waiting"), ("shaky", "then", "pending"),
                                ("step", "then", "pending")]
    running = RunningConsumer(huey)
    try:
        wait_for(lambda: q.counts()["failed"] == 1)
        after = flow_json(api, ids[2])  # from the last step, which has no job yet
        assert statuses(after) == [("step", "first", "completed"), ("shaky", "then", "failed"),
                                   ("step", "then", "skipped")]
        last = after["members"][0]["steps"][0]["steps"][0]
        assert last["id"] == ids[2] and "will not run" in last["note"] and last["current"]
        # The page of the failed step draws the tree; the never-run step has no link.
        web = app.test_client()
        csrf = login(web, "operator")
        page = soup(web.get(f"{PREFIX}/queues/emails/jobs/{ids[1]}"))
        steps = page.select("#flow li.step")
        assert [s["data-status"] for s in steps] == ["completed", "failed", "skipped"]
        assert steps[1].get("aria-current") == "step"
        assert steps[0].select_one("a.task") and not steps[2].select_one("a.task")
        # Searching for the step that never ran leads to its flow, not to "no job".
        r = web.get(f"{PREFIX}/search?q={ids[2]}")
        assert r.status_code == 302 and r.headers["Location"].endswith(f"/jobs/{ids[1]}#flow")
        # Retrying the failed step continues the flow.
        SHAKY["fail"] = False
        assert web.post(f"{PREFIX}/queues/emails/jobs/{ids[1]}/retry",
                        data={"csrf_token": csrf}).status_code == 303
        wait_for(lambda: q.counts()["completed"] == 3)
    finally:
        running.stop()
    done = flow_json(api, ids[0])
    assert statuses(done) == [("step", "first", "completed"), ("shaky", "then", "completed"),
                              ("step", "then", "completed")]
    assert q.job(ids[2]).result == "21"  # (1 + 1) * 10 + 1


def test_chord_of_five_shows_members_and_callback(env: Any) -> None:
    huey, app, _ = env
    t = huey.flow_tasks
    api = app.test_client()
    SHAKY["fail"] = False
    chord = huey.enqueue(group([t["step"].s(i) for i in range(5)]).then(t["total"]))
    member_ids = [r.id for r in chord.results]
    q = app.extensions["jobboard"].board.queue("emails")
    waiting = flow_json(api, member_ids[3])
    assert waiting["kind"] == "chord" and waiting["size"] == 5
    assert [m["id"] for m in waiting["members"]] == member_ids
    assert waiting["callback"]["status"] == "pending"
    assert "0 of 5 members ended" in waiting["callback"]["note"]
    running = RunningConsumer(huey)
    try:
        wait_for(lambda: q.counts()["completed"] == 6)
    finally:
        running.stop()
    cb_id = chord.callback.id
    done = flow_json(api, cb_id)  # the callback's own page finds its chord
    assert statuses(done) == [("step", "member", "completed")] * 5 + [("total", "callback", "completed")]
    assert q.job(cb_id).result == "15"  # 1 + 2 + 3 + 4 + 5


def test_group_and_error_handler(env: Any) -> None:
    huey, app, _ = env
    t = huey.flow_tasks
    api = app.test_client()
    grouped = huey.enqueue(group([t["step"].s(i) for i in range(3)]))
    handled = huey.enqueue(t["shaky"].s(4).error(t["on_failure"]))
    ok = huey.enqueue(t["step"].s(4).error(t["on_failure"]))
    g_ids = [r.id for r in grouped]  # (grouped[i] would wait for that job's result)
    g = flow_json(api, g_ids[1])
    assert g["kind"] == "group" and g["size"] == 3
    assert [m["id"] for m in g["members"]] == g_ids
    q = app.extensions["jobboard"].board.queue("emails")
    running = RunningConsumer(huey)
    try:
        wait_for(lambda: q.counts()["failed"] == 1 and q.counts()["completed"] == 5)
    finally:
        running.stop()
    assert statuses(flow_json(api, handled.id)) == [("shaky", "first", "failed"),
                                                    ("on_failure", "on error", "completed")]
    assert statuses(flow_json(api, ok.id)) == [("step", "first", "completed"),
                                               ("on_failure", "on error", "skipped")]
    plain = huey.enqueue(t["step"].s(1))
    assert flow_json(api, plain.id) is None
