"""Security hygiene of every answer: headers, what an outage tells whom, trusted proxies,
sessions shared by every web process."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from jobboard.redis_server import RedisServer
from tests.support import API, PASSWORD, PREFIX, auth, csrf_from, login, make_app, make_huey


@pytest.mark.parametrize("path,headers", [
    (f"{PREFIX}/", {}),                                  # a page (redirect to login)
    (f"{PREFIX}/login", {}),                             # the login page
    (f"{API}/queues", auth("viewer")),                   # the JSON API
    (f"{API}/nope", auth("viewer")),                     # the API's 404
    (f"{PREFIX}/health/ready", {}),                      # health
    (f"{PREFIX}/metrics", auth("viewer")),               # metrics
    (f"{PREFIX}/static/jobboard.css", {}),               # static files
    (f"{PREFIX}/no/such/page", {}),                      # the default 404 under the prefix
])
def test_every_answer_sends_the_security_headers(client: Any, path: str,
                                                 headers: dict[str, str]) -> None:
    resp = client.get(path, headers=headers)
    assert resp.headers["X-Content-Type-Options"] == "nosniff", path
    assert resp.headers["Referrer-Policy"] == "same-origin", path
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN", path
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"], path


def test_unknown_pages_get_jobboard_404_not_the_host_app_one(client: Any) -> None:
    resp = client.get(f"{PREFIX}/no/such/page")
    assert resp.status_code == 404 and "Not found" in resp.get_data(as_text=True)
    api = client.get(f"{API}/no/such", headers=auth("viewer"))
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"


def test_host_app_pages_are_left_alone(app: Flask) -> None:
    @app.get("/hello")
    def hello() -> str:
        return "hi"

    resp = app.test_client().get("/hello")
    assert resp.status_code == 200 and "Content-Security-Policy" not in resp.headers


def test_outage_page_shows_redis_address_to_admins_only(tmp_path: Any) -> None:
    server = RedisServer(data_dir=tmp_path, persist=True).start()
    try:
        app = make_app(make_huey(f"redis://127.0.0.1:{server.port}/0"))
        viewer, admin = app.test_client(), app.test_client()
        login(viewer, "viewer")
        login(admin, "admin")
        server.stop()
        seen_by_viewer = viewer.get(f"{PREFIX}/workers").get_data(as_text=True)
        seen_by_admin = admin.get(f"{PREFIX}/workers").get_data(as_text=True)
        api = app.test_client().get(f"{API}/queues", headers=auth("viewer")).get_json()
    finally:
        server.stop()
    address = f"127.0.0.1:{server.port}"
    assert "cannot reach Redis" in seen_by_viewer and address not in seen_by_viewer
    assert str(server.port) not in seen_by_viewer
    assert api["error"]["code"] == "redis_unavailable" and str(server.port) not in str(api)
    # Admins do get Redis's own words. (Their role came from the session record in
    # Redis, which is down: then even an admin is told only the kind of problem.)
    assert "cannot reach Redis" in seen_by_admin


def _sign_in(client: Any, address: str, forwarded: str, password: str) -> Any:
    token = csrf_from(client.get(f"{PREFIX}/login").get_data(as_text=True))
    return client.post(f"{PREFIX}/login", data={
        "username": "admin", "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address}, headers={"X-Forwarded-For": forwarded})


@pytest.mark.parametrize("trusted", [0, 1])
def test_forwarded_address_counts_only_behind_a_trusted_proxy(huey: Any, trusted: int) -> None:
    app = make_app(huey, JOBBOARD_TRUSTED_PROXIES=trusted, JOBBOARD_LOGIN_FREE_FAILURES=1)
    proxy = "10.0.0.2"
    # Two clients behind the same proxy: one guesses, then the other signs in.
    guesser, admin = app.test_client(), app.test_client()
    for _ in range(6):  # the last failures wait 2, 4, 8 s: far longer than this test
        _sign_in(guesser, proxy, "203.0.113.9", "wrong")
    resp = _sign_in(admin, proxy, "198.51.100.7", PASSWORD)
    if trusted:
        assert resp.status_code == 303  # the proxy's X-Forwarded-For told them apart
    else:
        # Not trusted: anyone can write X-Forwarded-For, so the peer address is all that
        # counts, and both came from the proxy (a configured proxy avoids exactly this).
        assert resp.status_code == 429


def test_a_session_works_in_every_web_process(huey: Any) -> None:
    """Two apps built from the same config, as two gunicorn workers are: a session started
    in one is valid in the other (the cookie carries only the id; the record is in Redis)."""
    worker_a, worker_b = make_app(huey), make_app(huey)
    client = worker_a.test_client()
    login(client, "operator")
    cookie = client.get_cookie("session")
    assert cookie is not None
    other = worker_b.test_client()
    other.set_cookie("session", cookie.value)
    for _ in range(10):
        assert other.get(f"{PREFIX}/").status_code == 200
        assert client.get(f"{PREFIX}/").status_code == 200
