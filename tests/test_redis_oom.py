"""A Redis at maxmemory with noeviction refuses writes: every route answers 503 "Redis is
out of memory" (never 500), and /health/ready says so. A real redis-server, really full."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from tests.support import PASSWORD, PREFIX, TOKENS, csrf_from, login, make_app, make_huey

from jobboard.redis_server import RedisServer

API = PREFIX + "/api"
ADMIN = {"Authorization": "Bearer " + {v: k for k, v in TOKENS.items()}["admin"]}


@pytest.fixture
def full_redis() -> Iterator[tuple[RedisServer, redis.Redis]]:
    server = RedisServer().start()
    client = redis.Redis(port=server.port)
    client.config_set("maxmemory-policy", "noeviction")
    try:
        yield server, client
    finally:
        client.close()
        server.stop()


def fill(client: redis.Redis) -> None:
    """Cap memory a little above what is used now, then write until Redis refuses.

    Big values first, then smaller ones: a big write's own query buffer counts towards
    used_memory while it is parsed, so the last gaps are only filled by small writes."""
    client.config_set("maxmemory", int(client.info("memory")["used_memory"]) + 2 * 1024 * 1024)
    counter = iter(range(10**9))
    for size in (64 * 1024, 1024, 16):
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            for _ in range(100_000):
                client.set(f"filler:{next(counter)}", b"x" * size)
    # At the edge, freeing one client's buffers lets the next small write through; a full
    # Redis of a real outage is well past it. Put the cap 1 MB under what is used.
    client.config_set("maxmemory", int(client.info("memory")["used_memory"]) - 1024 * 1024)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        client.set("one-more", "x")


def assert_oom(resp: Any, json: bool) -> None:
    assert resp.status_code == 503, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.headers["Retry-After"]
    if json:
        error = resp.get_json()["error"]
        assert error["code"] == "redis_out_of_memory", error
        assert "Redis is out of memory" in error["message"]
    else:
        assert "Redis is out of memory" in resp.get_data(as_text=True)


def test_every_route_answers_503_out_of_memory(full_redis: tuple[RedisServer, redis.Redis]) -> None:
    server, client = full_redis
    huey = make_huey(f"redis://127.0.0.1:{server.port}/0")
    # The rate limiter on, in Redis: it writes before the submission does.
    app = make_app(huey, JOBBOARD_API_RATE_LIMIT="1000/minute")
    queue = app.extensions["jobboard"].board.queue("emails")
    queue.enqueue("add", args=(1, 2))
    browser = app.test_client()
    token = login(browser, "admin")
    ready = browser.get(f"{PREFIX}/health/ready")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ok"

    fill(client)

    # Redis refuses even reads inside MULTI at maxmemory (it stops queueing transactions),
    # and a queue page's list is one: the page says why, and polls until memory is freed.
    page = browser.get(f"{PREFIX}/queues/emails")
    assert_oom(page, json=False)
    assert "data-poll" in page.get_data(as_text=True)
    # Actions from a page, and from htmx (which gets the fragment), are refused with 503.
    assert_oom(browser.post(f"{PREFIX}/queues/emails/pause", data={"csrf_token": token}), json=False)
    fragment = browser.post(f"{PREFIX}/queues/emails/resume",
                            headers={"HX-Request": "true", "X-CSRFToken": token})
    assert_oom(fragment, json=False)
    assert "<html" not in fragment.get_data(as_text=True)  # the fragment, not a whole page
    # The JSON API: submissions (the rate limiter writes first), actions, bulk.
    api = app.test_client()
    assert_oom(api.post(f"{API}/queues/emails/jobs", json={"task": "add", "args": [1]},
                        headers=ADMIN), json=True)
    assert_oom(api.post(f"{API}/queues/emails/pause", headers=ADMIN), json=True)
    assert_oom(api.post(f"{API}/queues/emails/jobs/bulk", json={"jobs": [{"task": "add", "args": [1]}]},
                        headers=ADMIN), json=True)
    # Signing in writes a session record: refused the same way, not a 500.
    fresh = app.test_client()
    csrf = csrf_from(fresh.get(f"{PREFIX}/login").get_data(as_text=True))
    assert_oom(fresh.post(f"{PREFIX}/login", data={
        "username": "admin", "password": PASSWORD, "csrf_token": csrf}), json=False)
    # Readiness: Redis answers, but it cannot take a job.
    ready = api.get(f"{PREFIX}/health/ready")
    assert ready.status_code == 503
    body = ready.get_json()
    assert body["status"] == "unavailable" and body["out_of_memory"] is True
    assert "out of memory" in body["error"]

    # Memory freed: everything works again, nothing was half-written meanwhile.
    for keys in _chunks(client):
        client.delete(*keys)
    assert api.get(f"{PREFIX}/health/ready").status_code == 200
    assert api.post(f"{API}/queues/emails/pause", headers=ADMIN).status_code == 200
    assert queue.counts()["waiting"] == 1


def _chunks(client: redis.Redis) -> list[list[bytes]]:
    keys = list(client.scan_iter("filler:*", count=1000))
    return [keys[i: i + 500] for i in range(0, len(keys), 500)]


def test_only_admins_see_redis_own_words(full_redis: tuple[RedisServer, redis.Redis]) -> None:
    server, client = full_redis
    huey = make_huey(f"redis://127.0.0.1:{server.port}/0")
    app = make_app(huey)
    operator, admin = app.test_client(), app.test_client()
    op_token, admin_token = login(operator, "operator"), login(admin, "admin")
    fill(client)
    seen_by_operator = operator.post(f"{PREFIX}/queues/emails/pause", data={"csrf_token": op_token})
    seen_by_admin = admin.post(f"{PREFIX}/queues/emails/pause", data={"csrf_token": admin_token})
    assert_oom(seen_by_operator, json=False)
    assert_oom(seen_by_admin, json=False)
    assert "maxmemory" in seen_by_admin.get_data(as_text=True)
    assert "Redis said" not in seen_by_operator.get_data(as_text=True)
    assert "Redis said" in seen_by_admin.get_data(as_text=True)
