"""jobboard as a drop-in Huey (issue 12): what a Huey user relies on keeps working.

Huey's own test suite runs against jobboard in tests/huey_upstream/; these are the
behaviours that suite does not pin down, or that jobboard decided (docs/huey-compatibility.md).
"""

from __future__ import annotations

import threading
from typing import Any

import huey as huey_lib
import redis
from flask import Flask
from huey import signals as S

import jobboard
from jobboard.redis_server import free_port
from tests.support import make_core_huey

DEAD_REDIS = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens here


def test_it_is_a_huey_redis_class() -> None:
    h = jobboard.RedisHuey("types", url=DEAD_REDIS)
    assert isinstance(h, huey_lib.RedisHuey) and isinstance(h, huey_lib.PriorityRedisHuey)


def test_immediate_mode_runs_in_memory_without_redis() -> None:
    h = jobboard.RedisHuey("imm", url=DEAD_REDIS, immediate=True)

    @h.task()
    def add(a: int, b: int) -> int:
        assert jobboard.progress(50, "half") is False  # harmless: nothing to report to
        assert jobboard.log("line") is False
        return a + b

    assert add(1, 2)() == 3
    assert add.schedule((2, 3), delay=0)() == 5
    assert type(h.storage).__name__ == "MemoryStorage"


def test_immediate_mode_switches_on_and_off_at_any_time(redis_url: str) -> None:
    h = make_core_huey(redis_url, name="switch")
    q = jobboard.Board([h]).queue("switch")
    double = h.test_tasks["double"]
    client = redis.Redis.from_url(redis_url)
    double(1)
    assert q.counts()["waiting"] == 1
    h.immediate = True
    client.config_resetstat()
    assert double(2)() == 4  # ran in memory
    stats = {k: v for k, v in client.info("commandstats").items()
             if not k.startswith(("cmdstat_config", "cmdstat_info"))}
    assert stats == {}  # not one command reached Redis
    h.immediate = False
    assert h.storage is h.jobboard.storage
    double(3)
    assert q.counts()["waiting"] == 2  # tracked again, in the queue consumers read


def test_track_accepts_an_immediate_huey(redis_url: str) -> None:
    h = jobboard.track(huey_lib.RedisHuey("trackedimm", url=redis_url, immediate=True))

    @h.task()
    def mul(a: int, b: int) -> int:
        return a * b

    assert mul(3, 4)() == 12
    h.immediate = False
    mul(5, 6)
    assert jobboard.Board([h]).queue("trackedimm").counts()["waiting"] == 1


def test_a_tracked_redis_expire_huey_keeps_its_results_ttl_and_read_semantics(redis_url: str) -> None:
    h = jobboard.track(huey_lib.RedisExpireHuey("exp", url=redis_url, expire_time=60))

    @h.task()
    def double(n: int) -> int:
        return n * 2

    res = double(21)
    h.execute(h.dequeue())
    assert res() == 42 and res(preserve=False) == 42  # a read does not delete it
    key = h.storage.result_key(res.id)
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.ttl(key) <= 60  # and it expires
    assert key.startswith(h.jobboard.keys.base.encode())  # in the queue's slot
    assert jobboard.Board([h]).queue("exp").job(res.id).state == "completed"


def test_a_flask_apps_unit_tests_run_in_immediate_mode_without_redis() -> None:
    """The usual way: the app's tests turn immediate mode on; no Redis anywhere."""
    h = jobboard.RedisHuey("app-tasks", url=DEAD_REDIS, immediate=True)
    sent: list[str] = []

    @h.task()
    def send_confirmation(to: str) -> str:
        jobboard.progress(10)
        sent.append(to)
        return f"sent to {to}"

    app = Flask("clinic")

    @app.post("/book")
    def book() -> dict[str, Any]:
        result = send_confirmation("ana@example.com")
        return {"status": "booked", "email": result()}

    res = app.test_client().post("/book")
    assert res.status_code == 200 and res.get_json() == {"status": "booked",
                                                         "email": "sent to ana@example.com"}
    assert sent == ["ana@example.com"]


def test_the_same_id_twice_while_pending_is_one_job_that_the_record_describes(redis_url: str) -> None:
    h = make_core_huey(redis_url, name="ids")
    q = jobboard.Board([h]).queue("ids")
    double = h.test_tasks["double"]
    h.enqueue(double.s(1, id="fixed"))
    h.enqueue(double.s(2, id="fixed"))  # a no-op: the first one is still waiting
    assert q.counts()["waiting"] == 1 and q.job("fixed").args == "1"
    task = double.s(3)
    h.enqueue(task)
    h.enqueue(task)  # the same Task object twice: one job
    assert q.counts()["waiting"] == 2
    taken = [h.dequeue() for _ in range(2)]
    for t in taken:
        h.execute(t)
    assert q.job("fixed").result == "2" and h.result("fixed") == 2
    # Finished, it can be added again: it runs again with the new call's arguments.
    h.enqueue(double.s(10, id="fixed"))
    rec = q.job("fixed")
    assert rec.state == "waiting" and rec.args == "10" and rec.result is None
    h.execute(h.dequeue())
    assert q.job("fixed").result == "20"


def test_results_follow_the_jobs_retention(redis_url: str) -> None:
    h = make_core_huey(redis_url, name="res", retention={"completed": (0, 5)})
    double = h.test_tasks["double"]
    ids = [double(i).id for i in range(20)]
    for _ in ids:
        h.execute(h.dequeue())
    client = redis.Redis.from_url(redis_url)
    stored = client.hlen(h.jobboard.keys.results)
    assert stored <= 5 + 16  # trimmed with the records (at most 16 per finish)
    q = jobboard.Board([h]).queue("res")
    assert q.counts()["completed"] == stored
    assert h.result(ids[-1]) == 38  # Huey's read-once result of a retained job
    assert h.result(ids[-1]) is None


def test_flush_leaves_nothing_of_the_queues_jobs(redis_url: str) -> None:
    h = make_core_huey(redis_url, name="flush")
    double = h.test_tasks["double"]
    for i in range(3):
        double(i)
    double.schedule((9,), delay=600)
    h.execute(h.dequeue())
    h.flush()
    q = jobboard.Board([h]).queue("flush")
    assert q.counts().total == 0
    client = redis.Redis.from_url(redis_url)
    left = {k.decode().split(":", 2)[2] for k in client.scan_iter(h.jobboard.keys.base + "*")}
    assert not {k for k in left if k.split(":")[0] in ("j", "m", "e", "l", "v", "results")}, left


def test_restore_of_the_job_just_taken_is_honoured(redis_url: str) -> None:
    h = make_core_huey(redis_url, name="revoke")
    double = h.test_tasks["double"]
    result = double(4)
    assert h.restore_by_id(result.id) is False  # never revoked
    h.revoke_by_id(result.id)
    seen: list[str] = []
    h.signal(S.SIGNAL_REVOKED)(lambda signal, task: seen.append(task.id))

    def work() -> None:
        task = h.dequeue()  # DEQUEUE read the revoke flag along with the job
        assert h.restore_by_id(task.id) is True
        h.execute(task)

    t = threading.Thread(target=work)
    t.start()
    t.join(10)
    assert seen == [] and result() == 8
    assert jobboard.Board([h]).queue("revoke").job(result.id).state == "completed"


def test_opaque_arguments_are_accepted_as_huey_accepts_them(redis_url: str) -> None:
    h = make_core_huey(redis_url, name="opaque")
    double = h.test_tasks["double"]
    res = double.schedule(3, delay=60)  # args not a tuple: Huey accepts it at enqueue
    q = jobboard.Board([h]).queue("opaque")
    job = q.job(res.id)
    # waiting with its eta, as in Huey's queue, until a consumer's take schedules it
    assert job.args == "3" and job.state == "waiting" and job.scheduled_for


def _signals_of_a_workload(h: Any) -> dict[str, int]:
    """Run a small mixed workload on an in-process consumer; count the signals Huey sent."""
    from collections import Counter

    from tests.support import running_consumers, wait_for

    seen: Counter[str] = Counter()
    lock = threading.Lock()
    failed_once: set[int] = set()
    done: list[int] = []

    @h.signal()
    def count(signal: str, task: Any, *args: Any) -> None:
        with lock:
            seen[signal] += 1

    @h.task(retries=1, retry_delay=1)
    def work(n: int) -> int:
        if n % 4 == 3 and n not in failed_once:  # fails once, then succeeds on its retry
            failed_once.add(n)
            raise ValueError(n)
        done.append(n)
        return n

    with running_consumers([h], workers=2):
        for n in range(6):
            work(n)
        for n in range(6, 8):
            work.schedule((n,), delay=1)
        assert wait_for(lambda: len(done) == 8, 30)
    return dict(seen)


def test_signals_are_the_ones_huey_sends(redis_url: str) -> None:
    plain = huey_lib.PriorityRedisHuey("signals", url=redis_url)
    tracked = jobboard.RedisHuey("signals2", url=redis_url)
    expected, got = _signals_of_a_workload(plain), _signals_of_a_workload(tracked)
    assert got == expected
    # 2 eta jobs and 2 retries (n = 3, 7) scheduled; 8 enqueued, then the same 4 when due
    assert expected[S.SIGNAL_SCHEDULED] == 4 and expected[S.SIGNAL_ENQUEUED] == 8 + 4


def test_a_job_due_later_waits_like_hueys_and_runs_once_when_due(redis_url: str) -> None:
    """An eta job sits in Huey's queue (len, pending) until a consumer's take hands it to
    Huey's execute(), which schedules it: that take is no attempt and no metrics' take;
    the one run, when due, is attempt 1. jobboard's own API schedules it at once."""
    from tests.support import running_consumers, wait_for

    h = make_core_huey(redis_url, name="later")
    double = h.test_tasks["double"]
    scheduled: list[str] = []
    h.signal(S.SIGNAL_SCHEDULED)(lambda signal, task, *a: scheduled.append(task.id))
    res = double.schedule((4,), delay=1.5)
    q = jobboard.Board([h]).queue("later")
    assert len(h) == 1 and h.scheduled_count() == 0 and [t.id for t in h.pending()] == [res.id]
    assert q.job(res.id).state == "waiting"
    api_id, _ = q.enqueue("tests.support.double", [5], delay=60)  # the Board's API
    assert q.job(api_id).state == "scheduled" and len(h) == 1 and h.scheduled_count() == 1
    with running_consumers([h], workers=1, periodic=True):
        assert wait_for(lambda: q.job(res.id).state == "scheduled", 10)
        job = q.job(res.id)
        assert job.attempt == 0 and job.consumer is None and scheduled == [res.id]
        assert wait_for(lambda: q.job(res.id).state == "completed", 15)
    job = q.job(res.id)
    assert job.attempt == 1 and job.result == "8" and scheduled == [res.id]
    assert q.job(api_id).state == "scheduled"
    h.jobboard.flush_counters()
    # one take in the wait histogram (the run's), not two: the scheduling take is none
    import time
    r = redis.Redis.from_url(redis_url)
    minute = int(time.time() // 60)
    takes = sum(int(v) for m in (minute - 1, minute)
                for k, v in r.hgetall(q.keys.minute(m)).items() if k.startswith(b"w:"))
    assert takes == 1
