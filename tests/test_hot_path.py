"""The consumer's hot path (issue 14): one round trip per job.

A worker's FINISH also takes its next job (scripts.FINISH); the job waits, leased, for
the worker's next dequeue. These tests run Huey's own consumer in threads of this process
and count the scripts' calls by wrapping them (the real call still goes to Redis).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from huey import signals as S

import jobboard
from tests.support import RunningConsumer, make_core_huey, wait_for


class Counted:
    """A registered script whose calls are counted (and still run)."""

    def __init__(self, script: Any, name: str, calls: Counter[str]) -> None:
        self.script, self.name, self.calls = script, name, calls

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls[self.name] += 1
        return self.script(*args, **kwargs)


def count_scripts(huey: jobboard.RedisHuey) -> Counter[str]:
    calls: Counter[str] = Counter()
    storage, tracker = huey.storage, huey.jobboard
    storage._scripts["DEQUEUE"] = Counted(storage._scripts["DEQUEUE"], "DEQUEUE", calls)
    tracker._scripts["FINISH"] = Counted(tracker._scripts["FINISH"], "FINISH", calls)
    # how a worker sends FINISH outside durable mode (connections.DirectScript)
    tracker._finish_direct = Counted(tracker._finish_direct, "FINISH", calls)  # type: ignore[assignment]
    return calls


@pytest.fixture
def huey(redis_url: str) -> Iterator[jobboard.RedisHuey]:
    h = make_core_huey(redis_url, lease_timeout=30)
    yield h
    hb = h.jobboard._heartbeat
    if hb is not None:
        hb.stop()


def test_one_round_trip_per_job(huey: jobboard.RedisHuey) -> None:
    """Draining 200 jobs with 2 workers: a FINISH per job, and a DEQUEUE only when a
    worker had nothing in hand (its first take, and after the queue ran dry)."""
    calls = count_scripts(huey)
    double = huey.test_tasks["double"]  # type: ignore[attr-defined]
    ids = [double(n).id for n in range(200)]
    q = jobboard.Board([huey]).queue(huey.name)
    running = RunningConsumer(huey, workers=2, periodic=False)
    try:
        assert wait_for(lambda: q.counts()["completed"] == 200, 30)
    finally:
        running.stop()
    assert calls["FINISH"] == 200
    # per worker: its first take, then one per wait that ran out (about 1 s each) while
    # the queue is empty; without the take in FINISH it would be one per job
    assert calls["DEQUEUE"] <= 10, calls
    assert {q.job(i).state for i in ids} == {"completed"}
    assert q.job(ids[-1]).result == "398"


def test_next_job_is_taken_by_the_end_of_the_previous_one(huey: jobboard.RedisHuey) -> None:
    """Right after a job's end (before the worker runs anything else) that end is
    recorded and the next job is active, leased to the same worker, with its lease kept
    fresh by the heartbeat like any job taken."""
    q = jobboard.Board([huey]).queue(huey.name)
    double = huey.test_tasks["double"]  # type: ignore[attr-defined]
    first, second = double(1), double(2)
    seen: dict[str, Any] = {}

    @huey.signal(S.SIGNAL_COMPLETE)
    def look(signal: str, task: Any) -> None:
        if task.id == first.id:  # Huey emits this after the post-execute hook (FINISH)
            seen["first"] = q.job(first.id)
            seen["second"] = q.job(second.id)
            seen["inflight"] = dict(huey.jobboard.inflight)

    running = RunningConsumer(huey, workers=1, periodic=False)
    try:
        assert wait_for(lambda: q.counts()["completed"] == 2, 20)
    finally:
        running.stop()
    assert seen["first"].state == "completed" and seen["first"].result == "2"
    nxt = seen["second"]
    assert nxt.state == "active" and nxt.attempt == 1
    assert nxt.consumer == seen["first"].consumer  # the same worker holds it
    assert second.id in seen["inflight"]  # extended by this process's heartbeat
    done = q.job(second.id)
    assert done.state == "completed" and done.attempt == 1 and done.stalls == 0
    assert "put back" not in [e.kind for e in done.events]


def test_worker_stopping_puts_its_held_job_back_unrun(huey: jobboard.RedisHuey) -> None:
    """A graceful stop between a job's end and the next dequeue: the job the end took is
    put back at the head of waiting at once (event "put back"), never run here, and the
    next consumer runs it."""
    q = jobboard.Board([huey]).queue(huey.name)
    double = huey.test_tasks["double"]  # type: ignore[attr-defined]
    first, second, third = double(1), double(2), double(3)
    ended, release = threading.Event(), threading.Event()

    @huey.signal(S.SIGNAL_COMPLETE)
    def hold(signal: str, task: Any) -> None:
        if task.id == first.id:
            ended.set()
            release.wait(10)

    running = RunningConsumer(huey, workers=1, periodic=False)
    stopper = threading.Thread(target=running.stop)  # a graceful stop waits for the worker
    try:
        assert ended.wait(10)
        assert q.job(second.id).state == "active"
        stopper.start()
        assert wait_for(running.consumer.stop_flag.is_set, 5)
    finally:
        release.set()
        if stopper.ident:
            stopper.join(10)
        else:
            running.stop()
    back = q.job(second.id)
    assert back.state == "waiting", back.state
    assert "put back" in [e.kind for e in back.events]
    waiting = huey.storage.conn.zrange(huey.storage.keys.state("waiting"), 0, -1)
    assert [w.decode() for w in waiting] == [second.id, third.id]  # next to run, as before
    assert q.job(first.id).state == "completed"
    assert second.id not in huey.jobboard.inflight

    again = RunningConsumer(huey, workers=1, periodic=False)
    try:
        assert wait_for(lambda: q.counts()["completed"] == 3, 20)
    finally:
        again.stop()
    assert q.job(second.id).result == "4"


# Bulk enqueue: one round trip per batch ---------------------------------------------------


def count_enqueues(huey: jobboard.RedisHuey) -> Counter[str]:
    calls: Counter[str] = Counter()
    storage = huey.storage
    storage._enqueue_script = Counted(storage._enqueue_script, "ENQUEUE", calls)  # type: ignore[assignment]
    storage._enqueue_many_script = Counted(storage._enqueue_many_script, "ENQUEUE_MANY",  # type: ignore[assignment]
                                           calls)
    return calls


def waiting_ids(huey: jobboard.RedisHuey) -> list[str]:
    return [w.decode() for w in huey.storage.conn.zrange(huey.storage.keys.state("waiting"), 0, -1)]


def test_map_enqueues_1000_per_round_trip(huey: jobboard.RedisHuey) -> None:
    calls = count_enqueues(huey)
    signalled: list[str] = []
    huey.signal(S.SIGNAL_ENQUEUED)(lambda signal, task: signalled.append(task.id))
    double = huey.test_tasks["double"]  # type: ignore[attr-defined]
    results = double.map(range(2500))
    assert calls == {"ENQUEUE_MANY": 3}  # 1,000 + 1,000 + 500, no one-by-one ENQUEUE
    ids = [r.task.id for r in results]
    assert len(set(ids)) == 2500 and signalled == ids
    assert waiting_ids(huey) == ids  # first in, first out, as if enqueued one by one
    q = jobboard.Board([huey]).queue(huey.name)
    assert q.counts()["waiting"] == 2500
    job = q.job(ids[1234])
    assert (job.state, job.short_task, job.args) == ("waiting", "double", "1234")
    assert q.metrics("1h").totals.enqueued == 2500  # the per-batch counter adds up


def test_enqueue_many_is_enqueue_of_each(huey: jobboard.RedisHuey) -> None:
    """Eta, pipelines, priorities, a repeated id, a group (sent on its own, in its place):
    as ``enqueue`` of each task would make them."""
    t = huey.test_tasks  # type: ignore[attr-defined]
    q = jobboard.Board([huey]).queue(huey.name)
    from huey.api import group

    later = t["double"].s(1, delay=3600)
    chain = t["double"].s(2).then(t["double"])
    urgent = t["double"].s(3, priority=5)
    same = t["double"].s(4, id="same")
    grouped = group([t["double"].s(5), t["double"].s(6)])
    results = huey.enqueue_many([later, chain, urgent, same, t["double"].s(9, id="same"), grouped])
    assert len(results) == 6
    assert q.job(later.id).state == "waiting" and q.job(later.id).scheduled_for  # as in Huey
    assert q.job(chain.id).children == [chain.on_complete.id]
    assert q.job("same").args == "4"  # the second add of a pending id queues nothing
    assert waiting_ids(huey)[0] == urgent.id  # the higher priority runs first
    assert q.counts()["waiting"] == 6 and q.counts()["scheduled"] == 0

    running = RunningConsumer(huey, workers=2, periodic=False)
    try:
        assert wait_for(lambda: q.counts()["completed"] == 6, 20), dict(q.counts())
        # the job due later: taken, and put in the schedule by Huey's execute()
        assert wait_for(lambda: q.job(later.id).state == "scheduled", 10)
    finally:
        running.stop()
    assert results[1] == [4, 8]  # ResultGroup[i] gets the result: the pipeline's two
    assert q.job(urgent.id).result == "6"


def test_a_batch_that_cannot_be_built_queues_nothing(huey: jobboard.RedisHuey) -> None:
    double = huey.test_tasks["double"]  # type: ignore[attr-defined]
    with pytest.raises(Exception):  # noqa: B017 - pickle's error, whatever its class
        double.map([1, 2, lambda: 3, 4])  # the third cannot be pickled
    assert huey.pending_count() == 0
    assert jobboard.Board([huey]).queue(huey.name).counts().total == 0


def test_bulk_enqueue_wakes_blocked_workers(huey: jobboard.RedisHuey,
                                            redis_client: Any) -> None:
    """A batch pushes a wake token per waiting job (up to 8), so every blocked worker
    starts at once: with a 30 s wait, one token would leave two workers asleep."""
    from tests.support import blocked_clients

    wake = huey.storage.keys.wake
    huey.test_tasks["double"].map(range(3))  # type: ignore[attr-defined]
    assert redis_client.llen(wake) == 3
    huey.test_tasks["double"].map(range(30))  # type: ignore[attr-defined]
    assert redis_client.llen(wake) == 8  # what blocked consumers can take, no more
    huey.storage.flush_all()

    q = jobboard.Board([huey]).queue(huey.name)
    huey.storage.read_timeout = 30
    running = RunningConsumer(huey, workers=3, periodic=False)
    try:
        assert wait_for(lambda: blocked_clients(redis_client) >= 3, 10)
        huey.test_tasks["slow"].map([1500] * 3)  # type: ignore[attr-defined]
        assert wait_for(lambda: q.counts()["active"] == 3, 10), dict(q.counts())
        assert len({j.consumer for j in q.jobs("active").jobs}) == 3
    finally:
        running.consumer.stop_flag.set()
        q.resume()  # wake tokens: the workers see the stop flag instead of waiting 30 s
        running.stop()


def test_core_enqueue_many_checks_all_then_sends_one_batch(huey: jobboard.RedisHuey,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    board = jobboard.Board([huey])
    calls: Counter[str] = Counter()
    script = board.script
    monkeypatch.setattr(board, "script", lambda name: Counted(script(name), name, calls))
    q = board.queue(huey.name)
    with pytest.raises(jobboard.errors.InvalidArgument):
        q.enqueue_many([{"task": "double", "args": (1,)}, {"task": "double", "priority": 10**6}])
    with pytest.raises(jobboard.errors.TaskNotFound):
        q.enqueue_many([{"task": "double", "args": (1,)}, {"task": "nope"}])
    assert not calls and q.counts().total == 0
    jobs = [{"task": "double", "args": (i,), "job_id": f"n{i}"} for i in range(1500)]
    done = q.enqueue_many(jobs)
    assert calls == {"ENQUEUE_MANY": 2}
    assert done[:2] == [("n0", True), ("n1", True)] and all(new for _, new in done)
    again = q.enqueue_many(jobs[:3] + [{"task": "double", "args": (7,)}])
    assert [new for _, new in again] == [False, False, False, True]
    assert q.counts()["waiting"] == 1501


def test_api_bulk_submit_is_one_round_trip(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import API, auth, make_app, make_huey

    app = make_app(make_huey(redis_url))
    board = app.extensions["jobboard"].board
    calls: Counter[str] = Counter()
    script = board.script
    monkeypatch.setattr(board, "script", lambda name: Counted(script(name), name, calls))
    client = app.test_client()
    jobs = [{"task": "add", "args": [i, 1], "id": f"bulk-{i}"} for i in range(1000)]
    resp = client.post(f"{API}/queues/emails/jobs/bulk", headers=auth("operator"), json={"jobs": jobs})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert (body["created"], body["existing"]) == (1000, 0)
    assert calls == {"ENQUEUE_MANY": 1}
    assert body["jobs"][7] == {"id": "bulk-7", "queue": "emails", "task": "add", "created": True,
                               "url": f"{API}/queues/emails/jobs/bulk-7"}
    again = client.post(f"{API}/queues/emails/jobs/bulk", headers=auth("operator"),
                        json={"jobs": jobs[:10]})
    assert again.status_code == 200 and again.get_json()["existing"] == 10  # idempotent ids
    assert board.queue("emails").counts()["waiting"] == 1000


# Revoke flags: read by a take only once the queue may have any ------------------------------


def test_revoke_flags_are_read_once_the_queue_has_any(huey: jobboard.RedisHuey,
                                                      redis_client: Any) -> None:
    """Without Huey revoke flags a take skips reading them (the ``rv`` marker is absent);
    revoke_by_id sets the marker before the flag, so a revoked job is still skipped."""
    q = jobboard.Board([huey]).queue(huey.name)
    double = huey.test_tasks["double"]  # type: ignore[attr-defined]
    marker = huey.storage.keys.revokes
    first = double(1)
    running = RunningConsumer(huey, workers=1, periodic=False)
    try:
        assert wait_for(lambda: q.job(first.id).state == "completed", 10)
        assert not redis_client.exists(marker)
        doomed = double.s(2)
        huey.revoke_by_id(doomed.id)  # Huey's own revoke flag, before the job is queued
        assert redis_client.exists(marker)
        huey.enqueue(doomed)
        after = double(3)
        assert wait_for(lambda: q.job(after.id).state == "completed", 10)
        assert q.job(doomed.id).state == "revoked"
    finally:
        running.stop()


def test_flags_from_before_the_marker_are_found_at_consumer_start(
        huey: jobboard.RedisHuey, redis_client: Any, redis_url: str) -> None:
    """A flag an older jobboard wrote (no marker): the consumer's start looks for such
    flags once (HSCAN) and keeps the marker, so the revoked job is not run."""
    q = jobboard.Board([huey]).queue(huey.name)
    double = huey.test_tasks["double"]  # type: ignore[attr-defined]
    old = double(1)
    redis_client.hset(huey.storage.keys.results, f"r:{old.id}",
                      huey.serializer.serialize((None, False)))  # as Huey's revoke() writes it
    assert not redis_client.exists(huey.storage.keys.revokes)
    running = RunningConsumer(huey, workers=1, periodic=False)
    try:
        assert wait_for(lambda: q.job(old.id).state == "revoked", 10)
    finally:
        running.stop()
    assert redis_client.exists(huey.storage.keys.base + "rvscan")
    # a queue without old flags: the scan finds none and drops the marker it set meanwhile
    other = make_core_huey(redis_url, name="other")
    other.storage.check_old_revoke_flags()
    assert not redis_client.exists(other.storage.keys.revokes)
    assert redis_client.exists(other.storage.keys.base + "rvscan")
