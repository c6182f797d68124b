"""The core tracking layer against a real Redis and a real Huey consumer."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import redis

import jobboard
from jobboard import compact
from jobboard.board import Board, percentiles
from jobboard.records import STATES
from tests.support import blocked_clients, make_core_huey, running_consumers, wait_for


def test_thousand_jobs_end_to_end_with_retries_retention_and_retry_all(redis_url: str,
                                                                       redis_client: redis.Redis) -> None:
    huey = make_core_huey(redis_url, retention={"completed": (None, 800)})
    t = huey.test_tasks
    ok_ids = [t["double"](i).id for i in range(900)]
    bad_ids = [t["flaky"](i).id for i in range(100)]
    board = Board([huey])
    q = board.queue("core")
    assert q.counts()["waiting"] == 1000

    with running_consumers([huey], workers=4):
        assert wait_for(lambda: q.counts()["failed"] == 100 and q.counts()["completed"] == 800, 60)

    counts = q.counts()
    # retention: exactly 800 of the 900 completed jobs are kept, the oldest trimmed as jobs finished
    assert counts["completed"] == 800
    assert counts["failed"] == 100
    assert counts["waiting"] == counts["active"] == counts["scheduled"] == 0
    kept = {j for j in ok_ids if redis_client.exists(q.keys.record(j))}
    assert len(kept) == 800
    trimmed = next(j for j in ok_ids if j not in kept)
    with pytest.raises(jobboard.JobNotFound):
        q.job(trimmed)
    # a trimmed job leaves nothing behind
    assert not redis_client.exists(q.keys.message(trimmed), q.keys.events(trimmed))

    done = q.job(next(iter(kept)))
    n = ok_ids.index(done.id)
    assert done.state == "completed" and done.result == repr(n * 2) and done.args == repr(n)
    assert done.attempt == 1 and done.run_ms is not None and done.wait_ms is not None
    assert done.consumer and "/Worker-" in done.consumer
    assert not done.has_message  # completed jobs drop their message

    failed = q.job(bad_ids[7])
    assert failed.state == "failed" and failed.attempt == 3
    assert [a.error_class for a in failed.attempts] == ["ValueError"] * 3
    assert all("flaky failure for 7" in a.traceback and "Traceback" in a.traceback
               for a in failed.attempts)
    assert failed.error == "ValueError: flaky failure for 7"
    assert failed.options == {"retries": 2, "retry_delay": 1, "retry_backoff": 2}
    # exponential backoff: the retries were scheduled ~1 s then ~2 s after the failures
    gaps = [b.at - a.at for a, b in zip(failed.attempts, failed.attempts[1:])]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9
    assert failed.has_message
    kinds = [e.kind for e in failed.events]
    assert kinds[0] == "enqueued" and kinds[-1] == "failed" and kinds.count("attempt failed") == 3

    page = q.jobs("failed", limit=100)
    assert page.total == 100 and {j.id for j in page.jobs} == set(bad_ids)
    assert q.task_counts("failed") == {"tests.support.flaky": 100}

    metrics = q.metrics("1h")
    totals = metrics.totals
    assert totals.enqueued == 1000
    assert totals.completed == 900
    assert totals.failed == 100
    assert totals.retried == 200
    assert metrics.run_ms["p50"] is not None and metrics.wait_ms["p99"] is not None
    # lifetime totals agree with the window, and stay the same once minutes are rolled up
    lifetime = q.totals()
    assert (lifetime.enqueued, lifetime.completed, lifetime.failed, lifetime.retried) == (1000, 900, 100, 200)
    huey.jobboard._scripts["ROLLUP"](keys=[q.keys.base], args=[int(time.time() // 60) + 1])
    assert redis_client.hget(q.keys.base + "totals", "done") == b"900"
    rolled = q.totals()
    assert (rolled.enqueued, rolled.completed, rolled.failed, rolled.retried) == (1000, 900, 100, 200)

    # retry_all re-runs the failed jobs with their original arguments
    redis_client.set("fixed", "1")
    assert q.count_matching("failed") == 100
    assert q.retry_all("failed") == 100
    with running_consumers([huey], workers=4):
        assert wait_for(lambda: q.counts()["failed"] == 0 and q.counts()["waiting"] == 0
                          and q.counts()["active"] == 0, 30)
    for i, job_id in enumerate(bad_ids):
        job = q.job(job_id)
        assert job.state == "completed"
        assert job.result == repr(i)
        assert any(e.kind == "retried" for e in job.events)


def test_priority_higher_number_runs_first(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    order: list[str] = []

    @huey.task()
    def mark(label: str) -> None:
        order.append(label)

    for label, pri in [("low", 1), ("a", 0), ("high", 10), ("b", 0), ("mid", 5)]:
        sig = mark.s(label)
        sig.priority = pri
        huey.enqueue(sig)
    with running_consumers([huey], workers=1):
        assert wait_for(lambda: len(order) == 5, 10)
    assert order == ["high", "mid", "low", "a", "b"]  # FIFO within a priority


def test_actions_and_errors(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    t = huey.test_tasks
    board = Board([huey])
    q = board.queue("core")
    waiting = t["double"](1).id
    later = t["double"].schedule((2,), delay=3600).id
    gone = t["double"](3).id
    # As with Huey, a job due later waits in the queue until a consumer's take hands it
    # to Huey's execute(), which schedules it (run now clears its eta in place).
    assert q.counts()["scheduled"] == 0 and q.counts()["waiting"] == 3
    assert q.job(later).scheduled_for and q.job(later).scheduled_for > time.time() + 3000
    q.promote(later)
    assert q.job(later).state == "waiting" and not q.job(later).scheduled_for
    later = t["double"].schedule((2,), delay=3600).id
    assert huey.execute(huey.dequeue()) == 2  # waiting (the first) runs, ...
    for _ in range(3):  # ... the promoted one and the other run too, the new one is scheduled
        huey.execute(huey.dequeue())
    assert q.counts()["scheduled"] == 1 and q.counts()["completed"] == 3
    job = q.job(later)
    assert job.state == "scheduled" and job.attempt == 0 and not job.started_at and not job.consumer
    assert q.job(later).scheduled_for and q.job(later).scheduled_for > time.time() + 3000
    waiting, gone = t["double"](1).id, t["double"](3).id
    q.clean("completed", older_than=0)
    # a task filter on a state without a per-task index is a scan, never a silent empty list
    page = q.jobs("waiting", task="tests.support.double")
    assert {j.id for j in page.jobs} == {waiting, gone} and page.complete
    assert q.count_matching("waiting", task="tests.support.double") == 2
    assert q.task_counts("waiting") == {"tests.support.double": 2}

    with pytest.raises(jobboard.JobStateError):
        q.promote(waiting)
    with pytest.raises(jobboard.JobStateError):
        q.retry(waiting)
    with pytest.raises(jobboard.JobNotFound):
        q.job("no-such-id")
    with pytest.raises(jobboard.JobNotFound):
        q.remove("no-such-id")
    with pytest.raises(jobboard.InvalidArgument):
        q.jobs("bogus")
    with pytest.raises(jobboard.InvalidArgument):
        q.jobs("failed", limit=0)
    with pytest.raises(jobboard.QueueNotFound):
        board.queue("nope")

    q.revoke(gone)
    assert q.job(gone).state == "revoked"
    q.remove(gone)
    with pytest.raises(jobboard.JobNotFound):
        q.job(gone)

    q.promote(later)
    assert q.job(later).state == "waiting"
    with running_consumers([huey], workers=2):
        assert wait_for(lambda: q.counts()["completed"] == 2, 10)
    assert q.job(later).result == "4"
    assert board.find_job(later).id == later

    assert q.clean("completed", older_than=3600) == 0
    assert q.clean("completed", older_than=0) == 2
    assert q.counts()["completed"] == 0
    with pytest.raises(jobboard.InvalidArgument):
        q.clean("waiting", 0)

    for i in range(7):
        t["double"](i)
    t["double"].schedule((9,), delay=600)
    assert q.empty() == 8
    assert q.counts().total == 0


def test_pause_is_visible_in_counts_and_stops_consumers(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    q = Board([huey]).queue("core")
    q.pause()
    assert q.counts().paused and q.is_paused()
    job = huey.test_tasks["double"](21).id
    side = redis.Redis.from_url(redis_url)
    with running_consumers([huey], workers=2):
        wait_for(lambda: blocked_clients(side) == 2)  # both workers looked, found it paused
        assert q.job(job).state == "waiting"
        q.resume()
        assert wait_for(lambda: q.job(job).state == "completed", 10)
    assert not q.counts().paused


def test_progress_logs_and_search(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    q = Board([huey]).queue("core")
    job = huey.test_tasks["reporting"](5).id
    other = huey.test_tasks["double"](6).id
    # outside a task, progress and log are harmless no-ops
    assert jobboard.progress(50) is False and jobboard.log("x") is False
    with running_consumers([huey], workers=1):
        assert wait_for(lambda: q.counts()["completed"] == 2, 10)
    rec = q.job(job)
    assert rec.progress == 100.0 and rec.progress_message is None
    assert [line.message for line in rec.logs] == ["working on 5"]
    page = q.jobs("completed", search="REPORTING")
    assert [j.id for j in page.jobs] == [job] and page.complete and page.total == 1
    assert [j.id for j in q.jobs("completed", search=other[:8]).jobs] == [other]
    assert [j.id for j in q.jobs("completed", task="tests.support.double").jobs] == [other]
    assert q.jobs("completed", search="nothing-matches").total == 0


def test_display_text_is_redacted_truncated_and_printable(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    q = Board([huey]).queue("core")

    @huey.task()
    def signup(user: dict, blob: str, api_token: str = "") -> None:
        return None

    job = signup({"name": "ann", "password": "hunter2"}, "x" * 100_000 + "\x00\x1b[31m",
                 api_token="abc").id
    rec = q.job(job)
    assert "hunter2" not in rec.args and "[redacted]" in rec.args
    assert "abc" not in rec.kwargs and "[redacted]" in rec.kwargs
    assert len(rec.args) <= 300 and rec.args.endswith("…")


def test_payloads_are_stored_whole_as_json_up_to_the_cap(redis_url: str,
                                                          redis_client: redis.Redis) -> None:
    """Arguments, kwargs and results are kept whole as JSON (redacted) up to
    payload_limit; lists read only the short previews."""
    huey = make_core_huey(redis_url)
    q = Board([huey]).queue("core")

    @huey.task()
    def remind(patient: dict, note: str, *, channel: str = "sms", api_token: str = "") -> dict:
        return {"sent": True, "note": note}

    patient = {"name": "Ann", "password": "hunter2", "visits": [{"at": "2024-05-01", "n": i}
                                                                  for i in range(40)]}
    note = "scheduled_for " + "x" * 2000
    job = remind(patient, note, channel="email", api_token="abc").id
    listed = q.jobs("waiting").jobs[0]
    assert len(listed.args) <= 300 and listed.args.endswith("…") and listed.args_whole is None
    rec = q.job(job)
    args = json.loads(rec.args_json)
    assert args[1] == note  # 2 KB: whole, not cut at 300 characters
    assert args[0]["visits"] == patient["visits"] and args[0]["password"] == "[redacted]"
    assert json.loads(rec.kwargs_json) == {"channel": "email", "api_token": "[redacted]"}
    stored = compact.parse(redis_client.get(q.keys.blob(job)))
    assert stored.get(compact.ARGS) == rec.args_json and "hunter2" not in str(stored)
    assert "hunter2" not in redis_client.hgetall(q.keys.record(job)).__repr__()
    with running_consumers([huey], workers=1):
        assert wait_for(lambda: q.job(job).state == "completed", 10)
    assert json.loads(q.job(job).result_json) == {"sent": True, "note": note}
    # small payloads are stored once: the preview is the whole JSON
    small = huey.test_tasks["double"](21).id
    assert q.job(small).args == "21" and q.job(small).args_json == "[21]"
    assert compact.parse(redis_client.get(q.keys.blob(small))).get(compact.ARGS) is None
    # a record written before payloads were JSON shows as it was stored
    redis_client.hset(q.keys.record(small), "args", "'a', datetime(2020, 1, 1)")
    assert q.job(small).args_json == "'a', datetime(2020, 1, 1)"

    capped = make_core_huey(redis_url, name="capped", payload_limit=1000)

    @capped.task()
    def big(blob: str) -> None:
        return None

    cq = Board([capped]).queue("capped")
    text = cq.job(big("y" * 5000).id).args_json
    assert len(text) == 1000 and text.endswith("…")  # cut at the cap, and says so
    with pytest.raises(jobboard.ConfigurationError, match="payload_limit"):
        jobboard.RedisHuey("bad", url=redis_url, payload_limit=10)


def test_enqueue_wakes_a_blocked_consumer_and_a_backlog_keeps_few_tokens(
        redis_url: str, redis_client: redis.Redis) -> None:
    # A consumer blocked on the empty queue waits up to read_timeout for a wake token: 20 s
    # here, so a job picked up within 10 s was woken by its enqueue, not by the timeout.
    huey = make_core_huey(redis_url, read_timeout=20)
    q = Board([huey]).queue("core")
    for i in range(100):
        huey.test_tasks["double"](i)
    # With nobody blocked, tokens pile up to a handful, not one per job.
    assert 1 <= redis_client.llen(q.keys.wake) <= 8
    with running_consumers([huey], workers=2):
        assert wait_for(lambda: q.counts()["completed"] == 100, 30)
        assert wait_for(lambda: redis_client.llen(q.keys.wake) == 0, 10)  # leftovers taken
        wait_for(lambda: blocked_clients(redis_client) == 2)  # both in their blocking pop
        huey.test_tasks["double"](7)
        assert wait_for(lambda: q.counts()["completed"] == 101, 10)


def test_args_fast_path_matches_the_general_one() -> None:
    """Plain scalars skip redaction on the producer's hot path: the text must not change."""
    from jobboard import display

    cases = [(1,), (1, "a"), ("x\u2028y", 2.5, None, True, -0.0), ("\x00\ufeff\x9f",),
             ("a" * 299,), ("a" * 301,), tuple(range(200)), (10**5000,), (1, [1, "b"]),
             (float("nan"), 1), ("é" * 70_000,)]
    for args in cases:
        general = display._split(display.payload_text(list(args), display.PAYLOAD_LIMIT,
                                                      display._DEFAULT_PATTERN), True,
                                 display.ARGS_LIMIT)
        assert display.args_fields(args) == general, args
    assert display.args_text((10**5000,)) == '"<int of 16610 bits>"'
    assert display.args_text(("x\u2028y",)) == '"x\\u2028y"'  # escaped, still JSON


def test_undecodable_record_lists_and_can_be_removed(redis_url: str, redis_client: redis.Redis) -> None:
    huey = make_core_huey(redis_url)
    q = Board([huey]).queue("core")
    good = huey.test_tasks["double"](1).id
    redis_client.hset(q.keys.record(good), "pri", "not-a-number")
    page = q.jobs("waiting")
    assert page.jobs[0].undecodable and "ValueError" in page.jobs[0].undecodable
    q.remove(good)
    assert q.counts()["waiting"] == 0


def test_pipeline_links_parent_and_children(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    q = Board([huey]).queue("core")
    t = huey.test_tasks
    pipe = t["double"].s(2).then(t["double"])
    parent_id, child_id = pipe.id, pipe.on_complete.id
    huey.enqueue(pipe)
    with running_consumers([huey], workers=1):
        assert wait_for(lambda: q.counts()["completed"] == 2, 10)
    assert q.job(parent_id).children == [child_id]
    child = q.job(child_id)
    assert child.parent == parent_id and child.result == "8"


def test_reads_never_write(redis_url: str, redis_client: redis.Redis) -> None:
    huey = make_core_huey(redis_url)
    t = huey.test_tasks
    for i in range(20):
        t["double"](i)
    t["flaky"](1)
    with running_consumers([huey], workers=2):
        assert wait_for(lambda: Board([huey]).queue("core").counts()["completed"] == 20, 10)
    # stop the heartbeat's writes from muddying the digest: consumers are stopped now
    time.sleep(0.2)

    def digest() -> str:
        h = hashlib.sha256()
        for key in sorted(redis_client.keys("*")):
            if b":c:" in key or key.endswith(b":consumers"):
                continue  # the registry expires on its own
            h.update(key)
            h.update(redis_client.dump(key) or b"")
        return h.hexdigest()

    board = Board(redis=redis.Redis.from_url(redis_url), queues=["core"])
    before = digest()
    q = board.queue("core")
    q.counts()
    board.all_counts()
    for state in STATES:
        q.jobs(state, limit=5)
        q.jobs(state, search="1")
    q.job(q.jobs("completed").jobs[0].id)
    q.metrics("24h")
    q.health()
    board.consumers()
    board.periodic()
    q.tasks()
    assert digest() == before


def test_board_from_redis_without_task_modules(redis_url: str) -> None:
    huey = make_core_huey(redis_url, name="mail")
    huey.test_tasks["double"](4)
    board = Board(redis=redis.Redis.from_url(redis_url))  # discovers queues from Redis
    assert [q.name for q in board.queues()] == ["mail"]
    q = board.queue("mail")
    assert q.counts()["waiting"] == 1
    job = q.jobs("waiting").jobs[0]
    q.revoke(job.id)
    q.retry(job.id)  # no task import needed: the stored message is re-queued
    assert q.job(job.id).state == "waiting"
    with running_consumers([huey], workers=1):
        assert wait_for(lambda: q.job(job.id).state == "completed", 10)


def test_track_existing_huey(redis_url: str) -> None:
    from huey import PriorityRedisHuey

    plain = PriorityRedisHuey("legacy", url=redis_url)

    @plain.task()
    def hello(name: str) -> str:
        return f"hello {name}"

    jobboard.track(plain, lease_timeout=5)
    job = hello("ann")
    q = Board([plain]).queue("legacy")
    with running_consumers([plain], workers=1):
        assert wait_for(lambda: q.counts()["completed"] == 1, 10)
    assert q.job(job.id).result == '"hello ann"'  # recorded as JSON
    assert job.get() == "hello ann"  # Huey's own result store still works


def test_percentiles_from_buckets() -> None:
    assert percentiles({}) == {"p50": None, "p95": None, "p99": None}
    hist = {7: 90, 15: 10}  # most near 2^3 ms, a tail near 2^7 ms
    p = percentiles(hist)
    assert 8 <= p["p50"] <= 12 and 128 <= p["p99"] <= 190  # type: ignore[operator]


def test_retention_config_is_validated() -> None:
    with pytest.raises(jobboard.ConfigurationError):
        jobboard.RedisHuey("x", url="redis://127.0.0.1:1/0", retention={"waiting": (1, 2)})
    with pytest.raises(jobboard.ConfigurationError):
        jobboard.RedisHuey("x", url="redis://127.0.0.1:1/0", lease_timeout=0)


def test_records_are_json_ready(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    q = Board([huey]).queue("core")
    job_id = huey.test_tasks["double"](3).id
    json.dumps(q.job(job_id).as_dict(detail=True))
    json.dumps(q.counts().as_dict())


def test_undecodable_message_fails_its_job_with_the_reason(redis_url: str,
                                                           redis_client: redis.Redis) -> None:
    huey = make_core_huey(redis_url)
    q = Board([huey]).queue("core")
    broken = huey.test_tasks["double"](1).id
    fine = huey.test_tasks["double"](2).id
    redis_client.set(q.keys.message(broken), b"\x80\x05not a pickle")
    with running_consumers([huey], workers=1):
        assert wait_for(lambda: q.counts()["failed"] == 1 and q.counts()["completed"] == 1, 10)
    job = q.job(broken)
    assert job.state == "failed" and job.error and job.error.startswith("Undecodable message")
    assert q.counts()["active"] == 0 and q.job(fine).result == "4"
    q.remove(broken)
    assert q.counts()["failed"] == 0
