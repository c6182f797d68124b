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
