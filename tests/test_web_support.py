"""Helpers shared by the dashboard tests in tests/test_web_*.py and tests/browser/ (no tests here).

Real Redis (conftest's server), a real tracked Huey with tasks that fail, report progress
and write log lines, the real Flask extension, and a real consumer in threads.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from huey import crontab
from werkzeug.security import generate_password_hash

import jobboard
from jobboard import JobBoard

PREFIX = "/admin/queues"
PASSWORD = "correct horse battery staple"
USERS = {
    role: {"password_hash": generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000"),
           "role": role}
    for role in ("viewer", "operator", "admin")
}
TOKENS = {"tok-viewer": "viewer", "tok-operator": "operator", "tok-admin": "admin"}
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = "<img src=x onerror=\"window.__xss=2\">"

# Set by the "flaky" task's test: fail while True, succeed once a test flips it.
FLAKY = {"fail": True}


def make_huey(redis_url: str, name: str = "emails") -> Any:
    """A tracked Huey whose tasks cover what the pages show."""
    huey = jobboard.RedisHuey(name, url=redis_url)

    @huey.task(name="add")
    def add(a: int, b: int = 0) -> int:
        return a + b

    @huey.task(name="boom")
    def boom(message: str = "boom") -> None:
        jobboard.log(f"about to fail with {message}")
        raise RuntimeError(message)

    @huey.task(name="flaky")
    def flaky(value: str = "x") -> str:
        if FLAKY["fail"]:
            raise ValueError(f"flaky failure for {value}")
        return f"ok {value}"

    @huey.task(name="slow")
    def slow(steps: int = 4, pause: float = 0.4) -> str:
        for i in range(steps):
            jobboard.progress(100.0 * i / steps, f"step {i + 1} of {steps}")
            jobboard.log(f"working on step {i + 1}")
            time.sleep(pause)
        jobboard.progress(100.0, "done")
        return "finished"

    # Yearly, so the scheduler of a test's consumer never enqueues it on its own (a "*/30"
    # schedule once added an unexpected completed job to tests running at :00 or :30).
    @huey.periodic_task(crontab(month="1", day="1", hour="3", minute="30"), name="nightly_report")
    def nightly_report() -> str:
        return "report"

    return huey


def make_app(huey: Any, **config: Any) -> Flask:
    """A host app with the dashboard mounted, built-in users and API tokens."""
    app = Flask("jobboard_web_tests")
    app.config.update(SECRET_KEY="test-secret", TESTING=True, JOBBOARD_USERS=dict(USERS),
                      JOBBOARD_API_TOKENS=dict(TOKENS), JOBBOARD_API_RATE_LIMIT=None)
    app.config.update(config)
    JobBoard(app, hueys=[huey])
    return app


def csrf_from(html: str) -> str:
    """The CSRF token embedded in a page."""
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf_token field in the page"
    return m.group(1)


def login(client: FlaskClient, role: str, prefix: str = PREFIX) -> str:
    """Log ``client`` in as the user named after ``role``; returns the session CSRF token."""
    page = client.get(f"{prefix}/login")
    token = csrf_from(page.get_data(as_text=True))
    resp = client.post(f"{prefix}/login", data={
        "username": role, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    home = client.get(f"{prefix}/")
    return csrf_from(home.get_data(as_text=True))


class RunningConsumer:
    """A real Huey consumer (scheduler + worker threads) in this process.

    ``Consumer.start()`` would install signal handlers in pytest's main thread, so the
    threads are started directly; ``stop()`` is Huey's graceful stop.
    """

    def __init__(self, huey: Any, workers: int = 2) -> None:
        self.consumer = huey.create_consumer(workers=workers, worker_type="thread",
                                             periodic=True, check_worker_health=False,
                                             scheduler_interval=1)
        self.consumer.scheduler.start()
        for _, worker in self.consumer.worker_threads:
            worker.start()

    def stop(self) -> None:
        self.consumer.stop(graceful=True)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, step: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
