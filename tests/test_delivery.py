"""Reliable delivery end to end (issue 3): real ``huey_consumer`` processes, real Redis.

Consumers run ``tests.delivery_tasks.huey`` in subprocesses, each in a session of its own
so that a SIGKILL of its process group also kills its process workers (otherwise they would
survive as orphans and keep heartbeating). Every subprocess is killed in the fixture's
teardown, whatever the test did.

The tasks record each run in the Redis lists ``started`` (body began) and ``executions``
(body finished), so lost jobs and duplicate runs can be counted independently of
jobboard's own records.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import jobboard
from jobboard.records import PENDING_STATES
from tests import delivery_tasks
from tests.support import blocked_clients, wait_for

ROOT = Path(__file__).resolve().parent.parent
HOST = socket.gethostname()
T = "tests.delivery_tasks."  # task name prefix


class Consumers:
    """Starts ``huey_consumer`` subprocesses on the test's Redis database; kills them all
    (process group, SIGKILL) at teardown."""

    def __init__(self, redis_url: str, logdir: Path) -> None:
        self.redis_url = redis_url
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []
        self._n = 0

    def start(self, kind: str = "thread", workers: int = 2, periodic: bool = False,
              lease_timeout: float = 2, max_stalls: int = 5, quiet: bool = False,
              periodic_clock: str | None = None) -> subprocess.Popen[bytes]:
        env = dict(os.environ, REDIS_URL=self.redis_url, LEASE_TIMEOUT=str(lease_timeout),
                   MAX_STALLS=str(max_stalls), PYTHONPATH=str(ROOT))
        if periodic_clock:
            env["PERIODIC_CLOCK"] = periodic_clock
        if kind == "greenlet":
            env["JB_GEVENT"] = "1"
        cmd = [sys.executable, "-m", "huey.bin.huey_consumer", "tests.delivery_tasks.huey",
               "-k", kind, "-w", str(workers)]
        if not periodic:
            cmd.append("-n")
        if quiet:
            cmd.append("-q")
        self._n += 1
        log = open(self.logdir / f"consumer-{self._n}-{kind}.log", "wb")
        try:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        finally:
            log.close()
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the consumer and its process workers (its whole process group)."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def close(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
        self.procs.clear()

    def logs(self) -> str:
        out = []
        for f in sorted(self.logdir.glob("consumer-*.log")):
            out.append(f"--- {f.name}\n" + f.read_text(errors="replace")[-3000:])
        return "\n".join(out)


@pytest.fixture
def consumers(redis_url: str, tmp_path: Path) -> Iterator[Consumers]:
    c = Consumers(redis_url, tmp_path)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def huey(redis_url: str) -> jobboard.RedisHuey:
    """The producer side: the same queue and tasks as the consumers, in this process."""
    return delivery_tasks.build(redis_url, lease_timeout=2)


@pytest.fixture
def board(huey: jobboard.RedisHuey) -> jobboard.Board:
    return jobboard.Board([huey])


def tasks(huey: jobboard.RedisHuey) -> dict[str, Any]:
    return huey.test_tasks  # type: ignore[attr-defined,no-any-return]


def registered(board: jobboard.Board, proc: subprocess.Popen[bytes], timeout: float = 15) -> Any:
    """Wait until the consumer's registry entry shows up; returns it."""
    def find() -> Any:
        return next((c for c in board.consumers("fault") if c.pid == proc.pid), None)
    entry = wait_for(find, timeout)
    assert entry is not None, f"consumer {proc.pid} did not register"
    return entry


def state_of(q: jobboard.Queue, job_id: str) -> str:
    return q.job(job_id).state


def event_kinds(q: jobboard.Queue, job_id: str) -> list[str]:
    return [e.kind for e in q.job(job_id).events]


def ints(client: redis.Redis, key: str) -> list[int]:
    return [int(x) for x in client.lrange(key, 0, -1)]


def active_on(q: jobboard.Queue, pid: int) -> list[str]:
    """Ids of the jobs recorded active under a lease of consumer ``pid``."""
    prefix = f"{HOST}:{pid}/"
    return [j.id for j in q.jobs("active", limit=500).jobs if (j.consumer or "").startswith(prefix)]


# The fault test --------------------------------------------------------------------------

FAULT_JOBS = 2000
FAULT_LEASE = 3.0


@pytest.mark.slow
def test_fault_sigkill_restarts_lose_nothing(consumers: Consumers, huey: jobboard.RedisHuey,
                                             board: jobboard.Board, redis_client: redis.Redis,
                                             record_property: Callable[[str, Any], None]) -> None:
    """4 consumers with process workers, 2,000 jobs of 50-200 ms; one consumer is SIGKILLed
    (with its workers) and restarted 5 times: nothing is lost, every job runs at least once,
    and the run ends within lease_timeout (+ heartbeat slack) of the last kill."""
    q = board.queue("fault")
    rng = random.Random(3)
    work = tasks(huey)["work"]
    ids = [work(n, rng.randint(50, 200)).id for n in range(FAULT_JOBS)]
    assert q.counts()["waiting"] == FAULT_JOBS

    start = time.monotonic()
    procs = [consumers.start("process", workers=4, lease_timeout=FAULT_LEASE, quiet=True)
             for _ in range(4)]
    victim = procs[0]
    kills: list[dict[str, Any]] = []

    # Kill the same consumer slot at 15/30/45/60 % completed, and a 5th time at the tail
    # (fewer than 20 jobs waiting), each time while it holds leases; restart it each time.
    triggers: list[Callable[[], bool]] = [
        (lambda f=f: q.counts()["completed"] >= f * FAULT_JOBS) for f in (0.15, 0.30, 0.45, 0.60)]
    triggers.append(lambda: q.counts()["waiting"] < 20)
    for i, trigger in enumerate(triggers):
        assert wait_for(trigger, 60, 0.02), f"kill {i + 1} never triggered: {dict(q.counts())}"
        held = wait_for(lambda v=victim: active_on(q, v.pid), 10, 0.01)
        assert held, f"kill {i + 1}: the victim holds no lease: {dict(q.counts())}"
        consumers.kill(victim)
        at = time.monotonic() - start
        # the jobs still under the dead consumer's lease were cut short by the kill
        cut = [i for i in held if (j := q.job(i)).state == "active"
               and (j.consumer or "").startswith(f"{HOST}:{victim.pid}/")]
        kills.append({"at": at, "pid": victim.pid, "in_flight": cut,
                      "completed": q.counts()["completed"]})
        victim = consumers.start("process", workers=4, lease_timeout=FAULT_LEASE, quiet=True)
    last_kill = kills[-1]["at"]

    def finished() -> bool:
        c = q.counts()
        return c["completed"] + c["failed"] >= FAULT_JOBS and not any(c[s] for s in PENDING_STATES)

    assert wait_for(finished, 60, 0.05), f"not done: {dict(q.counts())}\n{consumers.logs()}"
    done_at = time.monotonic() - start
    after_last_kill = done_at - last_kill

    counts = q.counts()
    executions = collections.Counter(ints(redis_client, "executions"))
    starts = collections.Counter(ints(redis_client, "started"))
    lost = [n for n in range(FAULT_JOBS) if executions[n] == 0]
    duplicates = sum(c - 1 for c in executions.values() if c > 1)
    restarted = sum(c - 1 for c in starts.values() if c > 1)
    killed_jobs = [i for k in kills for i in k["in_flight"]]
    pipe = redis_client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(huey.storage.keys.record(job_id), "st", "stl")
    records = pipe.execute()
    states = collections.Counter(r[0].decode() for r in records)
    stalls = sum(int(r[1] or 0) for r in records)
    stalled_events = sum("stalled" in event_kinds(q, i) for i in set(killed_jobs))

    report = {
        "jobs": FAULT_JOBS, "consumers": 4, "workers_each": 4, "worker_type": "process",
        "lease_timeout": FAULT_LEASE, "kills": len(kills),
        "in_flight_at_kills": [len(k["in_flight"]) for k in kills],
        "kill_times_s": [round(k["at"], 2) for k in kills],
        "lost": len(lost), "duplicate_executions": duplicates,
        "restarted_after_start": restarted, "stalls_recorded": stalls,
        "killed_jobs_with_stalled_event": stalled_events,
        "total_s": round(done_at, 2), "done_after_last_kill_s": round(after_last_kill, 2),
        "counts": dict(counts),
    }
    print("\nFAULT TEST REPORT " + json.dumps(report))
    for k, v in report.items():
        record_property(k, v)

    assert not lost, f"{len(lost)} jobs never executed: {lost[:20]}"
    assert states == {"completed": FAULT_JOBS}, states
    assert counts["completed"] == FAULT_JOBS
    assert all(counts[s] == 0 for s in PENDING_STATES + ("failed",)), dict(counts)
    assert all(executions[n] >= 1 for n in range(FAULT_JOBS))
    # every job that a kill cut short was recovered through a lapsed lease, visibly
    assert stalls >= len(set(killed_jobs))
    assert stalled_events == len(set(killed_jobs)), (stalled_events, len(set(killed_jobs)))
    # the last kill's jobs came back after the lease lapsed: lease + heartbeat + slack
    assert after_last_kill <= FAULT_LEASE + 6, report


# Pause / resume --------------------------------------------------------------------------


def test_pause_blocks_new_jobs_survives_restart_and_resume_drains(
        consumers: Consumers, huey: jobboard.RedisHuey, board: jobboard.Board,
        redis_client: redis.Redis) -> None:
    q = board.queue("fault")
    work = tasks(huey)["work"]
    first = consumers.start("process", workers=2)
    registered(board, first)
    running = tasks(huey)["long_job"](-1, 1.5).id
    assert wait_for(lambda: state_of(q, running) == "active", 10)

    q.pause()
    assert q.is_paused() and q.counts().paused
    ids = [work(n, 50).id for n in range(20)]  # enqueueing still works while paused
    # paused: the one already running finishes, then both workers look, find the queue
    # paused and block on its wake list; no job has started
    assert wait_for(lambda: state_of(q, running) == "completed", 10)
    wait_for(lambda: blocked_clients(redis_client) == 2)
    c = q.counts()
    assert c.paused and c["waiting"] == 20, dict(c)
    assert set(ints(redis_client, "started")) == {-1}
    # the pause lives in Redis: a restarted consumer does not start anything either
    consumers.kill(first)
    first = consumers.start("thread", workers=2)
    registered(board, first)
    wait_for(lambda: blocked_clients(redis_client) == 2)  # it polled the paused queue
    c = q.counts()
    assert c.paused and c["waiting"] == 20 and c["active"] == 0, dict(c)
    assert set(ints(redis_client, "started")) == {-1}

    q.resume()
    assert not q.is_paused() and not q.counts().paused
    assert wait_for(lambda: q.counts()["completed"] >= 21, 20), dict(q.counts())
    assert all(state_of(q, i) == "completed" for i in ids)
    assert sorted(ints(redis_client, "executions")) == [-1, *range(20)]


# SIGTERM: put back at once ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["thread", "process", "greenlet"])
def test_sigterm_puts_running_job_back_at_once(kind: str, consumers: Consumers,
                                               huey: jobboard.RedisHuey, board: jobboard.Board,
                                               redis_client: redis.Redis) -> None:
    q = board.queue("fault")
    # two workers: the idle one is blocked waiting for work when the signal comes
    first = consumers.start(kind, workers=2, lease_timeout=30)  # a lease that would not lapse here
    job = tasks(huey)["long_job"](7, 2.0).id
    assert wait_for(lambda: state_of(q, job) == "active", 15), consumers.logs()
    os.kill(first.pid, signal.SIGTERM)
    first.wait(timeout=15)
    # back in waiting at once (no lease timeout involved), with an "interrupted" event
    j = q.job(job)
    assert j.state == "waiting", (j.state, consumers.logs())
    assert "interrupted" in [e.kind for e in j.events]
    assert ints(redis_client, "executions") == []

    second = consumers.start(kind, workers=1, lease_timeout=30)
    assert wait_for(lambda: state_of(q, job) == "completed", 20), consumers.logs()
    j = q.job(job)
    assert j.consumer and j.consumer.startswith(f"{HOST}:{second.pid}/")
    assert j.attempt == 2 and j.stalls == 0
    assert ints(redis_client, "started") == [7, 7]
    assert ints(redis_client, "executions") == [7]


# One round trip per job: the job an end takes --------------------------------------------


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_job_taken_by_an_end_survives_its_consumer_dying(kind: str, consumers: Consumers,
                                                         huey: jobboard.RedisHuey,
                                                         board: jobboard.Board,
                                                         redis_client: redis.Redis) -> None:
    """A worker's FINISH takes its next job in the same call. SIGKILL the consumer after
    that end and before the worker runs the job it took: the job is leased like any
    taken job, so it comes back after the lease ("stalled") and another consumer runs it."""
    q = board.queue("fault")
    first = tasks(huey)["hold_worker"](1, 60).id
    nxt = tasks(huey)["work"](2, 10).id
    proc = consumers.start(kind, workers=1, lease_timeout=2)
    assert wait_for(lambda: state_of(q, first) == "completed", 15), consumers.logs()
    held = q.job(nxt)
    assert held.state == "active" and (held.consumer or "").startswith(f"{HOST}:{proc.pid}/")
    assert ints(redis_client, "started") == [1]  # taken, not started
    consumers.kill(proc)

    second = consumers.start(kind, workers=1, lease_timeout=2)
    assert wait_for(lambda: state_of(q, nxt) == "completed", 20), consumers.logs()
    done = q.job(nxt)
    assert "stalled" in event_kinds(q, nxt)
    assert (done.consumer or "").startswith(f"{HOST}:{second.pid}/")
    assert ints(redis_client, "executions") == [1, 2]


# Stalled jobs ----------------------------------------------------------------------------


def test_stalled_job_is_recovered_then_fails_after_max_stalls(
        consumers: Consumers, huey: jobboard.RedisHuey, board: jobboard.Board,
        redis_client: redis.Redis) -> None:
    """max_stalls=1: the first SIGKILL mid-job is recovered after the lease timeout
    ("stalled" event) and run elsewhere; the second makes it fail with StalledJobError."""
    q = board.queue("fault")
    opts: dict[str, Any] = {"kind": "process", "workers": 1, "lease_timeout": 2, "max_stalls": 1}
    a = consumers.start(**opts)
    job = tasks(huey)["work"](1, 30_000).id
    assert wait_for(lambda: active_on(q, a.pid) == [job], 15), consumers.logs()
    b = consumers.start(**opts)
    registered(board, b)
    consumers.kill(a)
    killed = time.monotonic()
    # recovered by b's heartbeat once the lease lapsed, then run by b
    assert wait_for(lambda: active_on(q, b.pid) == [job], 15), consumers.logs()
    assert time.monotonic() - killed >= 1.0  # not before the lease could lapse
    j = q.job(job)
    assert j.stalls == 1 and j.attempt == 2
    stalled = [e for e in j.events if e.kind == "stalled"]
    assert len(stalled) == 1 and "recovered" in stalled[0].message, j.events

    c = consumers.start(**opts)
    registered(board, c)
    consumers.kill(b)
    assert wait_for(lambda: state_of(q, job) == "failed", 15), consumers.logs()
    j = q.job(job)
    assert j.stalls == 2
    assert j.attempts and j.attempts[-1].error_class == "StalledJobError"
    assert "stalled 2 times" in (j.error or "")
    assert j.has_message  # a failed job keeps its message: an operator can retry it
    # c's worker is idle, blocked on the wake list: the failed job does not loop
    wait_for(lambda: blocked_clients(redis_client) == opts["workers"])
    assert state_of(q, job) == "failed"
    assert ints(redis_client, "started") == [1, 1]
    assert ints(redis_client, "executions") == []


def test_max_stalls_zero_fails_on_first_stall(consumers: Consumers, huey: jobboard.RedisHuey,
                                              board: jobboard.Board, redis_client: redis.Redis) -> None:
    q = board.queue("fault")
    opts: dict[str, Any] = {"kind": "thread", "workers": 1, "lease_timeout": 2, "max_stalls": 0}
    a = consumers.start(**opts)
    job = tasks(huey)["work"](2, 30_000).id
    assert wait_for(lambda: active_on(q, a.pid) == [job], 15), consumers.logs()
    b = consumers.start(**opts)
    registered(board, b)
    consumers.kill(a)
    assert wait_for(lambda: state_of(q, job) == "failed", 15), consumers.logs()
    j = q.job(job)
    assert j.stalls == 1 and j.attempts[-1].error_class == "StalledJobError"
    assert "stalled" not in [e.kind for e in j.events]
    assert ints(redis_client, "started") == [2]


# Long jobs are not taken for dead --------------------------------------------------------


def test_long_jobs_keep_their_lease(consumers: Consumers, huey: jobboard.RedisHuey,
                                    board: jobboard.Board, redis_client: redis.Redis) -> None:
    """Jobs 3x longer than the lease, on process and thread workers, with a second
    consumer reaping: the heartbeat extends their leases, they run once."""
    q = board.queue("fault")
    long_job = tasks(huey)["long_job"]
    p = consumers.start("process", workers=1, lease_timeout=2)
    t = consumers.start("thread", workers=1, lease_timeout=2)
    registered(board, p)
    registered(board, t)
    jobs = [long_job(n, 6.0).id for n in (1, 2)]
    assert wait_for(lambda: q.counts()["completed"] == 2, 25), consumers.logs()
    by = set()
    for job in jobs:
        j = q.job(job)
        assert j.state == "completed" and j.stalls == 0 and j.attempt == 1
        assert "stalled" not in [e.kind for e in j.events]
        assert j.run_ms is not None and j.run_ms >= 6000
        assert j.progress == 100
        by.add((j.consumer or "").split("/")[0])
    assert by == {f"{HOST}:{p.pid}", f"{HOST}:{t.pid}"}  # one on each kind of worker
    assert sorted(ints(redis_client, "started")) == [1, 2]
    assert sorted(ints(redis_client, "executions")) == [1, 2]


# Consumer registry -----------------------------------------------------------------------


def test_consumer_registry_lifecycle(consumers: Consumers, huey: jobboard.RedisHuey,
                                     board: jobboard.Board) -> None:
    q = board.queue("fault")
    before = time.time()
    a = consumers.start("process", workers=2, lease_timeout=2)
    entry = registered(board, a)
    assert (entry.id, entry.host, entry.pid, entry.queue) == (f"{HOST}:{a.pid}", HOST, a.pid, "fault")
    assert (entry.worker_type, entry.workers, entry.periodic) == ("process", 2, False)
    assert entry.version == jobboard.__version__
    assert before - 1 <= entry.started_at <= time.time()
    assert entry.last_seen >= entry.started_at

    t = tasks(huey)
    finished = [t["work"](1, 10).id, t["boom"](2).id]
    assert wait_for(lambda: {state_of(q, i) for i in finished} == {"completed", "failed"}, 15)
    job = t["long_job"](3, 2.5).id
    assert wait_for(lambda: state_of(q, job) == "active", 15)

    def running_entry() -> Any:
        e = next((c for c in q.consumers() if c.pid == a.pid), None)
        return e if e is not None and e.running else None
    entry = wait_for(running_entry, 5)
    assert entry, q.consumers()
    (run,) = entry.running
    started = q.job(job).started_at
    assert (run.job_id, run.task, run.queue) == (job, T + "long_job", "fault")
    assert started is not None and abs(run.started_at - started) < 0.01
    assert run.worker.startswith(f"{HOST}:{a.pid}/") and "Worker-" in run.worker
    assert wait_for(lambda: state_of(q, job) == "completed", 15)
    entry = wait_for(lambda: next((c for c in q.consumers()
                                     if c.pid == a.pid and c.done >= 2 and not c.running), None), 5)
    assert entry, q.consumers()
    assert (entry.done, entry.failed) == (2, 1)

    # SIGKILL: no goodbye, the entry expires with its heartbeat (TTL 10 s here)
    consumers.kill(a)
    killed = time.monotonic()
    assert wait_for(lambda: all(c.pid != a.pid for c in board.consumers()), 15, 0.2)
    assert time.monotonic() - killed <= 12

    # a clean stop unregisters at once
    b = consumers.start("thread", workers=1)
    registered(board, b)
    os.kill(b.pid, signal.SIGINT)
    b.wait(timeout=15)
    assert all(c.pid != b.pid for c in board.consumers())


# Worker types ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["thread", "process", "greenlet"])
def test_worker_types_run_jobs_with_progress_and_logs(kind: str, consumers: Consumers,
                                                      huey: jobboard.RedisHuey,
                                                      board: jobboard.Board,
                                                      redis_client: redis.Redis) -> None:
    q = board.queue("fault")
    proc = consumers.start(kind, workers=2)  # -n: no periodic tasks
    entry = registered(board, proc)
    assert (entry.worker_type, entry.workers, entry.periodic) == (kind, 2, False)
    ids = {n: tasks(huey)["reporting"](n).id for n in range(4)}
    assert wait_for(lambda: q.counts()["completed"] == 4, 20), (dict(q.counts()), consumers.logs())
    for n, job_id in ids.items():
        j = q.job(job_id)
        assert j.state == "completed" and j.result == f'"ok {n}"'
        assert (j.progress, j.progress_message) == (100.0, "done")
        assert [line.message for line in j.logs] == [f"working on {n}"]
        assert (j.consumer or "").startswith(f"{HOST}:{proc.pid}/")
    assert sorted(ints(redis_client, "executions")) == [0, 1, 2, 3]


def test_two_consumers_share_one_queue(consumers: Consumers, huey: jobboard.RedisHuey,
                                       board: jobboard.Board, redis_client: redis.Redis) -> None:
    q = board.queue("fault")
    procs = [consumers.start("thread", workers=2), consumers.start("process", workers=2)]
    for p in procs:
        registered(board, p)
    ids = [tasks(huey)["work"](n, 100).id for n in range(40)]
    assert wait_for(lambda: q.counts()["completed"] == 40, 30), dict(q.counts())
    by = collections.Counter((q.job(i).consumer or "").split("/")[0] for i in ids)
    assert set(by) == {f"{HOST}:{p.pid}" for p in procs}, by
    assert sorted(ints(redis_client, "executions")) == list(range(40))


# Periodic tasks --------------------------------------------------------------------------


#: The clock the consumer's scheduler sees in periodic tests: a minute when neither
#: ``every_quarter`` nor ``nightly`` is due, so only the test decides when they run.
QUIET_MINUTE = "2030-01-01T00:07:00"


def test_periodic_registry_run_now_and_pause(consumers: Consumers, huey: jobboard.RedisHuey,
                                             board: jobboard.Board, redis_client: redis.Redis) -> None:
    from huey.consumer import Scheduler

    q = board.queue("fault")
    proc = consumers.start("thread", workers=2, periodic=True, periodic_clock=QUIET_MINUTE)
    assert registered(board, proc).periodic
    quarter, nightly = T + "every_quarter", T + "nightly"
    found = wait_for(lambda: {p.name: p for p in board.periodic()}, 10)
    assert set(found) == {quarter, nightly}
    now = time.time()
    assert found[quarter].schedule == "*/15 * * * *"
    assert found[nightly].schedule == "0 1 * * *"
    nq, nn = found[quarter].next_run, found[nightly].next_run
    assert nq is not None and nn is not None
    nq_dt = dt.datetime.fromtimestamp(nq, dt.timezone.utc)
    nn_dt = dt.datetime.fromtimestamp(nn, dt.timezone.utc)
    assert now < nq <= now + 900 and nq_dt.minute % 15 == 0 and nq_dt.second == 0
    assert now < nn <= now + 86400 and (nn_dt.hour, nn_dt.minute, nn_dt.second) == (1, 0, 0)
    assert not found[quarter].paused

    # run now: queued at once, run by the consumer; last run and outcome recorded
    job = q.run_periodic(quarter)
    assert wait_for(lambda: state_of(q, job) == "completed", 15), consumers.logs()
    p = {p.name: p for p in q.periodic()}[quarter]
    assert (p.last_job_id, p.last_outcome) == (job, "completed")
    assert p.last_run is not None and abs(p.last_run - q.job(job).finished_at) < 0.01  # type: ignore[operator]
    assert q.job(job).periodic

    def runs_of(name: str) -> int:
        return ints_or_names(redis_client).count(name.rsplit(".", 1)[-1])

    # paused: the scheduler's own enqueue path skips it, the other task still goes
    q.pause_periodic(quarter)
    p = {p.name: p for p in q.periodic()}[quarter]
    assert p.paused and p.next_run is None
    before = (runs_of(quarter), runs_of(nightly))
    due = dt.datetime(2030, 1, 1, 1, 0)  # matches both crontabs
    Scheduler(huey, threading.Event(), 1, True).enqueue_periodic_tasks(due)
    assert wait_for(lambda: runs_of(nightly) == before[1] + 1, 15), consumers.logs()
    # The scheduler enqueued whatever it enqueues in that one call: once the queue is
    # drained, a run of the paused task would have happened already.
    assert wait_for(lambda: q.counts()["waiting"] + q.counts()["active"] == 0, 15)
    assert runs_of(quarter) == before[0]
    assert {p.name: p for p in q.periodic()}[nightly].last_outcome == "completed"

    # run now still works while paused
    job2 = q.run_periodic(quarter)
    assert wait_for(lambda: state_of(q, job2) == "completed", 15)
    assert runs_of(quarter) == before[0] + 1
    assert {p.name: p for p in q.periodic()}[quarter].paused

    # resumed: the scheduler path enqueues it again
    q.resume_periodic(quarter)
    assert not {p.name: p for p in q.periodic()}[quarter].paused
    Scheduler(huey, threading.Event(), 1, True).enqueue_periodic_tasks(due)
    assert wait_for(lambda: runs_of(quarter) >= before[0] + 2, 15), consumers.logs()


def ints_or_names(client: redis.Redis) -> list[str]:
    return [x.decode() for x in client.lrange("periodic_runs", 0, -1)]


def test_worker_process_killed_alone_is_recovered(consumers: Consumers, huey: jobboard.RedisHuey,
                                                  board: jobboard.Board,
                                                  redis_client: redis.Redis) -> None:
    """The OOM killer takes one worker process, not the consumer: the job's lease lapses,
    the consumer's own heartbeat puts it back, and the registry stops showing it as
    running on the dead worker."""
    q = board.queue("fault")
    proc = consumers.start("process", workers=2, lease_timeout=2)
    registered(board, proc)
    job = tasks(huey)["work"](9, 4000).id
    assert wait_for(lambda: state_of(q, job) == "active", 15)
    ck = huey.storage.keys.consumer(f"{HOST}:{proc.pid}")

    def worker_pid() -> int | None:
        for k, v in redis_client.hgetall(ck).items():
            if k.startswith(b"run:") and any(r[0] == job for r in json.loads(v)["jobs"]):
                return int(k[4:])
        return None
    pid = wait_for(worker_pid, 5)
    assert pid and pid != proc.pid
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: "stalled" in event_kinds(q, job), 15), consumers.logs()
    assert wait_for(lambda: state_of(q, job) == "completed", 20), consumers.logs()
    assert ints(redis_client, "started") == [9, 9] and ints(redis_client, "executions") == [9]
    # the consumer lives on; the dead worker's job is no longer listed as running
    entry = wait_for(lambda: next((c for c in q.consumers() if c.pid == proc.pid
                                     and not c.running), None), 10)
    assert entry is not None, q.consumers()
