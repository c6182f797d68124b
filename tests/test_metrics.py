"""``<prefix>/metrics``: parses with prometheus_client's own parsers, numbers match the core."""

from __future__ import annotations

import socket
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from jobboard.records import STATES
from tests.support import API, PREFIX, RunningConsumer, auth, make_app, make_huey, wait_for


def scrape(client: FlaskClient, **headers: str) -> dict[str, Any]:
    resp = client.get(f"{PREFIX}/metrics", headers={**auth("viewer"), **headers})
    assert resp.status_code == 200, resp.data[:300]
    families = {f.name: f for f in text_string_to_metric_families(resp.get_data(as_text=True))}
    return families


def samples(family: Any) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def test_metrics_match_counts_of_every_state(app: Flask, client: FlaskClient, huey: Any) -> None:
    post = lambda body: client.post(f"{API}/queues/emails/jobs", json=body,  # noqa: E731
                                    headers=auth("operator"))
    running = RunningConsumer(huey)
    try:
        for i in range(4):
            post({"task": "add", "args": [i]})
        for i in range(2):
            post({"task": "boom", "args": [f"e{i}"]})
        board = app.extensions["jobboard"].board
        q = board.queue("emails")
        wait_for(lambda: q.counts()["completed"] == 4 and q.counts()["failed"] == 2)
        scraped_alive = samples(scrape(client)["jobboard_consumers_alive"])
    finally:
        running.stop()
    for i in range(3):
        post({"task": "add", "args": [i]})
    post({"task": "add", "args": [9], "delay": 3600})
    revoked = post({"task": "add", "args": [8]}).get_json()["id"]
    client.post(f"{API}/queues/emails/jobs/{revoked}/revoke", headers=auth("operator"))
    client.post(f"{API}/queues/emails/pause", headers=auth("operator"))

    families = scrape(client)
    counts = q.counts()
    jobs = samples(families["jobboard_jobs"])
    assert {dict(k)["state"]: v for k, v in jobs.items()} == {s: float(counts[s]) for s in STATES}
    assert (counts["waiting"], counts["scheduled"], counts["completed"], counts["failed"],
            counts["revoked"]) == (3, 1, 4, 2, 1)
    assert samples(families["jobboard_queue_paused"]) == {(("queue", "emails"),): 1.0}
    assert scraped_alive == {(("queue", "emails"),): 1.0}
    assert samples(families["jobboard_redis_up"]) == {(): 1.0}

    events = {(dict(k)["event"], dict(k)["window"]): v
              for k, v in samples(families["jobboard_queue_events"]).items()}
    totals = q.metrics("1h").totals
    assert events[("completed", "1h")] == totals.completed == 4
    assert events[("failed", "1h")] == totals.failed == 2
    assert events[("enqueued", "1h")] == totals.enqueued
    lifetime: dict[str, float] = {}
    for k, v in samples(families["jobboard_job_events"]).items():
        lifetime[dict(k)["event"]] = lifetime.get(dict(k)["event"], 0) + v  # summed over tasks
    assert lifetime["completed"] == 4 and lifetime["failed"] == 2
    assert lifetime["enqueued"] == q.totals().enqueued == totals.enqueued
    add_task = next(t for t in q.tasks() if t.endswith("add"))
    run_count = {s.labels["task"]: s.value for s in families["jobboard_job_run_seconds"].samples
                 if s.name.endswith("_count")}
    assert run_count[add_task] == 4
    assert families["jobboard_job_run_seconds"].type == "histogram"
    assert samples(families["jobboard_health_healthy"])


def test_openmetrics_when_asked(client: FlaskClient) -> None:
    client.post(f"{API}/queues/emails/jobs", json={"task": "add", "args": [1]},
                headers=auth("operator"))
    resp = client.get(f"{PREFIX}/metrics", headers={
        **auth("viewer"), "Accept": "application/openmetrics-text; version=1.0.0"})
    assert resp.content_type.startswith("application/openmetrics-text")
    families = {f.name: f for f in parse_om(resp.get_data(as_text=True))}
    waiting = [s for s in families["jobboard_jobs"].samples if s.labels["state"] == "waiting"]
    assert waiting[0].value == 1


def test_metrics_need_a_login_unless_open(app: Flask, client: FlaskClient) -> None:
    assert client.get(f"{PREFIX}/metrics").status_code == 401
    app.config["JOBBOARD_METRICS_OPEN"] = True
    assert client.get(f"{PREFIX}/metrics").status_code == 200


def test_redis_outage_is_a_value_not_a_failed_scrape() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_app(make_huey(f"redis://127.0.0.1:{port}/0")).test_client()
    families = scrape(client)
    assert samples(families["jobboard_redis_up"]) == {(): 0.0}
    assert "jobboard_jobs" not in families
