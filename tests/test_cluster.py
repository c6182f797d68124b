"""jobboard on a real Redis Cluster (issue 13): 3 masters + 3 replicas, queues spread over
the masters, every script routed by its declared key, a master killed mid-run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import jobboard
from tests.cluster_support import LocalCluster, queues_on_distinct_masters
from tests.support import running_consumers, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    c = LocalCluster().start()
    yield c
    c.stop()


def cluster_huey(cluster: LocalCluster, name: str, **options: Any) -> jobboard.RedisHuey:
    h = jobboard.RedisHuey(name, url=cluster.url, **options)
    side = cluster.client()

    @h.task()
    def double(n: int) -> int:
        time.sleep(0.01)
        return n * 2

    @h.task(retries=1, retry_delay=0)
    def flaky(n: int) -> int:
        if side.hincrby(f"attempts:{{{name}}}", str(n), 1) == 1:
            raise ValueError(f"first attempt of {n} fails")
        return n

    @h.task()
    def broken(n: int) -> None:
        raise RuntimeError(f"always fails {n}")

    h.test_tasks = {"double": double, "flaky": flaky, "broken": broken}  # type: ignore[attr-defined]
    return h


@contextlib.contextmanager
def consumers(hueys: list[jobboard.RedisHuey]) -> Iterator[None]:
    with running_consumers(hueys, workers=2):
        yield


def test_queues_spread_over_the_masters_run_end_to_end(cluster: LocalCluster) -> None:
    names = queues_on_distinct_masters(cluster)
    masters = {cluster.master_port_of(f"jb:{{{n}}}:waiting") for n in names}
    assert len(masters) == 3  # one queue per master
    hueys = [cluster_huey(cluster, n, retention={"completed": (0, 100)}) for n in names]
    board = jobboard.Board(hueys)
    for h in hueys:
        t = h.test_tasks  # type: ignore[attr-defined]
        for i in range(300):
            t["double"](i)
        for i in range(20):
            t["flaky"](i)
        for i in range(10):
            t["broken"](i)
    with consumers(hueys):
        assert wait_for(lambda: all(
            board.queue(n).counts()["completed"] >= 100 and board.queue(n).counts()["failed"] == 10
            and board.queue(n).counts()["waiting"] == 0 and board.queue(n).counts()["active"] == 0
            for n in names), 120)
        for n in names:
            q = board.queue(n)
            totals = q.totals()
            assert totals.completed == 320 and totals.failed == 10 and totals.retried == 20
            assert q.counts()["completed"] <= 100 + 16  # retention trims as it goes
            assert [c.queue for c in q.consumers()] == [n]  # the heartbeat runs on a cluster
            page = q.jobs("failed")
            assert len(page) == 10 and all("always fails" in (j.error or "") for j in page)
        # Operator actions route to each queue's node too.
        assert board.queue(names[0]).retry_all("failed") == 10
        assert wait_for(lambda: board.queue(names[0]).totals().failed == 20, 60)
    all_counts = board.all_counts()
    assert sorted(all_counts) == names
    assert set(board.queue_names()) >= set(names)


def wait_calls(port: int) -> int:
    stats = redis.Redis(port=port).info("commandstats")
    return int(stats.get("cmdstat_wait", {}).get("calls", 0))


def test_durable_mode_waits_on_the_master_of_each_queue(cluster: LocalCluster) -> None:
    """replicas=1 on Cluster: each enqueue and end is followed by WAIT on the connection to
    the master serving that queue's slot (else WAIT would count another node's writes)."""
    names = queues_on_distinct_masters(cluster, stem="d")
    hueys = [cluster_huey(cluster, n, replicas=1) for n in names]
    ports = {n: cluster.master_port_of(f"jb:{{{n}}}:waiting") for n in names}
    before = {n: wait_calls(p) for n, p in ports.items()}
    board = jobboard.Board(hueys)
    for h in hueys:
        for i in range(50):
            h.test_tasks["double"](i)  # type: ignore[attr-defined]
    for n, p in ports.items():
        assert wait_calls(p) - before[n] >= 50, n  # one WAIT per enqueue, on that master
    with consumers(hueys):
        assert wait_for(lambda: all(board.queue(n).counts()["completed"] == 50 for n in names), 60)
    for n, p in ports.items():
        assert wait_calls(p) - before[n] >= 100, n  # and one per recorded end
        assert board.queue(n).counts()["waiting"] == 0


def test_a_master_killed_mid_run_loses_nothing(cluster: LocalCluster) -> None:
    names = queues_on_distinct_masters(cluster)
    hueys = [cluster_huey(cluster, n + "k", lease_timeout=3) for n in names]
    names = [h.name for h in hueys]
    board = jobboard.Board(hueys)
    total = 200
    ids: dict[str, list[str]] = {}
    for h in hueys:
        ids[h.name] = [h.test_tasks["double"](i).id for i in range(total)]  # type: ignore[attr-defined]
    victim = f"jb:{{{names[0]}}}:waiting"
    master = redis.Redis(port=cluster.master_port_of(victim))
    assert master.execute_command("WAIT", 1, 5000) >= 1  # the enqueues reached the replica
    with consumers(hueys):
        assert wait_for(lambda: board.queue(names[0]).counts()["completed"] >= 40, 60)
        killed = cluster.kill_master_of(victim)
        assert killed not in cluster.live_ports()
        assert wait_for(lambda: all(board.queue(n).counts()["completed"] == total
                                      for n in names), 120), {n: dict(board.queue(n).counts())
                                                              for n in names}
    for n in names:
        q = board.queue(n)
        counts = q.counts()
        assert counts["active"] == counts["waiting"] == counts["failed"] == 0
        assert {j.id for j in q.jobs("completed", limit=500)} == set(ids[n])
