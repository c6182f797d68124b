"""Enqueue rate and drain throughput: jobboard.RedisHuey vs huey.PriorityRedisHuey.

Both run in this one process against the same private Redis, no-op tasks, 4 thread
workers, alternating rounds so drift hits both alike. Prints the figures and the ratios
(jobboard / huey). The issue asks for >= 0.80 on both.

    python bench/bench_throughput.py [--tasks 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402
from huey import PriorityRedisHuey  # noqa: E402

import jobboard  # noqa: E402
from jobboard.redis_server import RedisServer  # noqa: E402


def build(kind: str, url: str, name: str):  # type: ignore[no-untyped-def]
    # completed jobs are all kept, so the bench can count them (default cap: 10,000)
    huey = (jobboard.RedisHuey(name, url=url, results=False, retention={"completed": (None, None)})
            if kind == "jobboard"
            else PriorityRedisHuey(name, url=url, results=False))

    @huey.task()
    def noop(i: int) -> None:
        return None

    return huey, noop


def run_once(kind: str, url: str, n: int, round_no: int) -> tuple[float, float]:
    """(enqueue per second, drain per second)."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    huey, noop = build(kind, url, f"bench{round_no}")
    t0 = time.perf_counter()
    for i in range(n):
        noop(i)
    enqueue_rate = n / (time.perf_counter() - t0)
    assert huey.pending_count() == n
    consumer = huey.create_consumer(workers=4, worker_type="thread", periodic=False,
                                    initial_delay=0.001, max_delay=0.01)
    t0 = time.perf_counter()
    consumer.start()
    if kind == "jobboard":
        q = jobboard.Board([huey]).queue(huey.storage.name)
        while q.counts()["completed"] < n:
            time.sleep(0.005)
    else:
        while huey.pending_count() > 0:
            time.sleep(0.005)
    drain_rate = n / (time.perf_counter() - t0)
    consumer.stop(graceful=True)
    return enqueue_rate, drain_rate


def script_floor(url: str, n: int = 3000) -> float:
    """Time of an EVALSHA of an empty Lua script / a plain ZADD, same payload, one client.

    Any enqueue that writes a job record atomically through Lua pays at least this."""
    client = redis.Redis.from_url(url)
    empty = client.register_script("return 1")
    payload = b"x" * 120
    best = {"lua": float("inf"), "zadd": float("inf")}
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(n):
            empty(args=["jb:{q}:", str(i), payload])
        best["lua"] = min(best["lua"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i in range(n):
            client.zadd("bench:floor", {payload + str(i).encode(): 1})
        best["zadd"] = min(best["zadd"], time.perf_counter() - t0)
    client.delete("bench:floor")
    return best["zadd"] / best["lua"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with RedisServer() as server:
        results: dict[str, list[tuple[float, float]]] = {"huey": [], "jobboard": []}
        for r in range(args.rounds):
            for kind in ("huey", "jobboard") if r % 2 == 0 else ("jobboard", "huey"):
                results[kind].append(run_once(kind, server.url, args.tasks, r))
                e, d = results[kind][-1]
                print(f"round {r + 1} {kind:9s} enqueue {e:8.0f}/s   drain {d:8.0f}/s", flush=True)
        floor = script_floor(server.url)
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
           for k, v in results.items()}
    print(f"\nmedian over {args.rounds} rounds of {args.tasks} no-op tasks, 4 thread workers:")
    for k, (e, d) in med.items():
        print(f"  {k:9s} enqueue {e:8.0f}/s   drain {d:8.0f}/s")
    print(f"floor: a round trip running an empty Lua script is {floor:.2f} "
          "of a ZADD's rate here")
    print(f"ratio jobboard/huey: enqueue {med['jobboard'][0] / med['huey'][0]:.2f}   "
          f"drain {med['jobboard'][1] / med['huey'][1]:.2f}   (target >= 0.80)")


if __name__ == "__main__":
    main()
