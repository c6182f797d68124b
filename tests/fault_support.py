"""Support for the fault suite (tests/test_faults.py): Redis servers that can be
restarted, stopped and starved, ``huey_consumer`` subprocesses, and the one measuring
helper every case ends with (:func:`assess`).

Nothing here is mocked: ``FaultRedis`` is a real ``redis-server`` child process (a
``jobboard.redis_server.RedisServer`` with a longer command line), consumers are real
``huey_consumer`` processes running ``tests.fault_tasks``. The tasks keep their own
bookkeeping in a second redis-server that is never faulted (``side``), so "which job
bodies ran, how often" survives whatever is done to jobboard's Redis.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

import jobboard
from jobboard.records import PENDING_STATES, STATES
from jobboard.redis_server import RedisServer, find_redis_server
from tests import fault_tasks

ROOT = Path(__file__).resolve().parent.parent
HOST = socket.gethostname()
QUEUE = fault_tasks.QUEUE
T = "tests.fault_tasks."  # task name prefix


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll until predicate() is truthy; returns its last value (falsy on timeout).
    Redis errors while polling count as "not yet" (the server may be coming back)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# Redis --------------------------------------------------------------------------------


class FaultRedis(RedisServer):
    """A redis-server child that can be crashed, restarted on the same port and data
    folder, frozen (SIGSTOP) and reconfigured.

    ``aof=True``: ``appendonly yes`` + ``appendfsync always`` (nothing acknowledged is
    lost by a crash). ``extra``: more ``--option value`` pairs."""

    def __init__(self, data_dir: str | os.PathLike[str], port: int | None = None,
                 aof: bool = False, extra: Iterable[str] = ()) -> None:
        super().__init__(data_dir=data_dir, port=port, persist=aof)
        self.aof = aof
        self.extra = list(extra)
        self.frozen = False

    def args(self) -> list[str]:
        args = [find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.data_dir), "--daemonize", "no", "--protected-mode", "yes",
                "--loglevel", "warning", "--databases", "16", "--save", ""]
        if self.aof:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        return args + self.extra

    def start(self, timeout: float = 15.0) -> FaultRedis:
        super().start(timeout)  # RedisServer.start, with this class's args()
        return self

    def crash(self) -> None:
        """SIGKILL: no shutdown, no last write."""
        self.cont()
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self.process = None

    def shutdown(self) -> None:
        """SIGTERM: Redis's own shutdown (AOF flushed; nothing saved without AOF)."""
        self.cont()
        assert self.process is not None
        self.process.terminate()
        self.process.wait(10)
        self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self.frozen = True

    def cont(self) -> None:
        if self.frozen and self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)
        self.frozen = False

    def stop(self) -> None:
        self.cont()
        super().stop()

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db)


# Consumers ----------------------------------------------------------------------------


class Consumers:
    """``huey_consumer`` subprocesses running ``tests.fault_tasks.huey``, each in a session
    of its own (a signal to its process group reaches its process workers too). All are
    SIGKILLed at :meth:`close`, whatever the test did."""

    def __init__(self, redis_url: str, side_url: str, logdir: Path) -> None:
        self.redis_url = redis_url
        self.side_url = side_url
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []
        self._n = 0

    def start(self, kind: str = "thread", workers: int = 2, lease_timeout: float = 30,
              periodic: bool = False, max_stalls: int = 5) -> subprocess.Popen[bytes]:
        env = dict(os.environ, FAULT_REDIS_URL=self.redis_url, FAULT_SIDE_URL=self.side_url,
                   LEASE_TIMEOUT=str(lease_timeout), MAX_STALLS=str(max_stalls),
                   PYTHONPATH=str(ROOT))
        cmd = [sys.executable, "-m", "huey.bin.huey_consumer", "tests.fault_tasks.huey",
               "-k", kind, "-w", str(workers), "-d", "0.05", "-m", "0.5"]
        if not periodic:
            cmd.append("-n")
        self._n += 1
        with open(self.logdir / f"consumer-{self._n}-{kind}.log", "wb") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs.append(proc)
        return proc

    @staticmethod
    def signal(proc: subprocess.Popen[bytes], sig: int) -> None:
        """Send ``sig`` to the consumer and its process workers (its process group)."""
        os.killpg(proc.pid, sig)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
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

    def logs(self, lines: int = 25) -> str:
        """The consumers' warnings and errors (the last ``lines`` of each log)."""
        out = []
        for f in sorted(self.logdir.glob("consumer-*.log")):
            text = f.read_text(errors="replace").splitlines()
            picked = [x for x in text if re.search(r"ERROR|WARNING|Error|jobboard", x)]
            out.append(f"--- {f.name}\n" + "\n".join(picked[-lines:]))
        return "\n".join(out)


def consumer_id(proc: subprocess.Popen[bytes]) -> str:
    return f"{HOST}:{proc.pid}"


def registered(q: jobboard.Queue, proc: subprocess.Popen[bytes], timeout: float = 20) -> Any:
    """Wait until the consumer's registry entry shows up (it is ready to take jobs)."""
    entry = wait_until(lambda: next((c for c in q.consumers() if c.pid == proc.pid), None), timeout)
    assert entry is not None, f"consumer {proc.pid} did not register"
    return entry


# The side Redis's bookkeeping ------------------------------------------------------------


def counter(side: redis.Redis, key: str) -> collections.Counter[str]:
    return collections.Counter({k.decode(): int(v) for k, v in side.hgetall(key).items()})


def start_order(side: redis.Redis, pid: int | None = None) -> list[str]:
    """Job ids in the order their bodies began (only those begun in process ``pid``)."""
    out = []
    for item in side.lrange("order", 0, -1):
        p, job_id = item.decode().split("|", 1)
        if pid is None or int(p) == pid:
            out.append(job_id)
    return out


# jobboard's keys, read directly (to check the core API against) --------------------------


@dataclass
class Census:
    """What the queue's record keys hold, grouped by their ``st`` field."""

    by_state: collections.Counter[str]
    ghosts: list[str]      # a record whose id is not in the set of its state
    wrong_type: list[str]  # a record key that is not a hash
    orphans: list[str]     # a message without a record, or a pending record without its message
    states: dict[str, str]  # id -> st


def census(client: redis.Redis, queue: str = QUEUE, prefix: str = "jb") -> Census:
    base = f"{prefix}:{{{queue}}}:"
    rec_ids = [k.decode()[len(base) + 2:] for k in client.scan_iter(match=base + "j:*", count=500)]
    msg_ids = {k.decode()[len(base) + 2:] for k in client.scan_iter(match=base + "m:*", count=500)}
    pipe = client.pipeline(transaction=False)
    for i in rec_ids:
        pipe.type(base + "j:" + i)
    types = pipe.execute()
    hashes = [i for i, t in zip(rec_ids, types) if t == b"hash"]
    wrong = [i for i, t in zip(rec_ids, types) if t != b"hash"]
    pipe = client.pipeline(transaction=False)
    for i in hashes:
        pipe.hget(base + "j:" + i, "st")
    states = {i: (st.decode() if st else "") for i, st in zip(hashes, pipe.execute())}
    pipe = client.pipeline(transaction=False)
    for i, st in states.items():
        pipe.zscore(base + st, i) if st in STATES else pipe.echo("x")
    ghosts = [i for (i, st), score in zip(states.items(), pipe.execute())
              if st not in STATES or score is None]
    orphans = sorted((msg_ids - set(rec_ids)) |
                     {i for i, st in states.items() if st in PENDING_STATES and i not in msg_ids})
    return Census(collections.Counter(states.values()), ghosts, wrong, orphans, states)


def drift(counts: Mapping[str, int], c: Census) -> int:
    """Sum over states of |counts() - records in that state| (records with no known state
    count as drift too)."""
    d = sum(abs(int(counts[s]) - c.by_state.get(s, 0)) for s in STATES)
    return d + sum(n for s, n in c.by_state.items() if s not in STATES) + len(c.wrong_type)


# The measuring helper -------------------------------------------------------------------


@dataclass
class Report:
    fault: str
    enqueued: int
    ran: int
    completed: int
    lost: int
    duplicates: int
    jb_duplicates: int | None
    drift: int
    recover_s: float
    restarts: int = 0
    ghosts: int = 0
    orphans: int = 0
    active: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        tail = "".join(f" {k}={v}" for k, v in self.extra.items())
        return (f"fault={self.fault} enqueued={self.enqueued} ran={self.ran} "
                f"completed={self.completed} lost={self.lost} duplicates={self.duplicates} "
                f"drift={self.drift} recover_s={self.recover_s:.1f} "
                f"jb_duplicates={self.jb_duplicates} restarts={self.restarts} "
                f"ghosts={self.ghosts} orphans={self.orphans} active={self.active}{tail}")


REPORTS_FILE = ROOT / "test-artifacts" / "faults.jsonl"


def assess(fault: str, q: jobboard.Queue, side: redis.Redis, enqueued: Iterable[str], *,
           fault_over: float, timeout: float, expected: Mapping[str, str] | None = None,
           not_run: Iterable[str] = (), expect_duplicates: int | None = None,
           dup_rule: str = "equal", logs: Callable[[], str] | None = None,
           extra: Mapping[str, Any] | None = None) -> Report:
    """Wait (up to ``timeout`` s after ``fault_over``, a ``time.monotonic()``) until every
    job of ``enqueued`` reached its expected final state (``expected[id]``, default
    ``completed``), then measure and assert every invariant of issue 11's "Must show":

    - jobs enqueued = jobs whose body ran at least once (side Redis ``ran``), except the
      ids of ``not_run`` (jobs that must not run, e.g. an undecodable message);
    - 0 lost: every enqueued job is in its expected state;
    - no job active once the fault is over and the jobs are done (``counts()["active"]``);
    - ``counts()`` equal to the records present in each state (records scanned with SCAN
      and grouped by ``st``); no ghost record (in no set), no half-written job;
    - duplicates: bodies that ran more than once (side Redis) against jobboard's own
      count of duplicate runs (``q.totals().duplicates``). ``dup_rule="equal"``: every
      extra body that reached its end was reported by an end jobboard must count (no
      process died); ``"at_most"``: jobboard counts no more than ran (processes were
      killed, so some extra runs never reported an end). ``expect_duplicates`` pins the
      number of extra body runs.

    Prints the summary line, appends it to test-artifacts/faults.jsonl and raises one
    AssertionError listing every problem found."""
    ids = list(dict.fromkeys(enqueued))
    expected = dict(expected or {})
    want = {i: expected.get(i, "completed") for i in ids}
    must_run = [i for i in ids if i not in set(not_run)]

    def states() -> dict[str, str]:
        pipe = q.redis.pipeline(transaction=False)
        for i in ids:
            pipe.hget(q.keys.record(i), "st")
        return {i: (s.decode() if s else "") for i, s in zip(ids, pipe.execute())}

    def done() -> bool:
        return states() == want

    finished = wait_until(done, max(0.0, fault_over + timeout - time.monotonic()), 0.05)
    recover_s = time.monotonic() - fault_over
    problems: list[str] = []
    if not finished:
        got = collections.Counter(states().values())
        problems.append(f"jobs not in their expected state {timeout:.0f} s after the fault: "
                        f"{dict(got)} (want {dict(collections.Counter(want.values()))})")

    st = states()
    ran = counter(side, "ran")
    started = counter(side, "started")
    ran_ids = [i for i in must_run if ran[i] >= 1]
    never = [i for i in must_run if ran[i] == 0]
    if never:
        problems.append(f"{len(never)} enqueued jobs never ran their body: {never[:5]}")
    wrongly_ran = [i for i in not_run if ran[i] or started[i]]
    if wrongly_ran:
        problems.append(f"jobs that must not run did: {wrongly_ran[:5]}")
    lost = [i for i in ids if st[i] != want[i]]
    if lost:
        problems.append(f"{len(lost)} lost (not in their expected state): "
                        + ", ".join(f"{i}={st[i] or 'no record'}" for i in lost[:5]))
    duplicates = sum(n - 1 for i, n in ran.items() if i in set(ids) and n > 1)
    restarts = sum(n - 1 for i, n in started.items() if i in set(ids) and n > 1)
    completed = sum(1 for i in ids if st[i] == "completed")

    counts = q.counts()
    if counts["active"]:
        problems.append(f"{counts['active']} jobs still active after the fault: "
                        f"{[j.id for j in q.jobs('active', limit=10).jobs]}")
    c = census(q.redis, q.name, q.board.prefix)
    d = drift(counts, c)
    if d:
        problems.append(f"counts() { {s: counts[s] for s in STATES if counts[s]} } != records "
                        f"{dict(c.by_state)} (wrong-typed record keys: {c.wrong_type[:5]})")
    if c.ghosts:
        problems.append(f"{len(c.ghosts)} ghost records (their id is in no set of their state): "
                        + ", ".join(f"{i}={c.states.get(i)}" for i in c.ghosts[:5]))
    if c.orphans:
        problems.append(f"{len(c.orphans)} half-written jobs (message without record or pending "
                        f"record without message): {c.orphans[:5]}")

    try:
        jb_dups: int | None = int(q.totals().duplicates)  # type: ignore[attr-defined]
    except AttributeError:
        jb_dups = None
        problems.append("Queue.totals() has no 'duplicates' (jobboard's duplicate-run metric)")
    if expect_duplicates is not None and duplicates != expect_duplicates:
        problems.append(f"bodies ran {duplicates} extra times, expected {expect_duplicates}")
    if jb_dups is not None:
        if dup_rule == "equal" and jb_dups != duplicates:
            problems.append(f"jobboard counts {jb_dups} duplicate runs, bodies ran {duplicates} extra times")
        if dup_rule == "at_most" and jb_dups > duplicates:
            problems.append(f"jobboard counts {jb_dups} duplicate runs, bodies ran only {duplicates} extra times")

    report = Report(fault=fault, enqueued=len(ids), ran=len(ran_ids), completed=completed,
                    lost=len(lost), duplicates=duplicates, jb_duplicates=jb_dups, drift=d,
                    recover_s=recover_s, restarts=restarts, ghosts=len(c.ghosts),
                    orphans=len(c.orphans), active=int(counts["active"]),
                    extra=dict(extra or {}), problems=problems)
    print("\n" + report.line(), flush=True)
    try:
        REPORTS_FILE.parent.mkdir(exist_ok=True)
        with REPORTS_FILE.open("a") as f:
            f.write(json.dumps({**{k: v for k, v in vars(report).items() if k != "extra"},
                                **report.extra, "at": time.time()}) + "\n")
    except OSError:
        pass
    if problems:
        raise AssertionError(f"fault={fault}:\n  - " + "\n  - ".join(problems)
                             + (f"\n{logs()}" if logs and not finished else ""))
    return report

