"""Failed-tab page: server time with 1,000,000 failed jobs recorded / with 1,000.

Everything in one run against one private redis-server:

1. a real Huey consumer runs 1,000 failing jobs in queue ``small`` and 1,000 in ``big``
   (the core's own write path: records, attempts with tracebacks, state sets);
2. ``big`` is then grown to 1,000,000 failed jobs by copying those real records and blobs
   under new ids, in pipelines (the same keys and fields the core writes; a consumer would
   take minutes to fail a million jobs);
3. the dashboard's failed tab (first page, a deep page, and a task-filtered page) is
   rendered through the Flask test client many times for each queue; the median server
   time is compared.

Prints the ratios; target <= 1.5. Run: ``python bench/bench_pages.py [--jobs 1000000]``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from flask import Flask  # noqa: E402

import jobboard  # noqa: E402
from jobboard.keys import QueueKeys  # noqa: E402
from jobboard.redis_server import RedisServer  # noqa: E402
from jobboard import JobBoard  # noqa: E402
from bench.fail import fail_jobs  # noqa: E402

PREFIX = "/admin/queues"
TOKEN = "bench-token"


def make_huey(url: str, name: str) -> jobboard.RedisHuey:
    huey = jobboard.RedisHuey(name, url=url)

    @huey.task(name="charge_card")
    def charge_card(customer: int, amount: float) -> None:
        raise RuntimeError(f"card declined for customer {customer}")

    return huey


def grow(client: redis.Redis, prefix: str, queue: str, target: int) -> None:
    """Copy the queue's real failed records under new ids until it holds ``target``."""
    keys = QueueKeys(prefix, queue)
    failed_key = keys.state("failed")
    templates = [i.decode() for i in client.zrange(failed_key, 0, 49)]
    # the copies are not in the search index (bench_search.py grows an indexed queue)
    records = [{k: v for k, v in client.hgetall(keys.record(t)).items() if k != b"n"}
               for t in templates]
    blobs = [client.get(keys.blob(t)) for t in templates]
    task = records[0][b"task"].decode()
    task_key = keys.task_state("failed", task)
    have = client.zcard(failed_key)
    base_score = int(client.zrange(failed_key, 0, 0, withscores=True)[0][1]) - target
    pipe = client.pipeline(transaction=False)
    for n in range(have, target):
        job_id = f"copy-{n:07d}"
        t = n % len(templates)
        score = base_score + n
        pipe.hset(keys.record(job_id), mapping=records[t])
        if blobs[t]:
            pipe.set(keys.blob(job_id), blobs[t])
        pipe.zadd(failed_key, {job_id: score})
        pipe.zadd(task_key, {job_id: score})
        if n % 5000 == 0:
            pipe.execute()
    pipe.execute()


def medians_ms(client, urls: list[str], repeat: int) -> list[float]:
    """Median server time of each URL, measured interleaved so drift hits all alike."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    times: list[list[float]] = [[] for _ in urls]
    for url in urls:
        for _ in range(3):
            client.get(url, headers=headers)  # warm up
    for _ in range(repeat):
        for i, url in enumerate(urls):
            t0 = time.perf_counter()
            resp = client.get(url, headers=headers)
            times[i].append(time.perf_counter() - t0)
            assert resp.status_code == 200, (url, resp.status_code)
    return [statistics.median(t) * 1000 for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=100)
    args = ap.parse_args()
    logging.getLogger("huey").setLevel(logging.CRITICAL)  # a traceback per failing job

    with RedisServer() as server:
        url = server.url
        client = redis.Redis.from_url(url)
        small, big = make_huey(url, "small"), make_huey(url, "big")
        t0 = time.time()
        fail_jobs(small, args.small)
        fail_jobs(big, args.small)
        print(f"real consumer failed {2 * args.small:,} jobs in {time.time() - t0:.1f} s")
        t0 = time.time()
        grow(client, big.jobboard.config.prefix, "big", args.jobs)
        print(f"grew 'big' to {client.zcard(QueueKeys(big.jobboard.config.prefix, 'big').state('failed')):,} "
              f"failed jobs in {time.time() - t0:.1f} s; redis used_memory "
              f"{client.info('memory')['used_memory_human']}")

        app = Flask("bench")
        app.config.update(SECRET_KEY="bench", JOBBOARD_API_TOKENS={TOKEN: "viewer"})
        JobBoard(app, hueys=[small, big])
        tc = app.test_client()
        pages = {
            "first page": "state=failed",
            "deep page": "state=failed&page=30",
            "task filter": "state=failed&task=charge_card&page=2",
            "100 per page": "state=failed&per_page=100",
        }
        print(f"\n{'failed tab':<14} {'1k jobs':>10} {'1M jobs':>10} {'ratio':>7}")
        worst = 0.0
        for label, query in pages.items():
            a, b = medians_ms(tc, [f"{PREFIX}/queues/small?{query}",
                                   f"{PREFIX}/queues/big?{query}"], args.repeat)
            worst = max(worst, b / a)
            print(f"{label:<14} {a:>8.2f}ms {b:>8.2f}ms {b / a:>7.2f}")
        print(f"\nworst ratio 1M/1k: {worst:.2f} (target <= 1.5) -> {'OK' if worst <= 1.5 else 'FAIL'}")


if __name__ == "__main__":
    main()
