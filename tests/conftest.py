"""Shared fixtures: a real redis-server per test process, a clean database per test, and
the usual Huey / app / client / consumer built on it (helpers: tests/support.py).

No fakeredis, no mocks: every test talks to a server started here. Under pytest-xdist each
worker process is its own session, so it starts its own redis-server (named after the
worker id): tests of different workers never share a database.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jobboard.redis_server import RedisServer  # noqa: E402
from tests.support import RunningConsumer, make_app, make_huey  # noqa: E402

ARTIFACTS = ROOT / "test-artifacts"

_db_numbers = itertools.cycle(range(1, 64))


@pytest.fixture(scope="session")
def worker_id_name(request: pytest.FixtureRequest) -> str:
    """``gw0``, ``gw1``... under pytest-xdist, ``main`` without it."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def redis_server(worker_id_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """This test process's own redis-server (one per xdist worker), on a free port."""
    server = RedisServer(data_dir=tmp_path_factory.mktemp(f"redis-{worker_id_name}")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of a database of its own for this test, flushed before use."""
    db = next(_db_numbers)
    url = f"redis://127.0.0.1:{redis_server.port}/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    yield url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url=redis_url)
    yield client
    client.close()


@pytest.fixture
def huey(redis_url: str) -> Any:
    """The "emails" queue of tests/support.py's make_huey, on this test's database."""
    return make_huey(redis_url)


@pytest.fixture
def app(huey: Any) -> Flask:
    """A host app with the dashboard, its users (one per role) and API tokens."""
    return make_app(huey)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def consumer(huey: Any) -> Iterator[RunningConsumer]:
    """Huey's consumer for ``huey``, in threads of this process, stopped gracefully after."""
    running = RunningConsumer(huey)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("JOBBOARD_TESTING", "1")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for the module's tests (tests/browser_support.py)."""
    from tests.browser_support import launch

    with launch() as b:
        yield b
