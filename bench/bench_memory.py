"""Redis memory per retained completed job (small args), through a real consumer.

Measures INFO used_memory before enqueueing and after the consumer completed N no-op jobs
(so records, state sets and per-task indexes are counted; per-minute metric hashes are a
fixed cost and are subtracted), and prints bytes per job. Target <= 600 bytes.

    python bench/bench_memory.py [--jobs 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

import jobboard  # noqa: E402
from jobboard.redis_server import RedisServer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=20_000)
    args = ap.parse_args()
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        huey = jobboard.RedisHuey("mem", url=server.url, results=False,
                                   retention={"completed": (None, None)})  # keep them all

        @huey.task()
        def send_email(to: str, template: str) -> None:
            return None

        q = jobboard.Board([huey]).queue("mem")
        send_email("warmup@example.com", "reminder")
        consumer = huey.create_consumer(workers=4, worker_type="thread", periodic=False)
        consumer.start()
        while q.counts()["completed"] < 1:
            time.sleep(0.01)
        client.execute_command("MEMORY", "PURGE")
        before = client.info("memory")["used_memory"]
        for i in range(args.jobs):
            send_email(f"client{i}@example.com", "appointment-confirmation")
        while q.counts()["completed"] < args.jobs + 1:
            time.sleep(0.05)
        consumer.stop(graceful=True)
        client.execute_command("MEMORY", "PURGE")
        after = client.info("memory")["used_memory"]
        metric_bytes = sum(client.memory_usage(k) or 0 for k in client.scan_iter(match="*:mx:*"))
        metric_bytes += sum(client.memory_usage(k) or 0 for k in client.scan_iter(match="*:md:*"))
        sample = q.jobs("completed", limit=1).jobs[0].id
        print(f"{args.jobs:,} completed jobs; used_memory grew {after - before:,} bytes "
              f"(metric hashes {metric_bytes:,} bytes, not per job)")
        print(f"one record hash (MEMORY USAGE): {client.memory_usage(q.keys.record(sample))} bytes")
        per_job = (after - before - metric_bytes) / args.jobs
        print(f"memory per retained completed job: {per_job:.0f} bytes (target <= 600)")


if __name__ == "__main__":
    main()
