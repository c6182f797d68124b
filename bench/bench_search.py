"""Search at 1,000,000 retained jobs against 1,000: Redis commands and server time per
request, with and without matches, for each kind of search; and the hot-path cost of the
index (enqueue and drain with it on against off). Not part of the test suite.

One private redis-server. Queue ``small`` and queue ``big`` each get real jobs through the
real scripts (bench/load.py: the realistic email payload, completed, and failed with a
traceback); ``big`` is then grown to ``--jobs`` retained jobs by a loader script built on
scripts.PRELUDE, which copies those records under new ids and numbers and indexes each
copy with the scripts' own functions (each copy gets a word of its own, as the email's
number is in the real ones). Then every search runs ``--repeat`` times on each queue:
commands counted by INFO commandstats (those inside the SEARCH script included), server
time from SLOWLOG (slowlog-log-slower-than 0: each command the client sent, with its
duration; ``longest`` is the longest one, i.e. the longest Redis was blocked).

    python bench/bench_search.py [--jobs 1000000] [--repeat 20] [--hot-path-only]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

import jobboard  # noqa: E402
from bench.bench_memory import email_payload, error_text  # noqa: E402
from bench.load import load_finished  # noqa: E402
from jobboard import scripts  # noqa: E402
from jobboard.search import error_tokens, job_tokens  # noqa: E402
from jobboard.redis_server import RedisServer  # noqa: E402

SEED = 1000  # real jobs per queue: 900 completed, 100 failed

# Copies of a queue's real jobs, made inside Redis: the record, blob and (failed) message of
# a template job under a new id and number, in its state's sets, indexed by the scripts'
# own index_job. ARGV: base, first copy number, how many, then each template's id and
# search tokens (space-separated; a job's tokens are not stored apart from the index).
GROW = scripts.PRELUDE + r"""
local first, count = tonumber(ARGV[2]), tonumber(ARGV[3])
local tpl = {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local rec = redis.call('hgetall', rk(id))
  local h = {}
  for j = 1, #rec, 2 do h[rec[j]] = rec[j + 1] end
  local toks = {}
  for t in string.gmatch(ARGV[i + 1], '%S+') do
    if not string.find(t, '^%d%d%d%d?%d?%d?$') or string.len(t) < 3 then toks[#toks + 1] = t end
  end
  tpl[#tpl + 1] = {h = h, toks = table.concat(toks, ' '), blob = blob(id),
                   msg = redis.call('get', p .. 'm:' .. id)}
end
for k = first, first + count - 1 do
  local t = tpl[(k % #tpl) + 1]
  local id = string.format('%08x-%04x-4%03x-a%03x-%012x', (k * 2654435761) % 4294967296,
                           k % 65536, k % 4096, (k * 7) % 4096, k)
  local n = redis.call('incr', p .. 'seq')
  local fields = {}
  for f, v in pairs(t.h) do
    if f ~= 'n' then fields[#fields + 1] = f; fields[#fields + 1] = v end
  end
  fields[#fields + 1] = 'n'; fields[#fields + 1] = n
  redis.call('hset', rk(id), unpack(fields))
  index_job(id, n, t.toks .. ' ' .. k)
  redis.call('set', p .. 'x:' .. id, t.blob)
  if t.msg then redis.call('set', p .. 'm:' .. id, t.msg) end
  local st = t.h['st']
  enter(id, st, t.h['task'], tonumber(t.h['fin']) - (first + count - k), n)
end
return count
"""


def seed(huey: Any, task: Any, start: int = 0) -> None:
    load_finished(huey, task, SEED - SEED // 10, email_payload, "completed",
                  result=lambda i: {"message_id": f"<{i}@riverside.example>",
                                    "delivered_to": "smtp://mail.example:25"}, start=start)
    load_finished(huey, task, SEED // 10, email_payload, "failed",
                  error=lambda i: RuntimeError(error_text(email_payload(i))),
                  start=start + SEED - SEED // 10)


def make(url: str, name: str, **options: Any) -> tuple[jobboard.RedisHuey, Any]:
    huey = jobboard.RedisHuey(name, url=url, retention={"completed": (None, None),
                                                        "failed": (None, None)}, **options)

    @huey.task(name="send_email")
    def send_email(payload: dict[str, Any]) -> dict[str, str]:
        return {"message_id": f"<{payload['to']}>", "delivered_to": "smtp://mail.example:25"}

    return huey, send_email


def grow(client: redis.Redis, q: Any, target: int, redact: Any) -> None:
    templates = [i.decode() for i in client.zrange(q.keys.state("completed"), 0, 89)]
    templates += [i.decode() for i in client.zrange(q.keys.state("failed"), 0, 9)]
    script = client.register_script(GROW)
    args: list[str] = []
    for tid in templates:
        job = q.job(tid)
        toks = job_tokens(job.task, json.loads(job.args_json or "[]"), json.loads(job.kwargs_json or "{}"),
                          redact)
        if job.error:
            toks += " " + error_tokens(job.error)
        args += [tid, toks]
    have, step, t0 = q.counts().total, 2000, time.time()
    k = 10_000_000
    while have < target:
        n = min(step, target - have)
        script(keys=[q.keys.base], args=[k, n, *args])
        k += n
        have += n
        if have % 100_000 < step:
            print(f"  grown to {have:,} jobs ({time.time() - t0:.0f} s)", flush=True)


def measure(client: redis.Redis, q: Any, query: str, state: str | None, repeat: int) -> dict[str, Any]:
    cmds, server, longest, wall, totals = [], [], [], [], set()
    for _ in range(repeat):
        client.config_resetstat()
        client.slowlog_reset()
        t0 = time.perf_counter()
        page = q.search(query, state=state)
        wall.append(time.perf_counter() - t0)
        stats = client.info("commandstats")
        log = client.slowlog_get(10_000)
        cmds.append(sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")
                    - 1)  # the SLOWLOG RESET
        mine = [e for e in log if e["command"].split()[0].lower() not in (b"slowlog", b"info", b"config")]
        server.append(sum(e["duration"] for e in mine) / 1000)
        longest.append(max((e["duration"] for e in mine), default=0) / 1000)
        totals.add((page.total, page.complete))
    return {"commands": max(cmds), "server_ms": statistics.median(server),
            "server_max_ms": max(server), "longest_ms": max(longest),
            "wall_ms": statistics.median(wall) * 1000, "result": sorted(totals)}


def hot_path(url: str, jobs: int, rounds: int) -> None:
    """Enqueue one at a time and drain (4 thread workers), index off and on, interleaved
    rounds on fresh queues of one Redis; prints the medians and the ratios on/off."""
    logging.getLogger("huey").setLevel(logging.CRITICAL)
    rates: dict[bool, dict[str, list[float]]] = {
        on: {"enqueue": [], "drain": [], "script us": []} for on in (False, True)}
    client = redis.Redis.from_url(url)
    for r in range(rounds):
        for on in (False, True) if r % 2 == 0 else (True, False):
            client.flushall()
            client.config_resetstat()
            huey, task = make(url, f"hot{int(on)}", search_index=on)
            q = jobboard.Board([huey]).queue(huey.name)
            payloads = [email_payload(i) for i in range(jobs)]
            t0 = time.perf_counter()
            for p in payloads:
                task(p)
            rates[on]["enqueue"].append(jobs / (time.perf_counter() - t0))
            consumer = huey.create_consumer(workers=4, worker_type="thread", periodic=False,
                                            check_worker_health=False)
            t0 = time.perf_counter()
            consumer.start()
            while q.counts()["completed"] < jobs:
                time.sleep(0.01)
            rates[on]["drain"].append(jobs / (time.perf_counter() - t0))
            consumer.stop(graceful=True)
            # every step of a job's life is a script: their server time per job
            stats = client.info("commandstats")
            rates[on]["script us"].append(sum(v["usec"] for k, v in stats.items()
                                              if k in ("cmdstat_evalsha", "cmdstat_eval")) / jobs)
    print(f"\nhot path, {jobs:,} realistic jobs a round, {rounds} rounds (median jobs/s):")
    for what in ("enqueue", "drain", "script us"):
        off, on = statistics.median(rates[False][what]), statistics.median(rates[True][what])
        print(f"  {what:9s} index off {off:8.0f}   on {on:8.0f}   ratio on/off {on / off:.2f}")
    print("  (script us: Redis server time of the scripts per job, enqueue to end)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--hot-path-jobs", type=int, default=5000)
    ap.add_argument("--hot-path-rounds", type=int, default=4)
    ap.add_argument("--hot-path-only", action="store_true")
    ap.add_argument("--no-hot-path", action="store_true")
    args = ap.parse_args()
    logging.getLogger("huey").setLevel(logging.CRITICAL)
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        if not args.hot_path_only:
            client.config_set("slowlog-log-slower-than", 0)
            client.config_set("slowlog-max-len", 10_000)
            small, small_task = make(server.url, "small")
            big, big_task = make(server.url, "big")
            t0 = time.time()
            seed(small, small_task)
            seed(big, big_task)
            board = jobboard.Board([small, big])
            queues = {"1k": board.queue("small"), "1M": board.queue("big")}
            print(f"real jobs loaded in {time.time() - t0:.0f} s; growing 'big' to {args.jobs:,}")
            grow(client, queues["1M"], args.jobs, big.jobboard.config.redact_re)
            info = client.info("memory")
            print(f"jobs: small {queues['1k'].counts().total:,}, big {queues['1M'].counts().total:,}; "
                  f"redis used_memory {info['used_memory_human']}")
            one = {n: q.search("example", limit=1).jobs[0].id for n, q in queues.items()}
            searches = [
                ("id prefix (8 chars)", lambda n: one[n][:8].upper(), None),
                ("id prefix, no match", lambda n: "ffffffff0", None),
                ("task", lambda n: "send_email", None),
                ("task, failed tab", lambda n: "send_email", "failed"),
                ("one word", lambda n: "okafor", None),
                ("two words", lambda n: "sofia mensah", None),
                ("error words, failed tab", lambda n: "mailbox unavailable", "failed"),
                ("unique word (email)", lambda n: "jane.doe.0@example.org", None),
                ("no match: unknown word", lambda n: "zebra", None),
                ("no match: 2 common words", lambda n: "okafor lindqvist", None),
            ]
            print(f"\nper search request, worst of {args.repeat} (commands) / median (server ms):")
            print(f"{'search':28s} {'jobs':>4s} {'commands':>8s} {'server ms':>9s} "
                  f"{'longest ms':>10s} {'wall ms':>8s}  total (complete)")
            worst = {"commands": 0, "server_ms": 0.0, "longest_ms": 0.0}
            for label, query, state in searches:
                for n, q in queues.items():
                    m = measure(client, q, query(n), state, args.repeat)
                    for key in worst:
                        worst[key] = max(worst[key], m[key])
                    print(f"{label:28s} {n:>4s} {m['commands']:8d} {m['server_ms']:9.2f} "
                          f"{m['longest_ms']:10.2f} {m['wall_ms']:8.1f}  {m['result']}")
            print(f"\nworst at any size: {worst['commands']} commands (target <= 200), "
                  f"{worst['server_ms']:.2f} ms server time (target <= 50), longest single "
                  f"command {worst['longest_ms']:.2f} ms")
    if not args.no_hot_path:
        with RedisServer() as fresh:
            hot_path(fresh.url, args.hot_path_jobs, args.hot_path_rounds)


if __name__ == "__main__":
    main()
