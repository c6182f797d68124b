"""The JSON API against a real Redis, the real extension and (where jobs must run) a real
Huey consumer in threads of this process."""

from __future__ import annotations

import json
import re
import socket
import time
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from huey import crontab
from openapi_spec_validator import validate as validate_openapi
from werkzeug.security import generate_password_hash

import jobboard
from tests.support import (
    API, PREFIX, RunningConsumer, auth, blocked_clients, error_of, make_app, make_huey, wait_for,
)


def submit(client: FlaskClient, body: dict[str, Any], role: str = "operator",
           queue: str = "emails") -> Any:
    return client.post(f"{API}/queues/{queue}/jobs", json=body, headers=auth(role))


def job(client: FlaskClient, job_id: str, queue: str = "emails") -> dict[str, Any]:
    resp = client.get(f"{API}/queues/{queue}/jobs/{job_id}", headers=auth("viewer"))
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def counts(client: FlaskClient, queue: str = "emails") -> dict[str, int]:
    return client.get(f"{API}/queues/{queue}", headers=auth("viewer")).get_json()["states"]


# -- end to end --------------------------------------------------------------------------

def test_submitted_job_is_run_by_a_real_consumer_and_its_record_shows_the_result(
        client: FlaskClient, consumer: RunningConsumer) -> None:
    resp = submit(client, {"task": "add", "args": [2], "kwargs": {"b": 40}})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["created"] is True
    assert resp.headers["Location"] == body["url"] == f"{API}/queues/emails/jobs/{body['id']}"
    record = wait_for(lambda: (r := job(client, body["id"]))["state"] == "completed" and r)
    assert record["result"] == "42"
    assert record["task"].endswith("add")
    assert record["run_ms"] is not None and record["finished_at"] >= record["enqueued_at"]
    assert [e["kind"] for e in record["events"]][-1] == "completed"


def test_the_same_id_submitted_twice_is_queued_once(client: FlaskClient) -> None:
    first = submit(client, {"task": "add", "args": [1, 1], "id": "order-42"})
    second = submit(client, {"task": "add", "args": [1, 1], "id": "order-42"})
    assert (first.status_code, first.get_json()["created"]) == (201, True)
    assert (second.status_code, second.get_json()["created"]) == (200, False)
    assert first.get_json()["id"] == second.get_json()["id"] == "order-42"
    assert counts(client)["waiting"] == 1


def test_idempotent_submission_survives_the_job_running(
        client: FlaskClient, consumer: RunningConsumer, redis_client: Any) -> None:
    assert submit(client, {"task": "add", "args": [1], "id": "once"}).status_code == 201
    wait_for(lambda: job(client, "once")["state"] == "completed")
    again = submit(client, {"task": "add", "args": [1], "id": "once"})
    assert again.get_json()["created"] is False
    # Had it queued a job, the push would have woken a worker: wait until both are idle.
    wait_for(lambda: blocked_clients(redis_client) == 2)
    assert counts(client)["completed"] == 1 and counts(client)["waiting"] == 0


def test_failed_job_is_retried_over_the_api_with_its_arguments(
        client: FlaskClient, consumer: RunningConsumer) -> None:
    job_id = submit(client, {"task": "boom", "kwargs": {"message": "first"}}).get_json()["id"]
    failed = wait_for(lambda: (r := job(client, job_id))["state"] == "failed" and r)
    assert failed["attempts"] and failed["attempts"][-1]["error_class"].endswith("RuntimeError")
    assert "first" in failed["attempts"][-1]["traceback"]
    page = client.get(f"{API}/queues/emails/jobs?state=failed", headers=auth("viewer")).get_json()
    assert page["total"] == 1 and page["jobs"][0]["id"] == job_id
    resp = client.post(f"{API}/queues/emails/jobs/{job_id}/retry", headers=auth("operator"))
    assert resp.status_code == 200 and resp.get_json()["action"] == "retry"
    again = wait_for(lambda: (r := job(client, job_id))["state"] == "failed"
                     and len(r["attempts"]) == 2 and r)
    assert "first" in again["attempts"][-1]["traceback"]  # same arguments


def test_bulk_retry_returns_the_count(client: FlaskClient, consumer: RunningConsumer) -> None:
    for i in range(3):
        submit(client, {"task": "boom", "args": [f"n{i}"]})
    wait_for(lambda: counts(client)["failed"] == 3)
    consumer.stop()  # keep the retried jobs waiting so we can count them
    resp = client.post(f"{API}/queues/emails/retry", json={"state": "failed"},
                       headers=auth("operator"))
    assert resp.status_code == 200 and resp.get_json() == {"queue": "emails", "retried": 3}
    assert counts(client)["failed"] == 0 and counts(client)["waiting"] == 3


# -- submission checks ---------------------------------------------------------------------

def test_arguments_that_do_not_fit_the_task_are_a_422_and_nothing_is_queued(
        client: FlaskClient) -> None:
    for body in ({"task": "add", "args": [1, 2, 3]}, {"task": "add", "kwargs": {"c": 1}},
                 {"task": "add"}):
        resp = submit(client, body)
        assert resp.status_code == 422, body
        err = error_of(resp)
        assert err["code"] == "invalid_arguments" and "(a" in err["details"]["signature"]
    assert sum(counts(client).values()) == 0


def test_badly_shaped_submissions_list_every_problem(client: FlaskClient) -> None:
    resp = submit(client, {"task": "", "args": {}, "priority": "high", "delay": -1,
                           "retries": 1.5, "id": "has space", "colour": "red"})
    assert resp.status_code == 422
    fields = {e["field"] for e in error_of(resp)["details"]["errors"]}
    assert fields == {"task", "args", "priority", "delay", "retries", "id", "colour"}
    both = submit(client, {"task": "add", "args": [1], "delay": 5, "eta": time.time()})
    assert both.status_code == 422


def test_find_a_job_by_id_alone(client: FlaskClient) -> None:
    submit(client, {"task": "add", "args": [1], "id": "where-am-i"})
    found = client.get(f"{API}/jobs/where-am-i", headers=auth("viewer"))
    assert found.status_code == 200
    assert (found.get_json()["queue"], found.get_json()["url"]) == (
        "emails", f"{API}/queues/emails/jobs/where-am-i")
    missing = client.get(f"{API}/jobs/nowhere", headers=auth("viewer"))
    assert missing.status_code == 404 and error_of(missing)["code"] == "job_not_found"


def test_context_task_needs_no_task_argument(huey: Any, client: FlaskClient) -> None:
    @huey.task(context=True, name="with_context")
    def with_context(x: int, task: Any) -> int:
        return x

    assert submit(client, {"task": "with_context", "args": [1]}).status_code == 201


def test_unknown_task_is_404(client: FlaskClient) -> None:
    resp = submit(client, {"task": "no_such_task"})
    assert resp.status_code == 404 and error_of(resp)["code"] == "task_not_found"


def test_bulk_submission_is_all_or_nothing(client: FlaskClient) -> None:
    bad = client.post(f"{API}/queues/emails/jobs/bulk", headers=auth("operator"), json={
        "jobs": [{"task": "add", "args": [1]}, {"task": "add", "args": [1, 2, 3]},
                 {"task": "nope"}]})
    assert bad.status_code == 404  # an unknown task, as for one submission
    errors = error_of(bad)["details"]["errors"]
    assert {e["field"] for e in errors} == {"jobs[1].args", "jobs[2].task"}
    misfit = client.post(f"{API}/queues/emails/jobs/bulk", headers=auth("operator"), json={
        "jobs": [{"task": "add", "args": [1]}, {"task": "add", "args": [1, 2, 3]}]})
    assert misfit.status_code == 422
    assert [e["field"] for e in error_of(misfit)["details"]["errors"]] == ["jobs[1].args"]
    assert sum(counts(client).values()) == 0
    good = client.post(f"{API}/queues/emails/jobs/bulk", headers=auth("operator"), json={
        "jobs": [{"task": "add", "args": [i], "id": f"b{i}"} for i in range(5)]
        + [{"task": "add", "args": [0], "id": "b0"}]})
    assert good.status_code == 201
    body = good.get_json()
    assert (body["created"], body["existing"], len(body["jobs"])) == (5, 1, 6)
    assert counts(client)["waiting"] == 5


def test_delay_and_eta_schedule_the_job(client: FlaskClient) -> None:
    a = submit(client, {"task": "add", "args": [1], "delay": 3600}).get_json()["id"]
    when = int(time.time()) + 7200
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    b = submit(client, {"task": "add", "args": [1], "eta": iso}).get_json()["id"]
    c = submit(client, {"task": "add", "args": [1], "eta": when}).get_json()["id"]
    assert {job(client, x)["state"] for x in (a, b, c)} == {"scheduled"}
    assert abs(job(client, b)["scheduled_for"] - when) < 2
    assert abs(job(client, c)["scheduled_for"] - when) < 2
    far = submit(client, {"task": "add", "args": [1], "eta": "9999-12-31T23:59:59-05:00"})
    assert far.status_code == 201  # clamped to late 9999 rather than overflowing
    bad = submit(client, {"task": "add", "args": [1], "eta": "tomorrow"})
    assert bad.status_code == 422


# -- errors ----------------------------------------------------------------------------------

def test_malformed_json_is_400(client: FlaskClient) -> None:
    for data in (b"{", b"[1, 2]", b'{"task": NaN}', b"\xff\xfe", b"[" * 100_000):
        resp = client.post(f"{API}/queues/emails/jobs", data=data,
                           content_type="application/json", headers=auth("operator"))
        assert resp.status_code == 400, data[:10]
        assert error_of(resp)["code"] == "malformed_json"


def test_not_json_is_415(client: FlaskClient) -> None:
    resp = client.post(f"{API}/queues/emails/jobs", data="task=add",
                       content_type="application/x-www-form-urlencoded", headers=auth("operator"))
    assert resp.status_code == 415 and error_of(resp)["code"] == "unsupported_media_type"
    # A pickle is just bytes that are not JSON: refused, never unpickled.
    import pickle

    resp = client.post(f"{API}/queues/emails/jobs", data=pickle.dumps({"task": "add"}),
                       content_type="application/octet-stream", headers=auth("operator"))
    assert resp.status_code == 415


def test_too_large_body_is_413(huey: Any) -> None:
    client = make_app(huey, JOBBOARD_API_MAX_BODY=1000).test_client()
    resp = submit(client, {"task": "add", "args": ["x" * 2000]})
    assert resp.status_code == 413 and error_of(resp)["code"] == "payload_too_large"


def test_unknown_queue_job_and_path_are_json_404(client: FlaskClient) -> None:
    cases = {f"{API}/queues/nope": "queue_not_found",
             f"{API}/queues/emails/jobs/nope": "job_not_found",
             f"{API}/no/such/thing": "not_found"}
    for url, code in cases.items():
        resp = client.get(url, headers=auth("viewer"))
        assert resp.status_code == 404 and error_of(resp)["code"] == code, url


def test_wrong_method_is_json_405(client: FlaskClient) -> None:
    resp = client.put(f"{API}/queues", headers=auth("admin"))
    assert resp.status_code == 405 and error_of(resp)["code"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]


def test_action_on_a_job_in_the_wrong_state_is_409(client: FlaskClient) -> None:
    job_id = submit(client, {"task": "add", "args": [1]}).get_json()["id"]
    resp = client.post(f"{API}/queues/emails/jobs/{job_id}/retry", headers=auth("operator"))
    assert resp.status_code == 409
    err = error_of(resp)
    assert err["code"] == "invalid_state" and err["details"]["state"] == "waiting"
    assert client.post(f"{API}/queues/emails/jobs/{job_id}/promote",
                       headers=auth("operator")).status_code == 409


def test_bad_query_parameters_are_400(client: FlaskClient) -> None:
    for qs in ("state=nope", "page=0", "per_page=1000", "page=x", "order=up"):
        resp = client.get(f"{API}/queues/emails/jobs?{qs}", headers=auth("viewer"))
        assert resp.status_code == 400 and error_of(resp)["code"] == "invalid_parameter", qs


def test_redis_outage_is_503_json(redis_url: str) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = make_huey(f"redis://127.0.0.1:{port}/0")
    client = make_app(down).test_client()
    resp = client.get(f"{API}/queues", headers=auth("viewer"))
    assert resp.status_code == 503 and error_of(resp)["code"] == "redis_unavailable"
    assert resp.headers["Retry-After"]
    ready = client.get(f"{PREFIX}/health/ready")
    assert ready.status_code == 503 and ready.get_json()["redis"] is False


# -- auth, roles, CSRF ------------------------------------------------------------------------

def test_anonymous_and_bad_tokens_get_401(client: FlaskClient) -> None:
    for method, url in (("get", "/queues"), ("post", "/queues/emails/pause"),
                        ("delete", "/queues/emails/jobs/x")):
        anon = getattr(client, method)(API + url)
        assert anon.status_code == 401 and error_of(anon)["code"] == "unauthorized", url
        bad = getattr(client, method)(API + url, headers={"Authorization": "Bearer wrong"})
        assert bad.status_code == 401, url


def test_roles(client: FlaskClient) -> None:
    job_id = submit(client, {"task": "add", "args": [1], "delay": 3600}).get_json()["id"]
    assert client.post(f"{API}/queues/emails/pause", headers=auth("viewer")).status_code == 403
    assert submit(client, {"task": "add", "args": [1]}, role="viewer").status_code == 403
    assert client.post(f"{API}/queues/emails/empty", headers=auth("operator")).status_code == 403
    assert client.post(f"{API}/queues/emails/clean", json={"state": "completed"},
                       headers=auth("operator")).status_code == 403
    denied = client.delete(f"{API}/queues/emails/jobs/{job_id}", headers=auth("operator"))
    assert denied.status_code == 403 and error_of(denied)["details"]["needed"] == "admin"
    assert client.delete(f"{API}/queues/emails/jobs/{job_id}",
                         headers=auth("admin")).status_code == 200
    assert client.get(f"{API}/queues", headers=auth("viewer")).status_code == 200


def test_read_only_turns_every_action_off(huey: Any) -> None:
    client = make_app(huey, JOBBOARD_READ_ONLY=True).test_client()
    resp = client.post(f"{API}/queues/emails/pause", headers=auth("admin"))
    assert resp.status_code == 403 and "read-only" in error_of(resp)["message"]
    assert client.get(f"{API}/queues", headers=auth("admin")).status_code == 200


def test_browser_session_works_and_needs_the_csrf_token(huey: Any) -> None:
    app = make_app(huey, JOBBOARD_USERS={
        "alice": {"password_hash": generate_password_hash("secret-pw"), "role": "operator"}})
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["jobboard_csrf"] = "csrf-token-value"
    signed_in = client.post(f"{PREFIX}/login", data={
        "username": "alice", "password": "secret-pw", "csrf_token": "csrf-token-value"})
    assert signed_in.status_code == 303
    with client.session_transaction() as sess:
        sess["jobboard_csrf"] = "csrf-token-value"  # login starts a fresh session
    assert client.get(f"{API}/queues").status_code == 200
    no_token = client.post(f"{API}/queues/emails/pause")
    assert no_token.status_code == 400 and error_of(no_token)["code"] == "csrf_failed"
    ok = client.post(f"{API}/queues/emails/pause", headers={"X-CSRFToken": "csrf-token-value"})
    assert ok.status_code == 200 and ok.get_json()["paused"] is True
    # Bearer requests skip CSRF: browsers never add that header by themselves.
    assert client.post(f"{API}/queues/emails/resume", headers=auth("operator")).status_code == 200


def test_submission_is_rate_limited_per_token(huey: Any) -> None:
    for storage in ("redis", "memory"):
        app = make_app(huey, JOBBOARD_API_RATE_LIMIT="3/hour",
                       JOBBOARD_API_RATE_LIMIT_STORAGE=storage,
                       JOBBOARD_API_TOKENS={f"op1-{storage}": "operator", f"op2-{storage}": "operator"})
        client = app.test_client()
        h1 = {"Authorization": f"Bearer op1-{storage}"}
        statuses = [client.post(f"{API}/queues/emails/jobs", json={"task": "add", "args": [1]},
                                headers=h1).status_code for _ in range(4)]
        assert statuses == [201, 201, 201, 429], storage
        limited = client.post(f"{API}/queues/emails/jobs", json={"task": "add", "args": [1]},
                              headers=h1)
        assert error_of(limited)["code"] == "rate_limited"
        assert 0 < int(limited.headers["Retry-After"]) <= 3600
        # Another token has its own budget; a bulk of 4 does not fit in 3.
        h2 = {"Authorization": f"Bearer op2-{storage}"}
        bulk = client.post(f"{API}/queues/emails/jobs/bulk", headers=h2,
                           json={"jobs": [{"task": "add", "args": [1]}] * 4})
        assert bulk.status_code == 429
        assert client.post(f"{API}/queues/emails/jobs", json={"task": "add", "args": [1]},
                           headers=h2).status_code == 201


# -- queue and job actions --------------------------------------------------------------------

def test_pause_resume_and_queue_listing(client: FlaskClient) -> None:
    submit(client, {"task": "add", "args": [1]})
    assert client.post(f"{API}/queues/emails/pause", headers=auth("operator")).get_json() == {
        "queue": "emails", "paused": True}
    listing = client.get(f"{API}/queues", headers=auth("viewer")).get_json()["queues"]
    assert [(q["name"], q["paused"], q["states"]["waiting"]) for q in listing] == [("emails", True, 1)]
    assert listing[0]["health"]["paused"] is True
    client.post(f"{API}/queues/emails/resume", headers=auth("operator"))
    detail = client.get(f"{API}/queues/emails?window=24h", headers=auth("viewer")).get_json()
    assert detail["paused"] is False and detail["metrics"]["window"] == "24h"
    assert any(t.endswith("add") for t in detail["tasks"])


def test_promote_revoke_remove_empty(client: FlaskClient) -> None:
    a = submit(client, {"task": "add", "args": [1], "delay": 3600}).get_json()["id"]
    b = submit(client, {"task": "add", "args": [2], "delay": 3600}).get_json()["id"]
    c = submit(client, {"task": "add", "args": [3]}).get_json()["id"]
    assert client.post(f"{API}/queues/emails/jobs/{a}/promote",
                       headers=auth("operator")).status_code == 200
    assert job(client, a)["state"] == "waiting"
    assert client.post(f"{API}/queues/emails/jobs/{b}/revoke",
                       headers=auth("operator")).status_code == 200
    assert job(client, b)["state"] == "revoked"
    assert client.delete(f"{API}/queues/emails/jobs/{b}", headers=auth("admin")).status_code == 200
    assert client.get(f"{API}/queues/emails/jobs/{b}", headers=auth("viewer")).status_code == 404
    resp = client.post(f"{API}/queues/emails/empty", headers=auth("admin"))
    assert resp.get_json()["removed"] == 2 and counts(client)["waiting"] == 0
    assert c


def test_clean_removes_old_finished_jobs(client: FlaskClient, consumer: RunningConsumer) -> None:
    for i in range(3):
        submit(client, {"task": "add", "args": [i]})
    wait_for(lambda: counts(client)["completed"] == 3)
    keep = client.post(f"{API}/queues/emails/clean", headers=auth("admin"),
                       json={"state": "completed", "older_than": "1h"})
    assert keep.get_json()["removed"] == 0
    gone = client.post(f"{API}/queues/emails/clean", headers=auth("admin"),
                       json={"state": "completed", "older_than": 0})
    assert gone.status_code == 200 and gone.get_json()["removed"] == 3
    bad = client.post(f"{API}/queues/emails/clean", headers=auth("admin"),
                      json={"state": "waiting", "older_than": "soon"})
    assert bad.status_code == 422
    assert {e["field"] for e in error_of(bad)["details"]["errors"]} == {"state", "older_than"}


def test_job_list_paging_filters_and_search(client: FlaskClient) -> None:
    for i in range(7):
        submit(client, {"task": "add", "args": [i], "id": f"job-{i}"})
    submit(client, {"task": "sleepy", "args": [0], "id": "sleeper"})
    page = client.get(f"{API}/queues/emails/jobs?state=waiting&per_page=3&page=3&order=oldest",
                      headers=auth("viewer")).get_json()
    assert (page["total"], page["pages"], [j["id"] for j in page["jobs"]]) == (8, 3, ["job-6", "sleeper"])
    by_task = client.get(f"{API}/queues/emails/jobs?state=waiting&task=tests.support.sleepy",
                         headers=auth("viewer")).get_json()
    assert [j["id"] for j in by_task["jobs"]] == ["sleeper"]
    found = client.get(f"{API}/queues/emails/jobs?state=waiting&q=job-4",
                       headers=auth("viewer")).get_json()
    assert [j["id"] for j in found["jobs"]] == ["job-4"] and found["complete"] is True


def test_workers_and_periodic_tasks(redis_url: str) -> None:
    h = make_huey(redis_url, "reports")

    @h.periodic_task(crontab(minute="0", hour="3"), name="nightly")
    def nightly() -> str:
        return "done"

    client = make_app(h).test_client()
    running = RunningConsumer(h)
    try:
        workers = wait_for(lambda: client.get(f"{API}/workers", headers=auth("viewer"))
                           .get_json()["workers"])
        assert workers[0]["queue"] == "reports" and workers[0]["workers"] == 2
        periodic = wait_for(lambda: client.get(f"{API}/periodic?queue=reports",
                                               headers=auth("viewer")).get_json()["periodic"])
        assert [p["short_name"] for p in periodic] == ["nightly", "nightly_report"]
        run = client.post(f"{API}/periodic/nightly/run", headers=auth("operator"))
        assert run.status_code == 201
        run_id = run.get_json()["id"]
        record = wait_for(lambda: (r := client.get(run.get_json()["url"], headers=auth("viewer"))
                                   .get_json())["state"] == "completed" and r)
        assert record["result"] == "'done'" or "done" in record["result"]
        assert run_id == record["id"]
        assert client.post(f"{API}/periodic/nightly/pause?queue=reports",
                           headers=auth("operator")).get_json()["paused"] is True
        listed = client.get(f"{API}/periodic", headers=auth("viewer")).get_json()["periodic"]
        assert listed[0]["paused"] is True
        assert client.post(f"{API}/periodic/nightly/resume", json={"queue": "reports"},
                           headers=auth("operator")).get_json()["paused"] is False
        missing = client.post(f"{API}/periodic/nope/run", headers=auth("operator"))
        assert missing.status_code == 404 and error_of(missing)["code"] == "periodic_not_found"
        assert client.get(f"{API}/workers?queue=nope", headers=auth("viewer")).status_code == 404
    finally:
        running.stop()


# -- health -------------------------------------------------------------------------------------

def test_health_endpoints(app: Flask, client: FlaskClient) -> None:
    ready = client.get(f"{PREFIX}/health/ready")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ok"
    assert client.get(f"{PREFIX}/health/detailed").status_code == 401
    submit(client, {"task": "add", "args": [1]})
    detailed = client.get(f"{PREFIX}/health/detailed", headers=auth("viewer")).get_json()
    assert detailed["healthy"] is False
    assert "no consumer alive" in detailed["queues"][0]["reasons"][0]
    strict = client.get(f"{PREFIX}/health/detailed?strict=1", headers=auth("viewer"))
    assert strict.status_code == 503
    app.config["JOBBOARD_HEALTH_DETAILED_OPEN"] = True
    assert client.get(f"{PREFIX}/health/detailed").status_code == 200
    app.config["JOBBOARD_HEALTH_OPEN"] = False
    assert client.get(f"{PREFIX}/health/ready").status_code == 401


# -- the document -------------------------------------------------------------------------------

def test_openapi_document_is_valid_and_covers_every_api_route(app: Flask, client: FlaskClient) -> None:
    resp = client.get(f"{API}/openapi.json", headers=auth("viewer"))
    assert resp.status_code == 200
    doc = resp.get_json()
    validate_openapi(doc)  # raises on an invalid OpenAPI 3.1 document
    assert doc["openapi"].startswith("3.1") and doc["servers"] == [{"url": API}]
    documented = {(path, method.upper()) for path, item in doc["paths"].items()
                  for method in item if method != "parameters"}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("jobboard_api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(API))
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert {"401", "403", "503"} <= set(operation["responses"]), (path, method)
    json.dumps(doc)


def test_jobboard_package_exports_the_core_the_api_uses() -> None:
    assert jobboard.Board and jobboard.TaskNotFound
