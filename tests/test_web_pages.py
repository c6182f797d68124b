"""Dashboard pages and actions through the Flask test client: real Redis, real consumer."""

from __future__ import annotations

import json
import re

from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from tests.support import (
    FLAKY, PREFIX, XSS_IMG, XSS_SCRIPT, RunningConsumer, login, make_app, make_huey, soup,
    wait_for,
)

from jobboard.redis_server import RedisServer
from jobboard import JobBoard


@pytest.fixture
def queue(app: Flask) -> Any:
    return app.extensions["jobboard"].board.queue("emails")


@pytest.fixture
def admin(app: Flask) -> tuple[FlaskClient, str]:
    client = app.test_client()
    return client, login(client, "admin")


def failed_jobs(queue: Any, n: int, consumer: RunningConsumer, message: str = "boom") -> list[str]:
    ids = [queue.enqueue("boom", [f"{message} {i}"], retries=0)[0] for i in range(n)]
    wait_for(lambda: queue.counts()["failed"] >= n)
    return ids


# --- pages ---------------------------------------------------------------------------------

def test_overview_lists_queues_with_counts(admin: tuple[FlaskClient, str], queue: Any,
                                           consumer: RunningConsumer) -> None:
    client, _ = admin
    failed_jobs(queue, 2, consumer)
    queue.enqueue("add", [1, 2])
    wait_for(lambda: queue.counts()["completed"] == 1)
    page = soup(client.get(f"{PREFIX}/"))
    row = page.find("tr", attrs={"data-queue": "emails"})
    assert row is not None, page.prettify()[:2000]
    # The count links of the row: waiting, scheduled, active, completed, failed.
    cells = [a.get_text(strip=True) for a in row.select("td.num > a")]
    assert cells == ["0", "0", "0", "1", "2"], cells
    assert "1 consumer alive" in page.get_text(" ", strip=True)


def test_queue_tabs_table_filters_and_paging(admin: tuple[FlaskClient, str], queue: Any,
                                             consumer: RunningConsumer) -> None:
    client, _ = admin
    failed_jobs(queue, 30, consumer)
    url = f"{PREFIX}/queues/emails?state=failed"
    def rows(query: str = "") -> list[str]:
        return [tr["data-job-id"] for tr in soup(client.get(url + query)).select("tr[data-job-id]")]

    page = soup(client.get(url))
    assert len(page.select("tr[data-job-id]")) == 25
    tab = page.select_one('a.tab[data-state="failed"]')
    assert tab is not None and tab.select_one(".count").get_text() == "30"
    assert tab.get("aria-current") == "page"
    text = page.get_text(" ", strip=True)
    assert "1–25 of 30" in text and "Page 1 of 2" in text
    assert len(rows("&page=2")) == 5
    assert len(rows("&per_page=50")) == 30
    assert len(rows("&q=boom%207")) == 1
    none = soup(client.get(url + "&task=add"))
    assert not none.select("tr[data-job-id]")
    assert "No failed jobs match these filters" in none.get_text(" ", strip=True)
    newest, oldest = rows(), rows("&order=oldest")
    assert newest[0] != oldest[0] and sorted(newest + rows("&page=2")) == sorted(rows("&per_page=50"))


def test_job_page_shows_everything_and_polls_only_while_running(
        admin: tuple[FlaskClient, str], queue: Any, consumer: RunningConsumer) -> None:
    client, _ = admin
    [job_id] = failed_jobs(queue, 1, consumer, message="kaboom")
    html = client.get(f"{PREFIX}/queues/emails/jobs/{job_id}").get_data(as_text=True)
    assert "RuntimeError" in html and "Traceback (most recent call last)" in html
    assert "about to fail with kaboom 0" in html  # a log line
    badge = soup(html).select_one(".badge.st-failed")
    assert badge is not None and badge.get_text(strip=True) == "failed"
    assert soup(html).find(attrs={"data-poll": True}) is None  # finished: no live polling
    slow_id, _ = queue.enqueue("slow", [6, 0.3])
    wait_for(lambda: queue.job(slow_id).progress)
    running = client.get(f"{PREFIX}/queues/emails/jobs/{slow_id}").get_data(as_text=True)
    assert "data-poll" in running and "<progress" in running
    wait_for(lambda: queue.job(slow_id).state == "completed", timeout=15)
    done = client.get(f"{PREFIX}/queues/emails/jobs/{slow_id}",
                      headers={"HX-Request": "true", "X-Jobboard-Poll": "1"})
    body = done.get_data(as_text=True)
    assert body.lstrip().startswith('<main id="main"') and "data-poll" not in body
    assert "finished" in body  # the result


def test_same_route_returns_page_or_fragment(admin: tuple[FlaskClient, str]) -> None:
    client, _ = admin
    full = client.get(f"{PREFIX}/queues/emails")
    frag = client.get(f"{PREFIX}/queues/emails", headers={"HX-Request": "true"})
    assert "HX-Request" in full.headers["Vary"] and "HX-Request" in frag.headers["Vary"]
    assert full.get_data(as_text=True).lstrip().lower().startswith("<!doctype html>")
    assert frag.get_data(as_text=True).lstrip().startswith('<main id="main"')
    assert "<header" not in frag.get_data(as_text=True)


def test_workers_periodic_and_metrics_pages(admin: tuple[FlaskClient, str], queue: Any,
                                            consumer: RunningConsumer) -> None:
    client, token = admin
    queue.enqueue("add", [1, 1])
    wait_for(lambda: queue.counts()["completed"] == 1)
    workers = client.get(f"{PREFIX}/workers").get_data(as_text=True)
    assert "data-consumer=" in workers and "thread" in workers
    periodic = client.get(f"{PREFIX}/periodic").get_data(as_text=True)
    assert "nightly_report" in periodic and "30 3 1 1 *" in periodic
    for window in ("1h", "24h", "7d", "90d"):
        page = client.get(f"{PREFIX}/stats?queue=emails&window={window}")
        assert page.status_code == 200
        assert "<svg" in page.get_data(as_text=True) and "p99" in page.get_data(as_text=True)
    per_task = client.get(f"{PREFIX}/stats?queue=emails&task=add").get_data(as_text=True)
    assert "Throughput" in per_task
    # run the periodic task now, then pause and resume it
    name = next(t.name for t in queue.periodic())
    resp = client.post(f"{PREFIX}/queues/emails/periodic/run",
                       data={"csrf_token": token, "name": name})
    assert resp.status_code == 303
    wait_for(lambda: any(j.periodic for j in queue.jobs("completed", limit=100).jobs))
    client.post(f"{PREFIX}/queues/emails/periodic/pause", data={"csrf_token": token, "name": name})
    assert queue.periodic()[0].paused
    client.post(f"{PREFIX}/queues/emails/periodic/resume", data={"csrf_token": token, "name": name})
    assert not queue.periodic()[0].paused


def test_search_by_id_across_queues(admin: tuple[FlaskClient, str], queue: Any) -> None:
    client, _ = admin
    job_id, _ = queue.enqueue("add", [1, 2])
    resp = client.get(f"{PREFIX}/search?q={job_id}")
    assert resp.status_code == 302 and resp.location.endswith(f"/queues/emails/jobs/{job_id}")
    # an 8-character start, in capitals, is enough (tables show 8 characters)
    resp = client.get(f"{PREFIX}/search?q={job_id[:8].upper()}")
    assert resp.status_code == 302 and resp.location.endswith(f"/queues/emails/jobs/{job_id}")
    missing = client.get(f"{PREFIX}/search?q=no-such-job")  # says so: not a silent empty page
    assert missing.status_code == 200 and "No job matches “no-such-job”" in missing.get_data(as_text=True)


# --- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("path,status", [
    ("/queues/nope", 404),
    ("/queues/emails/jobs/nope", 404),
    ("/queues/emails?state=bogus", 400),
    ("/queues/emails?page=abc", 400),
    ("/queues/emails?page=0", 400),
    ("/queues/emails?page=-3", 400),
    ("/queues/emails?page=99999999999", 400),
    ("/queues/emails?page=7", 404),  # past the end
    ("/queues/emails?per_page=7", 400),
    ("/queues/emails?order=sideways", 400),
    ("/stats?window=1y", 400),
    ("/stats?queue=nope", 404),
    ("/stats?queue=emails&task=nope", 404),
    ("/search?q=", 400),
    ("/search?q=" + "x" * 500, 400),
    ("/queues/emails/bulk?action=explode&state=failed", 400),
    ("/queues/emails/bulk?action=retry&state=nope", 400),
    ("/queues/emails/bulk?action=retry&state=waiting", 400),
])
def test_bad_input_gives_a_4xx_page_with_a_message(admin: tuple[FlaskClient, str], path: str,
                                                   status: int) -> None:
    client, _ = admin
    resp = client.get(PREFIX + path)
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    html = resp.get_data(as_text=True)
    assert 'class="errmsg"' in html and "<nav" in html  # a real page, with the layout


@pytest.mark.parametrize("path,data,status", [
    ("/queues/emails/jobs/nope/explode", {}, 404),
    ("/queues/emails/explode", {}, 404),
    ("/queues/nope/pause", {}, 404),
    ("/queues/emails/clean", {"state": "waiting", "older_than": "60"}, 400),
    ("/queues/emails/clean", {"state": "failed", "older_than": "soon"}, 400),
    ("/queues/emails/clean", {"state": "failed", "older_than": "-1"}, 400),
    ("/queues/emails/bulk", {"action": "retry", "state": "nope"}, 400),
    ("/queues/emails/bulk", {"action": "retry", "state": "failed", "scope": "all"}, 400),
    ("/queues/emails/periodic/explode", {"name": "x"}, 404),
])
def test_bad_action_input_gives_4xx(admin: tuple[FlaskClient, str], path: str,
                                    data: dict[str, str], status: int) -> None:
    client, token = admin
    resp = client.post(PREFIX + path, data={**data, "csrf_token": token})
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]


def test_action_on_a_job_in_the_wrong_state_flashes_why(admin: tuple[FlaskClient, str],
                                                        queue: Any) -> None:
    client, token = admin
    job_id, _ = queue.enqueue("add", [1])
    resp = client.post(f"{PREFIX}/queues/emails/jobs/{job_id}/retry",
                       data={"csrf_token": token}, follow_redirects=True)
    assert resp.status_code == 200
    assert "Cannot retry job" in resp.get_data(as_text=True)


# --- actions -------------------------------------------------------------------------------

def test_retry_a_failed_job_runs_it_again(admin: tuple[FlaskClient, str], queue: Any,
                                          consumer: RunningConsumer) -> None:
    client, token = admin
    FLAKY["fail"] = True
    job_id, _ = queue.enqueue("flaky", ["v1"], retries=0)
    wait_for(lambda: queue.counts()["failed"] == 1)
    FLAKY["fail"] = False
    try:
        back = f"{PREFIX}/queues/emails?state=failed&task=flaky"
        resp = client.post(f"{PREFIX}/queues/emails/jobs/{job_id}/retry",
                           data={"csrf_token": token, "next": back},
                           headers={"HX-Request": "true"})
        # htmx is told where to go (HX-Location): the list, filters included, replacing
        # the history entry (Back never returns to a page the action made stale)
        location = json.loads(resp.headers["HX-Location"])
        assert resp.status_code == 200 and location["path"] == back
        assert location["replace"] == back and location["push"] is False
        frag = client.get(back, headers={"HX-Request": "true"}).get_data(as_text=True)
        assert "retried" in frag and 'hx-swap-oob' in frag  # the toast
        wait_for(lambda: queue.job(job_id).state == "completed")
        assert queue.job(job_id).result and "ok v1" in queue.job(job_id).result
    finally:
        FLAKY["fail"] = True


def test_bulk_retry_matching_shows_count_then_retries(admin: tuple[FlaskClient, str],
                                                      queue: Any,
                                                      consumer: RunningConsumer) -> None:
    client, token = admin
    FLAKY["fail"] = True
    for i in range(12):
        queue.enqueue("flaky", [f"n{i}"], retries=0)
    failed_jobs(queue, 3, consumer)  # another task, not matched by the filter
    wait_for(lambda: queue.counts()["failed"] == 15)
    confirm = client.get(f"{PREFIX}/queues/emails/bulk?action=retry&state=failed&task=flaky")
    assert "Retry 12 failed jobs?" in confirm.get_data(as_text=True)
    FLAKY["fail"] = False
    try:
        resp = client.post(f"{PREFIX}/queues/emails/bulk", data={
            "csrf_token": token, "action": "retry", "scope": "matching", "state": "failed",
            "task": "flaky"}, follow_redirects=True)
        assert "Retried 12 failed jobs." in resp.get_data(as_text=True)
        wait_for(lambda: queue.counts()["completed"] == 12)
        assert queue.counts()["failed"] == 3
    finally:
        FLAKY["fail"] = True


def test_bulk_remove_selected(admin: tuple[FlaskClient, str], queue: Any,
                              consumer: RunningConsumer) -> None:
    client, token = admin
    ids = failed_jobs(queue, 4, consumer)
    resp = client.post(f"{PREFIX}/queues/emails/bulk", data={
        "csrf_token": token, "action": "remove", "scope": "selected", "state": "failed",
        "ids": ids[:3]}, follow_redirects=True)
    assert "Removed 3 of 3 selected jobs." in resp.get_data(as_text=True)
    assert queue.counts()["failed"] == 1


def test_pause_resume_promote_revoke_empty_clean(admin: tuple[FlaskClient, str],
                                                 queue: Any) -> None:
    client, token = admin
    post = lambda path, **data: client.post(PREFIX + path, data={"csrf_token": token, **data})  # noqa: E731
    assert post("/queues/emails/pause").status_code == 303
    assert queue.is_paused()
    page = client.get(f"{PREFIX}/queues/emails").get_data(as_text=True)
    assert 'class="badge paused"' in page and "Resume queue" in page
    post("/queues/emails/resume")
    assert not queue.is_paused()
    later, _ = queue.enqueue("add", [1], delay=3600)
    waiting, _ = queue.enqueue("add", [2])
    post(f"/queues/emails/jobs/{later}/promote")
    assert queue.job(later).state == "waiting"
    post(f"/queues/emails/jobs/{waiting}/revoke")
    assert queue.job(waiting).state == "revoked"
    queue.enqueue("add", [3], delay=3600)
    resp = post("/queues/emails/empty")
    assert resp.status_code == 303
    assert queue.counts()["waiting"] == 0 and queue.counts()["scheduled"] == 0
    resp = post("/queues/emails/clean", state="revoked", older_than="0")
    assert resp.status_code == 303 and queue.counts()["revoked"] == 0


def test_run_now_of_a_job_huey_queued_with_a_delay(admin: tuple[FlaskClient, str], queue: Any,
                                                   huey: Any) -> None:
    # Enqueued through Huey with a delay, a job waits (as in Huey's queue) until a consumer
    # schedules it; "Run now" applies meanwhile and clears its eta in place (issue 12).
    client, token = admin
    import datetime as dt
    add = huey._registry.string_to_task("tests.support.add")
    eta = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(hours=1)
    task = add(args=(1,), eta=eta)
    huey.enqueue(task)
    job_id = task.id
    assert queue.job(job_id).state == "waiting" and queue.job(job_id).promotable
    for path in (f"/queues/emails/jobs/{job_id}", "/queues/emails?state=waiting"):
        page = soup(client.get(PREFIX + path).get_data(as_text=True))
        assert any("/promote" in (b.get("formaction") or b.get("action") or "")
                   for b in page.select("button, form")), path
    plain, _ = queue.enqueue("add", [2])
    page = soup(client.get(f"{PREFIX}/queues/emails/jobs/{plain}").get_data(as_text=True))
    assert not any("/promote" in (b.get("formaction") or b.get("action") or "")
                   for b in page.select("button, form"))
    resp = client.post(f"{PREFIX}/queues/emails/jobs/{job_id}/promote", data={"csrf_token": token})
    assert resp.status_code == 303
    job = queue.job(job_id)
    assert job.state == "waiting" and not job.scheduled_for and not job.promotable
    assert "promoted" in [e.kind for e in job.events]


def test_viewer_sees_no_action_buttons(app: Flask, queue: Any, consumer: RunningConsumer) -> None:
    client = app.test_client()
    token = login(client, "viewer")
    [job_id] = failed_jobs(queue, 1, consumer)
    for path in ("/", "/queues/emails?state=failed", f"/queues/emails/jobs/{job_id}", "/periodic"):
        html = client.get(PREFIX + path).get_data(as_text=True)
        assert "formaction=" not in html and "hx-post=" not in html, path
        assert 'name="ids"' not in html
    resp = client.post(f"{PREFIX}/queues/emails/jobs/{job_id}/retry", data={"csrf_token": token})
    assert resp.status_code == 403


# --- escaping ------------------------------------------------------------------------------

def test_job_data_is_escaped_everywhere(admin: tuple[FlaskClient, str], queue: Any,
                                        consumer: RunningConsumer) -> None:
    client, _ = admin
    job_id, _ = queue.enqueue("boom", [XSS_SCRIPT + XSS_IMG], retries=0)
    wait_for(lambda: queue.counts()["failed"] == 1)
    for path in ("/queues/emails?state=failed", f"/queues/emails/jobs/{job_id}",
                 "/queues/emails?state=failed&q=script"):
        html = client.get(PREFIX + path).get_data(as_text=True)
        assert "<script>window" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html or "&lt;script" in html
    resp = client.get(f"{PREFIX}/queues/emails?state=failed")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp


# --- live polling shares work ------------------------------------------------------------

def test_polls_share_one_computation_per_interval() -> None:
    # A Redis of its own: INFO commandstats counts the whole server's commands, and the
    # background threads of earlier tests on this worker (a producer's counter flush, a
    # heartbeat) would be counted too.
    with RedisServer() as server:
        app = make_app(make_huey(server.url))
        _polls_share_one_computation(app, redis.Redis.from_url(server.url))


def _polls_share_one_computation(app: Flask, redis_client: redis.Redis) -> None:
    app.config["JOBBOARD_POLL_SECONDS"] = 60
    client = app.test_client()
    login(client, "viewer")
    state = app.extensions["jobboard"]
    headers = {"HX-Request": "true", "X-Jobboard-Poll": "1"}
    # A fixed clock: all polls land in the same interval, whatever the wall clock does.
    state.live.clock = lambda: 1_000_020.0
    client.get(f"{PREFIX}/", headers=headers)
    redis_client.config_resetstat()
    for _ in range(20):
        assert client.get(f"{PREFIX}/", headers=headers).status_code == 200
    stats = {k: v["calls"] for k, v in redis_client.info("commandstats").items()
             if not k.startswith(("cmdstat_config", "cmdstat_info"))}
    # Served from the shared cache: the only command per poll is the session check (one
    # HGETALL of the server-side session record).
    assert stats == {"cmdstat_hgetall": 20}, stats
    assert state.live.hits >= 20
    # A normal page load is always fresh.
    redis_client.config_resetstat()
    client.get(f"{PREFIX}/")
    assert redis_client.info("commandstats")


def test_poll_floor_is_two_seconds(app: Flask) -> None:
    app.config["JOBBOARD_POLL_SECONDS"] = 0.1
    client = app.test_client()
    login(client, "viewer")
    html = client.get(f"{PREFIX}/").get_data(as_text=True)
    assert 'hx-trigger="every 2s, jb-refresh"' in html


# --- mounting ------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["/ops/jobs", ""])
def test_works_under_any_prefix(huey: Any, prefix: str) -> None:
    app = make_app(huey, JOBBOARD_URL_PREFIX=prefix)

    @app.route("/host-page")
    def host_page() -> str:
        return "host"

    client = app.test_client()
    token = login(client, "admin", prefix=prefix)
    html = client.get(f"{prefix}/queues/emails").get_data(as_text=True)
    assert re.search(rf'href="{re.escape(prefix)}/assets/jobboard\.[0-9a-f]{{10}}\.css"', html)
    assert f'action="{prefix}/queues/emails/pause"' in html
    assert client.post(f"{prefix}/queues/emails/pause", data={"csrf_token": token}).status_code == 303
    host = client.get("/host-page")
    assert host.get_data(as_text=True) == "host"
    assert "Content-Security-Policy" not in host.headers  # the host's pages keep theirs
    assert client.post("/host-page").status_code == 405  # the host's routes are not guarded
    assert "jobboard" not in client.get("/no-such-host-page").get_data(as_text=True)


def test_init_app_pattern_and_option_defaults(huey: Any) -> None:
    ext = JobBoard(poll_seconds=9)
    app = Flask("late")
    app.config.update(SECRET_KEY="k")
    ext.init_app(app, hueys=[huey])
    state = app.extensions["jobboard"]
    assert state.config.poll_seconds == 9 and state.board.queue("emails").name == "emails"
    with pytest.raises(Exception, match="already initialised"):
        ext.init_app(app, hueys=[huey])
    with pytest.raises(Exception, match="Unknown jobboard option"):
        JobBoard(Flask("x"), hueys=[huey], colour="red")


def test_host_can_override_a_template(huey: Any, tmp_path: Any) -> None:
    (tmp_path / "jobboard").mkdir()
    (tmp_path / "jobboard" / "workers.html").write_text("custom workers page")
    app = make_app(huey)
    app.template_folder = str(tmp_path)
    client = app.test_client()
    login(client, "viewer")
    assert client.get(f"{PREFIX}/workers").get_data(as_text=True) == "custom workers page"


# --- Redis outage --------------------------------------------------------------------------

def test_redis_outage_gives_503_and_recovers_by_itself(tmp_path: Any) -> None:
    # Persistent, so the restarted server still has the session records (they live in Redis).
    server = RedisServer(data_dir=tmp_path, persist=True).start()
    port = server.port
    try:
        huey = make_huey(f"redis://127.0.0.1:{port}/0")
        app = make_app(huey)
        client = app.test_client()
        login(client, "viewer")
        assert client.get(f"{PREFIX}/").status_code == 200
        server.stop()
        resp = client.get(f"{PREFIX}/queues/emails")
        assert resp.status_code == 503
        html = resp.get_data(as_text=True)
        assert "cannot reach Redis" in html and resp.headers["Retry-After"]
        assert "data-poll" in html  # the page keeps checking
        frag = client.get(f"{PREFIX}/", headers={"HX-Request": "true", "X-Jobboard-Poll": "1"})
        assert frag.status_code == 503
        server = RedisServer(data_dir=tmp_path, port=port, persist=True).start()
        assert client.get(f"{PREFIX}/queues/emails").status_code == 200
    finally:
        server.stop()
