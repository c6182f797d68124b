"""Core read cost with 1,000,000 recorded jobs vs 1,000: counts, first page, deep page, job.

One run, one private redis-server. Queue ``small`` holds 1,000 failed jobs, ``big`` the
same 1,000 grown to 1,000,000 by copying their real records (see bench_pages.py, whose
fill helpers this reuses). Each call is timed interleaved, many times; the medians and the
ratio big/small are printed. Target: <= 1.5 for each.

    python bench/bench_queries.py [--jobs 1000000] [--repeat 300]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

import jobboard  # noqa: E402
from bench.bench_pages import fail_jobs, grow, make_huey  # noqa: E402
from jobboard.redis_server import RedisServer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=300)
    args = ap.parse_args()
    logging.getLogger("huey").setLevel(logging.CRITICAL)
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        small, big = make_huey(server.url, "small"), make_huey(server.url, "big")
        fail_jobs(small, args.small)
        fail_jobs(big, args.small)
        grow(client, big.jobboard.config.prefix, "big", args.jobs)
        board = jobboard.Board([small, big])
        queues = {"small": board.queue("small"), "big": board.queue("big")}
        ids = {n: q.jobs("failed", limit=1).jobs[0].id for n, q in queues.items()}
        task = queues["small"].tasks()[0]
        assert queues["big"].jobs("failed", limit=25, task=task).total == args.jobs
        print(f"failed jobs: small {queues['small'].counts()['failed']:,}, "
              f"big {queues['big'].counts()['failed']:,}")
        calls = {
            "counts()": lambda q, n: q.counts(),
            "jobs(failed) first page": lambda q, n: q.jobs("failed", limit=25),
            "jobs(failed) deep page": lambda q, n: q.jobs("failed", offset=args.small - 25, limit=25),
            "jobs(failed, task=...)": lambda q, n: q.jobs("failed", limit=25, task=task),
            "job(id)": lambda q, n: q.job(ids[n]),
        }
        times = {(c, n): [] for c in calls for n in queues}
        for _ in range(args.repeat):
            for c, fn in calls.items():
                for n, q in queues.items():
                    t0 = time.perf_counter()
                    fn(q, n)
                    times[(c, n)].append(time.perf_counter() - t0)
        print(f"\nmedian of {args.repeat} calls each (ms), {args.jobs:,} vs {args.small:,} jobs:")
        worst = 0.0
        for c in calls:
            s = statistics.median(times[(c, "small")]) * 1000
            b = statistics.median(times[(c, "big")]) * 1000
            worst = max(worst, b / s)
            print(f"  {c:26s} small {s:7.3f}   big {b:7.3f}   ratio {b / s:5.2f}")
        print(f"worst ratio big/small: {worst:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
