"""Enqueue and drain on a 3-master Redis Cluster vs one Redis, side by side in one run.

Three queues, one per master on the cluster (all on the one server otherwise); one
producer thread per queue enqueues ``--tasks`` no-op jobs, then one in-process consumer
per queue (``--workers`` threads each) drains them. Prints jobs/s of each and the ratio
cluster / single. All nodes run on this one machine, so the cluster gains no CPU: the
ratio shows what routing through ``RedisCluster`` costs, not what more machines give.

    python bench/bench_cluster.py [--tasks 3000] [--workers 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jobboard
from jobboard.redis_server import RedisServer
from tests.cluster_support import LocalCluster, queues_on_distinct_masters


def hueys_for(url: str, names: list[str]) -> list[Any]:
    out = []
    for name in names:
        h = jobboard.RedisHuey(name, url=url, results=False,
                               retention={"completed": (None, None)})

        @h.task()
        def noop(i: int) -> None:
            return None

        h.noop = noop
        out.append(h)
    return out


def run(hueys: list[Any], tasks: int, workers: int) -> tuple[float, float]:
    """(enqueue jobs/s, drain jobs/s) over all queues."""
    def produce(h: Any) -> None:
        for i in range(tasks):
            h.noop(i)

    threads = [threading.Thread(target=produce, args=(h,)) for h in hueys]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    enqueue = len(hueys) * tasks / (time.perf_counter() - t0)
    board = jobboard.Board(hueys)
    consumers = [h.create_consumer(workers=workers, worker_type="thread", periodic=False,
                                   check_worker_health=False) for h in hueys]
    t0 = time.perf_counter()
    for c in consumers:
        c.scheduler.start()
        for _, w in c.worker_threads:
            w.start()
    while sum(board.queue(h.name).counts()["completed"] for h in hueys) < len(hueys) * tasks:
        time.sleep(0.05)
    drain = len(hueys) * tasks / (time.perf_counter() - t0)
    for c in consumers:
        c.stop(graceful=True)
    return enqueue, drain


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=3000, help="jobs per queue")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    cluster = LocalCluster().start()
    single = RedisServer().start()
    try:
        ratios: dict[str, list[float]] = {"enqueue": [], "drain": []}
        for r in range(args.rounds):
            res = {}
            order = [("cluster", cluster.url), ("single", single.url)]
            for kind, url in (order if r % 2 == 0 else order[::-1]):
                hs = hueys_for(url, queues_on_distinct_masters(cluster, stem=f"r{r}q"))
                res[kind] = run(hs, args.tasks, args.workers)
            for i, what in enumerate(("enqueue", "drain")):
                ratios[what].append(res["cluster"][i] / res["single"][i])
            print(f"round {r + 1}: enqueue cluster {res['cluster'][0]:.0f}/s single "
                  f"{res['single'][0]:.0f}/s; drain cluster {res['cluster'][1]:.0f}/s single "
                  f"{res['single'][1]:.0f}/s")
        print(f"\n3 queues x {args.tasks} no-op jobs, {args.workers} worker threads per queue:")
        for what, values in ratios.items():
            print(f"  {what} ratio cluster (3 masters) / one Redis: median "
                  f"{statistics.median(values):.3f} (rounds: {', '.join(f'{v:.2f}' for v in values)})")
    finally:
        cluster.stop()
        single.stop()


if __name__ == "__main__":
    main()
