"""Latency over time (issue 17): wait and run time p50/p95/p99 per bucket, from the
per-minute histograms the core keeps, charted on the metrics page per queue and per task
and listed in the API."""

from __future__ import annotations

import time
from typing import Any

import redis

from jobboard import Board
from tests.support import API, PREFIX, auth, login, make_app, make_huey, soup


def seed_minutes(client: redis.Redis, base: str, task: str) -> tuple[int, int]:
    """Two finished minutes as the FINISH script writes them: 10 quick runs (~3 ms) a few
    minutes ago, then 10 slow ones (~1.4 s) in the minute before this one."""
    now_min = int(time.time() // 60)
    quick, slow = now_min - 5, now_min - 1
    for minute, bucket in ((quick, 4), (slow, 21)):  # bucket b ~ 2**(b/2) ms
        client.hset(f"{base}mx:{minute}", mapping={
            "done": 10, f"done|{task}": 10, f"r:{bucket}": 10, f"r|{task}|{bucket}": 10,
            "w:2": 10, f"w|{task}|2": 10})
    client.sadd(f"{base}tasks", task, "tests.support.boom")
    return quick, slow


def test_each_bucket_has_its_own_percentiles(redis_url: str, redis_client: redis.Redis) -> None:
    huey = make_huey(redis_url)
    q = Board([huey]).queue("emails")
    quick, slow = seed_minutes(redis_client, q.keys.base, "tests.support.add")
    m = q.metrics("1h")
    by_minute = {int(p.at // 60): p for p in m.points}
    assert 2 < by_minute[quick].run_ms["p50"] < 6  # type: ignore[operator]
    assert 1000 < by_minute[slow].run_ms["p99"] < 2000  # type: ignore[operator]
    assert by_minute[quick - 1].run_ms["p50"] is None  # no job ended then: no point
    # the whole window mixes both; per task gives the same here
    assert m.run_ms["p50"] is not None and m.run_ms["p99"] > 1000  # type: ignore[operator]
    t = q.metrics("1h", task="tests.support.add")
    assert {int(p.at // 60): p.run_ms["p99"] for p in t.points}[slow] == by_minute[slow].run_ms["p99"]


def test_metrics_page_charts_wait_and_run_over_time(redis_url: str, redis_client: redis.Redis) -> None:
    huey = make_huey(redis_url)
    app = make_app(huey)
    board = app.extensions["jobboard"].board
    board.redis.sadd(f"{board.prefix}:queues", "emails")
    seed_minutes(redis_client, board.queue("emails").keys.base, "tests.support.add")
    client = app.test_client()
    login(client, "viewer")
    page = soup(client.get(f"{PREFIX}/stats?queue=emails&window=1h"))
    run = page.select_one("[data-latency=run] svg")
    assert run is not None
    assert {p["data-line"] for p in run.select("path.lat-line")} == {"p50", "p95", "p99"}
    # two minutes with jobs: two points per line, on a log axis reaching seconds
    assert len(run.select("circle.lat-p99")) == 2
    tips = [c.select_one("title").get_text() for c in run.select("circle.lat-p99")]
    assert any("ms" in t for t in tips) and any(t.endswith("s") and "ms" not in t for t in tips)
    assert [t.get_text() for t in run.select("text.axis")][:2] == ["1ms", "10ms"]
    # the same per task, and the API lists each bucket's percentiles
    per_task = soup(client.get(f"{PREFIX}/stats?queue=emails&task=add&window=1h"))
    assert len(per_task.select("[data-latency=run] circle.lat-p50")) == 2
    empty = soup(client.get(f"{PREFIX}/stats?queue=emails&task=boom&window=1h"))
    assert "No job ended" in empty.select_one("[data-latency=run]").get_text()
    body: Any = client.get(f"{API}/queues/emails?window=1h", headers=auth("viewer")).get_json()
    points = [p for p in body["metrics"]["points"] if p["run_ms"]["p99"] is not None]
    assert len(points) == 2 and points[-1]["run_ms"]["p99"] > 1000
