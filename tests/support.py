"""Helpers shared by the tests (no tests in here; the fixtures are in conftest.py).

Everything is real: a tracked Huey on the test's own Redis database, the real Flask
extension, Huey's own consumer in threads of this process, pages parsed with BeautifulSoup.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from huey import crontab
from werkzeug.security import generate_password_hash

import jobboard
from jobboard import JobBoard

PREFIX = "/admin/queues"
API = PREFIX + "/api"
PASSWORD = "correct horse battery staple"
#: One built-in login user per role, named after it. Hashed once, here: a cheap pbkdf2
#: (tests sign in a lot), and never per process at request time.
USERS = {
    role: {"password_hash": generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000"),
           "role": role}
    for role in ("viewer", "operator", "admin")
}
TOKENS = {"view-token": "viewer", "op-token": "operator", "admin-token": "admin"}
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = "<img src=x onerror=\"window.__xss=2\">"

# Set by the "flaky" task's test: fail while True, succeed once a test flips it.
FLAKY = {"fail": True}


def auth(role: str = "admin") -> dict[str, str]:
    """Headers of a bearer request with ``role``."""
    token = {v: k for k, v in TOKENS.items()}[role]
    return {"Authorization": f"Bearer {token}"}


bearer = auth


def make_huey(redis_url: str, name: str = "emails") -> Any:
    """A tracked Huey whose tasks cover what the pages, the API and the CLI show."""
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

    @huey.task(name="sleepy")
    def sleepy(seconds: float = 0.1) -> str:
        time.sleep(seconds)
        return "slept"

    # Yearly, so the scheduler of a test's consumer never enqueues it on its own (a "*/30"
    # schedule once added an unexpected completed job to tests running at :00 or :30).
    @huey.periodic_task(crontab(month="1", day="1", hour="3", minute="30"), name="nightly_report")
    def nightly_report() -> str:
        return "report"

    return huey


# Set by flow tests: the "shaky" pipeline step fails while True.
SHAKY = {"fail": True}


def make_flow_huey(redis_url: str, name: str = "emails") -> Any:
    """make_huey's tasks plus ones that chain into pipelines and chords (``huey.flow_tasks``):
    step adds one, shaky fails while SHAKY["fail"], total sums a chord's results, divide
    fails on a zero (and takes a secret, for the editor)."""
    huey = make_huey(redis_url, name)

    @huey.task(name="step")
    def step(x: int) -> int:
        return x + 1

    @huey.task(name="shaky")
    def shaky(x: int) -> int:
        if SHAKY["fail"]:
            raise RuntimeError(f"shaky step failed at {x}")
        return x * 10

    @huey.task(name="total")
    def total(values: list[Any]) -> int:
        return sum(v for v in values if isinstance(v, int))

    @huey.task(name="on_failure")
    def on_failure(*args: Any) -> str:
        return "handled"

    @huey.task(name="divide")
    def divide(a: float, b: float, api_token: str = "") -> float:
        return a / b

    huey.flow_tasks = {"step": step, "shaky": shaky, "total": total,  # type: ignore[attr-defined]
                       "on_failure": on_failure, "divide": divide}
    return huey


def make_core_huey(url: str, name: str = "core", **options: Any) -> jobboard.RedisHuey:
    """A tracked Huey with the tasks the core tests call directly (``huey.test_tasks``)."""
    huey = jobboard.RedisHuey(name, url=url, **options)
    side = redis.Redis.from_url(url)

    @huey.task()
    def double(n: int) -> int:
        return n * 2

    @huey.task(retries=2, retry_delay=1, retry_backoff=2)
    def flaky(n: int) -> int:
        # Fails until the test sets the "fixed" key: then returns its original argument.
        if not side.exists("fixed"):
            raise ValueError(f"flaky failure for {n}")
        return n

    @huey.task()
    def reporting(n: int) -> str:
        jobboard.progress(40, "halfway-ish")
        jobboard.log(f"working on {n}")
        jobboard.progress(100)
        return "ok"

    @huey.task()
    def slow(ms: int) -> int:
        time.sleep(ms / 1000)
        return ms

    huey.test_tasks = {"double": double, "flaky": flaky, "reporting": reporting,  # type: ignore[attr-defined]
                       "slow": slow}
    return huey


def make_app(huey: Any, **config: Any) -> Flask:
    """A host app with the dashboard mounted, built-in users, API tokens, no rate limit."""
    app = Flask("jobboard_tests")
    app.config.update(SECRET_KEY="test-secret", TESTING=True, JOBBOARD_USERS=dict(USERS),
                      JOBBOARD_API_TOKENS=dict(TOKENS), JOBBOARD_API_RATE_LIMIT=None)
    app.config.update(config)
    JobBoard(app, hueys=[huey])
    return app


def soup(resp_or_html: Any) -> BeautifulSoup:
    """A page (a response or its text) parsed, for assertions on its structure."""
    html = resp_or_html if isinstance(resp_or_html, str) else resp_or_html.get_data(as_text=True)
    return BeautifulSoup(html, "html.parser")


def csrf_from(html: str) -> str:
    """The CSRF token embedded in a page's forms."""
    field = soup(html).find("input", attrs={"name": "csrf_token"})
    assert field is not None and field.get("value"), "no csrf_token field in the page"
    return str(field["value"])


def login(client: FlaskClient, role: str, prefix: str = PREFIX) -> str:
    """Log ``client`` in as the user named after ``role``; returns the session CSRF token."""
    page = client.get(f"{prefix}/login")
    token = csrf_from(page.get_data(as_text=True))
    resp = client.post(f"{prefix}/login", data={
        "username": role, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    home = client.get(f"{prefix}/")
    return csrf_from(home.get_data(as_text=True))


def error_of(resp: Any) -> dict[str, Any]:
    """The ``error`` object of a JSON error response (asserting the envelope's shape)."""
    body = resp.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message", "details"}, err
    assert isinstance(err["code"], str) and isinstance(err["message"], str)
    return err  # type: ignore[no-any-return]


class RunningConsumer:
    """A real Huey consumer (scheduler + worker threads) in this process.

    ``Consumer.start()`` would install signal handlers in pytest's main thread, so the
    threads are started directly; ``stop()`` is Huey's graceful stop.
    """

    def __init__(self, huey: Any, workers: int = 2, periodic: bool = True) -> None:
        self.consumer = huey.create_consumer(workers=workers, worker_type="thread",
                                             periodic=periodic, check_worker_health=False,
                                             scheduler_interval=1)
        self.consumer.scheduler.start()
        for _, worker in self.consumer.worker_threads:
            worker.start()

    def stop(self) -> None:
        self.consumer.stop(graceful=True)


@contextlib.contextmanager
def running_consumers(hueys: list[Any], workers: int = 2, periodic: bool = False) -> Iterator[list[RunningConsumer]]:
    """A :class:`RunningConsumer` per Huey for the ``with`` block, stopped gracefully after."""
    started: list[RunningConsumer] = []
    try:
        for huey in hueys:
            started.append(RunningConsumer(huey, workers=workers, periodic=periodic))
        yield started
    finally:
        for consumer in started:
            consumer.stop()


def blocked_clients(client: redis.Redis) -> int:
    """Clients of ``client``'s database blocked in a blocking pop.

    A consumer's worker with nothing to take (an empty or paused queue) blocks on the
    queue's wake list: counting them tells a test that the workers have looked and are
    idle, an event to wait on instead of sleeping before a "nothing happened" check.
    """
    db = int(client.connection_pool.connection_kwargs.get("db", 0))
    return sum(1 for c in client.client_list()
               if "b" in str(c.get("flags", "")) and int(c.get("db", -1)) == db)


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, step: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that; fail the
    test (AssertionError) after ``timeout`` seconds. The one polling helper of the suite."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(step)
