"""Fixtures and helpers shared by the API, metrics and CLI tests (no tests in here).

Real Redis (from conftest), a real tracked Huey with a few tasks, the real Flask extension,
and a real Huey consumer running in threads of this process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import jobboard
from jobboard import JobBoard

PREFIX = "/admin/queues"
API = PREFIX + "/api"
TOKENS = {"view-token": "viewer", "op-token": "operator", "admin-token": "admin"}


def auth(role: str = "admin") -> dict[str, str]:
    """Headers of a bearer request with ``role``."""
    token = {v: k for k, v in TOKENS.items()}[role]
    return {"Authorization": f"Bearer {token}"}


def make_huey(redis_url: str, name: str = "emails") -> Any:
    """A tracked Huey with the tasks the tests submit by name."""
    huey = jobboard.RedisHuey(name, url=redis_url)

    @huey.task(name="add")
    def add(a: int, b: int = 0) -> int:
        return a + b

    @huey.task(name="boom")
    def boom(message: str = "boom") -> None:
        raise RuntimeError(message)

    @huey.task(name="sleepy")
    def sleepy(seconds: float = 0.1) -> str:
        time.sleep(seconds)
        return "slept"

    return huey


def make_app(huey: Any, **config: Any) -> Flask:
    app = Flask("jobboard_api_tests")
    settings: dict[str, Any] = {"SECRET_KEY": "test", "TESTING": True,
                                "JOBBOARD_API_TOKENS": dict(TOKENS),
                                "JOBBOARD_API_RATE_LIMIT": None}
    settings.update(config)
    app.config.update(settings)
    JobBoard(app, hueys=[huey])
    return app


@pytest.fixture
def huey(redis_url: str) -> Any:
    return make_huey(redis_url)


@pytest.fixture
def app(huey: Any) -> Flask:
    return make_app(huey)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class RunningConsumer:
    """A real Huey consumer (scheduler + worker threads) inside this process.

    ``Consumer.start()`` would also install signal handlers in pytest's main thread, so the
    threads are started directly; ``stop()`` is Huey's own graceful stop.
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


@pytest.fixture
def consumer(huey: Any) -> Iterator[RunningConsumer]:
    running = RunningConsumer(huey)
    yield running
    running.stop()


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


def error_of(resp: Any) -> dict[str, Any]:
    """The ``error`` object of an API error response (asserting the shape)."""
    body = resp.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message", "details"}, err
    assert isinstance(err["code"], str) and isinstance(err["message"], str)
    return err


__all__ = ["API", "PREFIX", "TOKENS", "RunningConsumer", "app", "auth", "client", "consumer",
           "error_of", "huey", "make_app", "make_huey", "threading", "wait_for"]
