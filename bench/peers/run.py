"""jobboard against its peers, side by side on one private Redis: BullMQ and Huey.

    cd bench/peers && npm install && cd ../..      # BullMQ, once (node_modules is git-ignored)
    python bench/peers/run.py [--tasks 20000] [--rounds 2] [--before DIR] [--quick]

For every configuration of every system, on a freshly flushed private ``redis-server``:

- **enqueue**: ``--tasks`` no-op jobs one at a time (each call waits for its reply);
- **drain**: a consumer of that configuration runs them all; rate = jobs / wall time
  from the consumer's start to the last job done;
- **bulk** (jobboard's ``enqueue_many`` and BullMQ's ``addBulk``): batches of 1,000.

Each phase runs in a process of its own (so greenlet workers can monkey-patch first) and
the order of the systems flips every round. Redis server time per job comes from
``INFO commandstats`` (reset before each phase): the scripts (EVALSHA, whose time includes
the commands they call) plus the blocking pops a consumer waits in; Huey runs no scripts,
so all its commands count, except the bench's own ZCARD polls. jobboard's heartbeat
commands outside scripts (a few per consumer every 10 s) are left out.

``--before DIR`` adds ``jobboard-before``: the same runs with the ``jobboard`` package of
another checkout (for example ``git archive <commit> | tar -x -C DIR``), for before/after
figures in the same run. Not part of the test suite; the machine's noise shows in the
min-max columns.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from jobboard.redis_server import RedisServer  # noqa: E402

# (system, worker kind, workers); BullMQ's "kind" is its in-process concurrency.
PY_CONFIGS = [("thread", 4), ("process", 2), ("process", 4), ("greenlet", 4), ("greenlet", 32)]
BULL_CONFIGS = [("concurrency", 4), ("concurrency", 50)]
QUICK_PY = [("thread", 4), ("process", 4), ("greenlet", 32)]
SCRIPTED = {"evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro"}
BLOCKING = {"brpop", "blpop", "bzpopmin", "bzpopmax", "blmove", "brpoplpush", "bzmpop", "blmpop"}
NOT_THE_SYSTEM = {"zcard", "config|resetstat", "info", "flushall", "ping", "client|setname",
                  "client|setinfo", "hello", "select"}


def server_usec(client: redis.Redis, system: str) -> float:
    """Redis server time (µs) of the system's own commands since the last RESETSTAT."""
    total = 0.0
    for name, stat in client.info("commandstats").items():
        cmd = name.removeprefix("cmdstat_")
        if system == "huey":
            counted = cmd not in NOT_THE_SYSTEM
        else:
            counted = cmd in SCRIPTED or cmd in BLOCKING
        if counted:
            total += float(stat["usec"])
    return total


def run_json(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


class Bench:
    def __init__(self, url: str, tasks: int, before: str | None) -> None:
        self.url = url
        self.tasks = tasks
        self.client = redis.Redis.from_url(url)
        self.roots = {"jobboard": str(ROOT), "huey": str(ROOT)}
        if before:
            self.roots["jobboard-before"] = before
        self.node = shutil.which("node")

    def phase(self, system: str, phase: str, kind: str = "", workers: int = 0) -> dict[str, Any]:
        queue = "bench"
        self.client.config_resetstat()
        if system == "bullmq":
            extra = str(workers) if phase == "drain" else "1000"
            res = run_json([self.node or "node", "bullmq_side.mjs", self.url, queue, phase,
                            str(self.tasks), extra], cwd=HERE)
        else:
            py_system = "jobboard" if system.startswith("jobboard") else "huey"
            cmd = [sys.executable, str(HERE / "py_side.py"), "--root", self.roots[system],
                   "--system", py_system, "--url", self.url, "--queue", queue,
                   "--phase", phase, "--tasks", str(self.tasks), "--kind", kind or "thread",
                   "--workers", str(workers or 4)]
            env = dict(os.environ, PYTHONPATH=self.roots[system])
            res = run_json(cmd, cwd=ROOT, env=env)
        res["usec_per_job"] = server_usec(self.client, system) / self.tasks
        return res

    def config_run(self, system: str, kind: str, workers: int) -> dict[str, Any]:
        self.client.flushall()
        enq = self.phase(system, "enqueue")
        drain = self.phase(system, "drain", kind, workers)
        return {"enqueue": enq, "drain": drain}

    def bulk_run(self, system: str) -> dict[str, Any]:
        self.client.flushall()
        return self.phase(system, "bulk")


def spread(xs: list[float]) -> str:
    med = statistics.median(xs)
    return f"{med:8.0f}  ({min(xs):.0f}-{max(xs):.0f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--before", help="a checkout whose jobboard is run as 'jobboard-before'")
    ap.add_argument("--quick", action="store_true",
                    help="fewer Python configurations (thread 4, process 4, greenlet 32)")
    ap.add_argument("--no-bullmq", action="store_true")
    args = ap.parse_args()
    have_bull = not args.no_bullmq and (HERE / "node_modules" / "bullmq").is_dir()
    if not args.no_bullmq and not have_bull:
        print("BullMQ not installed: run `npm install` in bench/peers (skipping it)")
    py_configs = QUICK_PY if args.quick else PY_CONFIGS
    systems = ["huey", "jobboard"] + (["jobboard-before"] if args.before else [])
    configs = [(s, k, w) for s in systems for k, w in py_configs]
    if have_bull:
        configs += [("bullmq", k, w) for k, w in BULL_CONFIGS]
    bulk_systems = ["jobboard"] + (["bullmq"] if have_bull else [])

    results: dict[tuple[str, str, int], list[dict[str, Any]]] = {c: [] for c in configs}
    bulk: dict[str, list[dict[str, Any]]] = {s: [] for s in bulk_systems}
    with RedisServer() as server:
        bench = Bench(server.url, args.tasks, args.before)
        for r in range(args.rounds):
            order = configs if r % 2 == 0 else configs[::-1]
            for cfg in order:
                res = bench.config_run(*cfg)
                results[cfg].append(res)
                print(f"round {r + 1} {cfg[0]:16} {cfg[1]:>11} {cfg[2]:3}: enqueue "
                      f"{res['enqueue']['rate']:7.0f}/s ({res['enqueue']['usec_per_job']:5.1f} µs)  "
                      f"drain {res['drain']['rate']:7.0f}/s ({res['drain']['usec_per_job']:5.1f} µs)",
                      flush=True)
            for s in bulk_systems if r % 2 == 0 else bulk_systems[::-1]:
                res = bench.bulk_run(s)
                bulk[s].append(res)
                print(f"round {r + 1} {s:16} bulk enqueue {res['rate']:7.0f}/s "
                      f"({res['usec_per_job']:5.1f} µs)", flush=True)
        version = bench.client.info("server")["redis_version"]

    print(f"\n{args.tasks} no-op jobs, {args.rounds} rounds, Redis {version}, {os.cpu_count()} cores; "
          "median (min-max) jobs/s; server µs per job from INFO commandstats")
    print(f"{'system':16} {'config':>15} {'enqueue/s':>24} {'drain/s':>24} {'µs enq+drain':>13}")
    best: dict[str, tuple[float, tuple[str, str, int]]] = {}
    enq: dict[str, list[float]] = {}
    for cfg, runs in results.items():
        e = [x["enqueue"]["rate"] for x in runs]
        d = [x["drain"]["rate"] for x in runs]
        us = statistics.median(x["enqueue"]["usec_per_job"] + x["drain"]["usec_per_job"] for x in runs)
        enq.setdefault(cfg[0], []).extend(e)
        print(f"{cfg[0]:16} {cfg[1]:>11} {cfg[2]:3} {spread(e):>24} {spread(d):>24} {us:13.1f}")
        med = statistics.median(d)
        if cfg[0] not in best or med > best[cfg[0]][0]:
            best[cfg[0]] = (med, cfg)
    for s, runs in bulk.items():
        b = [x["rate"] for x in runs]
        print(f"{s:16} {'bulk (1,000)':>15} {spread(b):>24} {'':>24} "
              f"{statistics.median(x['usec_per_job'] for x in runs):13.1f}")

    def med_drain(cfg: tuple[str, str, int]) -> float:
        return statistics.median(x["drain"]["rate"] for x in results[cfg])

    print("\nratios (medians):")
    for s in [x for x in systems if x != "huey"]:
        for k, w in py_configs:
            print(f"  drain {s}/huey, {k} {w}: {med_drain((s, k, w)) / med_drain(('huey', k, w)):.2f}")
        print(f"  best drain {s}/huey: {best[s][0] / best['huey'][0]:.2f} "
              f"({best[s][1][1]} {best[s][1][2]} vs {best['huey'][1][1]} {best['huey'][1][2]})")
        if have_bull:
            print(f"  best drain {s}/bullmq: {best[s][0] / best['bullmq'][0]:.2f} "
                  f"({best[s][1][1]} {best[s][1][2]} vs concurrency {best['bullmq'][1][2]})")
        print(f"  enqueue one at a time {s}/huey: "
              f"{statistics.median(enq[s]) / statistics.median(enq['huey']):.2f}")
    if have_bull:
        print(f"  drain at concurrency 4, jobboard thread 4 / bullmq 4: "
              f"{med_drain(('jobboard', 'thread', 4)) / med_drain(('bullmq', 'concurrency', 4)):.2f}")
        print(f"  enqueue one at a time jobboard/bullmq: "
              f"{statistics.median(enq['jobboard']) / statistics.median(enq['bullmq']):.2f}")
        jb = statistics.median(x["rate"] for x in bulk["jobboard"])
        bq = statistics.median(x["rate"] for x in bulk["bullmq"])
        print(f"  bulk enqueue jobboard/bullmq addBulk: {jb / bq:.2f}")
    for s in systems:
        us = [x["enqueue"]["usec_per_job"] + x["drain"]["usec_per_job"]
              for cfg, runs in results.items() if cfg[0] == s for x in runs]
        print(f"  Redis server time per job lifecycle (enqueue, take, end), {s}: "
              f"median {statistics.median(us):.1f} µs ({min(us):.1f}-{max(us):.1f})")


if __name__ == "__main__":
    main()
