"""Enqueues through a Redis restart, and durable mode (issue 13): real redis-servers, a
real replica."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import redis

import jobboard
from jobboard.redis_server import RedisServer, find_redis_server, free_port
from tests.support import running_consumers, wait_for


@pytest.fixture
def primary() -> Iterator[RedisServer]:
    with RedisServer(persist=True) as server:
        yield server


@pytest.fixture
def replica(primary: RedisServer) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen([find_redis_server(), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--replicaof", "127.0.0.1",
                             str(primary.port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: _linked(port), 20)
        yield port
    finally:
        proc.kill()
        proc.wait(5)


def _linked(port: int) -> bool:
    try:
        return redis.Redis(port=port).info("replication").get("master_link_status") == "up"
    except redis.ConnectionError:
        return False


def test_an_enqueue_rides_through_a_redis_restart(primary: RedisServer) -> None:
    h = jobboard.RedisHuey("restart", url=primary.url, enqueue_retry_timeout=15)

    @h.task()
    def noop(n: int) -> int:
        return n

    noop(0)
    primary.process.terminate()  # type: ignore[union-attr]
    primary.process.wait(5)  # type: ignore[union-attr]
    threading.Timer(1.0, primary.start).start()  # back, with its AOF, a second later
    started = time.monotonic()
    result = noop(1)  # retried until Redis answers again: no exception
    assert time.monotonic() - started >= 0.5
    q = jobboard.Board([h]).queue("restart")
    assert q.counts()["waiting"] == 2 and q.job(result.id).args == "1"


def test_an_enqueue_gives_up_after_its_deadline() -> None:
    h = jobboard.RedisHuey("gone", url=f"redis://127.0.0.1:{free_port()}/0",
                           enqueue_retry_timeout=0.3)

    @h.task()
    def noop() -> None:
        return None

    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        noop()
    assert time.monotonic() - started < 5


def test_durable_mode_without_a_replica_refuses_to_acknowledge(primary: RedisServer) -> None:
    h = jobboard.RedisHuey("durable0", url=primary.url, replicas=1, replica_timeout=0.1,
                           enqueue_retry_timeout=0.3)

    @h.task()
    def noop() -> None:
        return None

    with pytest.raises(jobboard.NotReplicated, match="0 of the 1 replicas"):
        noop()
    # The write is on the master all the same, once: retries were no-ops on its id.
    assert jobboard.Board([h]).queue("durable0").counts()["waiting"] == 1


def test_durable_mode_acknowledges_what_a_replica_holds(primary: RedisServer, replica: int) -> None:
    h = jobboard.RedisHuey("durable1", url=primary.url, replicas=1, replica_timeout=2)

    @h.task()
    def double(n: int) -> int:
        return n * 2

    ids = [double(i).id for i in range(20)]
    on_replica = redis.Redis(port=replica)
    base = h.jobboard.keys.base
    # Acknowledged means already on the replica, not just on the master.
    assert all(on_replica.hexists(f"{base}j:{i}", "enq") for i in ids)
    with running_consumers([h], workers=2):
        q = jobboard.Board([h]).queue("durable1")
        assert wait_for(lambda: q.counts()["completed"] == 20, 30)
    assert all(on_replica.hget(f"{base}j:{i}", "st") == b"completed" for i in ids)
