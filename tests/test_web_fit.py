"""Issue 16's server-side parts: leaving (Log out in both login modes, the link back to
the host app), bulk run-now/revoke on scheduled jobs, the dashboard's own 404/405 pages,
304 answers to idle polls and the hour series behind the overview."""

from __future__ import annotations

from typing import Any

from flask import Flask
from tests.support import PREFIX, csrf_from, login, soup

from jobboard import JobBoard


def test_host_login_mode_logs_out_for_real_and_links_back(redis_url: str, huey: Any) -> None:
    from flask_login import LoginManager, UserMixin, login_user

    class User(UserMixin):
        def __init__(self, uid: str) -> None:
            self.id = uid

    app = Flask("host")
    app.config.update(SECRET_KEY="k", TESTING=True, JOBBOARD_HOME_URL="/app",
                      JOBBOARD_HOME_LABEL="Back to the clinic",
                      JOBBOARD_AUTHORIZE=lambda u: {"boss": "admin"}.get(u.id))
    manager = LoginManager(app)
    manager.login_view = "host_login"
    manager.user_loader(User)

    @app.route("/login")
    def host_login() -> str:
        from flask import request

        login_user(User(request.args["as"]))
        return "ok"

    JobBoard(app, hueys=[huey])
    client = app.test_client()
    client.get("/login?as=boss")
    page = client.get(f"{PREFIX}/")
    html = soup(page)
    assert html.find("button", string="Log out") is not None
    home = html.find("a", class_="homelink")
    assert home is not None and home["href"] == "/app" and home.text == "Back to the clinic"
    resp = client.post(f"{PREFIX}/logout", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 303 and resp.location == "/app"
    again = client.get(f"{PREFIX}/")
    assert again.status_code == 302 and again.location.startswith("/login?next=")  # signed out


def test_builtin_login_logs_out(client: Any) -> None:
    token = login(client, "admin")
    resp = client.post(f"{PREFIX}/logout", data={"csrf_token": token})
    assert resp.status_code == 303 and resp.location.endswith(f"{PREFIX}/login")
    assert client.get(f"{PREFIX}/").status_code == 302


def test_bulk_run_now_and_revoke_for_operators(client: Any, app: Flask) -> None:
    q = app.extensions["jobboard"].board.queue("emails")
    ids = [q.enqueue("add", [i, 1], delay=3600 + i)[0] for i in range(4)]
    token = login(client, "operator")
    page = client.get(f"{PREFIX}/queues/emails?state=scheduled")
    html = soup(page)
    assert html.find("button", attrs={"value": "promote"}) is not None
    assert html.find("button", attrs={"value": "revoke"}) is not None
    assert len(html.select('input[name="ids"]')) == 4  # operators can select there
    form = {"csrf_token": token, "state": "scheduled", "scope": "selected"}
    resp = client.post(f"{PREFIX}/queues/emails/bulk", data={**form, "action": "promote",
                                                              "ids": ids[:2]})
    assert resp.status_code == 303
    assert {q.job(i).state for i in ids[:2]} == {"waiting"}
    resp = client.post(f"{PREFIX}/queues/emails/bulk", data={**form, "action": "revoke",
                                                              "scope": "matching"})
    assert resp.status_code == 303 and {q.job(i).state for i in ids[2:]} == {"revoked"}
    bad = client.post(f"{PREFIX}/queues/emails/bulk", data={**form, "action": "promote",
                                                             "state": "failed"})
    assert bad.status_code == 400 and "cannot be run now" in bad.get_data(as_text=True)
    confirm = client.get(f"{PREFIX}/queues/emails/bulk?action=promote&state=scheduled")
    assert confirm.status_code == 200 and "Run now" in confirm.get_data(as_text=True)


def test_unknown_path_and_wrong_method_get_the_dashboards_own_pages(client: Any) -> None:
    login(client, "admin")
    for path, status in ((f"{PREFIX}/no/such/page", 404), (f"{PREFIX}/queues/emails/pause", 405)):
        resp = client.get(path)
        html = soup(resp)
        assert resp.status_code == status
        assert html.find("meta", attrs={"name": "viewport"}) is not None
        assert html.find("header", class_="topbar") is not None
        assert html.find(attrs={"data-status": str(status)}) is not None


def test_idle_poll_is_304_and_a_change_is_200(client: Any, app: Flask) -> None:
    login(client, "viewer")
    q = app.extensions["jobboard"].board.queue("emails")
    q.enqueue("add", [1, 1])
    poll = {"HX-Request": "true", "X-Jobboard-Poll": "1"}
    url = f"{PREFIX}/queues/emails?state=waiting"
    first = client.get(url, headers=poll)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('W/"')
    assert client.get(url, headers={**poll, "If-None-Match": etag}).status_code == 304
    q.enqueue("add", [2, 1])
    app.extensions["jobboard"].live.invalidate()
    changed = client.get(url, headers={**poll, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_overview_sparkline_reads_the_hour_series(client: Any, app: Flask, huey: Any) -> None:
    from tests.support import running_consumers, wait_for
    board = app.extensions["jobboard"].board
    q = board.queue("emails")
    for i in range(3):
        q.enqueue("add", [i, 1])
    q.enqueue("boom", ["x"], retries=0)
    with running_consumers([huey]):
        wait_for(lambda: q.counts()["completed"] == 3 and q.counts()["failed"] == 1)
    series = q.hour_series()
    assert len(series) == 60 and sum(p.completed for p in series) == 3
    assert sum(p.failed for p in series) == 1
    counts, health, _ = q.summary()
    assert counts["completed"] == 3 and health.failure_rate_60m == 0.25
    login(client, "viewer")
    cell = soup(client.get(f"{PREFIX}/")).select_one('tr[data-queue="emails"] td.sparkcell')
    assert cell is not None and "3/1" in cell.get_text()
