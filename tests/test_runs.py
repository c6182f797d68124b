"""Runs and attempts (issue 17): Huey's automatic retries stay inside a run, each manual
retry (pages, API, CLI) starts a new run with who started it; no attempt is hidden."""

from __future__ import annotations

from typing import Any

import pytest

from jobboard.cli import main
from jobboard.shared.auth import token_label
from tests.support import API, PREFIX, RunningConsumer, auth, login, make_app, make_huey, soup, wait_for

STATE = {"fail": True}


def huey_with_retrying_task(redis_url: str) -> Any:
    huey = make_huey(redis_url)

    @huey.task(name="twice", retries=1)
    def twice(n: int) -> int:
        if STATE["fail"]:
            raise ValueError(f"failing {n}")
        return n

    return huey


def test_runs_keep_every_attempt_across_manual_retries(
        redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    STATE["fail"] = True
    huey = huey_with_retrying_task(redis_url)
    app = make_app(huey)
    web = app.test_client()
    csrf = login(web, "operator")
    api = app.test_client()
    r = api.post(f"{API}/queues/emails/jobs", json={"task": "twice", "args": [5], "id": "t1"},
                 headers=auth("operator"))
    assert r.status_code == 201

    def job() -> dict[str, Any]:
        return api.get(f"{API}/queues/emails/jobs/t1", headers=auth("viewer")).get_json()  # type: ignore[no-any-return]

    running = RunningConsumer(huey)
    try:
        wait_for(lambda: job()["state"] == "failed")
        one = job()["runs"]
        assert [(r["number"], r["attempts"], r["outcome"], len(r["failed"])) for r in one] == [
            (1, 2, "failed", 2)]
        assert one[0]["started_by"] == f"{token_label('op-token')} (operator, api)"
        assert [a["number"] for a in one[0]["failed"]] == [1, 2]

        # A manual retry from the page: a second run, started by the operator; Huey's
        # automatic retry stays inside it.
        assert web.post(f"{PREFIX}/queues/emails/jobs/t1/retry",
                        data={"csrf_token": csrf}).status_code == 303
        wait_for(lambda: job()["state"] == "failed" and job()["attempt"] == 4)
        two = job()["runs"]
        assert [(r["number"], r["first_attempt"], r["last_attempt"], r["outcome"]) for r in two] == [
            (1, 1, 2, "failed"), (2, 3, 4, "failed")]
        assert two[1]["started_by"] == "operator (operator, web)"
        assert [a["number"] for a in two[1]["failed"]] == [3, 4]
        assert len(job()["attempts"]) == 4  # nothing overwritten

        # Fixed, retried from the CLI: a third run that completes at its first attempt.
        STATE["fail"] = False
        assert main(["--redis-url", redis_url, "retry", "emails", "t1"]) == 0
        capsys.readouterr()
        wait_for(lambda: job()["state"] == "completed")
    finally:
        running.stop()
    three = job()["runs"]
    assert [(r["number"], r["attempts"], r["outcome"], len(r["failed"])) for r in three] == [
        (1, 2, "failed", 2), (2, 2, "failed", 2), (3, 1, "completed", 0)]
    assert three[2]["started_by"].endswith("(admin, cli)")

    # The job page shows the three runs, newest first, each with its failed attempts.
    page = soup(web.get(f"{PREFIX}/queues/emails/jobs/t1"))
    runs = page.select("li.run")
    assert [li["data-run"] for li in runs] == ["3", "2", "1"]
    assert [len(li.select("details.attempt")) for li in runs] == [0, 2, 2]
    assert runs[1].select_one("[data-field=started-by]").get_text() == "operator (operator, web)"
    assert "completed" in runs[0].select_one(".runhead").get_text()


def test_a_job_never_retried_has_one_run(redis_url: str) -> None:
    huey = make_huey(redis_url)
    app = make_app(huey)
    api = app.test_client()
    api.post(f"{API}/queues/emails/jobs", json={"task": "add", "args": [1], "id": "a1"},
             headers=auth("operator"))
    running = RunningConsumer(huey)
    try:
        wait_for(lambda: api.get(f"{API}/queues/emails/jobs/a1",
                                 headers=auth("viewer")).get_json()["state"] == "completed")
    finally:
        running.stop()
    runs = api.get(f"{API}/queues/emails/jobs/a1", headers=auth("viewer")).get_json()["runs"]
    assert [(r["number"], r["attempts"], r["outcome"], r["failed"]) for r in runs] == [
        (1, 1, "completed", [])]
