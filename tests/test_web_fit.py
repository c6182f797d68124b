"""Issue 16's server-side parts: leaving (Log out in both login modes, the link back to
the host app), bulk run-now/revoke on scheduled jobs, the dashboard's own 404/405 pages,
304 answers to idle polls and the hour series behind the overview."""

from __future__ import annotations

import re
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


# --- polls that send only what changed (web/delta.py) ---------------------------------

POLL = {"HX-Request": "true", "X-Jobboard-Poll": "1"}


def apply_out_of_band(page: str, answer: str) -> str:
    """What htmx does with a partial poll answer (``HX-Reswap: none``): every
    ``hx-swap-oob`` element, templates unwrapped, in document order, swapped into
    ``page``. Returns the page's <main> with the texts of <time> elements left out."""
    from bs4 import BeautifulSoup
    doc = BeautifulSoup(page, "html.parser")
    for el in BeautifulSoup(answer, "html.parser").find_all(attrs={"hx-swap-oob": True}):
        how = el["hx-swap-oob"]
        del el["hx-swap-oob"]
        style, _, selector = how.partition(":")
        target = doc.select_one(selector or f"#{el['id']}")
        assert target is not None, f"no target for {how} {el.get('id')}"
        if style in ("true", "outerHTML"):
            target.replace_with(el)
        elif style == "delete":
            target.decompose()
        elif style in ("afterend", "beforebegin"):  # htmx inserts the element's children
            children = [c for c in el.children if c.name]
            assert children, f"nothing to insert for {how}"
            for child in (reversed(children) if style == "afterend" else children):
                (target.insert_after if style == "afterend" else target.insert_before)(child)
        else:  # pragma: no cover - the server sends no other style
            raise AssertionError(how)
    return normalized(str(doc))


def normalized(html: str) -> str:
    from bs4 import BeautifulSoup
    doc = BeautifulSoup(html, "html.parser")
    for t in doc.find_all("time"):
        t.string = ""
    for c in doc.find_all(string=lambda s: s.__class__.__name__ == "Comment"):
        c.extract()
    main = doc.find("main")
    assert main is not None
    # whitespace between elements is not content (an inserted row comes without any)
    return re.sub(r">\s+<", "><", " ".join(str(main).split()))


def poll_twice(client: Any, url: str, change: Any) -> tuple[Any, Any, Any]:
    """The first poll, the poll after ``change()`` (with the first's ETag), and a full
    fragment of the same moment (what a reload would show)."""
    first = client.get(url, headers=POLL)
    assert first.status_code == 200
    change()
    client.application.extensions["jobboard"].live.invalidate()
    second = client.get(url, headers={**POLL, "If-None-Match": first.headers["ETag"]})
    full = client.get(url, headers={"HX-Request": "true"})
    return first, second, full


def test_a_poll_after_one_job_changed_sends_only_that_row_and_the_counts(
        client: Any, app: Flask) -> None:
    login(client, "viewer")
    q = app.extensions["jobboard"].board.queue("emails")
    ids = [q.enqueue("add", [i, 1])[0] for i in range(6)]
    url = f"{PREFIX}/queues/emails?state=waiting"
    first, second, full = poll_twice(client, url, lambda: q.revoke(ids[2]))
    assert second.status_code == 200 and second.headers["HX-Reswap"] == "none"
    answer = second.get_data(as_text=True)
    sent = soup(second)
    # the revoked job's row is deleted, no other row is sent; the counts (tabs, list bar)
    oob = [(el.get("id"), el["hx-swap-oob"]) for el in sent.find_all(attrs={"hx-swap-oob": True})]
    # (the header shows counts only to operators: the Empty button's confirmation)
    assert sorted(i for i, _ in oob) == sorted(["jb-tabs", "jb-listbar", sent.find("tbody")["id"]])
    assert ("delete" in dict(oob).values()) and len(sent.find_all("tbody")) == 1
    assert not any(i in answer for i in ids if i != ids[2])
    assert len(second.get_data()) < len(first.get_data()) / 3
    # and the page then shows what a reload shows
    assert apply_out_of_band(first.get_data(as_text=True), answer) == normalized(
        full.get_data(as_text=True))
    assert second.headers["ETag"] == full.headers["ETag"]
    # the next poll with the new ETag: nothing changed
    again = client.get(url, headers={**POLL, "If-None-Match": second.headers["ETag"]})
    assert again.status_code == 304


def test_a_new_job_on_a_full_page_is_inserted_and_the_last_row_dropped(
        client: Any, app: Flask) -> None:
    login(client, "viewer")
    q = app.extensions["jobboard"].board.queue("emails")
    for i in range(27):
        q.enqueue("add", [i, 1], delay=3600 + i)
    url = f"{PREFIX}/queues/emails?state=scheduled&order=newest"  # 25 per page
    new: list[str] = []
    first, second, full = poll_twice(
        client, url, lambda: new.append(q.enqueue("add", [99, 1], delay=9000)[0]))
    sent = soup(second)
    assert second.headers.get("HX-Reswap") == "none"
    swaps = [el["hx-swap-oob"].split(":")[0] for el in sent.find_all(attrs={"hx-swap-oob": True})
             if el.name in ("tbody", "table")]
    assert swaps == ["delete", "beforebegin"]
    assert new[0] in second.get_data(as_text=True)
    assert apply_out_of_band(first.get_data(as_text=True), second.get_data(as_text=True)) \
        == normalized(full.get_data(as_text=True))


def test_overview_poll_sends_only_the_queue_that_changed(client: Any, app: Flask,
                                                         redis_url: str) -> None:
    from jobboard.board import Board
    from tests.support import make_huey
    Board([make_huey(redis_url, "sms")]).queue("sms").enqueue("add", [1, 1])
    login(client, "viewer")
    board = app.extensions["jobboard"].board
    names = [q.name for q in board.queues()]
    assert len(names) >= 2, names
    q = board.queue("emails")
    first, second, full = poll_twice(client, f"{PREFIX}/", lambda: q.enqueue("add", [1, 2]))
    sent = soup(second)
    assert [el["data-queue"] for el in sent.find_all("tr")] == ["emails"]
    assert apply_out_of_band(first.get_data(as_text=True), second.get_data(as_text=True)) \
        == normalized(full.get_data(as_text=True))


def test_a_poll_with_an_unknown_etag_or_a_new_shape_gets_the_whole_fragment(
        client: Any, app: Flask) -> None:
    login(client, "viewer")
    q = app.extensions["jobboard"].board.queue("emails")
    url = f"{PREFIX}/queues/emails?state=waiting"
    q.enqueue("add", [1, 1])
    stranger = client.get(url, headers={**POLL, "If-None-Match": 'W/"not-one-of-ours"'})
    assert stranger.status_code == 200 and "HX-Reswap" not in stranger.headers
    assert soup(stranger).find("main") is not None
    # from one job to none: the list's frame changes (the empty message), so all of it
    first, second, full = poll_twice(client, url, lambda: q.remove_all("waiting"))
    assert "HX-Reswap" not in second.headers and soup(second).find("main") is not None
    assert normalized(second.get_data(as_text=True)) == normalized(full.get_data(as_text=True))


def test_an_overview_poll_costs_at_most_10_redis_commands_per_queue(
        client: Any, app: Flask, redis_url: str) -> None:
    import redis
    from tests.support import make_huey

    from jobboard.board import Board
    from jobboard.web.views import OVERVIEW_STATES
    r = redis.Redis.from_url(redis_url)

    def commands() -> int:
        return sum(v["calls"] for k, v in r.info("commandstats").items()
                   if k not in ("cmdstat_info", "cmdstat_config"))

    board = app.extensions["jobboard"].board
    q = board.queue("emails")
    q.enqueue("add", [1, 1])
    before = commands()
    counts, health, series = q.summary(OVERVIEW_STATES)
    assert commands() - before - 1 <= 10  # (- the INFO itself)
    assert set(counts) == set(OVERVIEW_STATES) and counts["waiting"] == 1
    assert health.oldest_waiting_at is not None and len(series) == 60
    login(client, "viewer")

    def overview_cost() -> int:
        start = commands()
        assert client.get(f"{PREFIX}/", headers={"HX-Request": "true"}).status_code == 200
        return commands() - start - 1

    one = overview_cost()
    for name in ("sms", "reports", "billing"):
        Board([make_huey(redis_url, name)]).queue(name).enqueue("add", [1, 1])
    assert len(board.queues()) == 4
    four = overview_cost()
    assert (four - one) / 3 <= 10, (one, four)


def test_a_24h_chart_sums_minutes_into_bars_at_least_4px_wide() -> None:
    from types import SimpleNamespace

    from jobboard.records import MetricPoint
    from jobboard.web.charts import MIN_BAR_PX, throughput_chart
    start = 1_700_000_000 // 86400 * 86400
    points = [MetricPoint(at=start + 60 * i, completed=i % 7, failed=i % 3, enqueued=1)
              for i in range(1440)]
    m = SimpleNamespace(points=points, bucket_seconds=60)
    for width in (720, 360):
        chart = throughput_chart(m, width=width)
        assert len(chart.bars) <= (width - 44) / MIN_BAR_PX and len(chart.bars) >= 40
        assert all(b.w >= MIN_BAR_PX * 0.8 - 0.1 for b in chart.bars)
        assert sum(b.completed for b in chart.bars) == sum(p.completed for p in points)
        assert sum(b.failed for b in chart.bars) == sum(p.failed for p in points)
        assert "–" in chart.bars[0].label  # a bar names the minutes it sums
    one_hour = throughput_chart(SimpleNamespace(points=points[:60], bucket_seconds=60))
    assert len(one_hour.bars) == 60 and "–" not in one_hour.bars[0].label
