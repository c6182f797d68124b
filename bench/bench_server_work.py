"""Redis server work per job lifecycle, in instructions (valgrind callgrind): load-proof.

INFO commandstats times are wall-clock inside the server, so on a shared machine they swell
with whatever else runs (we saw ENQUEUE at 20 to 60 µs from one hour to the next). The
instructions redis-server executes for the same work do not: this runs a private
redis-server under callgrind, enqueues ``--jobs`` no-op jobs one at a time, drains them with
one worker thread, and prints instructions per job for each phase, for this checkout and,
with ``--before DIR``, for another one (``git archive <commit> | tar -x -C DIR``), each in
a process of its own. Needs valgrind; slow (the server runs ~50x slower under callgrind).

    python bench/bench_server_work.py [--jobs 2000] [--before DIR] [--bullmq] [--payload email] [--index off]

``--bullmq`` measures BullMQ the same way (``bench/peers/bullmq_side.mjs``: ``add()`` one at
a time, then a Worker of concurrency 1; ``cd bench/peers && npm install`` once) and prints
jobboard's ratios to it.

The counts include what else the server does meanwhile (the heartbeat, the counters'
writes, the bench's ZCARD polls), which under callgrind's slowness weigh more per job than
at full speed: an upper bound, comparable between checkouts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import glob, json, os, re, subprocess, sys, time
root, n, out_dir, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
email, index = sys.argv[5] == "email", sys.argv[6] == "on"
sys.path.insert(0, root)
import redis, jobboard
from bench.bench_memory import email_payload
server = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/cg.%p",
                           "redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
url = f"redis://127.0.0.1:{port}/0"
client = redis.Redis.from_url(url)
for _ in range(600):
    try:
        client.ping()
        break
    except redis.ConnectionError:
        time.sleep(0.1)

def instructions():
    subprocess.run(["callgrind_control", "-d", str(server.pid)], capture_output=True)
    time.sleep(0.5)
    dump = sorted(glob.glob(f"{out_dir}/cg.*"), key=os.path.getmtime)[-1]
    return int(re.search(r"^summary: (\d+)", open(dump).read(), re.M).group(1))

def zero():
    subprocess.run(["callgrind_control", "-z", str(server.pid)], capture_output=True)

try:
    huey = jobboard.RedisHuey("work", url=url, results=False, retention={"completed": (None, None)},
                            search_index=index)

    @huey.task()
    def noop(i):
        return None

    noop(-1)  # connections and script loads, not counted
    zero()
    for i in range(n):
        noop(email_payload(i) if email else i)
    enqueue = instructions()
    zero()
    consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=False,
                                    initial_delay=0.001, max_delay=0.01, check_worker_health=False)
    done = huey.storage.keys.state("completed")
    consumer.start()
    while client.zcard(done) < n + 1:
        time.sleep(0.2)
    drain = instructions()
    consumer.stop(graceful=True)
    print(json.dumps({"enqueue": enqueue / n, "drain": drain / n}))
finally:
    server.terminate()
    server.wait()
"""


BULLMQ_CHILD = r"""
import glob, json, os, re, subprocess, sys, time
import redis
side, n, out_dir, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
server = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/cg.%p",
                           "redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
client = redis.Redis(port=port)
for _ in range(600):
    try:
        client.ping()
        break
    except redis.ConnectionError:
        time.sleep(0.1)
url = f"redis://127.0.0.1:{port}/0"

def instructions():
    subprocess.run(["callgrind_control", "-d", str(server.pid)], capture_output=True)
    time.sleep(0.5)
    dump = sorted(glob.glob(f"{out_dir}/cg.*"), key=os.path.getmtime)[-1]
    return int(re.search(r"^summary: (\d+)", open(dump).read(), re.M).group(1))

def node(*argv):
    subprocess.run(["node", side, url, *argv], check=True, capture_output=True, timeout=3600)

try:
    node("warm", "enqueue", "1")  # script loads and connections, not counted
    node("warm", "drain", "1", "1")
    subprocess.run(["callgrind_control", "-z", str(server.pid)], capture_output=True)
    node("work", "enqueue", str(n))  # its first add() is untimed by the side, counted here
    enqueue = instructions()
    subprocess.run(["callgrind_control", "-z", str(server.pid)], capture_output=True)
    node("work", "drain", str(n), "1")
    drain = instructions()
    print(json.dumps({"enqueue": enqueue / (n + 1), "drain": drain / (n + 1)}))
finally:
    server.terminate()
    server.wait()
"""


def measure_bullmq(jobs: int, port: int) -> dict[str, float]:
    side = ROOT / "bench" / "peers" / "bullmq_side.mjs"
    if not (side.parent / "node_modules" / "bullmq").exists():
        raise SystemExit("BullMQ is not installed: cd bench/peers && npm install")
    with tempfile.TemporaryDirectory() as out_dir:
        proc = subprocess.run([sys.executable, "-c", BULLMQ_CHILD, str(side), str(jobs), out_dir,
                               str(port)], capture_output=True, text=True, timeout=7200)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode or not lines:
        raise SystemExit(f"measuring BullMQ failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def measure(root: str, jobs: int, port: int, payload: str = "number", index: str = "on") -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out_dir:
        proc = subprocess.run([sys.executable, "-c", CHILD, root, str(jobs), out_dir, str(port), payload, index],
                              capture_output=True, text=True, timeout=3600,
                              env=dict(os.environ, PYTHONPATH=root))
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode or not lines:
        raise SystemExit(f"measuring {root} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--before", help="another checkout, measured the same way")
    ap.add_argument("--payload", choices=("number", "email"), default="number",
                    help="each job's argument: its number, or the realistic ~330-byte email "
                         "payload of bench_memory (about 25 search tokens a job)")
    ap.add_argument("--index", choices=("on", "off"), default="on", help="the search index (search_index=)")
    ap.add_argument("--bullmq", action="store_true", help="BullMQ too (bench/peers, npm install)")
    args = ap.parse_args()
    runs = {"this checkout": str(ROOT)} | ({"before": args.before} if args.before else {})
    results = {}
    for i, (label, root) in enumerate(runs.items()):
        results[label] = r = measure(root, args.jobs, 6700 + i, args.payload, args.index)
        print(f"{label:14} instructions per job: enqueue {r['enqueue']:9,.0f}  take+end "
              f"{r['drain']:9,.0f}  lifecycle {r['enqueue'] + r['drain']:9,.0f}", flush=True)
    if args.bullmq:
        results["bullmq"] = r = measure_bullmq(args.jobs, 6750)
        print(f"{'BullMQ':14} instructions per job: enqueue {r['enqueue']:9,.0f}  take+end "
              f"{r['drain']:9,.0f}  lifecycle {r['enqueue'] + r['drain']:9,.0f}", flush=True)
        now, peer = results["this checkout"], results["bullmq"]
        print(f"ratio jobboard/BullMQ: enqueue {now['enqueue'] / peer['enqueue']:.2f}  take+end "
              f"{now['drain'] / peer['drain']:.2f}  lifecycle "
              f"{(now['enqueue'] + now['drain']) / (peer['enqueue'] + peer['drain']):.2f}")
    if args.before:
        now, old = results["this checkout"], results["before"]
        print(f"ratio this/before: enqueue {now['enqueue'] / old['enqueue']:.2f}  take+end "
              f"{now['drain'] / old['drain']:.2f}  lifecycle "
              f"{(now['enqueue'] + now['drain']) / (old['enqueue'] + old['drain']):.2f}")


if __name__ == "__main__":
    main()
