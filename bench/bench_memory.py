"""Redis memory per retained completed and failed job, jobboard against BullMQ, same payload.

Each case runs on a fresh private redis-server: N jobs of the realistic email payload
(``email_payload``, ~330 bytes of JSON, the shape of the demo's ``send_email``) are enqueued,
run by a real consumer that completes them (returning a small dict, as the demo's task
does) or fails them (one attempt, the same error text in both systems), and all are kept.
Then INFO used_memory (after MEMORY PURGE) is compared with before the enqueue. Keys whose
size does not grow with N are reported and left out of the per-job figure: jobboard's
per-minute metric hashes, BullMQ's events stream (capped at 10,000 entries).

BullMQ runs from ``bench/bullmq_memory`` (``npm install`` there once; Node 20). Without it,
only jobboard's figures are printed. Not part of the test suite.

Each jobboard case runs twice, with the search index off and on (``search_index=``): the
difference is the index's memory per job (its keys and each record's job number).

    python bench/bench_memory.py [--jobs 20000] [--no-bullmq] [--modes completed,failed]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

import jobboard  # noqa: E402
from jobboard.redis_server import RedisServer  # noqa: E402

NODE_DIR = ROOT / "bench" / "bullmq_memory"
FIRST = ("Jane", "Omar", "Li", "Ana", "Kwame", "Sofia", "Ivan", "Maya", "Tom", "Aiko")
LAST = ("Doe", "Haddad", "Wei", "Silva", "Mensah", "Rossi", "Petrov", "Cohen", "Berg", "Sato")
DOCTORS = ("Dr. Amelia Okafor", "Dr. Jonas Lindqvist", "Dr. Priya Raman")


def email_payload(i: int) -> dict[str, Any]:
    """The i-th realistic ``send_email`` payload (~330 bytes of JSON, distinct per job)."""
    name = f"{FIRST[i % 10]} {LAST[i // 10 % 10]}"
    return {
        "to": f"{name.lower().replace(' ', '.')}.{i}@example.org",
        "subject": "Appointment confirmed", "template": "appointment-confirmation", "priority": 5,
        "context": {"client_name": name, "patient_name": name, "doctor": DOCTORS[i % 3],
                    "appointment_date": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    "appointment_time": f"{8 + i % 10}:{15 * (i % 4):02d}",
                    "clinic": "Riverside Clinic, 12 Mill Lane"},
    }


def error_text(payload: dict[str, Any]) -> str:
    """The error both systems' tasks raise when failing (a refused recipient)."""
    return f"SMTPRecipientsRefused: {{'{payload['to']}': (550, b'5.1.1 mailbox unavailable')}}"


def used_memory(client: redis.Redis) -> int:
    client.execute_command("MEMORY", "PURGE")
    return int(client.info("memory")["used_memory"])


def measure_jobboard(mode: str, n: int, payloads: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    """Memory figures of n jobboard jobs ending in ``mode`` (completed / failed)."""
    logging.getLogger("huey").setLevel(logging.CRITICAL)  # a traceback per failing job
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        huey = jobboard.RedisHuey("mem", url=server.url, results=False,
                                  retention={mode: (None, None)}, **options)  # keep them all

        @huey.task(name="send_email")
        def send_email(payload: dict[str, Any]) -> dict[str, str] | None:
            if payload.get("warmup"):
                return None
            if mode == "failed":
                raise RuntimeError(error_text(payload))
            return {"message_id": f"<{payload['to']}@riverside.example>",
                    "delivered_to": "smtp://mail.example:25"}

        q = jobboard.Board([huey]).queue("mem")
        consumer = huey.create_consumer(workers=4, worker_type="thread", periodic=False,
                                        check_worker_health=False)
        consumer.start()
        send_email({"warmup": True})  # the queue's fixed keys exist from here
        while q.counts()["completed"] < 1:
            time.sleep(0.01)
        q.remove(q.jobs("completed").jobs[0].id)
        before = used_memory(client)
        for p in payloads:
            send_email(p)
        deadline = time.time() + 600
        while q.counts()[mode] < n:
            if time.time() > deadline:
                raise SystemExit(f"the consumer did not end {n} jobs in time")
            time.sleep(0.05)
        consumer.stop(graceful=True)
        after = used_memory(client)
        fixed = {"metric hashes": sum(client.memory_usage(k) or 0
                                      for pat in ("*:mx:*", "*:md:*") for k in client.scan_iter(match=pat))}
        sample = q.jobs(mode, limit=1).jobs[0].id
        keys = {k.decode().split(":", 2)[-1].split(":")[0]: client.memory_usage(k)
                for k in client.scan_iter(match=f"*{sample}*")}
        encoding = client.object("encoding", q.keys.record(sample))
        return {"before": before, "after": after, "jobs": n, "fixed": fixed,
                "one_job": keys, "encoding": encoding.decode() if encoding else None}


def measure_bullmq(mode: str, n: int, payloads: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The same with BullMQ, through bench/bullmq_memory/memory.mjs; None if unavailable."""
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "bullmq").is_dir():
        return None
    with RedisServer() as server, tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(payloads, f)
        f.flush()
        out = subprocess.run(["node", str(NODE_DIR / "memory.mjs"), server.url, "mem", mode, f.name],
                             capture_output=True, text=True, timeout=900, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def per_job(m: dict[str, Any]) -> float:
    return (m["after"] - m["before"] - sum(m["fixed"].values())) / m["jobs"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=20_000)
    ap.add_argument("--no-bullmq", action="store_true")
    ap.add_argument("--modes", default="completed,failed")
    args = ap.parse_args()
    payloads = [email_payload(i) for i in range(args.jobs)]
    avg = sum(len(json.dumps(p)) for p in payloads) / len(payloads)
    print(f"{args.jobs:,} jobs per case, payload ~{avg:.0f} bytes of JSON, e.g. {json.dumps(payloads[0])}")
    rows = []
    for mode in args.modes.split(","):
        plain = measure_jobboard(mode, args.jobs, payloads, {"search_index": False})
        indexed = measure_jobboard(mode, args.jobs, payloads, {"search_index": True})
        bull = None if args.no_bullmq else measure_bullmq(mode, args.jobs, payloads)
        print(f"\n{mode}:")
        for label, jb in (("jobboard, index off", plain), ("jobboard, index on", indexed)):
            print(f"  {label:20s} {per_job(jb):6.0f} bytes per job (grew {jb['after'] - jb['before']:,}; "
                  f"fixed-size keys left out: {jb['fixed']}); one job's keys {jb['one_job']}, "
                  f"record encoding {jb['encoding']}")
        print(f"  {'search index':20s} {per_job(indexed) - per_job(plain):6.0f} bytes per job")
        if bull:
            print(f"  {'BullMQ 6.7':20s} {per_job(bull):6.0f} bytes per job (grew "
                  f"{bull['after'] - bull['before']:,}; fixed-size keys left out: {bull['fixed']}); "
                  f"one job hash {bull['one_job_hash']} bytes, encoding {bull['encoding']}")
            rows.append((mode, per_job(plain), per_job(indexed), per_job(bull)))
    print()
    for mode, a, b, c in rows:
        print(f"{mode}: jobboard / BullMQ = {a / c:.2f} index off, {b / c:.2f} index on "
              f"(target <= 1.0)")


if __name__ == "__main__":
    main()
