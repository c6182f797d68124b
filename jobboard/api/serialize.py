"""Turn core records into JSON-ready dicts (the shapes the OpenAPI document describes)."""

from __future__ import annotations

from typing import Any

from ..board import WINDOWS
from ..records import BoardHealth, Consumer, Counts, Health, Metrics, PeriodicTask, Problem, RedisHealth



def counts(c: Counts) -> dict[str, Any]:
    return {"states": {k: int(v) for k, v in c.items()}, "total": int(c.total),
            "paused": bool(c.paused)}


def _pct(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: (None if values.get(k) is None else float(values[k]))  # type: ignore[arg-type]
            for k in ("p50", "p95", "p99")}


def throughput(m: Metrics) -> dict[str, Any]:
    """Totals of a window plus completed per minute (what a dashboard tile shows)."""
    t = m.totals
    minutes = WINDOWS[m.window][0] / 60 if m.window in WINDOWS else 60
    return {"window": m.window, "enqueued": t.enqueued, "completed": t.completed,
            "failed": t.failed, "retried": t.retried,
            "completed_per_minute": round(t.completed / minutes, 3)}


def metrics(m: Metrics) -> dict[str, Any]:
    return {
        "window": m.window, "task": m.task, "bucket_seconds": int(m.bucket_seconds),
        "totals": throughput(m),
        "wait_ms": _pct(m.wait_ms), "run_ms": _pct(m.run_ms),
        "points": [{"at": p.at, "enqueued": p.enqueued, "completed": p.completed,
                    "failed": p.failed, "retried": p.retried} for p in m.points],
    }


def health(h: Health) -> dict[str, Any]:
    return {
        "queue": h.queue, "healthy": bool(h.healthy), "reasons": [str(r) for r in h.reasons],
        "backlog": int(h.backlog), "oldest_waiting_age": h.oldest_waiting_age,
        "failure_rate_5m": h.failure_rate_5m, "failure_rate_60m": h.failure_rate_60m,
        "consumers_alive": int(h.consumers_alive), "paused": bool(h.paused),
        "paused_since": h.paused_since, "problems": [problem(p) for p in h.problems],
    }


def problem(p: Problem) -> dict[str, Any]:
    return {"check": p.check, "message": p.message, "value": p.value,
            "threshold": p.threshold, "queue": p.queue}


def redis_health(r: RedisHealth | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"used_memory": r.used_memory, "maxmemory": r.maxmemory, "policy": r.policy,
            "memory_ratio": r.memory_ratio, "problems": [problem(p) for p in r.problems]}


def board_health(b: BoardHealth) -> dict[str, Any]:
    return {"status": "ok" if b.healthy else "unhealthy", "healthy": b.healthy,
            "checked_at": b.checked_at, "redis": redis_health(b.redis),
            "problems": [problem(p) for p in b.problems],
            "queues": [health(q) for q in b.queues]}


def consumer(c: Consumer) -> dict[str, Any]:
    return {
        "id": c.id, "queue": c.queue, "host": c.host, "pid": int(c.pid),
        "worker_type": c.worker_type, "workers": int(c.workers), "periodic": bool(c.periodic),
        "started_at": c.started_at, "last_seen": c.last_seen, "uptime": c.uptime,
        "version": c.version, "done": int(c.done), "failed": int(c.failed),
        "running": [{"job_id": r.job_id, "queue": r.queue, "task": r.task,
                     "started_at": r.started_at, "worker": r.worker} for r in c.running],
    }


def periodic(p: PeriodicTask) -> dict[str, Any]:
    return {
        "queue": p.queue, "name": p.name, "short_name": p.short_name, "schedule": p.schedule,
        "next_run": p.next_run, "last_run": p.last_run, "last_job_id": p.last_job_id,
        "last_outcome": p.last_outcome, "paused": bool(p.paused),
        "last_enqueued_by": p.last_enqueued_by,
    }
