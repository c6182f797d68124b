"""The audit trail (issue 17): every state-changing action of the pages, the API and the
CLI is recorded with who, role, adapter, address, what, which jobs or filter and how many;
kept by age and count in Redis; listed on the Activity page, in the API, on each job's
timeline and as JSON log lines."""

from __future__ import annotations

import getpass
import json
import logging
import socket
import time

import pytest
import redis
from flask.testing import FlaskClient

from jobboard import Board
from jobboard.audit import Actor, AuditLog
from jobboard.cli import main
from jobboard.shared.auth import token_label
from tests.support import (API, PREFIX, RunningConsumer, auth, csrf_from, error_of, login,
                           make_app, make_huey, soup, wait_for)

ALICE = Actor("alice", "operator", "web", "10.0.0.1")


def test_record_and_list_newest_first_with_filters(redis_client: redis.Redis) -> None:
    log = AuditLog(redis_client, "jb")
    log.record(ALICE, "retry", queue="emails", jobs=["a", "b"])
    log.record(Actor("bob", "admin", "cli", "host1"), "clean", queue="emails",
               filter={"state": "failed", "older_than": 3600, "task": None}, count=12)
    log.record(ALICE, "pause", queue="reports")
    page = log.entries()
    assert [e.action for e in page.entries] == ["pause", "clean", "retry"]
    retry = page.entries[2]
    assert (retry.user, retry.role, retry.via, retry.address, retry.jobs, retry.count) == (
        "alice", "operator", "web", "10.0.0.1", ["a", "b"], 2)
    clean = page.entries[1]
    assert clean.filter == {"state": "failed", "older_than": 3600} and clean.count == 12
    assert [e.action for e in log.entries(user="alice").entries] == ["pause", "retry"]
    assert [e.action for e in log.entries(queue="emails", via="cli").entries] == ["clean"]
    assert [e.action for e in log.entries(job="b").entries] == ["retry"]
    assert log.entries(queues=["reports"]).entries[0].action == "pause"
    assert len(log.entries(queues=["reports"]).entries) == 1


def test_paging_with_before_covers_every_entry_once(redis_client: redis.Redis) -> None:
    log = AuditLog(redis_client, "jb")
    for i in range(7):
        log.record(ALICE, "retry", queue="q", jobs=[f"j{i}"])
    seen: list[str] = []
    before = None
    while True:
        page = log.entries(limit=3, before=before)
        seen += [e.jobs[0] for e in page.entries]
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == [f"j{i}" for i in reversed(range(7))]


def test_kept_for_a_count_and_an_age(redis_client: redis.Redis) -> None:
    log = AuditLog(redis_client, "jb", max_count=100)
    for i in range(1000):
        log.record(ALICE, "retry", queue="q", jobs=[str(i)])
    # MAXLEN ~ trims whole stream nodes: at most one node (100 entries) over the cap
    assert 100 <= log.count() <= 200
    assert log.entries(limit=1).entries[0].jobs == ["999"]

    old = AuditLog(redis_client, "aged", max_age=3600)
    stale_ms = int((time.time() - 7200) * 1000)
    for i in range(150):  # entries from two hours ago, written as another process would
        redis_client.xadd(old.key, {"d": json.dumps({
            "at": stale_ms / 1000, "user": "x", "role": "admin", "via": "cli",
            "address": "-", "action": "pause"})}, id=f"{stale_ms}-{i}")
    old.record(ALICE, "resume", queue="q")
    assert old.count() < 151  # the next record trimmed the entries older than max_age
    assert old.entries().entries[0].action == "resume"
    old.configure(max_age=1)
    with pytest.raises(ValueError):
        old.configure(max_age=0)


def test_each_entry_is_a_json_log_line(redis_client: redis.Redis,
                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="jobboard.audit"):
        entry = AuditLog(redis_client, "jb").record(ALICE, "revoke", queue="emails", jobs=["x1"])
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "jobboard.audit"]
    assert lines == [{"event": "jobboard.audit", **entry.as_dict()}]
    assert lines[0]["user"] == "alice" and lines[0]["jobs"] == ["x1"]


def test_an_undecodable_entry_is_skipped(redis_client: redis.Redis) -> None:
    log = AuditLog(redis_client, "jb")
    redis_client.xadd(log.key, {"other": "program"})
    log.record(ALICE, "pause", queue="q")
    assert [e.action for e in log.entries().entries] == ["pause"]


# --- every adapter, end to end --------------------------------------------------------------

def _cli(capsys: pytest.CaptureFixture[str], redis_url: str, *argv: str) -> str:
    code = main(["--redis-url", redis_url, *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_every_action_of_pages_api_and_cli_is_listed_with_its_user(
        redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    huey = make_huey(redis_url)
    app = make_app(huey)
    board = app.extensions["jobboard"].board
    web_op, web_admin = app.test_client(), app.test_client()
    op_csrf = login(web_op, "operator")
    admin_csrf = login(web_admin, "admin")
    api = app.test_client()

    # API (operator token): submit three failing jobs and one delayed, one bulk submission.
    for i in range(3):
        r = api.post(f"{API}/queues/emails/jobs", json={"task": "boom", "id": f"b{i}"},
                     headers=auth("operator"))
        assert r.status_code == 201
    assert api.post(f"{API}/queues/emails/jobs", json={"task": "add", "args": [1], "id": "later",
                                                        "delay": 3600},
                    headers=auth("operator")).status_code == 201
    assert api.post(f"{API}/queues/emails/jobs/bulk", headers=auth("operator"), json={
        "jobs": [{"task": "add", "args": [2], "id": "bulk1"},
                 {"task": "add", "args": [3], "id": "bulk2"}]}).status_code == 201
    q = board.queue("emails")
    running = RunningConsumer(huey)
    try:
        wait_for(lambda: q.counts()["failed"] == 3 and q.counts()["completed"] == 2)
    finally:
        running.stop()

    # Pages: the operator retries one failed job and promotes the delayed one; the admin
    # pauses the queue and removes a completed job.
    hx = {"HX-Request": "true"}
    assert web_op.post(f"{PREFIX}/queues/emails/jobs/b0/retry",
                       data={"csrf_token": op_csrf}).status_code == 303
    assert web_op.post(f"{PREFIX}/queues/emails/jobs/later/promote", headers=hx,
                       data={"csrf_token": op_csrf}).status_code in (200, 303)  # htmx: HX-Location
    assert web_admin.post(f"{PREFIX}/queues/emails/pause",
                          data={"csrf_token": admin_csrf}).status_code == 303
    assert web_admin.post(f"{PREFIX}/queues/emails/jobs/bulk1/remove",
                          data={"csrf_token": admin_csrf}).status_code == 303
    # API: the operator retries everything still failed; resumes the queue.
    r = api.post(f"{API}/queues/emails/retry", json={"state": "failed"}, headers=auth("operator"))
    assert r.get_json()["retried"] == 2
    assert api.post(f"{API}/queues/emails/resume", headers=auth("operator")).status_code == 200
    # CLI: pause, then clean completed jobs.
    _cli(capsys, redis_url, "pause", "emails")
    _cli(capsys, redis_url, "clean", "emails", "--state", "completed")

    # A refused action (a viewer) and a read change nothing in the trail.
    viewer = app.test_client()
    csrf_v = login(viewer, "viewer")
    assert viewer.post(f"{PREFIX}/queues/emails/pause",
                       data={"csrf_token": csrf_v}).status_code == 403
    viewer.get(f"{PREFIX}/queues/emails")

    op_token = token_label("op-token")
    cli_user = getpass.getuser()
    # A wrong password and a logout are in the trail too, with the name tried and who left.
    stranger = app.test_client()
    page = stranger.get(f"{PREFIX}/login").get_data(as_text=True)
    assert stranger.post(f"{PREFIX}/login", data={
        "username": "<b>mallory</b>", "password": "guess",
        "csrf_token": csrf_from(page)}).status_code == 401
    assert web_admin.post(f"{PREFIX}/logout", data={"csrf_token": admin_csrf}).status_code == 303

    expected = [  # oldest first: (user, role, via, action, count)
        ("operator", "operator", "web", "login", 0), ("admin", "admin", "web", "login", 0),
        (op_token, "operator", "api", "enqueue", 1), (op_token, "operator", "api", "enqueue", 1),
        (op_token, "operator", "api", "enqueue", 1), (op_token, "operator", "api", "enqueue", 1),
        (op_token, "operator", "api", "enqueue", 2),
        ("operator", "operator", "web", "retry", 1), ("operator", "operator", "web", "promote", 1),
        ("admin", "admin", "web", "pause", 0), ("admin", "admin", "web", "remove", 1),
        (op_token, "operator", "api", "retry", 2), (op_token, "operator", "api", "resume", 0),
        (cli_user, "admin", "cli", "pause", 0), (cli_user, "admin", "cli", "clean", 1),
        ("viewer", "viewer", "web", "login", 0), ("<b>mallory</b>", "-", "web", "login_failed", 0),
        ("admin", "admin", "web", "logout", 0),
    ]
    api_page = api.get(f"{API}/activity?limit=100", headers=auth("viewer")).get_json()
    got = [(e["user"], e["role"], e["via"], e["action"], e["count"])
           for e in reversed(api_page["entries"])]
    assert got == expected
    entries = list(reversed(api_page["entries"]))[2:]  # after the two logins
    assert entries[5]["jobs"] == ["b0"] and entries[5]["address"] == "127.0.0.1"
    assert entries[9]["filter"] == {"state": "failed"} and sorted(entries[9]["jobs"]) == ["b1", "b2"]
    assert entries[11]["address"] == socket.gethostname()
    assert entries[12]["filter"] == {"state": "completed", "older_than": 0.0}

    # The Activity page lists the same rows, newest first, and its filters work.
    page = soup(viewer.get(f"{PREFIX}/activity"))
    rows = page.select("tr[data-entry]")
    assert [(r["data-user"], r["data-via"], r["data-action"]) for r in reversed(rows)] == [
        (u, v, a) for u, _, v, a, _ in expected]
    only_admin = soup(viewer.get(f"{PREFIX}/activity?user=admin&via=web"))
    assert [r["data-action"] for r in only_admin.select("tr[data-entry]")] == [
        "logout", "remove", "pause", "login"]
    assert "<b>mallory</b>" in page.get_text()  # shown as text: escaped, not a tag
    b0 = soup(viewer.get(f"{PREFIX}/activity?job=b0")).select("tr[data-entry]")
    assert [r["data-action"] for r in b0] == ["retry", "enqueue"]

    # Each job's timeline says who acted on it.
    events = api.get(f"{API}/queues/emails/jobs/b0", headers=auth("viewer")).get_json()["events"]
    texts = [e["message"] for e in events]
    assert f"submitted by {op_token} (operator, api)" in texts
    assert "retried by operator (operator, web)" in texts
    b1 = api.get(f"{API}/queues/emails/jobs/b1", headers=auth("viewer")).get_json()["events"]
    assert f"retried by {op_token} (operator, api) (bulk)" in [e["message"] for e in b1]
    later = api.get(f"{API}/queues/emails/jobs/later", headers=auth("viewer")).get_json()["events"]
    assert "run now by operator (operator, web)" in [e["message"] for e in later]
    job_page = soup(viewer.get(f"{PREFIX}/queues/emails/jobs/b0"))
    assert "retried by operator (operator, web)" in job_page.select_one("ol.timeline").get_text()

    # The CLI lists it too.
    out = json.loads(_cli(capsys, redis_url, "--json", "activity", "--via", "cli"))
    assert [e["action"] for e in out["entries"]] == ["clean", "pause"]


def test_activity_filters_refuse_bad_input(client: FlaskClient) -> None:
    login(client, "viewer")
    assert client.get(f"{PREFIX}/activity?action=explode").status_code == 400
    assert client.get(f"{PREFIX}/activity?since=3y").status_code == 400
    assert client.get(f"{PREFIX}/activity?before=abc").status_code == 400
    r = client.get(f"{API}/activity?before=abc", headers=auth("viewer"))
    assert r.status_code == 400 and error_of(r)["code"] == "invalid_parameter"
    assert client.get(f"{API}/activity?limit=0", headers=auth("viewer")).status_code == 400
    assert client.get(f"{API}/activity?via=mail", headers=auth("viewer")).status_code == 400


def test_activity_needs_a_login(client: FlaskClient) -> None:
    assert client.get(f"{PREFIX}/activity").status_code == 302
    assert client.get(f"{API}/activity").status_code == 401


def test_retention_comes_from_the_config(redis_url: str) -> None:
    app = make_app(make_huey(redis_url), JOBBOARD_AUDIT_MAX_AGE=3600, JOBBOARD_AUDIT_MAX_COUNT=50)
    with app.app_context():
        audit = app.extensions["jobboard"].board.audit
        assert (audit.max_age, audit.max_count) == (3600.0, 50)


def test_a_library_call_without_an_actor_records_nothing(redis_url: str) -> None:
    huey = make_huey(redis_url)
    board = Board([huey])
    q = board.queue("emails")
    q.pause()
    q.resume()
    assert board.audit.count() == 0
    q.pause(actor=Actor("lib", "admin", "library"))
    assert [e.user for e in board.audit.entries().entries] == ["lib"]
