"""The runtime at its edges (issue 11), in process against the real Redis: fencing of
late ends, ends that wait for Redis, removal of running jobs, keys of the wrong type,
recovered jobs at the head of the line, one enqueue per periodic tick, re-registration.

The same promises under real faults and real consumer processes: tests/test_faults.py.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from huey import crontab

import jobboard
from jobboard.keys import queues_key
from jobboard.tracking import Heartbeat
from tests.support import make_core_huey, wait_for


@pytest.fixture(autouse=True)
def stop_heartbeats() -> Any:
    """Taking a job starts the process's heartbeat thread: stop ours after each test, so
    that it does not go on talking to the shared server (other tests count commands)."""
    yield
    for thread in threading.enumerate():
        if isinstance(thread, Heartbeat):
            thread.stop()


def in_thread(fn: Callable[[], Any]) -> Any:
    """Run fn in a thread of its own (each delivery's state is thread-local, as in a worker)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    if "error" in out:
        raise out["error"]
    return out.get("value")


class Worker:
    """One worker thread's view: dequeue then execute, on a thread of its own each time
    (the delivery token lives in the thread that took the job)."""

    def __init__(self, huey: jobboard.RedisHuey) -> None:
        self.huey = huey
        self.task: Any = None
        self._go = threading.Event()
        self._done = threading.Event()

    def take(self) -> Any:
        taken = threading.Event()

        def run() -> None:
            self.task = self.huey.dequeue()
            taken.set()
            self._go.wait(30)
            self.huey.execute(self.task)
            self._done.set()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert taken.wait(10)
        return self.task

    def finish(self) -> None:
        self._go.set()
        assert self._done.wait(30)


def lapse_leases(huey: jobboard.RedisHuey) -> Any:
    """What a live consumer's heartbeat does once a lease has lapsed: recover the job."""
    t = huey.jobboard
    client = huey.storage.conn
    for member, _ in client.zrange(t.keys.state("active"), 0, -1, withscores=True):
        client.zadd(t.keys.state("active"), {member: 1})
    return t._scripts["RECOVER_STALLED"](keys=[t.keys.base], args=[int(time.time() * 1000), 5, 100, 0, -1])


def test_a_late_end_from_a_delivery_that_lost_its_lease_changes_nothing(redis_url: str) -> None:
    huey = make_core_huey(redis_url, lease_timeout=1, max_stalls=5)
    q = jobboard.Board([huey]).queue("core")
    job = huey.test_tasks["double"](21).id
    zombie, live = Worker(huey), Worker(huey)
    assert zombie.take().id == job
    lapse_leases(huey)
    assert q.job(job).state == "waiting"
    assert live.take().id == job  # delivered again, to another worker
    zombie.finish()  # the first delivery's end arrives late
    rec = q.job(job)
    assert rec.state == "active" and rec.attempt == 2
    assert "late end" in [e.kind for e in rec.events]
    assert q.totals().completed == 0 and q.totals().duplicates == 1
    assert q.counts()["completed"] == 0
    live.finish()
    rec = q.job(job)
    assert rec.state == "completed" and rec.result == "42"
    totals = q.totals()
    assert totals.completed == 1 and totals.duplicates == 1
    assert q.counts()["completed"] == 1 and q.counts()["active"] == 0


def test_a_late_end_sent_again_counts_once(redis_url: str) -> None:
    # A late end whose reply was lost, or refused by WAIT in durable mode after it ran, is
    # sent again by the outbox: one duplicate run, not one per try (seen in the Sentinel
    # failover test in durable mode: 6 counted for 1 run twice).
    huey = make_core_huey(redis_url, lease_timeout=1, max_stalls=5)
    q = jobboard.Board([huey]).queue("core")
    job = huey.test_tasks["double"](3).id
    zombie, live = Worker(huey), Worker(huey)
    zombie.take()
    lapse_leases(huey)
    live.take()
    t = huey.jobboard
    args = [job, "completed", int(time.time() * 1000), "6", "", "", "0",
            *t.config.retention_argv("completed", "double"), "", "", "1"]  # token 1: the zombie's
    for _ in range(3):
        assert t._scripts["FINISH"](keys=[t.keys.base], args=args) == 2
    rec = q.job(job)
    assert rec.state == "active" and [e.kind for e in rec.events].count("late end") == 1
    assert q.totals().duplicates == 1
    live.finish()
    zombie.finish()
    assert q.job(job).state == "completed" and q.totals().duplicates == 1


def test_a_late_failure_does_not_cause_another_run(redis_url: str, redis_client: redis.Redis) -> None:
    huey = make_core_huey(redis_url, lease_timeout=1, max_stalls=5)
    q = jobboard.Board([huey]).queue("core")
    job = huey.test_tasks["flaky"](7).id  # fails until "fixed" exists; 2 retries
    zombie, live = Worker(huey), Worker(huey)
    zombie.take()
    lapse_leases(huey)
    live.take()
    zombie.finish()  # fails, would retry (delay 1 s): a stale retry, ignored
    rec = q.job(job)
    assert rec.state == "active" and rec.attempt == 2
    assert [e.kind for e in rec.events].count("late end") == 1
    assert q.counts()["scheduled"] == 0 and q.counts()["waiting"] == 0
    redis_client.set("fixed", 1)
    live.finish()
    assert q.job(job).state == "completed"
    assert q.counts()["scheduled"] == 0 and q.counts()["waiting"] == 0
    assert q.totals().duplicates == 1


def test_heartbeat_extends_only_its_own_delivery(redis_url: str) -> None:
    huey = make_core_huey(redis_url, lease_timeout=1, max_stalls=5)
    t = huey.jobboard
    job = huey.test_tasks["double"](1).id
    zombie, live = Worker(huey), Worker(huey)
    zombie.take()
    lapse_leases(huey)
    live.take()
    # The in-flight table holds the newer delivery now; put the stale one back as the
    # zombie process would still have it, and beat.
    task, started, worker, token = t.inflight[job]
    assert token == "2"
    t.inflight[job] = (task, started, worker, "1")
    client = huey.storage.conn
    far = int(time.time() * 1000) + 600_000
    client.zadd(t.keys.state("active"), {job: far})
    t.beat()
    assert client.zscore(t.keys.state("active"), job) == far  # not touched by the stale one
    t.inflight[job] = (task, started, worker, token)
    t.beat()
    assert client.zscore(t.keys.state("active"), job) < far  # its own delivery's beat
    zombie.finish()
    live.finish()


def test_an_end_that_redis_refuses_waits_and_is_recorded_in_order(redis_url: str,
                                                                  redis_client: redis.Redis) -> None:
    huey = make_core_huey(redis_url, end_retry_timeout=60)
    q = jobboard.Board([huey]).queue("core")
    job = huey.test_tasks["flaky"](3).id
    w = Worker(huey)
    w.take()
    redis_client.config_set("maxmemory-policy", "noeviction")
    redis_client.config_set("maxmemory", 1)  # every write refused: OOM
    try:
        w.finish()  # a failed attempt then its retry: both wait, the worker moves on
        assert len(huey.jobboard.outbox) >= 1
        assert redis_client.hget(huey.jobboard.keys.record(job), "st") == b"active"
    finally:
        redis_client.config_set("maxmemory", 0)
    assert wait_for(lambda: len(huey.jobboard.outbox) == 0, 10)
    rec = q.job(job)
    assert rec.state == "scheduled" and len(rec.attempts) == 1  # attempt, then its retry
    assert job not in huey.jobboard.inflight


def test_an_end_given_up_lets_the_job_go(redis_url: str, redis_client: redis.Redis) -> None:
    huey = make_core_huey(redis_url, end_retry_timeout=0.3, lease_timeout=1)
    job = huey.test_tasks["double"](3).id
    w = Worker(huey)
    w.take()
    redis_client.config_set("maxmemory-policy", "noeviction")
    redis_client.config_set("maxmemory", 1)
    try:
        w.finish()
        assert wait_for(lambda: len(huey.jobboard.outbox) == 0, 10)
        assert huey.jobboard.outbox.given_up == 1
    finally:
        redis_client.config_set("maxmemory", 0)
    assert job not in huey.jobboard.inflight  # no longer extended: its lease lapses


def test_enqueue_on_a_full_redis_raises_a_clear_error_and_writes_nothing(
        redis_url: str, redis_client: redis.Redis) -> None:
    huey = make_core_huey(redis_url)
    huey.test_tasks["double"](1)
    before = sorted(redis_client.keys("*"))
    redis_client.config_set("maxmemory-policy", "noeviction")
    redis_client.config_set("maxmemory", 1)
    try:
        with pytest.raises(jobboard.RedisOutOfMemory, match="out of memory") as info:
            huey.test_tasks["double"](2)
        assert isinstance(info.value, redis.exceptions.OutOfMemoryError)
        q = jobboard.Board([huey]).queue("core")
        with pytest.raises(jobboard.RedisOutOfMemory):
            q.enqueue("double", [3])
    finally:
        redis_client.config_set("maxmemory", 0)
    assert sorted(redis_client.keys("*")) == before
    huey.test_tasks["double"](4)  # works again once memory is free


def test_a_running_job_cannot_be_removed(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    q = jobboard.Board([huey]).queue("core")
    job = huey.test_tasks["double"](5).id
    w = Worker(huey)
    w.take()
    with pytest.raises(jobboard.JobStateError, match="Wait for it to finish"):
        q.remove(job)
    assert q.remove_many([job]) == 0
    with pytest.raises(jobboard.InvalidArgument):
        q.remove_all("active")
    w.finish()
    assert q.job(job).result == "10"  # its outcome is recorded
    q.remove(job)
    with pytest.raises(jobboard.JobNotFound):
        q.job(job)


def test_a_stalled_job_whose_lease_lapsed_can_be_removed(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    q = jobboard.Board([huey]).queue("core")
    job = huey.test_tasks["double"](5).id
    w = Worker(huey)
    w.take()
    huey.storage.conn.zadd(huey.jobboard.keys.state("active"), {job: 1})  # lease lapsed
    q.remove(job)
    assert q.counts()["active"] == 0
    w.finish()  # its late end changes nothing
    with pytest.raises(jobboard.JobNotFound):
        q.job(job)


def test_keys_of_the_wrong_type_list_as_undecodable_and_can_be_removed(
        redis_url: str, redis_client: redis.Redis) -> None:
    huey = make_core_huey(redis_url)
    q = jobboard.Board([huey]).queue("core")
    t = huey.test_tasks
    bad_record, bad_message, good = t["double"](1).id, t["double"](2).id, t["double"](3).id
    keys = huey.jobboard.keys
    redis_client.delete(keys.record(bad_record))
    redis_client.set(keys.record(bad_record), "not a hash")
    redis_client.delete(keys.message(bad_message))
    redis_client.hset(keys.message(bad_message), "x", "y")
    page = q.jobs("waiting")
    by_id = {j.id: j for j in page.jobs}
    assert "holds a string" in by_id[bad_record].undecodable
    assert by_id[good].undecodable is None
    assert q.job(bad_record).undecodable and q.job(bad_record).state == "waiting"
    with pytest.raises(jobboard.JobStateError):
        q.revoke(bad_record)
    assert [j.id for j in q.jobs("waiting", search=bad_record[:8]).jobs] == [bad_record]
    # A consumer meets both: nothing aborts, no record is left in no state set.
    taken = [in_thread(huey.dequeue) for _ in range(2)]
    assert [x.id for x in taken if x is not None] == [good]
    in_thread(lambda: huey.execute(taken[-1]) if taken[-1] else None)
    counts = q.counts()
    assert counts["waiting"] == 0 and counts["failed"] == 2
    failed = {j.id: j for j in q.jobs("failed").jobs}
    assert failed[bad_message].error  # a list row carries the error's start ...
    assert "holds a hash" in (q.job(bad_message).error or "")  # ... the job, all of it
    assert failed[bad_record].undecodable
    assert redis_client.type(keys.message(bad_message)) == b"hash"  # kept, not ours to drop
    for state in ("waiting", "active", "failed"):
        for j in q.jobs(state).jobs:
            assert j.undecodable or j.state == state  # no drift between sets and records
    q.remove(bad_record)
    q.remove(bad_message)
    assert q.counts()["failed"] == 0
    assert not redis_client.exists(keys.record(bad_record), keys.record(bad_message))


def test_stalled_and_interrupted_jobs_go_back_to_the_head_of_their_priority(redis_url: str) -> None:
    huey = make_core_huey(redis_url, max_stalls=5)
    q = jobboard.Board([huey]).queue("core")
    double = huey.test_tasks["double"]
    first = double(1).id
    w = Worker(huey)
    w.take()
    backlog = [double(n).id for n in range(2, 6)]
    urgent = double.s(99, priority=5)
    huey.enqueue(urgent)
    lapse_leases(huey)
    order = [i.decode() for i in huey.storage.conn.zrange(huey.jobboard.keys.state("waiting"), 0, -1)]
    assert order == [urgent.id, first, *backlog]  # higher priority first, then the recovered job
    # Its first delivery ends before anyone took it again: that outcome counts (no
    # duplicate run) and the job leaves the waiting set.
    w.finish()
    assert q.job(first).state == "completed"
    assert q.counts()["waiting"] == 5 and q.totals().duplicates == 0


def test_each_periodic_tick_is_enqueued_once_whatever_the_number_of_schedulers(redis_url: str) -> None:
    hueys = []
    for _ in range(3):  # three consumers' hueys, each running a scheduler
        h = jobboard.RedisHuey("ticks", url=redis_url)
        h.periodic_task(crontab(), name="every_minute")(lambda: None)
        hueys.append(h)
    hueys[0].jobboard.register_periodic()
    q = jobboard.Board(hueys[:1]).queue("ticks")
    minute = hueys[0]._get_timestamp().replace(second=0, microsecond=0)
    for tick in (minute, minute + datetime.timedelta(minutes=1)):
        for h in hueys:  # every scheduler sees the same minute
            for task in h.read_periodic(tick + datetime.timedelta(seconds=30)):
                h.enqueue(task)
    assert q.counts()["waiting"] == 2  # once per minute, not three times
    (entry,) = q.periodic()
    assert entry.last_enqueued_by == hueys[0].jobboard.consumer_id()
    assert q.job(entry.last_job_id).state == "waiting"
    # "Run now" is not a tick: it always enqueues.
    q.run_periodic(entry.name)
    assert q.counts()["waiting"] == 3


def test_the_heartbeat_registers_the_queue_again_after_redis_lost_its_data(
        redis_url: str, redis_client: redis.Redis) -> None:
    huey = make_core_huey(redis_url)
    board = jobboard.Board(redis=redis_client)
    huey.test_tasks["double"](1)
    huey.jobboard.consumer_started({"workers": 1, "periodic": True})
    assert "core" in board.queue_names()
    redis_client.flushdb()
    assert board.queue_names() == []
    huey.jobboard.beat()
    assert board.queue_names() == ["core"]
    assert redis_client.smembers(huey.jobboard.keys.tasks)
    assert redis_client.sismember(queues_key("jb"), "core")


def test_an_end_sent_twice_by_its_own_delivery_is_no_duplicate(redis_url: str) -> None:
    # A dropped connection can lose FINISH's reply after it ran; the outbox sends it again.
    huey = make_core_huey(redis_url)
    q = jobboard.Board([huey]).queue("core")
    job = huey.test_tasks["double"](4).id
    w = Worker(huey)
    w.take()
    t = huey.jobboard
    args = [job, "completed", int(time.time() * 1000), "8", "", "", "0",
            *t.config.retention_argv("completed", "double"), "", "", "1"]
    assert t._scripts["FINISH"](keys=[t.keys.base], args=args) == 1
    assert t._scripts["FINISH"](keys=[t.keys.base], args=args) == 2  # the replay: ignored
    rec = q.job(job)
    assert rec.state == "completed" and "late end" not in [e.kind for e in rec.events]
    assert q.totals().duplicates == 0 and q.totals().completed == 1
    w.finish()


def test_a_scheduling_take_whose_consumer_died_is_taken_again_and_scheduled(redis_url: str) -> None:
    # A job due later is handed to Huey's execute() to be scheduled (issue 12): that take
    # is under a lease like any, so a consumer dying in between loses nothing.
    huey = make_core_huey(redis_url, lease_timeout=1, max_stalls=5)
    q = jobboard.Board([huey]).queue("core")
    job = huey.test_tasks["double"].schedule((5,), delay=3600).id
    dead, live = Worker(huey), Worker(huey)
    assert dead.take().id == job
    assert q.job(job).state == "active" and q.job(job).attempt == 0
    lapse_leases(huey)
    assert q.job(job).state == "waiting"
    assert live.take().id == job
    live.finish()  # Huey's execute(): not ready, so add_schedule()
    rec = q.job(job)
    assert rec.state == "scheduled" and rec.attempt == 0 and rec.scheduled_for
    dead.finish()  # the dead one's late schedule of the same eta changes nothing
    assert q.job(job).state == "scheduled" and q.counts()["scheduled"] == 1
    assert q.counts()["active"] == 0 and q.counts()["waiting"] == 0
