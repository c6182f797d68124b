"""The fault suite of issue 11: real redis-servers, real ``huey_consumer`` processes, injected
faults. Every case ends with ``fault_support.assess``, which waits for the jobs to settle and
asserts, once the fault is over: jobs enqueued = jobs whose body ran at least once (counted in
a second, never-faulted redis-server); 0 lost; no job left active; ``counts()`` equal to the
records present in each state (SCAN of the record keys, grouped by ``st``); no ghost or
half-written job; bodies that ran more than once against jobboard's duplicate-run metric.
Each prints one summary line (``-s`` or ``-rA`` to see them):

    fault=<name> enqueued=N ran=N completed=N lost=N duplicates=N drift=N recover_s=X.X ...

``recover_s`` is the time from the end of the fault until every job of the case reached its
final state (it includes draining what was still queued).
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import jobboard
from jobboard.redis_server import free_port
from tests import fault_tasks
from tests.fault_support import (
    QUEUE,
    Consumers,
    FaultRedis,
    T,
    assess,
    census,
    consumer_id,
    counter,
    registered,
    start_order,
    wait_until,
)

ACTIVE = "active"


class Env:
    """One case's world: the faulted Redis, the side Redis, the producer, consumers."""

    def __init__(self, tmp: Path, aof: bool, extra: list[str], lease: float) -> None:
        self.side_server = FaultRedis(tmp / "side", port=free_port()).start()
        self.redis = FaultRedis(tmp / "redis", port=free_port(), aof=aof, extra=extra).start()
        self.url = f"redis://127.0.0.1:{self.redis.port}/0"
        self.side_url = f"redis://127.0.0.1:{self.side_server.port}/0"
        self.side = redis.Redis.from_url(self.side_url)
        self.admin = self.redis.client()
        self.huey = fault_tasks.build(self.url, self.side_url, lease_timeout=lease)
        self.board = jobboard.Board([self.huey])
        self.q = self.board.queue(QUEUE)
        self.tasks: dict[str, Any] = self.huey.fault_tasks  # type: ignore[attr-defined]
        self.consumers = Consumers(self.url, self.side_url, tmp)

    def close(self) -> None:
        self.consumers.close()
        for c in (self.side, self.admin):
            c.close()
        self.huey.storage.conn.connection_pool.disconnect()
        for conn in getattr(self.huey.storage._enqueue_script, "_idle", ()):
            conn.disconnect()
        self.redis.stop()
        self.side_server.stop()


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Callable[..., Env]]:
    envs: list[Env] = []

    def make(aof: bool = False, extra: list[str] | None = None, lease: float = 30) -> Env:
        env = Env(tmp_path, aof, extra or [], lease)
        envs.append(env)
        return env

    try:
        yield make
    finally:
        for env in envs:
            env.close()


def kinds(job: jobboard.Job) -> list[str]:
    return [e.kind for e in job.events]


# 1. Redis restart mid-run, AOF on -------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["thread", "process"])
def test_redis_crash_restart_with_aof(kind: str, make_env: Callable[..., Env]) -> None:
    """SIGKILL of redis-server (appendonly yes, appendfsync always) while 8 workers hold
    jobs, restarted at once on the same port and AOF: nothing lost, nothing stuck."""
    lease = 5
    env = make_env(aof=True, lease=lease)
    procs = [env.consumers.start(kind, workers=4, lease_timeout=lease) for _ in range(2)]
    for p in procs:
        registered(env.q, p)
    rng = random.Random(1)
    ids = [env.tasks["work"](rng.randint(20, 120)).id for _ in range(300)]
    assert wait_until(lambda: env.q.counts()["completed"] >= 60 and env.q.counts()[ACTIVE] >= 4, 30), \
        dict(env.q.counts())
    in_flight = env.q.counts()[ACTIVE]
    env.redis.crash()
    env.redis.start()
    over = time.monotonic()
    assess(f"redis_crash_restart_aof[{kind}]", env.q, env.side, ids, fault_over=over,
           timeout=lease + 40, logs=env.consumers.logs, extra={"in_flight": in_flight})


# 2. Redis down for 3 s across job ends, default lease ---------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind,how", [("thread", "down"), ("thread", "sigstop"), ("process", "down")])
def test_redis_down_3s_across_job_ends(kind: str, how: str, make_env: Callable[..., Env]) -> None:
    """Jobs of 0.5-1 s on 8 workers with the default 30 s lease; Redis goes away for 3 s
    ("down": shutdown, then restarted on the same port and AOF; "sigstop": frozen) while
    they finish. Every job ends within 12 s of Redis coming back, far less than the lease:
    a job whose end was dropped would stay active until its lease lapsed."""
    env = make_env(aof=True)
    procs = [env.consumers.start(kind, workers=4) for _ in range(2)]  # lease_timeout=30
    for p in procs:
        registered(env.q, p)
    rng = random.Random(2)
    ids = [env.tasks["work"](rng.randint(500, 1000)).id for _ in range(32)]
    assert wait_until(lambda: env.q.counts()[ACTIVE] >= 8, 20), dict(env.q.counts())
    in_flight = env.q.counts()[ACTIVE]
    if how == "down":
        env.redis.shutdown()
        time.sleep(3)  # the fault: Redis is away for 3 s; the jobs in flight end meanwhile
        env.redis.start()
    else:
        env.redis.freeze()
        time.sleep(3)
        env.redis.cont()
    over = time.monotonic()
    assess(f"redis_down_3s[{kind},{how}]", env.q, env.side, ids, fault_over=over, timeout=12,
           logs=env.consumers.logs, extra={"in_flight": in_flight, "lease_s": 30})


# 3. CLIENT KILL storm ---------------------------------------------------------------------


@pytest.mark.slow
def test_client_kill_storm(make_env: Callable[..., Env]) -> None:
    """``CLIENT KILL TYPE normal`` every 50 ms for 3 s while 8 workers run jobs and a producer
    enqueues. An enqueue that raised has an unknown outcome: it counts as enqueued when its
    record exists (then it must run), and must never run otherwise."""
    lease = 3
    env = make_env(lease=lease)
    procs = [env.consumers.start("thread", workers=4, lease_timeout=lease) for _ in range(2)]
    for p in procs:
        registered(env.q, p)
    rng = random.Random(3)
    work = env.tasks["work"]
    ids = [work(rng.randint(50, 200)).id for _ in range(100)]
    assert wait_until(lambda: env.q.counts()[ACTIVE] >= 4, 20)
    stop = threading.Event()
    produced: list[str] = []
    uncertain: list[tuple[str, str]] = []

    def produce() -> None:
        r = random.Random(4)
        while not stop.is_set():
            t = work.s(r.randint(50, 200))
            try:
                env.huey.enqueue(t)
                produced.append(t.id)
            except Exception as exc:  # noqa: BLE001 - counted and checked below
                uncertain.append((t.id, f"{type(exc).__name__}: {exc}"))
            time.sleep(0.01)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    killed = 0
    end = time.monotonic() + 3
    while time.monotonic() < end:  # the fault: a kill every 50 ms for 3 s
        killed += int(env.admin.client_kill_filter(_type="normal", skipme=True))
        time.sleep(0.05)
    stop.set()
    producer.join(10)
    over = time.monotonic()
    assert killed > 60, f"the storm killed only {killed} connections"
    recorded = [i for i, _ in uncertain if env.admin.exists(env.q.keys.record(i))]
    unrecorded = [i for i, _ in uncertain if i not in recorded]
    assess("client_kill_storm", env.q, env.side, ids + produced + recorded, fault_over=over,
           timeout=lease + 40, logs=env.consumers.logs,
           extra={"killed": killed, "produced": len(produced) + len(uncertain),
                  "producer_errors": len(uncertain)})
    started = counter(env.side, "started")
    assert not [i for i in unrecorded if started[i]], "an enqueue that raised and left no record ran"


# 4. Idle connection closed by the server, then enqueue ------------------------------------


def test_enqueue_after_idle_close_kill_and_restart(make_env: Callable[..., Env]) -> None:
    """The producer's first enqueue after the server dropped its idle connections succeeds:
    5 of 5 after Redis's ``timeout 1`` closed them, 5 of 5 after ``CLIENT KILL``, and the
    first one after a Redis restart."""
    env = make_env(aof=True)
    work = env.tasks["work"]
    ids = [work(10).id]  # the producer now holds idle connections
    admin = env.admin

    def only_admin_left() -> bool:
        pipe = admin.pipeline(transaction=False)
        pipe.client_id()
        pipe.client_list(_type="normal")
        me, clients = pipe.execute()
        return all(int(c["id"]) == me for c in clients)

    errors: list[str] = []
    last_ok = [True]

    def enqueue(what: str) -> None:
        try:
            ids.append(work(10).id)
            last_ok[0] = True
        except Exception as exc:  # noqa: BLE001 - the assertion lists them
            errors.append(f"{what}: {type(exc).__name__}: {exc}")
            last_ok[0] = False

    admin.config_set("timeout", 1)
    for n in range(5):
        if last_ok[0]:  # (a failed enqueue drops its connection: then nothing to close)
            assert not only_admin_left(), "the producer holds no connection: nothing to close"
        assert wait_until(only_admin_left, 10, 0.1), "Redis did not close the idle connections"
        enqueue(f"after idle close {n + 1}")
    admin.config_set("timeout", 0)
    for n in range(5):
        killed = admin.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 1 or not last_ok[0], "the producer holds no connection to kill"
        enqueue(f"after CLIENT KILL {n + 1}")
    env.redis.shutdown()
    env.redis.start()
    enqueue("first after a restart")
    over = time.monotonic()
    proc = env.consumers.start("thread", workers=2)
    registered(env.q, proc)
    assess("idle_close_then_enqueue", env.q, env.side, ids, fault_over=over, timeout=30,
           logs=env.consumers.logs,
           extra={"enqueue_ok": f"{11 - len(errors)}/11"})
    assert not errors, errors


# 5. A zombie consumer: SIGSTOP beyond the lease, another takes over, SIGCONT ----------------


@pytest.mark.slow
@pytest.mark.parametrize("kind,variant", [("thread", "no_retry"), ("process", "no_retry"),
                                          ("thread", "retry"), ("process", "retry"),
                                          ("thread", "retry_delay")])
def test_zombie_late_end_changes_nothing(kind: str, variant: str, make_env: Callable[..., Env]) -> None:
    """Consumer A runs a job and is frozen (SIGSTOP) beyond its 3 s lease; consumer B recovers
    the job and runs it again; A is resumed while B's run is still going and ends its run
    (completes it, or fails it so that Huey would retry it). A's late end changes nothing:
    the job stays B's, B's outcome is recorded, completions are counted once, the duplicate
    run is counted, the timeline shows a "late end", and a stale failure causes no third run."""
    lease = 3
    env = make_env(lease=lease)
    task = {"no_retry": "work", "retry": "flaky", "retry_delay": "flaky_delayed"}[variant]
    a = env.consumers.start(kind, workers=1, lease_timeout=lease)
    registered(env.q, a)
    job = env.tasks[task](1000, 5000).id  # 1 s on A (frozen meanwhile), 5 s on B
    assert wait_until(lambda: counter(env.side, "started")[job] == 1, 20), env.consumers.logs()
    env.consumers.signal(a, signal.SIGSTOP)
    frozen = time.monotonic()
    b = env.consumers.start(kind, workers=1, lease_timeout=lease)
    registered(env.q, b)
    assert wait_until(lambda: counter(env.side, "started")[job] == 2, lease + 20), env.consumers.logs()
    j = env.q.job(job)
    assert j.state == ACTIVE and (j.consumer or "").startswith(consumer_id(b) + "/"), j
    assert "stalled" in kinds(j)
    env.consumers.signal(a, signal.SIGCONT)
    over = time.monotonic()
    assert wait_until(lambda: "late end" in kinds(env.q.job(job)), 10), \
        (kinds(env.q.job(job)), env.consumers.logs())
    j = env.q.job(job)
    assert counter(env.side, "ran")[job] == 1, "B's run ended before A's late end: no overlap"
    assert j.state == ACTIVE and (j.consumer or "").startswith(consumer_id(b) + "/"), \
        f"A's late end changed the live run's record: {j.state} by {j.consumer}"
    # A sentinel queued behind any third run A's stale failure could have caused (a retry
    # without delay is enqueued at once; one with a 1 s delay is due before the sentinel).
    sentinel = env.tasks["work"].schedule(args=(300,), delay=1.5).id
    assess(f"zombie_sigstop[{kind},{variant}]", env.q, env.side, [job, sentinel], fault_over=over,
           timeout=30, expect_duplicates=1, logs=env.consumers.logs,
           extra={"frozen_s": round(over - frozen, 1)})
    j = env.q.job(job)
    assert j.state == "completed" and j.result is not None and "run 2" in j.result, j.result
    assert (j.consumer or "").startswith(consumer_id(b) + "/"), j.consumer
    assert counter(env.side, "started")[job] == 2, "the stale end caused a third run"
    assert j.attempts == [], f"the zombie's failure was recorded as an attempt: {j.attempts}"
    # (the consumers write their ends' counts every counters.FLUSH_SECONDS)
    wait_until(lambda: env.q.totals().completed >= 2, 5)
    totals = env.q.totals()
    assert (totals.completed, totals.failed, totals.retried) == (2, 0, 0), totals
    assert totals.duplicates == 1, totals  # type: ignore[attr-defined]


# 6. Redis out of memory ----------------------------------------------------------------------


def used_memory(admin: redis.Redis) -> int:
    return int(admin.info("memory")["used_memory"])


def test_out_of_memory(make_env: Callable[..., Env]) -> None:
    """maxmemory reached with noeviction: an enqueue raises jobboard.RedisOutOfMemory (also a
    redis OutOfMemoryError) from the task call and from Queue.enqueue, nothing is
    half-written; once memory is freed, enqueues work and the running consumer drains."""
    env = make_env(lease=5)
    proc = env.consumers.start("thread", workers=2, lease_timeout=5)
    registered(env.q, proc)
    work = env.tasks["work"]
    ids = [work(20).id for _ in range(20)]
    assert wait_until(lambda: env.q.counts()["completed"] == 20, 20), env.consumers.logs()
    admin = env.admin
    fill_memory(admin)  # the fault
    refused: list[str] = []
    wrong: list[str] = []
    for n in range(5):
        t = work.s(20)
        try:
            env.huey.enqueue(t)
            wrong.append(f"task call {n}: no error")
        except jobboard.RedisOutOfMemory as exc:
            assert isinstance(exc, redis.exceptions.OutOfMemoryError)
            assert "out of memory" in str(exc).lower()
        except Exception as exc:  # noqa: BLE001
            wrong.append(f"task call {n}: {type(exc).__name__}: {exc}")
        refused.append(t.id)
    try:
        env.q.enqueue(T + "work", args=[20], job_id="oom-api-job")
        wrong.append("Queue.enqueue: no error")
    except jobboard.RedisOutOfMemory:
        pass
    except Exception as exc:  # noqa: BLE001
        wrong.append(f"Queue.enqueue: {type(exc).__name__}: {exc}")
    refused.append("oom-api-job")
    half = [i for i in refused if admin.exists(env.q.keys.record(i)) or admin.exists(env.q.keys.message(i))]
    c = census(admin)
    admin.delete("filler")
    over = time.monotonic()
    more = [work(20).id for _ in range(20)]
    assess("redis_oom", env.q, env.side, ids + more, fault_over=over, timeout=30,
           logs=env.consumers.logs, extra={"refused": len(refused)})
    assert not wrong, wrong
    assert not half and not c.orphans, f"half-written during OOM: {half} {c.orphans}"
    started = counter(env.side, "started")
    assert not [i for i in refused if started[i]]


def fill_memory(admin: redis.Redis, headroom: int = 3 * 2 ** 20) -> None:
    """maxmemory = what is used now + ``headroom``, noeviction; then a filler key takes
    everything up to the last bytes. Returns once Redis refuses even a tiny write."""
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", used_memory(admin) + headroom)
    size = 2 ** 18
    while size >= 16:
        try:
            admin.append("filler", b"x" * size)
        except redis.exceptions.OutOfMemoryError:
            size //= 2
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        admin.set("probe", "x")


@pytest.mark.slow
def test_out_of_memory_while_jobs_run(make_env: Callable[..., Env]) -> None:
    """Redis reaches maxmemory while 2 workers are in the middle of their jobs, which end
    while it refuses writes; memory is freed 3 s later. The jobs in flight and the ones
    still waiting all complete, each once; nothing is half-written."""
    lease = 5
    env = make_env(lease=lease)
    proc = env.consumers.start("thread", workers=2, lease_timeout=lease)
    registered(env.q, proc)
    ids = [env.tasks["work"](1000).id for _ in range(6)]
    assert wait_until(lambda: len(counter(env.side, "started")) == 2, 20)
    fill_memory(env.admin)
    assert wait_until(lambda: len(counter(env.side, "ran")) >= 2, 10)  # ended during the OOM
    time.sleep(3)  # the fault: Redis stays full for 3 s more
    c = census(env.admin)
    env.admin.delete("filler")
    over = time.monotonic()
    assess("redis_oom_jobs_in_flight", env.q, env.side, ids, fault_over=over, timeout=lease + 25,
           logs=env.consumers.logs)
    assert not c.orphans and not c.ghosts, f"half-written during OOM: {c.orphans} {c.ghosts}"


# 7. Keys of the wrong type ---------------------------------------------------------------------


def test_wrong_typed_keys(make_env: Callable[..., Env]) -> None:
    """A record key overwritten with a string lists as undecodable (with the reason) instead
    of breaking the list, and can be removed; a message key overwritten with a hash: the
    consumer that takes it leaves no ghost record, and counts never drift."""
    env = make_env(lease=5)
    work, q, admin = env.tasks["work"], env.q, env.admin
    ids = [work(20).id for _ in range(10)]
    bad_record, bad_message, bad_record_taken = ids[2], ids[5], ids[7]
    for i in (bad_record, bad_record_taken):
        admin.delete(q.keys.record(i))
        admin.set(q.keys.record(i), "not a job record")
    admin.delete(q.keys.message(bad_message))
    admin.hset(q.keys.message(bad_message), "not", "a message")

    page = q.jobs("waiting", limit=100)
    listed = {j.id: j for j in page.jobs}
    assert set(listed) == set(ids), set(ids) ^ set(listed)
    for i in (bad_record, bad_record_taken):
        assert listed[i].undecodable, listed[i]
    assert not [j for i, j in listed.items() if j.undecodable and i not in (bad_record, bad_record_taken)]
    try:
        j = q.job(bad_record)
        assert j.undecodable, j
    except jobboard.JobNotFound:
        pass
    assert q.counts()["waiting"] == 10
    q.remove(bad_record)
    assert not admin.exists(q.keys.record(bad_record), q.keys.message(bad_record))
    assert bad_record not in {j.id for j in q.jobs("waiting", limit=100).jobs}
    assert q.counts()["waiting"] == 9

    proc = env.consumers.start("thread", workers=2, lease_timeout=5)
    registered(q, proc)
    # the record that is not a hash, once taken by a consumer, still lists (undecodable,
    # with its reason) in some state, and can be removed from there
    def listed_somewhere() -> jobboard.Job | None:
        for state in ("waiting", "active", "failed"):
            for j in q.jobs(state, limit=100).jobs:
                if j.id == bad_record_taken:
                    return j
        return None

    assert wait_until(lambda: q.counts()["waiting"] == 0 and q.counts()[ACTIVE] == 0, 20), \
        (dict(q.counts()), env.consumers.logs())
    taken = listed_somewhere()
    assert taken is not None and taken.undecodable, taken
    q.remove(bad_record_taken)
    assert not admin.exists(q.keys.record(bad_record_taken))
    over = time.monotonic()
    rest = [i for i in ids if i not in (bad_record, bad_record_taken)]
    assess("wrong_typed_keys", q, env.side, rest, fault_over=over, timeout=20,
           expected={bad_message: "failed"}, not_run=[bad_message], logs=env.consumers.logs)
    failed = q.job(bad_message)
    assert failed.error and "message" in failed.error.lower(), failed.error


# 8. Remove of an active job ----------------------------------------------------------------------


def test_remove_active_job_is_refused(make_env: Callable[..., Env]) -> None:
    env = make_env(lease=5)
    proc = env.consumers.start("thread", workers=1, lease_timeout=5)
    registered(env.q, proc)
    job = env.tasks["work"](2500).id
    assert wait_until(lambda: env.q.job(job).state == ACTIVE, 20)
    with pytest.raises(jobboard.JobStateError) as err:
        env.q.remove(job)
    assert re.search(r"\b(wait|revoke)", str(err.value)), str(err.value)
    assert env.q.job(job).state == ACTIVE
    over = time.monotonic()
    assess("remove_active_job", env.q, env.side, [job], fault_over=over, timeout=20,
           logs=env.consumers.logs)
    j = env.q.job(job)
    assert j.result is not None and "run 1" in j.result, j


# 9. Recovered jobs go to the head of the line ------------------------------------------------------


@pytest.mark.slow
def test_recovered_jobs_run_before_the_backlog(make_env: Callable[..., Env]) -> None:
    """A consumer with 4 in-flight jobs is SIGKILLed while 40 jobs wait behind them; a second
    consumer with 1 worker runs the 4 recovered jobs before the backlog. (The queue is paused
    while the leases are recovered, so the order of the waiting line alone decides what B
    runs first; recovery still happens while paused.)"""
    lease = 3
    env = make_env(lease=lease)
    work, q = env.tasks["work"], env.q
    a = env.consumers.start("thread", workers=4, lease_timeout=lease)
    registered(q, a)
    long_ids = [work(60_000, 100).id for _ in range(4)]  # 60 s on A (killed), 0.1 s after
    assert wait_until(lambda: len(counter(env.side, "started")) == 4, 20)
    backlog = [work(50).id for _ in range(40)]
    assert q.counts()["waiting"] == 40
    env.consumers.kill(a)
    killed = time.monotonic()
    q.pause()
    b = env.consumers.start("thread", workers=1, lease_timeout=lease)
    registered(q, b)
    assert wait_until(lambda: q.counts()[ACTIVE] == 0 and q.counts()["waiting"] == 44, lease + 20), \
        dict(q.counts())
    assert all("stalled" in kinds(q.job(i)) for i in long_ids)
    q.resume()
    report = assess("recovered_to_head", q, env.side, long_ids + backlog, fault_over=killed,
                    timeout=lease + 40, dup_rule="at_most", logs=env.consumers.logs)
    order = start_order(env.side, b.pid)
    assert len(order) == 44, order
    first = order[:4]
    assert set(first) == set(long_ids), (
        f"B's first 4 starts were not the recovered jobs: recovered at positions "
        f"{sorted(order.index(i) for i in long_ids)} of 44")
    assert report.restarts == 4


# 10. Three schedulers on one periodic task ----------------------------------------------------------


@pytest.mark.slow
def test_three_schedulers_run_a_periodic_task_once_per_minute(make_env: Callable[..., Env]) -> None:
    """Three consumers with periodic tasks enabled (no -n) on one queue: the every-minute task
    runs once per minute, not three times, and its last run says which consumer enqueued it.
    Each consumer's scheduler checks at its start, then every 60 s; the case runs until each
    has checked 3 times (about 2 minutes)."""
    env = make_env(lease=5)
    q = env.q
    procs = [env.consumers.start("thread", workers=1, lease_timeout=5, periodic=True) for _ in range(3)]
    for p in procs:
        assert registered(q, p).periodic
    ready = time.monotonic()
    time.sleep(123)  # the fault: three schedulers, three checks each (at 0, 60 and 120 s)
    over = time.monotonic()
    runs = [i.decode() for i in env.side.lrange("periodic_runs", 0, -1)]
    # runs per minute of their enqueue (the schedule tick; a run may start just after it)
    enq_minutes = collections.Counter(int((q.job(i).enqueued_at or 0) // 60) for i in runs)
    per_minute = {dt.datetime.fromtimestamp(m * 60, dt.UTC).strftime("%H:%M"): n
                  for m, n in sorted(enq_minutes.items())}
    ids = [j.id for state in ("waiting", "active", "completed")
           for j in q.jobs(state, limit=500).jobs]
    assess("three_schedulers_periodic", q, env.side, ids, fault_over=over, timeout=20,
           logs=env.consumers.logs,
           extra={"runs": len(runs), "minutes": len(per_minute),
                  "per_minute": ",".join(f"{k}:{v}" for k, v in per_minute.items())})
    assert len(per_minute) >= 3, per_minute
    assert set(per_minute.values()) == {1}, f"runs per minute: {per_minute}"
    minutes = sorted(enq_minutes)
    assert minutes == list(range(minutes[0], minutes[0] + len(minutes))), minutes
    (p,) = [p for p in q.periodic() if p.name == T + "every_minute"]
    assert p.last_job_id == runs[-1], (p, runs)
    by = p.last_enqueued_by  # type: ignore[attr-defined]
    assert by in {consumer_id(x) for x in procs}, by
    assert over - ready >= 120


# 11. Redis loses its data -----------------------------------------------------------------------------


@pytest.mark.slow
def test_consumers_reregister_after_redis_loses_its_data(make_env: Callable[..., Env]) -> None:
    """Redis restarted without persistence while a consumer runs: within a heartbeat interval
    (1 s with a 3 s lease) of Redis coming back, the queue is listed again; new jobs run and
    the queue's task names are known again."""
    lease = 3
    env = make_env(aof=False, lease=lease)
    q = env.q
    board = jobboard.Board(redis=env.admin)  # what the CLI sees: only the queues in Redis
    proc = env.consumers.start("thread", workers=2, lease_timeout=lease)
    registered(q, proc)
    before = [env.tasks["work"](20).id for _ in range(10)]
    assert wait_until(lambda: q.counts()["completed"] == 10, 20)
    assert QUEUE in board.queue_names() and T + "work" in q.tasks()
    lost_with_data = [env.tasks["work"](400).id for _ in range(4)]  # in flight at the restart
    assert wait_until(lambda: q.counts()[ACTIVE] >= 1, 10)
    env.redis.shutdown()  # no AOF, no RDB: the data is gone
    env.redis.start()
    over = time.monotonic()
    assert not env.admin.exists(q.keys.record(before[0])), "Redis kept its data"
    interval = 1.0  # Heartbeat.interval_for(3)
    listed = wait_until(lambda: QUEUE in board.queue_names(), 2 * interval + 1.0, 0.05)
    relisted_s = time.monotonic() - over
    assert listed, f"queue not listed {relisted_s:.1f} s after Redis lost its data"
    assert wait_until(lambda: any(c.pid == proc.pid for c in q.consumers()), 2 * interval + 1.0)
    after = [env.tasks["work"](20).id for _ in range(10)]
    assess("redis_lost_data", q, env.side, after, fault_over=over, timeout=20,
           logs=env.consumers.logs,
           extra={"relisted_s": round(relisted_s, 1), "lost_with_data": len(lost_with_data),
                  "before": len(before)})
    assert T + "work" in q.tasks(), q.tasks()
