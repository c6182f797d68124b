"""Dashboard security: login, roles, tokens, CSRF, the URL map, cookies. Real Redis."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from tests.support import PASSWORD, PREFIX, TOKENS, csrf_from, login

from jobboard import JobBoard
from jobboard.roles import ACTION_ROLES, ROLES


def bearer(role: str) -> dict[str, str]:
    token = {v: k for k, v in TOKENS.items()}[role]
    return {"Authorization": f"Bearer {token}"}


# --- login ---------------------------------------------------------------------------------

def test_anonymous_page_redirects_to_login_with_local_next(client: FlaskClient) -> None:
    resp = client.get(f"{PREFIX}/workers")
    assert resp.status_code == 302
    assert resp.location == f"{PREFIX}/login?next=/admin/queues/workers"


def test_login_sets_hardened_cookie_and_goes_to_next(client: FlaskClient) -> None:
    page = client.get(f"{PREFIX}/login?next={PREFIX}/workers")
    token = csrf_from(page.get_data(as_text=True))
    resp = client.post(f"{PREFIX}/login", data={
        "username": "viewer", "password": PASSWORD, "csrf_token": token,
        "next": f"{PREFIX}/workers"})
    assert resp.status_code == 303
    assert resp.location == f"{PREFIX}/workers"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get(f"{PREFIX}/workers").status_code == 200


@pytest.mark.parametrize("evil", [
    "https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
    "evil.example", "http:/evil.example",
])
def test_next_only_redirects_to_local_paths(client: FlaskClient, evil: str) -> None:
    token = csrf_from(client.get(f"{PREFIX}/login").get_data(as_text=True))
    resp = client.post(f"{PREFIX}/login", data={
        "username": "viewer", "password": PASSWORD, "csrf_token": token, "next": evil})
    assert resp.status_code == 303
    assert resp.location == f"{PREFIX}/"


def _sign_in(client: FlaskClient, username: str, password: str, address: str) -> Any:
    token = csrf_from(client.get(f"{PREFIX}/login").get_data(as_text=True))
    return client.post(f"{PREFIX}/login", data={
        "username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address})


def test_failed_logins_slow_down_only_that_user_and_address(app: Flask) -> None:
    app.config["JOBBOARD_LOGIN_FREE_FAILURES"] = 2
    attacker, admin = app.test_client(), app.test_client()
    for _ in range(2):  # the free failures: no delay yet
        resp = _sign_in(attacker, "admin", "nope", "203.0.113.9")
        assert resp.status_code == 401
        assert "Wrong username or password" in resp.get_data(as_text=True)
    # More failures of the pair, counted straight into the throttle (no waiting out the
    # delays in real time): each one doubles the delay, 1 s, 2 s, ... 64 s.
    with app.test_request_context():
        from jobboard.web.views import login_throttle

        throttle = login_throttle()
        for _ in range(7):
            throttle.failed("admin", "203.0.113.9")
        assert throttle.retry_after("admin", "203.0.113.9") > 32
    # The guessing address waits, even with the right password...
    resp = _sign_in(attacker, "admin", PASSWORD, "203.0.113.9")
    assert resp.status_code == 429
    assert 32 < int(resp.headers["Retry-After"]) <= 64
    # ... while the real admin signs in from their own address, and another user from the
    # attacker's address (a shared proxy address locks nobody else out).
    assert _sign_in(admin, "admin", PASSWORD, "198.51.100.7").status_code == 303
    assert admin.get(f"{PREFIX}/").status_code == 200
    assert _sign_in(app.test_client(), "viewer", PASSWORD, "203.0.113.9").status_code == 303


def test_throttle_delays_grow_and_are_bounded(redis_client: Any) -> None:
    from jobboard.shared.throttle import LoginThrottle, delay_after

    assert [delay_after(n, 3, 300) for n in range(1, 8)] == [0, 0, 0, 1, 2, 4, 8]
    assert delay_after(10_000, 3, 300) == 300  # capped, never a lockout
    throttle = LoginThrottle(redis_client, free=1, max_delay=10)
    now = 1_000_000.0
    throttle.failed("Admin", "10.0.0.1", now=now)
    assert throttle.retry_after("admin", "10.0.0.1", now=now) == 0  # one free failure
    throttle.failed("admin", "10.0.0.1", now=now)
    assert throttle.retry_after("admin", "10.0.0.1", now=now) == 1
    assert throttle.retry_after("admin", "10.0.0.1", now=now + 1) == 0
    for _ in range(20):
        throttle.failed("admin", "10.0.0.1", now=now)
    assert throttle.retry_after("admin", "10.0.0.1", now=now) == 10
    # One small hash per pair, expiring by itself: a spray of usernames cannot grow memory
    # without bound, and it never clears anyone else's count.
    key = redis_client.keys("jobboard:web:login:*")
    assert len(key) == 1 and 0 < redis_client.ttl(key[0]) <= 10 * 4 + 60
    throttle.succeeded("admin", "10.0.0.1")
    assert throttle.retry_after("admin", "10.0.0.1", now=now) == 0


def test_unknown_user_is_refused_like_a_wrong_password(client: FlaskClient) -> None:
    token = csrf_from(client.get(f"{PREFIX}/login").get_data(as_text=True))
    resp = client.post(f"{PREFIX}/login", data={
        "username": "mallory", "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 401


def test_login_without_csrf_is_rejected(client: FlaskClient) -> None:
    client.get(f"{PREFIX}/login")
    resp = client.post(f"{PREFIX}/login", data={"username": "admin", "password": PASSWORD})
    assert resp.status_code == 400


def test_logout_ends_the_session(client: FlaskClient) -> None:
    token = login(client, "viewer")
    resp = client.post(f"{PREFIX}/logout", data={"csrf_token": token})
    assert resp.status_code == 303
    assert client.get(f"{PREFIX}/").status_code == 302


def test_a_cookie_copied_before_logout_is_refused_after_it(app: Flask) -> None:
    client = app.test_client()
    token = login(client, "admin")
    stolen = client.get_cookie("session")
    assert stolen is not None
    thief = app.test_client()
    thief.set_cookie("session", stolen.value)
    assert thief.get(f"{PREFIX}/").status_code == 200  # the copy works while signed in
    assert client.post(f"{PREFIX}/logout", data={"csrf_token": token}).status_code == 303
    # The session record is gone from Redis: the replayed cookie is anonymous now.
    assert thief.get(f"{PREFIX}/").status_code == 302
    assert thief.get(f"{PREFIX}/api/queues").status_code == 401


def test_sessions_last_hours_and_are_secure_under_https(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    page = client.get(f"{PREFIX}/login", base_url="https://localhost")
    token = csrf_from(page.get_data(as_text=True))
    resp = client.post(f"{PREFIX}/login", base_url="https://localhost", data={
        "username": "viewer", "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 303
    cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "Expires" not in cookie
    (key,) = redis_client.keys("jobboard:web:session:*")
    assert 7 * 3600 < redis_client.ttl(key) <= 8 * 3600


def test_password_change_logs_out_existing_sessions(app: Flask, client: FlaskClient) -> None:
    from werkzeug.security import generate_password_hash

    login(client, "operator")
    users = dict(app.config["JOBBOARD_USERS"])
    users["operator"] = {"password_hash": generate_password_hash("new one", method="pbkdf2:sha256:1000"),
                         "role": "operator"}
    app.config["JOBBOARD_USERS"] = users
    assert client.get(f"{PREFIX}/").status_code == 302


def test_htmx_request_of_expired_session_gets_hx_redirect(client: FlaskClient) -> None:
    resp = client.get(f"{PREFIX}/", headers={"HX-Request": "true"})
    assert resp.status_code == 401
    assert resp.headers["HX-Redirect"].startswith(f"{PREFIX}/login")


# --- tokens and roles ----------------------------------------------------------------------

def test_bearer_token_reads_pages_and_skips_csrf(client: FlaskClient, huey: Any) -> None:
    assert client.get(f"{PREFIX}/", headers=bearer("viewer")).status_code == 200
    resp = client.post(f"{PREFIX}/queues/emails/pause", headers=bearer("operator"))
    assert resp.status_code == 303
    board = client.application.extensions["jobboard"].board
    assert board.queue("emails").is_paused()


def test_unknown_bearer_token_does_not_fall_back_to_the_session(client: FlaskClient) -> None:
    login(client, "admin")
    resp = client.get(f"{PREFIX}/", headers={"Authorization": "Bearer wrong"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("role,action,allowed", [
    ("viewer", "pause", False), ("operator", "pause", True), ("admin", "pause", True),
    ("viewer", "empty", False), ("operator", "empty", False), ("admin", "empty", True),
])
def test_queue_actions_need_their_role(client: FlaskClient, role: str, action: str,
                                       allowed: bool) -> None:
    token = login(client, role)
    resp = client.post(f"{PREFIX}/queues/emails/{action}", data={"csrf_token": token})
    assert resp.status_code == (303 if allowed else 403)
    if not allowed:
        assert "role" in resp.get_data(as_text=True)


def test_read_only_turns_every_action_off(app: Flask, client: FlaskClient) -> None:
    app.config["JOBBOARD_READ_ONLY"] = True
    token = login(client, "admin")
    page = client.get(f"{PREFIX}/queues/emails").get_data(as_text=True)
    assert "Pause queue" not in page and "Empty" not in page
    resp = client.post(f"{PREFIX}/queues/emails/pause", data={"csrf_token": token})
    assert resp.status_code == 403
    assert "read-only" in resp.get_data(as_text=True)


def test_host_app_login_through_authorize(redis_url: str, huey: Any) -> None:
    """A host app's flask-login user is mapped to a role by JOBBOARD_AUTHORIZE."""
    from flask_login import LoginManager, UserMixin, login_user

    class User(UserMixin):
        def __init__(self, uid: str) -> None:
            self.id = uid

    app = Flask("host")
    app.config.update(SECRET_KEY="k", TESTING=True,
                      JOBBOARD_AUTHORIZE=lambda u: {"boss": "admin", "intern": "viewer"}.get(u.id))
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
    resp = client.get(f"{PREFIX}/")
    assert resp.status_code == 302 and resp.location.startswith("/login?next=")  # host's login view
    client.get("/login?as=intern")
    page = client.get(f"{PREFIX}/queues/emails")
    assert page.status_code == 200 and "Pause queue" not in page.get_data(as_text=True)
    client.get("/login?as=boss")
    page = client.get(f"{PREFIX}/queues/emails")
    assert "Pause queue" in page.get_data(as_text=True)
    client.get("/login?as=stranger")
    assert client.get(f"{PREFIX}/").status_code == 302


# --- CSRF ----------------------------------------------------------------------------------

def test_csrf_missing_wrong_and_cross_site_are_rejected(client: FlaskClient) -> None:
    token = login(client, "admin")
    url = f"{PREFIX}/queues/emails/pause"
    assert client.post(url).status_code == 400
    assert client.post(url, data={"csrf_token": "forged"}).status_code == 400
    assert client.post(url, data={"csrf_token": token},
                       headers={"Sec-Fetch-Site": "cross-site"}).status_code == 400
    assert client.post(url, data={"csrf_token": token},
                       headers={"Origin": "https://evil.example"}).status_code == 400
    ok = client.post(url, data={"csrf_token": token},
                     headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 303
    assert client.post(url, headers={"X-CSRFToken": token}).status_code == 303


def test_every_page_embeds_the_token_for_htmx(client: FlaskClient) -> None:
    token = login(client, "viewer")
    page = client.get(f"{PREFIX}/").get_data(as_text=True)
    assert f'hx-headers=\'{{"X-CSRFToken": "{token}"}}\'' in page


# --- the URL map ---------------------------------------------------------------------------

# Login and logout need no role (logging out of nothing is harmless); static files neither.
OPEN_ENDPOINTS = {"jobboard.login", "jobboard.logout", "jobboard.static", "jobboard.asset"}


def _jobboard_rules(app: Flask) -> list[Any]:
    return [r for r in app.url_map.iter_rules() if r.rule.startswith(PREFIX)]


def _url_for_rule(rule: Any) -> str:
    values = {arg: "x" for arg in rule.arguments}
    if "filename" in values:
        values["filename"] = "jobboard.css"
    return rule.build(values, append_unknown=False)[1]


def test_url_map_every_route_refuses_anonymous(app: Flask) -> None:
    """Every route but login/logout/static refuses an anonymous client, unsafe methods
    included: those carry a valid CSRF token, so it is the role check that answers (the
    CSRF guard's 400 would hide a view that forgot its check)."""
    client = app.test_client()
    token = csrf_from(client.get(f"{PREFIX}/login").get_data(as_text=True))
    rules = _jobboard_rules(app)
    assert len(rules) > 10
    checked = 0
    for rule in rules:
        if rule.endpoint in OPEN_ENDPOINTS:
            continue
        url = _url_for_rule(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method, headers={"X-CSRFToken": token})
            if rule.rule.endswith("/health/ready") and method == "GET":
                assert resp.status_code in (200, 503), url  # open by default, by design
                continue
            if method == "GET":
                assert resp.status_code in (302, 401), (method, url, resp.status_code)
                if resp.status_code == 302:
                    assert "/login" in resp.location, (method, url)
            else:
                assert resp.status_code == 401, (method, url, resp.status_code)
            checked += 1
    assert checked > 10


#: Every action of the pages, with the form it needs and the role it needs.
PAGE_ACTIONS = [
    *[(f"/queues/emails/jobs/some-job/{a}", {}, ACTION_ROLES[a])
      for a in ("retry", "promote", "revoke", "remove")],
    *[(f"/queues/emails/{a}", {"state": "completed", "older_than": "0"}, ACTION_ROLES[a])
      for a in ("pause", "resume", "empty", "clean")],
    ("/queues/emails/bulk", {"action": "retry", "state": "failed", "ids": "x"}, "operator"),
    ("/queues/emails/bulk", {"action": "remove", "state": "failed", "ids": "x"}, "admin"),
    *[(f"/queues/emails/periodic/{a}", {"name": "nightly_report"}, "operator")
      for a in ("run", "pause", "resume")],
]


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_every_action_checks_its_role_behind_a_valid_csrf_token(app: Flask, role: str) -> None:
    client = app.test_client()
    token = login(client, role)
    for path, form, needed in PAGE_ACTIONS:
        resp = client.post(PREFIX + path, data={**form, "csrf_token": token})
        if ROLES.index(role) < ROLES.index(needed):
            assert resp.status_code == 403, (role, path, resp.status_code)
            assert f"needs the {needed} role" in resp.get_data(as_text=True), path
        else:
            assert resp.status_code != 403, (role, path)
    # The JSON API, from the same browser session: each endpoint's declared role.
    for rule in _jobboard_rules(app):
        needed = getattr(app.view_functions[rule.endpoint], "_jobboard_api_role", None)
        if not needed or ROLES.index(role) >= ROLES.index(needed):
            continue
        for method in sorted(rule.methods & {"POST", "DELETE"}):
            resp = client.open(_url_for_rule(rule), method=method, headers={"X-CSRFToken": token})
            assert resp.status_code == 403, (role, method, rule.rule, resp.status_code)


def test_url_map_every_post_without_csrf_is_rejected(app: Flask) -> None:
    """Logged in as admin, yet no POST/DELETE under the prefix passes without a token."""
    client = app.test_client()
    login(client, "admin")
    unsafe = 0
    for rule in _jobboard_rules(app):
        url = _url_for_rule(rule)
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            resp = client.open(url, method=method, data={"state": "failed"})
            assert resp.status_code == 400, (method, url, resp.status_code)
            body = resp.get_data(as_text=True)
            assert "CSRF" in body or "csrf" in body, (method, url, body[:200])
            unsafe += 1
    assert unsafe >= 8


def test_roles_constant() -> None:
    assert ROLES == ("viewer", "operator", "admin")


# --- per-queue access (issue 17) -------------------------------------------------------------

def two_clinics(redis_url: str, **config: Any) -> tuple[Flask, Any, Any]:
    """One dashboard over queues clinica and clinicb (Huey keeps letters and digits of a
    name). alice operates clinica only; the
    token "a-view" reads clinica only; host logins get per-queue roles from AUTHORIZE."""
    from tests.support import USERS, make_huey

    a, b = make_huey(redis_url, "clinica"), make_huey(redis_url, "clinicb")
    app = Flask("clinics")
    app.config.update(
        SECRET_KEY="k", TESTING=True, JOBBOARD_API_RATE_LIMIT=None,
        JOBBOARD_USERS={**USERS, "alice": {**USERS["operator"], "role": {"clinica": "operator"}},
                        "carol": {**USERS["viewer"], "role": {"clinic*": "viewer",
                                                               "clinicb": "admin"}}},
        JOBBOARD_API_TOKENS={**TOKENS, "a-view": {"clinica": "viewer"}})
    app.config.update(config)
    JobBoard(app, hueys=[a, b])
    board = app.extensions["jobboard"].board
    for name in ("clinica", "clinicb"):
        q = board.queue(name)
        q.enqueue("add", [1, 2], job_id=f"job-{name[-1]}")
        q.enqueue("add", [3, 4], job_id=f"later-{name[-1]}", delay=3600)
    from jobboard.audit import Actor

    board.queue("clinicb").pause(actor=Actor("admin", "admin", "web"))  # in the trail
    return app, a, b


def as_user(app: Flask, name: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    page = client.get(f"{PREFIX}/login")
    token = csrf_from(page.get_data(as_text=True))
    resp = client.post(f"{PREFIX}/login", data={"username": name, "password": PASSWORD,
                                                "csrf_token": token})
    assert resp.status_code == 303
    return client, csrf_from(client.get(f"{PREFIX}/").get_data(as_text=True))


def test_a_user_of_one_queue_gets_403_or_404_on_every_route_of_another(redis_url: str) -> None:
    app, _, _ = two_clinics(redis_url)
    alice, token = as_user(app, "alice")
    checked = 0
    for rule in _jobboard_rules(app):
        if "queue" not in rule.arguments:
            continue
        values = {arg: "x" for arg in rule.arguments}
        values.update(queue="clinicb", job_id="job-b")
        url = rule.build(values, append_unknown=False)[1]
        own = rule.build({**values, "queue": "clinica", "job_id": "job-a"},
                         append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = alice.open(url, method=method, headers={"X-CSRFToken": token},
                              data={"state": "failed", "name": "x", "action": "retry"})
            assert resp.status_code in (403, 404), (method, url, resp.status_code)
            if resp.status_code == 404:  # answered exactly as a queue that does not exist
                nowhere = alice.open(url.replace("clinicb", "clinicz"), method=method,
                                     headers={"X-CSRFToken": token},
                                     data={"state": "failed", "name": "x", "action": "retry"})
                assert nowhere.status_code == 404, (method, url)
                assert (resp.get_data(as_text=True).replace("clinicb", "Q")
                        == nowhere.get_data(as_text=True).replace("clinicz", "Q")), (method, url)
            if method == "GET":
                mine = alice.get(own)
                assert mine.status_code not in (403, 404) or "jobs/x" in own, (own, mine.status_code)
            checked += 1
    assert checked > 25
    # Her own queue: operator actions pass, admin ones are refused.
    assert alice.post(f"{PREFIX}/queues/clinica/pause", data={"csrf_token": token}).status_code == 303
    assert alice.post(f"{PREFIX}/queues/clinica/empty", data={"csrf_token": token}).status_code == 403
    assert alice.post(f"{PREFIX}/api/queues/clinica/resume",
                      headers={"X-CSRFToken": token}).status_code == 200
    # carol: a pattern gives viewer on every clinic, the exact name admin on clinicb.
    carol, ctoken = as_user(app, "carol")
    assert carol.post(f"{PREFIX}/queues/clinica/pause", data={"csrf_token": ctoken}).status_code == 403
    assert carol.post(f"{PREFIX}/queues/clinicb/empty", data={"csrf_token": ctoken}).status_code == 303


def test_a_hidden_queue_is_named_in_no_page_api_answer_or_metric(redis_url: str) -> None:
    app, _, _ = two_clinics(redis_url, JOBBOARD_HEALTH_DETAILED_OPEN=False)
    alice, _ = as_user(app, "alice")
    token = {"Authorization": "Bearer a-view"}
    pages = ["/", "/workers", "/periodic", "/stats", "/stats?queue=clinica", "/activity",
             "/queues/clinica", "/queues/clinica?state=scheduled",
             "/queues/clinica/jobs/job-a", "/search?q=job-b"]
    api = ["/api/queues", "/api/workers", "/api/periodic", "/api/activity", "/api/search?q=job",
           "/api/jobs/job-b", "/api/queues/clinica", "/api/queues/clinica/jobs",
           "/metrics", "/health/detailed"]
    for who, client, headers in (("alice", alice, {}), ("token", app.test_client(), token)):
        for path in pages + api:
            if who == "token" and path in pages:
                continue
            resp = client.get(PREFIX + path, headers=headers)
            body = resp.get_data(as_text=True)
            assert "clinicb" not in body, (who, path)
            if path.startswith("/api/jobs/"):
                assert resp.status_code == 404, (who, path)  # as a job that does not exist
            elif path.startswith("/search"):  # no match, as for an id nobody has
                assert resp.status_code in (200, 404) and "/jobs/job-b" not in body, (who, path)
            else:
                assert resp.status_code == 200, (who, path, resp.status_code)
        metrics = client.get(f"{PREFIX}/metrics", headers=headers).get_data(as_text=True)
        assert 'queue="clinica"' in metrics and 'queue="clinicb"' not in metrics
    assert "clinica" in alice.get(f"{PREFIX}/").get_data(as_text=True)
    # The full-access admin still sees both.
    admin = app.test_client()
    login(admin, "admin")
    assert "clinicb" in admin.get(f"{PREFIX}/").get_data(as_text=True)
    trail = admin.get(f"{PREFIX}/api/activity").get_json()["entries"]
    assert any(e["queue"] == "clinicb" for e in trail)


def test_host_login_roles_per_queue_pattern(redis_url: str) -> None:
    from flask_login import LoginManager, UserMixin, login_user

    class User(UserMixin):
        def __init__(self, uid: str) -> None:
            self.id = uid

    grants = {"ana": {"clinica*": "operator"}, "boss": "admin"}
    app, _, _ = two_clinics(redis_url, JOBBOARD_AUTHORIZE=lambda u: grants.get(u.id),
                            JOBBOARD_USERS={})
    manager = LoginManager(app)
    manager.user_loader(User)

    @app.route("/login")
    def host_login() -> str:
        from flask import request

        login_user(User(request.args["as"]))
        return "ok"

    client = app.test_client()
    client.get("/login?as=ana")
    overview = client.get(f"{PREFIX}/").get_data(as_text=True)
    assert "clinica" in overview and "clinicb" not in overview
    assert client.get(f"{PREFIX}/queues/clinicb").status_code == 404
    assert "Pause queue" in client.get(f"{PREFIX}/queues/clinica").get_data(as_text=True)
    client.get("/login?as=boss")
    assert client.get(f"{PREFIX}/queues/clinicb").status_code == 200


def test_a_token_scoped_by_the_cli(redis_url: str, tmp_path: Any,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from jobboard.cli import main

    path = tmp_path / "jobboard.json"
    assert main(["--config", str(path), "--json", "tokens", "add", "--role", "viewer",
                 "--queue", "clinica", "--name", "grafana-a"]) == 0
    token = json.loads(capsys.readouterr().out)["token"]
    app, _, _ = two_clinics(redis_url, JOBBOARD_CONFIG=str(path))
    client = app.test_client()
    metrics = client.get(f"{PREFIX}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert metrics.status_code == 200
    text = metrics.get_data(as_text=True)
    assert 'queue="clinica"' in text and "clinicb" not in text
    assert client.get(f"{PREFIX}/api/queues/clinicb",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 404
    assert main(["--config", str(path), "tokens", "list"]) == 0
    assert "clinica" in capsys.readouterr().out


def test_url_map_no_get_changes_state(app: Flask, consumer: Any) -> None:
    """Every GET under the prefix, as an admin, with a whole form in its query string (the
    add-job and edit-and-retry routes take GET and POST): no job is added or moved, and
    nothing reaches the audit trail beyond the admin's own sign-in."""
    from tests.support import wait_for

    board = app.extensions["jobboard"].board
    q = board.queue("emails")
    failed, _ = q.enqueue("boom", ["kaput"], retries=0)
    assert wait_for(lambda: q.counts()["failed"] == 1)
    client = app.test_client()
    login(client, "admin")
    before = (dict(q.counts()), q.job(failed).state, board.audit.entries(limit=100).entries)
    form = {"task": "tests.support.add", "args": "[1, 2]", "kwargs": "{}", "priority": "0",
            "delay": "", "eta": "", "retries": "0", "action": "retry", "state": "failed",
            "scope": "all", "ids": failed, "older_than": "0", "name": "nightly_report"}
    checked = 0
    for rule in _jobboard_rules(app):
        if "GET" not in rule.methods or rule.endpoint in {"jobboard.logout", "jobboard.static",
                                                           "jobboard.asset"}:
            continue
        values = {arg: "x" for arg in rule.arguments}
        values.update({k: v for k, v in {"queue": "emails", "job_id": failed}.items()
                       if k in rule.arguments})
        url = rule.build(values, append_unknown=False)[1]
        client.get(url, query_string=form)
        checked += 1
    assert checked > 20
    after = (dict(q.counts()), q.job(failed).state, board.audit.entries(limit=100).entries)
    assert after == before
