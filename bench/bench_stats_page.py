"""Size of the metrics page as sent (raw and gzipped) for the 1 h, 24 h and 7 d windows.

330 jobs finished by a real consumer (300 completed, 30 failed) against a private
redis-server, the page fetched through Flask's test client with ``Accept-Encoding: gzip``.
With ``--baseline DIR`` (e.g. ``git archive main | tar -x -C /tmp/base``) the same runs on
that code in a subprocess and both are printed side by side.
Run: ``python bench/bench_stats_page.py --baseline /tmp/base``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.environ.get("JOBBOARD_BENCH_ROOT", str(ROOT)))

WINDOWS = ("1h", "24h", "7d")


def measure() -> dict[str, Any]:
    import logging

    from tests.support import PREFIX, login, make_app, make_huey, running_consumers

    from jobboard.redis_server import RedisServer
    logging.getLogger("huey").setLevel(logging.CRITICAL)
    out: dict[str, Any] = {}
    with RedisServer() as server:
        huey = make_huey(server.url)
        app = make_app(huey)
        q = app.extensions["jobboard"].board.queue("emails")
        for i in range(300):
            q.enqueue("add", [i, 1])
        for _ in range(30):
            q.enqueue("boom", ["x"], retries=0)
        with running_consumers([huey]):
            deadline = time.time() + 120
            while q.counts()["completed"] + q.counts()["failed"] < 330 and time.time() < deadline:
                time.sleep(0.2)
        client = app.test_client()
        login(client, "viewer")
        for window in WINDOWS:
            r = client.get(f"{PREFIX}/stats?window={window}", headers={"Accept-Encoding": "gzip"})
            body = r.get_data()
            raw = gzip.decompress(body) if r.headers.get("Content-Encoding") == "gzip" else body
            out[window] = {"raw_kb": len(raw) / 1024, "sent_kb": len(body) / 1024}
    return out


def run(root: str) -> dict[str, Any]:
    env = dict(os.environ, JOBBOARD_BENCH_ROOT=root, PYTHONPATH=root)
    done = subprocess.run([sys.executable, __file__, "--measure"], env=env, cwd=root,
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", help="a checkout of the code to compare with")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure()))
        return
    runs = {"this": run(str(ROOT))}
    if args.baseline:
        runs["baseline"] = run(str(Path(args.baseline).resolve()))
    print(f"{'metrics page, KB (raw / gzipped)':36}" + "".join(f"{c:>22}" for c in runs))
    for w in WINDOWS:
        print(f"{'  window ' + w:36}" + "".join(
            f"{runs[c][w]['raw_kb']:12.1f} / {runs[c][w]['sent_kb']:6.1f}" for c in runs))


if __name__ == "__main__":
    main()
