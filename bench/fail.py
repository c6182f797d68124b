"""Failed jobs made the real way, for the page benches: a real consumer runs them.

Only jobboard's public API (``Board``, ``RedisHuey.create_consumer``), so that a bench
running another checkout's jobboard (``--before`` / ``--baseline``) can use it too.
"""

from __future__ import annotations

import time
from typing import Any

import jobboard


def fail_jobs(huey: Any, n: int, kwargs: dict[str, Any] | None = None,
              timeout: float = 300) -> None:
    """Run ``n`` jobs of the huey's ``charge_card`` task (which raises) through a consumer
    of 4 threads in this process, until all ``n`` are failed; SystemExit after ``timeout``."""
    q = jobboard.Board([huey]).queue(huey.name)
    for i in range(n):
        q.enqueue("charge_card", [i, 9.99], kwargs, retries=0)
    consumer = huey.create_consumer(workers=4, worker_type="thread", periodic=False,
                                    check_worker_health=False)
    consumer.scheduler.start()
    for _, worker in consumer.worker_threads:
        worker.start()
    deadline = time.time() + timeout
    try:
        while q.counts()["failed"] < n:
            if time.time() > deadline:
                raise SystemExit("the consumer did not fail the jobs in time")
            time.sleep(0.2)
    finally:
        consumer.stop(graceful=True)
