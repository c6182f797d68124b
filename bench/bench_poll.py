"""What an open dashboard tab costs: bytes over the wire and Redis work per poll.

Three measurements, each against one private redis-server and the dashboard served by
werkzeug (threaded) on a loopback port, reached over HTTP exactly as a browser does:

1. **Bytes per minute** of one idle open overview tab and one idle failed tab (100 rows):
   a poller sends what the page's live update sends every poll interval (5 s, the
   default): ``HX-Request`` + ``X-Jobboard-Poll``, ``Accept-Encoding: gzip, br`` and the
   last ``ETag`` as ``If-None-Match``, as the page's script does. Every byte of the
   answers (status line, headers, body as sent) is counted for ``--seconds`` of real
   time. Nothing changes in Redis meanwhile. Goal: <= 5 KB/min.
   Then the same while one job changes per poll interval (a consumer runs and one more job
   fails every 5 s): what a poll that did change something costs.
2. **Redis commands per overview poll** with 4 and with 50 queues (``INFO
   commandstats``, every command, those run inside Lua scripts included). Goal: <= 10
   per queue.
3. **20 pollers / 1 poller**: Redis commands per interval with 20 concurrent tabs
   polling the overview and a failed tab against one (the shared poll cache). Target <= 2.

With ``--baseline DIR`` (a checkout of an older commit, e.g. ``git archive main | tar -x
-C /tmp/base``) the same measurements run on that code too, in a subprocess, and both are
printed side by side. Run: ``python bench/bench_poll.py --baseline /tmp/base``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# --measure runs the measurements on the jobboard found first on sys.path: the baseline's
# when the parent process points JOBBOARD_BENCH_ROOT at it.
sys.path.insert(0, os.environ.get("JOBBOARD_BENCH_ROOT", str(ROOT)))

import redis  # noqa: E402
from flask import Flask  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import jobboard  # noqa: E402
from jobboard import JobBoard  # noqa: E402
from jobboard.redis_server import RedisServer  # noqa: E402

# This checkout's bench helpers, whichever jobboard is measured (appended: they shadow nothing).
sys.path.append(str(Path(__file__).resolve().parent))
from fail import fail_jobs  # noqa: E402

PREFIX = "/admin/queues"
TOKEN = "bench-token"
POLL = 2.0  # seconds, for the pollers ratio: the floor, the most demanding setting
TAB_POLL = 5.0  # seconds, for bytes per minute: the default interval
IGNORED = ("cmdstat_info", "cmdstat_config")
FAILED_TAB = f"{PREFIX}/queues/emails?state=failed&per_page=100"


def commands(client: redis.Redis) -> int:
    return sum(v["calls"] for k, v in client.info("commandstats").items()
               if not k.startswith(IGNORED))


def make_queue(url: str, name: str) -> Any:
    h = jobboard.RedisHuey(name, url=url)

    @h.task(name="work")
    def work(n: int) -> int:
        return n

    @h.task(name="charge_card")
    def charge_card(customer: int, amount: float, note: str = "") -> None:
        raise RuntimeError(f"card declined for customer {customer}")

    return h


class Served:
    """The dashboard for some queues on a loopback port."""

    def __init__(self, url: str, hueys: list[Any], poll: float) -> None:
        app = Flask("bench")
        app.config.update(SECRET_KEY="bench", JOBBOARD_API_TOKENS={TOKEN: "viewer"},
                          JOBBOARD_POLL_SECONDS=poll)
        JobBoard(app, hueys=hueys)
        self.http = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.port = self.http.server_port
        self.base = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.http.shutdown()


def tab(port: int, path: str, seconds: float, out: dict[str, int]) -> None:
    """One idle open tab: poll ``path`` every TAB_POLL s, count every byte of the answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    etag = None
    deadline = time.time() + seconds
    while time.time() < deadline:
        headers = {"HX-Request": "true", "X-Jobboard-Poll": "1", "Authorization": f"Bearer {TOKEN}",
                   "Accept-Encoding": "gzip, br"}
        if etag:
            headers["If-None-Match"] = etag
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()  # as sent: http.client does not decompress
        head = len(f"HTTP/1.1 {resp.status} {resp.reason}\r\n") + 2 + sum(
            len(k) + len(v) + 4 for k, v in resp.getheaders())
        out["bytes"] += head + len(body)
        if out["polls"]:
            out["steady"] += head + len(body)  # after the first answer (the tab's ETag)
        out["polls"] += 1
        out["not_modified"] += resp.status == 304
        etag = resp.getheader("ETag") or etag
        time.sleep(max(0.0, TAB_POLL - 0.01))
    conn.close()


def bytes_per_minute(url: str, seconds: float) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    client.flushdb()
    hueys = [make_queue(url, n) for n in ("emails", "reports", "billing", "sms")]
    fail_jobs(hueys[0], 120, {"note": "monthly plan " * 8}, timeout=120)
    for h in hueys:
        q = jobboard.Board([h]).queue(h.name)
        for i in range(20):
            q.enqueue("work", [i], delay=3600 if i % 2 else None)
    served = Served(url, hueys, TAB_POLL)
    try:
        results = {}
        threads = []
        for name, path in (("overview", f"{PREFIX}/"), ("failed tab", FAILED_TAB)):
            results[name] = {"bytes": 0, "steady": 0, "polls": 0, "not_modified": 0}
            threads.append(threading.Thread(target=tab, args=(served.port, path, seconds,
                                                              results[name])))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        served.close()
    return {name: {"kb_per_min": r["bytes"] / 1024 / (seconds / 60), "polls": r["polls"],
                   "steady_kb_per_min": r["steady"] / 1024 / (max(1, r["polls"] - 1) * TAB_POLL / 60),
                   "not_modified": r["not_modified"]} for name, r in results.items()}


def changing_bytes_per_minute(url: str, seconds: float) -> dict[str, Any]:
    """Bytes per minute of the same two open tabs while one job changes per poll interval:
    a consumer runs, and every TAB_POLL s one more job fails (the failed tab gets a new first
    row and drops its last; the overview's counts and last hour of that queue change)."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    hueys = [make_queue(url, n) for n in ("emails", "reports", "billing", "sms")]
    fail_jobs(hueys[0], 120, {"note": "monthly plan " * 8}, timeout=120)
    for h in hueys:
        q = jobboard.Board([h]).queue(h.name)
        for i in range(20):
            q.enqueue("work", [i], delay=3600 if i % 2 else None)
    emails = jobboard.Board([hueys[0]]).queue("emails")
    consumer = hueys[0].create_consumer(workers=1, worker_type="thread", periodic=False,
                                        check_worker_health=False)
    consumer.scheduler.start()
    for _, worker in consumer.worker_threads:
        worker.start()
    stop = threading.Event()

    def one_change_per_poll() -> None:
        while not stop.wait(TAB_POLL):
            emails.enqueue("charge_card", [0, 1.0], {"note": "monthly plan " * 8}, retries=0)

    changer = threading.Thread(target=one_change_per_poll, daemon=True)
    changer.start()
    served = Served(url, hueys, TAB_POLL)
    try:
        results = {}
        threads = []
        for name, path in (("overview", f"{PREFIX}/"), ("failed tab", FAILED_TAB)):
            results[name] = {"bytes": 0, "steady": 0, "polls": 0, "not_modified": 0}
            threads.append(threading.Thread(target=tab, args=(served.port, path, seconds,
                                                              results[name])))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop.set()
        changer.join(10)
        served.close()
        consumer.stop(graceful=True)
    return {name: {"kb_per_min": r["bytes"] / 1024 / (seconds / 60), "polls": r["polls"],
                   "steady_kb_per_min": r["steady"] / 1024 / (max(1, r["polls"] - 1) * TAB_POLL / 60),
                   "not_modified": r["not_modified"]} for name, r in results.items()}


def overview_commands(url: str, n_queues: int, repeat: int = 5) -> float:
    client = redis.Redis.from_url(url)
    client.flushdb()
    hueys = [make_queue(url, f"q{i:02d}") for i in range(n_queues)]
    fail_jobs(hueys[0], 20, {"note": "monthly plan " * 8}, timeout=120)
    for h in hueys:
        q = jobboard.Board([h]).queue(h.name)
        for i in range(20):
            q.enqueue("work", [i], delay=3600 if i % 2 else None)
    served = Served(url, hueys, TAB_POLL)
    # HX-Request without the poll header: computed afresh each time (no shared cache),
    # which is what every poll of a lone tab costs.
    headers = {"HX-Request": "true", "Authorization": f"Bearer {TOKEN}"}
    try:
        urllib.request.urlopen(urllib.request.Request(served.base + PREFIX + "/", headers=headers)).read()
        before = commands(client)
        for _ in range(repeat):
            with urllib.request.urlopen(urllib.request.Request(served.base + PREFIX + "/",
                                                               headers=headers)) as resp:
                resp.read()
        return (commands(client) - before) / repeat
    finally:
        served.close()


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


def pollers(url: str, n: int, intervals: int) -> dict[str, float]:
    client = redis.Redis.from_url(url)
    client.flushdb()
    hueys = []
    for name in ("emails", "reports", "billing"):
        h = make_queue(url, name)
        q = jobboard.Board([h]).queue(name)
        for i in range(200):
            q.enqueue("work", [i], delay=3600 if i % 2 else None)
        hueys.append(h)
    served = Served(url, hueys, POLL)
    paths = [f"{PREFIX}/", f"{PREFIX}/queues/emails?state=failed"]

    def measure(k: int) -> float:
        stop = threading.Event()
        polls = [0]
        threads = [threading.Thread(target=poller, args=(served.base, paths, stop, polls),
                                    daemon=True) for _ in range(k)]
        before = commands(client)
        for t in threads:
            t.start()
        time.sleep(POLL * intervals)
        stop.set()
        for t in threads:
            t.join(10)
        return (commands(client) - before) / intervals

    try:
        one = measure(1)
        many = measure(n)
    finally:
        served.close()
    return {"one": one, "many": many, "ratio": many / one if one else float("nan")}


def measure_all(args: argparse.Namespace) -> dict[str, Any]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with RedisServer() as server:
        url = server.url
        return {
            "bytes": bytes_per_minute(url, args.seconds),
            "changing": changing_bytes_per_minute(url, args.seconds),
            "commands": {str(n): overview_commands(url, n) for n in (4, 50)},
            "pollers": pollers(url, args.pollers, args.intervals),
        }


def run(root: str, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ, JOBBOARD_BENCH_ROOT=root, PYTHONPATH=root)
    out = subprocess.run(
        [sys.executable, __file__, "--measure", "--seconds", str(args.seconds),
         "--pollers", str(args.pollers), "--intervals", str(args.intervals)],
        env=env, cwd=root, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pollers", type=int, default=20)
    ap.add_argument("--intervals", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60.0, help="idle tab measurement time")
    ap.add_argument("--baseline", help="a checkout of the code to compare with")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure_all(args)))
        return
    runs = {"this": run(str(ROOT), args)}
    if args.baseline:
        runs["baseline"] = run(str(Path(args.baseline).resolve()), args)
    cols = list(runs)
    print(f"idle tabs polled every {TAB_POLL:g} s for {args.seconds:g} s; failed tab = 100 rows")
    print(f"{'':38}" + "".join(f"{c:>14}" for c in cols))
    for name in ("overview", "failed tab"):
        print(f"{name + ' KB/min (goal <= 5)':38}"
              + "".join(f"{runs[c]['bytes'][name]['kb_per_min']:14.1f}" for c in cols))
        print(f"{'  after the first answer, KB/min':38}"
              + "".join(f"{runs[c]['bytes'][name].get('steady_kb_per_min', float('nan')):14.1f}"
                        for c in cols))
        print(f"{'  polls / 304 answers':38}"
              + "".join(f"{runs[c]['bytes'][name]['polls']:>8} / {runs[c]['bytes'][name]['not_modified']:<3}"
                        for c in cols))
    print(f"one job changes per {TAB_POLL:g} s poll (a new failure in emails):")
    for name in ("overview", "failed tab"):
        print(f"{'  ' + name + ' KB/min':38}"
              + "".join(f"{runs[c]['changing'][name]['kb_per_min']:14.1f}" for c in cols))
        print(f"{'    after the first answer, KB/min':38}"
              + "".join(f"{runs[c]['changing'][name]['steady_kb_per_min']:14.1f}" for c in cols))
        print(f"{'    polls / 304 answers':38}"
              + "".join(f"{runs[c]['changing'][name]['polls']:>8} / {runs[c]['changing'][name]['not_modified']:<3}"
                        for c in cols))
    for n in ("4", "50"):
        print(f"{'Redis commands per overview poll, ' + n + ' q':38}"
              + "".join(f"{runs[c]['commands'][n]:14.1f}" for c in cols))
        print(f"{'  per queue (goal <= 10)':38}"
              + "".join(f"{runs[c]['commands'][n] / int(n):14.1f}" for c in cols))
    print(f"{f'{args.pollers} pollers / 1 (target <= 2)':38}"
          + "".join(f"{runs[c]['pollers']['ratio']:14.2f}" for c in cols))
    if "baseline" in runs:
        b, t = runs["baseline"], runs["this"]
        print("ratios this/baseline: overview bytes "
              f"{t['bytes']['overview']['kb_per_min'] / b['bytes']['overview']['kb_per_min']:.3f}, "
              f"failed tab bytes {t['bytes']['failed tab']['kb_per_min'] / b['bytes']['failed tab']['kb_per_min']:.3f}, "
              f"changing overview {t['changing']['overview']['steady_kb_per_min'] / b['changing']['overview']['steady_kb_per_min']:.3f}, "
              f"changing failed tab {t['changing']['failed tab']['steady_kb_per_min'] / b['changing']['failed tab']['steady_kb_per_min']:.3f}, "
              f"commands 4 q {t['commands']['4'] / b['commands']['4']:.3f}, "
              f"50 q {t['commands']['50'] / b['commands']['50']:.3f}")


if __name__ == "__main__":
    main()
