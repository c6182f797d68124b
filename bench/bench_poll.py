"""Redis commands per poll interval: 20 concurrent pollers / 1 poller.

One private redis-server with a few queues holding jobs; the dashboard served by werkzeug
(threaded) on a loopback port, exactly as a browser would reach it. Each poller is a thread
that does what an open tab does: every poll interval, GET the overview and a queue's failed
tab as htmx live-update fragments (``HX-Request`` + ``X-Jobboard-Poll``), each poller
starting at its own random phase. Redis work is counted with ``INFO commandstats`` (every
command, pipelined or not), divided by the number of intervals.

Prints the ratio; target <= 2. Run: ``python bench/bench_poll.py``.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from flask import Flask  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import jobboard  # noqa: E402
from jobboard.redis_server import RedisServer  # noqa: E402
from jobboard import JobBoard  # noqa: E402

PREFIX = "/admin/queues"
TOKEN = "bench-token"
POLL = 2.0  # seconds: the floor, the most demanding setting
IGNORED = ("cmdstat_info", "cmdstat_config")


def commands(client: redis.Redis) -> int:
    return sum(v["calls"] for k, v in client.info("commandstats").items()
               if not k.startswith(IGNORED))


def poller(base: str, paths: list[str], stop: threading.Event, polls: list[int]) -> None:
    headers = {"HX-Request": "true", "X-Jobboard-Poll": "1",
               "Authorization": f"Bearer {TOKEN}"}
    time.sleep(random.uniform(0, POLL))  # tabs opened at different moments
    while not stop.is_set():
        for path in paths:
            req = urllib.request.Request(base + path, headers=headers)
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
            polls[0] += 1
        stop.wait(POLL)


def measure(base: str, client: redis.Redis, n: int, intervals: int) -> tuple[float, int]:
    paths = [f"{PREFIX}/", f"{PREFIX}/queues/emails?state=failed"]
    stop = threading.Event()
    polls = [0]
    threads = [threading.Thread(target=poller, args=(base, paths, stop, polls), daemon=True)
               for _ in range(n)]
    before = commands(client)
    for t in threads:
        t.start()
    time.sleep(POLL * intervals)
    stop.set()
    for t in threads:
        t.join(10)
    return (commands(client) - before) / intervals, polls[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pollers", type=int, default=20)
    ap.add_argument("--intervals", type=int, default=8)
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        hueys = []
        for name in ("emails", "reports", "billing"):
            h = jobboard.RedisHuey(name, url=server.url)

            @h.task(name="work")
            def work(n: int) -> int:
                return n

            q = jobboard.Board([h]).queue(name)
            for i in range(200):
                q.enqueue("work", [i], delay=3600 if i % 2 else None)
            hueys.append(h)

        app = Flask("bench")
        app.config.update(SECRET_KEY="bench", JOBBOARD_API_TOKENS={TOKEN: "viewer"},
                          JOBBOARD_POLL_SECONDS=POLL)
        JobBoard(app, hueys=hueys)
        http = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=http.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{http.server_port}"
        try:
            one, p1 = measure(base, client, 1, args.intervals)
            many, pn = measure(base, client, args.pollers, args.intervals)
        finally:
            http.shutdown()
        ratio = many / one
        print(f"poll interval {POLL:g} s, {args.intervals} intervals, each poll = overview + "
              f"failed tab fragments")
        print(f"1 poller:   {p1:5d} requests, {one:8.1f} Redis commands per interval")
        print(f"{args.pollers} pollers: {pn:5d} requests, {many:8.1f} Redis commands per interval")
        print(f"ratio {args.pollers}/1: {ratio:.2f} (target <= 2) -> {'OK' if ratio <= 2 else 'FAIL'}")


if __name__ == "__main__":
    main()
