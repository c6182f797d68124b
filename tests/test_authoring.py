"""Adding, duplicating and editing-and-retrying jobs (issue 17): operator role, CSRF,
JSON arguments checked against the task's signature, redacted values never readable
through the editor, the original kept and linked to its copy."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from jobboard import authoring
from tests.support import (API, PREFIX, RunningConsumer, auth, error_of, login, make_app,
                           make_huey, soup, wait_for)

SECRET = "hunter2-do-not-show"


def secret_huey(redis_url: str) -> Any:
    huey = make_huey(redis_url)

    @huey.task(name="connect")
    def connect(host: str, options: dict[str, Any], password: str = "") -> str:
        if host == "bad":
            raise ConnectionError(f"cannot reach {host}")
        return f"{host}:{options.get('port')}:{password == SECRET}"

    return huey


@pytest.fixture
def setup(redis_url: str) -> Any:
    huey = secret_huey(redis_url)
    app = make_app(huey)
    return huey, app


def api_job(client: FlaskClient, job_id: str) -> dict[str, Any]:
    return client.get(f"{API}/queues/emails/jobs/{job_id}",  # type: ignore[no-any-return]
                      headers=auth("viewer")).get_json()


def failed_connect(huey: Any, app: Any) -> str:
    api = app.test_client()
    r = api.post(f"{API}/queues/emails/jobs", headers=auth("operator"), json={
        "task": "connect", "id": "c1",
        "args": ["bad", {"port": 5432, "api_token": "tok-" + SECRET}],
        "kwargs": {"password": SECRET}})
    assert r.status_code == 201
    running = RunningConsumer(huey)
    try:
        wait_for(lambda: api_job(api, "c1")["state"] == "failed")
    finally:
        running.stop()
    return "c1"


def test_add_job_form_checks_json_and_the_signature(setup: Any) -> None:
    huey, app = setup
    web = app.test_client()
    csrf = login(web, "operator")
    form = soup(web.get(f"{PREFIX}/queues/emails/new"))
    options = {o["value"].rsplit(".", 1)[-1]: o["value"] for o in form.select("select[name=task] option")}
    assert "add" in options and "connect" in options and "nightly_report" not in options
    add = options["add"]

    bad_json = web.post(f"{PREFIX}/queues/emails/new", data={
        "csrf_token": csrf, "task": add, "args": "[1, 2", "kwargs": "{}"})
    assert bad_json.status_code == 422
    page = soup(bad_json)
    assert "not valid JSON" in page.select_one("[data-error=args]").get_text()
    assert page.select_one("textarea[name=args]").get_text() == "[1, 2"  # kept as typed

    wrong_args = web.post(f"{PREFIX}/queues/emails/new", data={
        "csrf_token": csrf, "task": add, "args": "[1, 2, 3]", "kwargs": "{}"})
    assert wrong_args.status_code == 422
    assert "too many positional arguments" in soup(wrong_args).select_one(
        "[data-error=args]").get_text()
    both = web.post(f"{PREFIX}/queues/emails/new", data={
        "csrf_token": csrf, "task": add, "args": "[1]", "delay": "5", "eta": "2030-01-01T00:00"})
    assert both.status_code == 422 and soup(both).select_one("[data-error=eta]")
    assert web.post(f"{PREFIX}/queues/emails/new", data={
        "csrf_token": csrf, "task": "nope", "args": "[]"}).status_code == 422

    ok = web.post(f"{PREFIX}/queues/emails/new", data={
        "csrf_token": csrf, "task": add, "args": "[40]", "kwargs": '{"b": 2}',
        "priority": "7", "delay": "3600"})
    assert ok.status_code == 303
    job_id = ok.headers["Location"].rsplit("/", 1)[-1]
    j = api_job(web, job_id)
    assert (j["state"], j["task"], j["args"], j["kwargs"], j["priority"]) == (
        "scheduled", add, "40", '"b": 2', 7)
    assert j["scheduled_for"] - j["enqueued_at"] == pytest.approx(3600, abs=5)
    entry = web.get(f"{API}/activity?action=enqueue").get_json()["entries"][0]
    assert (entry["user"], entry["via"], entry["jobs"]) == ("operator", "web", [job_id])


def test_edit_and_retry_keeps_the_original_and_never_shows_secrets(setup: Any) -> None:
    huey, app = setup
    job_id = failed_connect(huey, app)
    web = app.test_client()
    csrf = login(web, "operator")
    job_page = soup(web.get(f"{PREFIX}/queues/emails/jobs/{job_id}"))
    assert job_page.select_one("[data-control=edit]")
    editor = web.get(f"{PREFIX}/queues/emails/jobs/{job_id}/edit")
    html = editor.get_data(as_text=True)
    assert editor.status_code == 200 and SECRET not in html  # not even the token's tail
    page = soup(html)
    assert page.select_one("[data-masked]")["data-masked"] == "2"
    args_text = page.select_one("textarea[name=args]").get_text()
    kwargs_text = page.select_one("textarea[name=kwargs]").get_text()
    assert authoring.MASK in args_text and authoring.MASK in kwargs_text

    # A placeholder moved somewhere else is refused: the editor cannot copy a secret out.
    moved = web.post(f"{PREFIX}/queues/emails/jobs/{job_id}/edit", data={
        "csrf_token": csrf, "args": args_text.replace('"bad"', f'"{authoring.MASK}"'),
        "kwargs": kwargs_text})
    assert moved.status_code == 422 and SECRET not in moved.get_data(as_text=True)
    assert "redacted placeholder" in soup(moved).select_one("[data-error=args]").get_text()
    # Arguments that do not fit the task are refused with the reason.
    unfit = web.post(f"{PREFIX}/queues/emails/jobs/{job_id}/edit", data={
        "csrf_token": csrf, "args": "[]", "kwargs": "{}"})
    assert unfit.status_code == 422 and "missing a required argument" in unfit.get_data(as_text=True)

    saved = web.post(f"{PREFIX}/queues/emails/jobs/{job_id}/edit", data={
        "csrf_token": csrf, "args": args_text.replace('"bad"', '"db.internal"'),
        "kwargs": kwargs_text})
    assert saved.status_code == 303
    new_id = saved.headers["Location"].rsplit("/", 1)[-1]
    assert new_id != job_id
    running = RunningConsumer(huey)
    try:
        wait_for(lambda: api_job(web, new_id)["state"] == "completed")
    finally:
        running.stop()
    new, old = api_job(web, new_id), api_job(web, job_id)
    # The edited host reached the task and the masked password kept its real value.
    assert new["result"] == '"db.internal:5432:True"'
    assert old["state"] == "failed" and old["copies"] == new_id and new["copied_from"] == job_id
    assert any(e["kind"] == "edited" and new_id in e["message"] for e in old["events"])
    linked = soup(web.get(f"{PREFIX}/queues/emails/jobs/{new_id}"))
    assert linked.select_one("[data-link=copied-from]").get_text() == job_id
    entry = web.get(f"{API}/activity?action=edit_retry").get_json()["entries"][0]
    assert entry["jobs"] == [job_id, new_id] and entry["user"] == "operator"


def test_edit_and_retry_through_the_api(setup: Any) -> None:
    huey, app = setup
    job_id = failed_connect(huey, app)
    api = app.test_client()
    r = api.post(f"{API}/queues/emails/jobs/{job_id}/edit_retry", headers=auth("operator"),
                 json={"args": ["ok-host", {"port": 1, "api_token": authoring.MASK}],
                       "kwargs": {"password": authoring.MASK}})
    assert r.status_code == 201, r.get_json()
    bad = api.post(f"{API}/queues/emails/jobs/{job_id}/edit_retry", headers=auth("operator"),
                   json={"args": [1, 2, 3, 4]})
    assert bad.status_code == 422 and "do not fit" in error_of(bad)["message"]
    viewer = api.post(f"{API}/queues/emails/jobs/{job_id}/edit_retry", headers=auth("viewer"),
                      json={"args": []})
    assert viewer.status_code == 403


def test_duplicate_copies_task_arguments_and_options(setup: Any) -> None:
    huey, app = setup
    api = app.test_client()
    api.post(f"{API}/queues/emails/jobs", headers=auth("operator"), json={
        "task": "add", "args": [1], "kwargs": {"b": 2}, "id": "d1", "priority": 3,
        "retries": 2, "delay": 600})
    web = app.test_client()
    csrf = login(web, "operator")
    r = web.post(f"{PREFIX}/queues/emails/jobs/d1/duplicate", data={"csrf_token": csrf},
                 headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.headers["HX-Redirect"].startswith(f"{PREFIX}/queues/emails/jobs/")
    new_id = r.headers["HX-Redirect"].rsplit("/", 1)[-1]
    copy = api_job(web, new_id)
    assert (copy["task"], copy["args"], copy["kwargs"], copy["priority"], copy["options"]["retries"],
            copy["copied_from"]) == ("tests.support.add", "1", '"b": 2', 3, 2, "d1")
    assert copy["state"] == "waiting"  # a copy runs now, not at the original's time
    r = api.post(f"{API}/queues/emails/jobs/d1/duplicate", headers=auth("operator"))
    assert r.status_code == 201 and r.get_json()["copied_from"] == "d1"


def test_a_viewer_sees_no_authoring_control_and_gets_403(setup: Any) -> None:
    huey, app = setup
    job_id = failed_connect(huey, app)
    viewer = app.test_client()
    csrf = login(viewer, "viewer")
    queue_page = soup(viewer.get(f"{PREFIX}/queues/emails"))
    job_page = soup(viewer.get(f"{PREFIX}/queues/emails/jobs/{job_id}"))
    assert not queue_page.select("[data-control=add]")
    assert not job_page.select("[data-control=edit]")
    assert not [b for b in job_page.select("button") if b.get_text() in ("Duplicate", "Retry")]
    for method, path, data in (
            ("get", "/queues/emails/new", None),
            ("post", "/queues/emails/new", {"task": "add", "args": "[1]"}),
            ("get", f"/queues/emails/jobs/{job_id}/edit", None),
            ("post", f"/queues/emails/jobs/{job_id}/edit", {"args": "[]"}),
            ("post", f"/queues/emails/jobs/{job_id}/duplicate", {})):
        resp = getattr(viewer, method)(PREFIX + path, data={**(data or {}), "csrf_token": csrf}
                                       if method == "post" else None)
        assert resp.status_code == 403, (method, path)
    # An operator without the CSRF token is refused too.
    op = app.test_client()
    login(op, "operator")
    assert op.post(f"{PREFIX}/queues/emails/jobs/{job_id}/duplicate").status_code == 400
    assert op.post(f"{PREFIX}/queues/emails/new", data={"task": "add"}).status_code == 400
    # Read-only caps the operator at viewer.
    app.config["JOBBOARD_READ_ONLY"] = True
    assert op.get(f"{PREFIX}/queues/emails/new").status_code == 403


def test_a_completed_job_cannot_be_edited_or_duplicated(setup: Any) -> None:
    huey, app = setup
    api = app.test_client()
    api.post(f"{API}/queues/emails/jobs", headers=auth("operator"),
             json={"task": "add", "args": [1], "id": "done1"})
    running = RunningConsumer(huey)
    try:
        wait_for(lambda: api_job(api, "done1")["state"] == "completed")
    finally:
        running.stop()
    web = app.test_client()
    login(web, "operator")
    assert web.get(f"{PREFIX}/queues/emails/jobs/done1/edit").status_code == 409
    r = api.post(f"{API}/queues/emails/jobs/done1/duplicate", headers=auth("operator"))
    assert r.status_code == 409 and "message was not kept" in error_of(r)["message"]


def test_mask_and_unmask() -> None:
    import re
    pattern = re.compile("password|token")
    original = [{"user": "a", "password": "p"}, {"nested": {"api_token": "t"}}]
    masked, paths = authoring.mask(original, pattern)
    assert masked == [{"user": "a", "password": authoring.MASK},
                      {"nested": {"api_token": authoring.MASK}}]
    assert paths == {(0, "password"), (1, "nested", "api_token")}
    assert authoring.unmask(masked, original, pattern) == original
    with pytest.raises(ValueError):
        authoring.unmask([{"user": authoring.MASK}], original, pattern)
    with pytest.raises(ValueError):
        authoring.to_json({"when": object()})
    assert authoring.parse("", list, "args") == []
    with pytest.raises(ValueError, match="must be an object"):
        authoring.parse("[1]", dict, "kwargs")
