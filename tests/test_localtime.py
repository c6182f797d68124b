"""Local time (issue 17): pages render times in the viewer's zone (cookie jb_tz from the
browser) unless they chose UTC (cookie jb_time); the timeline has absolute times with
seconds and the gap between steps; lists keep relative times with the exact one on hover."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from tests.support import API, PREFIX, RunningConsumer, auth, login, make_app, make_huey, soup, wait_for


@pytest.fixture
def done(redis_url: str) -> tuple[FlaskClient, str]:
    """A viewer's client and a job that ran (several timeline steps)."""
    huey = make_huey(redis_url)
    app = make_app(huey)
    api = app.test_client()
    api.post(f"{API}/queues/emails/jobs", json={"task": "add", "args": [1, 2], "id": "t1"},
             headers=auth("operator"))
    running = RunningConsumer(huey)
    try:
        wait_for(lambda: api.get(f"{API}/queues/emails/jobs/t1",
                                 headers=auth("viewer")).get_json()["state"] == "completed")
    finally:
        running.stop()
    client = app.test_client()
    login(client, "viewer")
    return client, "t1"


def timeline(client: FlaskClient) -> Any:
    return soup(client.get(f"{PREFIX}/queues/emails/jobs/t1")).select_one("ol.timeline")


def test_times_follow_the_browser_zone(done: tuple[FlaskClient, str]) -> None:
    client, _ = done
    client.set_cookie("jb_tz", "Asia%2FKolkata")  # UTC+05:30, no DST; as the script sends it
    tl = timeline(client)
    first = tl.select_one("time.stamp")
    at = dt.datetime.fromisoformat(first["datetime"])
    local = at.astimezone(ZoneInfo("Asia/Kolkata"))
    assert first.get_text().startswith(local.strftime("%H:%M:%S"))
    assert first["title"] == local.strftime("%Y-%m-%d %H:%M:%S ") + "IST"
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", first.get_text())  # today: no date
    gaps = [g.get_text() for g in tl.select(".gap")]
    assert len(gaps) == len(tl.select("li")) - 1 and all(g.startswith("+") for g in gaps)
    page = soup(client.get(f"{PREFIX}/queues/emails/jobs/t1"))
    assert page.select_one("h2 [data-zone]").get_text() == "Asia/Kolkata"
    assert page.select_one("html")["data-zone"] == "Asia/Kolkata"


def test_utc_when_chosen_or_the_zone_is_unknown(done: tuple[FlaskClient, str]) -> None:
    client, _ = done
    client.set_cookie("jb_tz", "Asia/Kolkata")
    client.set_cookie("jb_time", "utc")
    assert timeline(client).select_one("time.stamp")["title"].endswith(" UTC")
    page = soup(client.get(f"{PREFIX}/queues/emails/jobs/t1"))
    assert page.select_one("[data-time-label]").get_text() == "UTC"
    client.set_cookie("jb_time", "local")
    for bad in ("Mars/Olympus_Mons", "../../etc/passwd", "x" * 300, "<script>"):
        client.set_cookie("jb_tz", bad)
        resp = client.get(f"{PREFIX}/queues/emails/jobs/t1")
        assert resp.status_code == 200
        assert soup(resp).select_one("ol.timeline time.stamp")["title"].endswith(" UTC")


def test_lists_keep_relative_times_with_the_exact_time_on_hover(done: tuple[FlaskClient, str]) -> None:
    client, _ = done
    client.set_cookie("jb_tz", "America/Sao_Paulo")
    page = soup(client.get(f"{PREFIX}/queues/emails?state=completed"))
    cell = page.select_one("tr[data-job-id] time")
    assert re.search(r"ago|just now", cell.get_text())
    assert cell["title"].endswith(" -03")
