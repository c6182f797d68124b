"""Python-side work per job, in instructions (valgrind callgrind): load-proof.

The producer's enqueue and a consumer worker's take-run-end cost CPU in the Python process
as well as in Redis (bench_server_work.py counts the server's side). On a shared machine
CPU times swing with the neighbours' load; the instructions the interpreter executes for
the same work do not. Each side runs in a process of its own under callgrind, twice (with
``--jobs`` and with 4x as many): the difference over the extra jobs is the work per job,
without the interpreter's start-up and imports. Needs valgrind; slow (~50x).

Sides: ``huey`` (huey.PriorityRedisHuey), ``jobboard`` (this checkout) and, with
``--before DIR``, ``jobboard-before`` (another checkout: ``git archive <commit> | tar -x -C
DIR``). Phases: ``enqueue`` (no-op tasks, one call each) and ``drain`` (one worker of
Huey's consumer, its loop run in this thread: dequeue, execute, end).

    python bench/bench_client_work.py [--jobs 300] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, time
kind, phase, n, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, root)  # before the cwd's checkout and an editable install
import redis, huey as huey_lib
from jobboard.redis_server import RedisServer
server = RedisServer().start()
url = f"redis://127.0.0.1:{server.port}/0"
try:
    import jobboard
    assert jobboard.__file__.startswith(root), (jobboard.__file__, root)
    if kind == "huey":
        h = huey_lib.PriorityRedisHuey("work", url=url, results=False)
    else:
        h = jobboard.RedisHuey("work", url=url, results=False,
                               retention={"completed": (None, None)})

    @h.task()
    def noop(i):
        return None

    if phase == "enqueue":
        for i in range(n):
            noop(i)
    else:
        for i in range(n):  # counted too: its share is taken off (see main)
            noop(i)
        consumer = h.create_consumer(workers=1, worker_type="thread", periodic=False,
                                     initial_delay=0.001, max_delay=0.01,
                                     check_worker_health=False)
        worker = consumer._create_worker()
        if kind != "huey":
            h.jobboard._worker_started()
        while h.pending_count():
            worker.loop()
        for _ in range(3):  # the last job's end (FINISH took nothing after it)
            worker.loop()
finally:
    server.stop()
"""

PYTHON = os.path.realpath(sys.executable)  # not a pyenv shim: valgrind must run Python itself


def instructions(root: str, kind: str, phase: str, n: int) -> int:
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           PYTHON, "-c", CHILD, kind, phase, str(n), root],
                          capture_output=True, text=True, env=env, timeout=3600, cwd=root)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode or not found:
        raise SystemExit(f"{kind} {phase} failed:\n{proc.stdout}\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def per_job(root: str, kind: str, phase: str, n: int) -> float:
    """Instructions per job: (4n jobs - n jobs) / 3n, so start-up and imports cancel."""
    return (instructions(root, kind, phase, 4 * n) - instructions(root, kind, phase, n)) / (3 * n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--before", help="another checkout, measured the same way")
    args = ap.parse_args()
    sides = {"huey": ("huey", str(ROOT)), "jobboard": ("jobboard", str(ROOT))}
    if args.before:
        sides["jobboard-before"] = ("jobboard", args.before)
    out: dict[str, dict[str, float]] = {}
    for label, (kind, root) in sides.items():
        enq = per_job(root, kind, "enqueue", args.jobs)
        # the drain child enqueues first: its per-job figure less the enqueue's
        drain = per_job(root, kind, "drain", args.jobs) - enq
        out[label] = {"enqueue": enq, "drain": drain}
        print(f"{label:16} Python instructions per job: enqueue {enq:10,.0f}  take+run+end "
              f"{drain:10,.0f}", flush=True)
    for label in [x for x in out if x != "huey"]:
        r = out[label]
        print(f"{label} / huey: enqueue {r['enqueue'] / out['huey']['enqueue']:.2f}  "
              f"take+run+end {r['drain'] / out['huey']['drain']:.2f}")
    if args.before:
        now, old = out["jobboard"], out["jobboard-before"]
        print(f"this / before: enqueue {now['enqueue'] / old['enqueue']:.2f}  "
              f"take+run+end {now['drain'] / old['drain']:.2f}")


if __name__ == "__main__":
    main()
