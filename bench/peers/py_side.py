"""Python side of bench/peers/run.py: one phase of one system per process, one JSON line out.

    python bench/peers/py_side.py --root DIR --system jobboard|huey --url URL --queue NAME \
        --phase enqueue|bulk|drain --tasks N [--kind thread|process|greenlet] [--workers W]

``--root`` is the checkout whose ``jobboard`` is imported (run.py passes this one, or an
older checkout for a before/after column). Each drain runs in a fresh process so that
greenlet workers can monkey-patch before anything else is imported, and so that no run
inherits another's connections or threads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--system", choices=("jobboard", "huey"), required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--queue", required=True)
    ap.add_argument("--phase", choices=("enqueue", "bulk", "drain"), required=True)
    ap.add_argument("--tasks", type=int, required=True)
    ap.add_argument("--kind", default="thread")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1000)
    return ap.parse_args()


ARGS = parse()
if ARGS.phase == "drain" and ARGS.kind == "greenlet":
    from gevent import monkey

    monkey.patch_all()

sys.path.insert(0, ARGS.root)

import redis  # noqa: E402
from huey import PriorityRedisHuey  # noqa: E402


def build() -> tuple[Any, Any, str]:
    """(huey, its no-op task, the sorted set whose ZCARD tells how far the drain is)."""
    if ARGS.system == "jobboard":
        import jobboard

        # Completed jobs are all kept, as BullMQ keeps them by default.
        huey = jobboard.RedisHuey(ARGS.queue, url=ARGS.url, results=False,
                                  retention={"completed": (None, None)})
        done_key = huey.storage.keys.state("completed")
    else:
        huey = PriorityRedisHuey(ARGS.queue, url=ARGS.url, results=False)
        done_key = huey.storage.queue_key

    @huey.task()
    def noop(i: int) -> None:
        return None

    return huey, noop, done_key


def main() -> None:
    huey, noop, done_key = build()
    n = ARGS.tasks
    out: dict[str, Any] = {}
    if ARGS.phase == "enqueue":
        noop(-1)  # first call: connection and script load, not timed
        t0 = time.perf_counter()
        for i in range(n):
            noop(i)
        out["seconds"] = time.perf_counter() - t0
    elif ARGS.phase == "bulk":
        noop(-1)
        t0 = time.perf_counter()
        for start in range(0, n, ARGS.batch):
            huey.enqueue_many(noop.s(i) for i in range(start, min(n, start + ARGS.batch)))
        out["seconds"] = time.perf_counter() - t0
    else:
        total = n + 1  # the untimed first job of the enqueue phase
        client = redis.Redis.from_url(ARGS.url)
        consumer = huey.create_consumer(workers=ARGS.workers, worker_type=ARGS.kind,
                                        periodic=False, initial_delay=0.001, max_delay=0.01,
                                        check_worker_health=False)
        if ARGS.system == "jobboard":
            def done() -> bool:
                return int(client.zcard(done_key)) >= total
        else:  # Huey keeps no record of finished jobs: done once nothing is left to take
            def done() -> bool:
                return int(client.zcard(done_key)) == 0
        t0 = time.perf_counter()
        consumer.start()
        while not done():
            time.sleep(0.002)
        out["seconds"] = time.perf_counter() - t0
        n = total
        consumer.stop(graceful=True)
    out["rate"] = n / out["seconds"]
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
