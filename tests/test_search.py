"""Search over every retained job: id prefix, task, words of the arguments and errors.

The index is kept by the scripts (search.py, scripts.INDEX); these tests check what it
finds, that it follows the jobs out (retention, removal, flush), that a search's work is
bounded in Redis commands whatever the number of jobs (counted by INFO commandstats, not
timed), and that the record stays compact (compact.py).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

import jobboard
from bench.load import load_finished
from jobboard import compact
from jobboard.board import SEARCH_BUDGET, Board
from jobboard.errors import InvalidArgument
from tests.support import running_consumers, wait_for

FIRST = ("Ann", "Bob", "Cleo", "Dev")


def payload(i: int) -> dict[str, Any]:
    return {"to": f"client{i}@example.org", "name": f"{FIRST[i % 4]} Lee",
            "password": f"secret-{i}", "template": "appointment-reminder"}


def declined(i: int) -> BaseException:
    return RuntimeError(f"card declined for customer {i}")


def make(url: str, name: str = "srch", **options: Any) -> tuple[jobboard.RedisHuey, Any, Any]:
    huey = jobboard.RedisHuey(name, url=url, **options)

    @huey.task(name="send_email")
    def send_email(p: dict[str, Any]) -> None:
        return None

    @huey.task(name="charge_card")
    def charge_card(p: dict[str, Any]) -> None:
        return None

    return huey, send_email, charge_card


def commands(client: redis.Redis) -> int:
    """Commands the server ran since the last CONFIG RESETSTAT (those inside scripts
    included), less the INFO that reads them."""
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")


def test_each_kind_of_search_finds_what_it_should(redis_url: str) -> None:
    huey, send_email, charge_card = make(redis_url)
    done = load_finished(huey, send_email, 40, payload, "completed", result=lambda i: {"ok": i})
    failed = load_finished(huey, charge_card, 20, payload, "failed", error=declined, start=40)
    q = Board([huey]).queue("srch")

    # id prefix: what tables show (8 characters), any case; the whole id too
    job = done[7]
    for query in (job[:8], job[:8].upper(), job):
        page = q.search(query)
        assert [j.id for j in page.jobs][:1] == [job] and page.complete, query
    # task (short name), alone and as a filter
    assert q.search("charge_card").total == 20
    assert q.search("send_email").total == 40
    assert q.search("lee", task="charge_card").total == 20
    # words of the argument values, any order, all of them needed
    assert [j.id for j in q.search("client12@example.org").jobs] == [done[12]]
    assert q.search("Bob lee").total == 15 and q.search("lee bob").total == 15
    assert q.search("bob cleo").total == 0
    # words of the error
    page = q.search("declined")
    assert page.total == 20 and {j.id for j in page.jobs} == set(failed)
    assert [j.id for j in q.search("declined customer 45").jobs] == [failed[5]]
    # within a state; a finished state is exact, a pending one is checked job by job
    assert q.search("lee", state="failed").total == 20
    assert q.search("lee", state="completed").total == 40
    assert q.search("declined", state="completed").total == 0
    assert q.search("lee", state="waiting").total == 0
    # newest first by default, oldest first on request
    assert q.search("lee", limit=1).jobs[0].id == failed[-1]
    assert q.search("lee", limit=1, order="oldest").jobs[0].id == done[0]
    # pages
    ids = [j.id for j in q.search("lee", limit=25).jobs] + [j.id for j in q.search("lee", offset=25, limit=25).jobs]
    assert len(ids) == 50 and len(set(ids)) == 50
    # keys are not searched, redacted values are not found
    assert q.search("template").total == 0
    assert q.search("secret").total == 0
    # no match: an empty page that says it is complete
    page = q.search("nosuchword")
    assert page.total == 0 and page.complete and not page.jobs
    # the queue tab's search and the bulk actions use the same search
    assert q.jobs("failed", search="declined").total == 20
    assert q.count_matching("failed", search="customer 45") == 1
    assert q.retry_all("failed", search="customer 45") == 1
    assert q.search("declined", state="failed").total == 19
    assert q.search("declined", state="waiting").total == 1


def test_bad_searches_are_refused_with_a_message(redis_url: str) -> None:
    huey, send_email, _ = make(redis_url)
    load_finished(huey, send_email, 3, payload, "completed")
    q = Board([huey]).queue("srch")
    for query in ("", "   ", "%%", "x" * 201):
        with pytest.raises(InvalidArgument):
            q.search(query)
    with pytest.raises(InvalidArgument):
        q.search("lee", state="nope")


def test_the_index_follows_jobs_out(redis_url: str, redis_client: redis.Redis) -> None:
    """Retention trims, removal and flush take jobs out of the index too: nothing of them
    is found, and no index key of theirs is left."""
    huey, send_email, charge_card = make(redis_url, retention={"failed": (None, 10)})
    q = Board([huey]).queue("srch")
    for i in range(30):
        # one millisecond apart at least: retention trims the oldest first, and ends in the
        # same millisecond would go in id order instead
        load_finished(huey, charge_card, 1, payload, "failed", error=declined, start=i)
        time.sleep(0.002)
    assert q.counts()["failed"] == 10
    assert q.search("declined").total == 10
    assert q.search("customer 3").total == 0  # trimmed (oldest first)
    assert q.search("customer 29").total == 1
    assert redis_client.zcard(q.keys.ids) == 10

    gone = q.search("customer 29").jobs[0].id
    q.remove(gone)
    assert q.search("customer 29").total == 0 and q.search(gone[:8]).total == 0
    assert q.search("declined").total == 9 and q.search("declined", state="failed").total == 9
    assert gone not in {j.id for j in q.search("declined", limit=100).jobs}

    load_finished(huey, send_email, 5, payload, "completed", start=100)
    huey.flush()
    assert q.search("lee").total == 0
    assert not list(redis_client.scan_iter(match=q.keys.base + "ix:*"))
    assert not list(redis_client.scan_iter(match=q.keys.base + "x:*"))


def index_entries(client: redis.Redis, base: str) -> tuple[int, int]:
    """(keys, entries) of a queue's search index."""
    keys = entries = 0
    for k in client.scan_iter(match=base + "ix:*", count=1000):
        keys += 1
        kind = client.type(k)
        entries += {b"set": client.scard, b"zset": client.zcard, b"hash": client.hlen,
                    b"list": client.llen}[kind](k)
    return keys, entries


def test_purged_jobs_stay_out_and_dead_chunks_are_dropped(redis_url: str,
                                                          redis_client: redis.Redis) -> None:
    """Lazy deletion (scripts.INDEX): a purged job's postings stay until its whole chunk
    (512 numbers) is gone, but no search finds or counts it; then the chunk's postings go,
    so the index holds what the retained jobs need, however many went through."""
    huey, send_email, charge_card = make(redis_url, retention={"failed": (None, 40),
                                                               "completed": (None, 20)})
    q = Board([huey]).queue("srch")
    sizes = []
    for rnd in range(5):
        load_finished(huey, charge_card, 600, payload, "failed", error=declined, start=rnd * 1000)
        load_finished(huey, send_email, 400, payload, "completed", start=rnd * 1000 + 600)
        assert q.counts()["failed"] == 40 and q.counts()["completed"] == 20
        assert q.search("declined").total == 40 and q.search("lee").total == 60
        assert q.search("lee", state="completed").total == 20
        assert q.search("charge_card").total == 40
        kept = {j.id for j in q.search("declined", limit=100).jobs}
        assert kept == {i.decode() for i in redis_client.zrange(q.keys.state("failed"), 0, -1)}
        # one purged job of each kind: neither found nor counted
        assert q.search(f"customer {rnd * 1000 + 5}").total == 0
        assert q.search(f"client{rnd * 1000 + 605}").total == 0
        sizes.append(index_entries(redis_client, q.keys.base))
    # the first round's chunks are dropped: nothing of their words is left
    assert not redis_client.exists(q.keys.token_chunks("client3"))
    assert not redis_client.exists(q.keys.token_chunk("lee", 0))
    # no leak: postings are left only in the chunks of retained jobs (ix:n; the 60 kept
    # span a chunk or two, three when one of the ties in finish time is kept), each no
    # bigger than the one chunk the first round left
    live = {int(k.decode().rsplit(":", 1)[1]) // 4 for k in redis_client.scan_iter(match=q.keys.base + "ix:n:*")}
    held = {int(k.decode().rsplit(":", 1)[1]) for k in redis_client.scan_iter(match=q.keys.base + "ix:w:*")}
    held |= {int(c) for k in redis_client.scan_iter(match=q.keys.base + "ix:d:*")
             for c in redis_client.zrange(k, 0, -1)}
    assert held <= live and len(live) <= 3, (held, live)
    assert all(keys <= 3 * sizes[0][0] and entries <= 3 * sizes[0][1] for keys, entries in sizes), sizes


def test_a_job_added_again_is_found_by_its_new_words_only(redis_url: str) -> None:
    """A finished job added again by id gets a new number in the index: its old words and
    its old state's token go with the old number (lazy deletion)."""
    huey, send_email, _ = make(redis_url)
    q = Board([huey]).queue("srch")
    [job] = load_finished(huey, send_email, 1, payload, "completed")
    assert q.search("client0").total == 1
    again = send_email.s(payload(77))
    again.id = job
    huey.enqueue(again)
    assert q.job(job).state == "waiting"
    assert q.search("client0").total == 0 and q.search("lee", state="completed").total == 0
    assert [j.id for j in q.search("client77").jobs] == [job]
    assert [j.id for j in q.search("client77", state="waiting").jobs] == [job]


def test_a_word_of_one_job_is_kept_inline_and_found_like_any(redis_url: str,
                                                             redis_client: redis.Redis) -> None:
    """A chunk where a word has one posting keeps it in the directory's score, with no
    set (scripts.INDEX); a second job with the word makes it a set. Both are found, in
    either order, alone and with other words and states; leaving a state drops it."""
    huey, send_email, charge_card = make(redis_url)
    q = Board([huey]).queue("srch")
    [one] = load_finished(huey, send_email, 1, lambda i: {"to": "solo@example.org"}, "completed")
    assert not redis_client.exists(q.keys.token_chunk("solo", 0))
    assert redis_client.zcard(q.keys.token_chunks("solo")) == 1
    # the chunk's first completed job: its state token is inline too
    assert not redis_client.exists(q.keys.token_chunk("~s:completed", 0))
    for query, state in (("solo", None), ("solo example", None), ("solo", "completed"),
                         (one[:8], None)):
        assert [j.id for j in q.search(query, state=state).jobs] == [one], query
    assert q.search("solo", state="failed").total == 0 and q.search("solo bob").total == 0
    others = load_finished(huey, charge_card, 3, payload, "failed", error=declined, start=10)
    [two] = load_finished(huey, send_email, 1, lambda i: {"to": "solo@example.org", "n": "7"}, "completed")
    assert redis_client.scard(q.keys.token_chunk("solo", 0)) == 2
    assert [j.id for j in q.search("solo").jobs] == [two, one]
    assert [j.id for j in q.search("solo", order="oldest").jobs] == [one, two]
    assert [j.id for j in q.search("solo 7").jobs] == [two]
    assert q.search("declined lee", state="failed").total == 3
    assert q.search("customer 11").jobs[0].id == others[1]
    # a job leaving the state whose token it holds inline (a retry): no longer found there
    assert q.retry_all("failed", search="customer 12") == 1
    assert q.search("customer 12", state="failed").total == 0
    assert q.search("customer 12", state="waiting").total == 1
    assert q.search("declined", state="failed").total == 2
    # the same with the chunk's only failed job: its state token was inline
    lone, _, lone_card = make(redis_url, name="lone")
    [job] = load_finished(lone, lone_card, 1, payload, "failed", error=declined)
    ql = Board([lone]).queue("lone")
    assert not redis_client.exists(ql.keys.token_chunk("~s:failed", 0))
    assert ql.search("declined", state="failed").total == 1
    assert ql.retry_all("failed", search="declined") == 1
    assert ql.search("declined", state="failed").total == 0
    assert not redis_client.exists(ql.keys.token_chunks("~s:failed"))
    assert [j.id for j in ql.search("declined", state="waiting").jobs] == [job]


def test_errors_of_a_real_consumer_and_retries_are_found(redis_url: str) -> None:
    huey = jobboard.RedisHuey("live", url=redis_url)

    @huey.task(retries=1, retry_delay=0)
    def flaky(n: int) -> None:
        raise ValueError(f"gateway timeout on try for order {n}")

    q = Board([huey]).queue("live")
    job = flaky(4242).id
    with running_consumers([huey], workers=1):
        assert wait_for(lambda: q.counts()["failed"] == 1, 15)
    page = q.search("gateway timeout 4242")
    assert [j.id for j in page.jobs] == [job]
    full = q.job(job)
    assert len(full.attempts) == 2 and "gateway timeout" in full.attempts[-1].traceback
    assert q.search("flaky", state="failed").total == 1


def test_search_work_is_bounded_whatever_the_number_of_jobs(redis_url: str,
                                                            redis_client: redis.Redis) -> None:
    """Each search runs at most SEARCH_BUDGET commands in its script plus its page's
    reads, with and without matches, on 300 jobs as on 3,000 (INFO commandstats)."""
    huey, send_email, charge_card = make(redis_url, retention={"completed": (None, None)})
    q = Board([huey]).queue("srch")
    counted: dict[int, dict[str, int]] = {}
    loaded = 0
    for size in (300, 3000):
        load_finished(huey, send_email, size - loaded - size // 10, payload, "completed", start=loaded)
        load_finished(huey, charge_card, size // 10, payload, "failed", error=declined,
                      start=size - size // 10)
        loaded = size
        some = q.search("lee", limit=1).jobs[0].id
        queries = {"id prefix": some[:8], "task": "charge_card", "words": "bob lee",
                   "error": "declined", "no match": "nosuchword",
                   "two common words, no match": "bob cleo", "state": "lee"}
        counted[size] = {}
        for label, query in queries.items():
            state = "failed" if label == "state" else None
            redis_client.config_resetstat()
            page = q.search(query, state=state)
            n = commands(redis_client)
            counted[size][label] = n
            assert n <= SEARCH_BUDGET + 50, (size, label, n)
            assert (page.total > 0) == (label not in ("no match", "two common words, no match"))
    # bounded: ten times the jobs, about the same work (the page reads are the same)
    for label, n in counted[3000].items():
        assert n <= max(2 * counted[300][label], counted[300][label] + 40), (label, counted)


def test_records_stay_small_and_big_fields_are_compressed(redis_url: str,
                                                           redis_client: redis.Redis) -> None:
    huey, send_email, charge_card = make(redis_url)
    q = Board([huey]).queue("srch")
    big = {"to": "a@example.org", "body": "Dear client, " * 100}
    [done] = load_finished(huey, send_email, 1, lambda i: big, "completed",
                           result=lambda i: {"delivered": "x" * 500})
    [failed] = load_finished(huey, charge_card, 1, payload, "failed",
                             error=lambda i: RuntimeError("refused: " + "no such mailbox " * 20))
    for job_id in (done, failed):
        record = redis_client.hgetall(q.keys.record(job_id))
        assert redis_client.object("encoding", q.keys.record(job_id)) == b"listpack"
        assert max(len(v) for v in record.values()) <= compact.FIELD_BYTES
    stored = redis_client.get(q.keys.blob(done))
    assert stored is not None and len(stored) < len(json.dumps([big])) // 2  # zlib
    job = q.job(done)
    assert json.loads(job.args_json) == [big] and json.loads(job.result_json or "") == {"delivered": "x" * 500}
    assert job.args.endswith("…") and len(job.args.encode()) <= compact.FIELD_BYTES
    failure = q.job(failed)
    assert failure.error == "RuntimeError: refused: " + "no such mailbox " * 20
    assert "Traceback" in failure.attempts[0].traceback
    listed = q.jobs("failed").jobs[0]
    assert listed.error and listed.error.endswith("…") and len(listed.error) < 70


def test_a_queue_without_the_index_is_searched_by_a_bounded_scan(redis_url: str) -> None:
    huey, send_email, _ = make(redis_url, name="plain", search_index=False)
    ids = load_finished(huey, send_email, 30, payload, "completed")
    q = Board([huey]).queue("plain")
    page = q.search("client7@")
    assert [j.id for j in page.jobs] == [ids[7]] and not page.complete and page.scanned == 30


def test_search_box_api_and_cli_share_the_core_search(redis_url: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from bs4 import BeautifulSoup

    from jobboard.cli import main
    from tests.support import login, make_app

    huey, send_email, charge_card = make(redis_url)
    other, other_email, _ = make(redis_url, name="other")
    done = load_finished(huey, send_email, 10, payload, "completed")
    failed = load_finished(huey, charge_card, 5, payload, "failed", error=declined, start=10)
    load_finished(other, other_email, 3, payload, "completed", start=100)
    client = make_app(huey).test_client()  # "other" is found in Redis, as any queue is
    login(client, "viewer")

    # an id's start (as tables show it) opens the job
    resp = client.get(f"/admin/queues/search?q={done[3][:8].upper()}")
    assert resp.status_code == 302 and done[3] in resp.headers["Location"]
    # words: results grouped by queue
    resp = client.get("/admin/queues/search?q=lee")
    assert resp.status_code == 200
    soup = BeautifulSoup(resp.data, "html.parser")
    sections = {s["data-queue"]: s for s in soup.select("section.searchqueue")}
    assert set(sections) == {"srch", "other"}
    assert len(sections["srch"].select("tr[data-job-id]")) == 15
    resp = client.get("/admin/queues/search?q=declined")
    rows = BeautifulSoup(resp.data, "html.parser").select("tr[data-job-id]")
    assert {r["data-job-id"] for r in rows} == set(failed)
    resp = client.get("/admin/queues/search?q=nosuchword")
    assert resp.status_code == 200 and b"No job matches" in resp.data
    assert client.get("/admin/queues/search?q=%25%25").status_code == 400
    assert client.get("/admin/queues/search?q=").status_code == 400

    # the JSON API
    api = client.get("/admin/queues/api/search?q=customer%2012").get_json()
    assert [(p["queue"], [j["id"] for j in p["jobs"]]) for p in api["queues"]] == [("srch", [failed[2]])]
    api = client.get("/admin/queues/api/search?q=lee&queue=other&limit=2").get_json()
    assert api["queues"][0]["total"] == 3 and len(api["queues"][0]["jobs"]) == 2
    assert client.get("/admin/queues/api/search").status_code == 400
    assert client.get("/admin/queues/api/search?q=lee&state=nope").status_code == 400

    # the CLI
    assert main(["--redis-url", redis_url, "--json", "search", "declined"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {j["id"] for q in data["queues"] for j in q["jobs"]} == set(failed)
    assert main(["--redis-url", redis_url, "search", failed[0][:8]]) == 0
    assert failed[0] in capsys.readouterr().out
