"""The audit trail: who changed what, when, and from where.

Every state-changing action of the pages, the JSON API and the CLI reaches the core with
an :class:`Actor` (``Queue.retry(job_id, actor=...)``, ``Queue.enqueue(..., actor=...)``);
the core records it here with :meth:`AuditLog.record`, the one function all three adapters
end up in. Entries live in one Redis stream (``<prefix>:audit``): its ids are millisecond
timestamps, so trimming by age is ``XTRIM MINID`` and by count ``MAXLEN``, both O(trimmed),
and a page is one ``XREVRANGE``. Each entry is also written to the ``jobboard.audit``
logger as one JSON line, for log shippers.

The stream is the only global key jobboard writes outside a queue's hash tag besides the
set of queue names; on Redis Cluster it lives on whichever node owns its slot.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis as redis_lib

from .errors import InvalidArgument, RedisOutOfMemory

logger = logging.getLogger("jobboard.audit")

#: How long entries are kept, and how many at most (JOBBOARD_AUDIT_MAX_AGE / _MAX_COUNT).
DEFAULT_MAX_AGE = 30 * 86400.0
DEFAULT_MAX_COUNT = 100_000
#: Job ids kept in one entry (a bulk action on 10,000 jobs keeps its filter and count).
MAX_IDS_PER_ENTRY = 50
#: Entries one filtered listing examines before it says "incomplete".
SCAN_LIMIT = 10_000
#: Where an action came from.
VIAS: tuple[str, ...] = ("web", "api", "cli", "library")


def audit_key(prefix: str) -> str:
    """The stream holding the audit trail of a board's prefix."""
    return f"{prefix}:audit"


@dataclass(frozen=True)
class Actor:
    """Who asks for an action: a user name, their role, the adapter, their address."""

    name: str
    role: str
    via: str  # one of VIAS
    address: str = "-"

    def label(self) -> str:
        """``alice (operator, web)``: how a job's timeline names who did something."""
        return f"{self.name} ({self.role}, {self.via})"


@dataclass
class AuditEntry:
    """One recorded action."""

    id: str  # the stream id ("<ms>-<seq>")
    at: float
    user: str
    role: str
    via: str
    address: str
    action: str
    queue: str | None = None
    jobs: list[str] = field(default_factory=list)
    filter: dict[str, Any] = field(default_factory=dict)
    count: int = 0
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the API, the log line)."""
        return {"id": self.id, "at": self.at, "user": self.user, "role": self.role,
                "via": self.via, "address": self.address, "action": self.action,
                "queue": self.queue, "jobs": list(self.jobs), "filter": dict(self.filter),
                "count": self.count, "detail": self.detail}


@dataclass
class AuditPage:
    """Entries newest first; ``next_before`` continues the listing, ``complete`` says
    whether a filtered listing looked at every entry (see SCAN_LIMIT)."""

    entries: list[AuditEntry]
    next_before: str | None
    scanned: int
    complete: bool


def _decode(entry_id: bytes, fields: Mapping[bytes, bytes]) -> AuditEntry | None:
    try:
        d = json.loads(fields[b"d"])
        return AuditEntry(id=entry_id.decode(), at=float(d["at"]), user=str(d["user"]),
                          role=str(d["role"]), via=str(d["via"]), address=str(d["address"]),
                          action=str(d["action"]), queue=d.get("queue"),
                          jobs=[str(i) for i in d.get("jobs") or []],
                          filter=dict(d.get("filter") or {}), count=int(d.get("count") or 0),
                          detail=str(d.get("detail") or ""))
    except (KeyError, ValueError, TypeError):
        return None  # another program's entry: skipped, not a crash


class AuditLog:
    """The audit trail of one board (one Redis, one key prefix)."""

    def __init__(self, redis: redis_lib.Redis, prefix: str, max_age: float = DEFAULT_MAX_AGE,
                 max_count: int = DEFAULT_MAX_COUNT) -> None:
        self.redis = redis
        self.key = audit_key(prefix)
        self.max_age = float(max_age)
        self.max_count = int(max_count)

    def configure(self, max_age: float | None = None, max_count: int | None = None) -> None:
        """Change the retention (the extension applies JOBBOARD_AUDIT_MAX_AGE/_COUNT)."""
        if max_age is not None:
            if float(max_age) <= 0:
                raise InvalidArgument("The audit trail's max age is in seconds and must be above 0.")
            self.max_age = float(max_age)
        if max_count is not None:
            if int(max_count) < 1:
                raise InvalidArgument("The audit trail's max count must be at least 1.")
            self.max_count = int(max_count)

    def record(self, actor: Actor, action: str, queue: str | None = None,
               jobs: Iterable[str] = (), filter: Mapping[str, Any] | None = None,
               count: int | None = None, detail: str = "") -> AuditEntry:
        """Record one action (and log it as a JSON line); returns the entry.

        ``jobs`` are the ids acted on (the first MAX_IDS_PER_ENTRY are kept), ``filter``
        what a bulk action matched, ``count`` how many jobs it changed (default: the
        number of ``jobs``). Trimming by count and by age happens in the same round trip.
        """
        ids = list(jobs)
        now = time.time()
        data = {"at": round(now, 3), "user": actor.name, "role": actor.role, "via": actor.via,
                "address": actor.address, "action": action, "queue": queue,
                "jobs": ids[:MAX_IDS_PER_ENTRY],
                "filter": {k: v for k, v in (filter or {}).items() if v not in (None, "")},
                "count": len(ids) if count is None else int(count), "detail": detail}
        payload = json.dumps(data, separators=(",", ":"), default=str)
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(self.key, {"d": payload}, maxlen=self.max_count, approximate=True)
        pipe.xtrim(self.key, minid=f"{int((now - self.max_age) * 1000)}-0", approximate=True)
        try:
            entry_id = pipe.execute()[0]
        except redis_lib.exceptions.OutOfMemoryError as exc:
            raise RedisOutOfMemory(str(exc)) from exc
        entry = _decode(entry_id, {b"d": payload.encode()})
        assert entry is not None
        logger.info(json.dumps({"event": "jobboard.audit", **entry.as_dict()},
                               separators=(",", ":"), default=str))
        return entry

    def entries(self, limit: int = 50, before: str | None = None, user: str | None = None,
                action: str | None = None, queue: str | None = None, job: str | None = None,
                via: str | None = None, since: float | None = None,
                queues: Iterable[str] | None = None) -> AuditPage:
        """Entries newest first, ``limit`` at most, older than the id ``before``.

        ``user``, ``action``, ``via`` and ``queue`` match exactly, ``job`` any id the entry
        names; ``since`` is a Unix time. ``queues`` (when given) limits the listing to
        entries of those queues (per-queue access). Filtering is a bounded scan of at most
        SCAN_LIMIT entries; ``complete`` says whether it reached the end."""
        if not 1 <= int(limit) <= 500:
            raise InvalidArgument("limit must be between 1 and 500.")
        if before is not None and not _valid_id(before):
            raise InvalidArgument(f"before={before[:40]!r} is not an audit entry id (<ms>-<n>).")
        allowed = set(queues) if queues is not None else None
        start = f"({before}" if before else "+"
        stop = f"{int(since * 1000)}-0" if since else "-"
        out: list[AuditEntry] = []
        scanned = 0
        chunk = max(int(limit), 200)
        while scanned < SCAN_LIMIT:
            rows: list[Any] = self.redis.xrevrange(self.key, max=start, min=stop, count=chunk)  # type: ignore[assignment]
            if not rows:
                return AuditPage(out, None, scanned, True)
            for entry_id, fields in rows:
                scanned += 1
                e = _decode(entry_id, fields)
                if e is None or not _matches(e, user, action, queue, job, via, allowed):
                    continue
                out.append(e)
                if len(out) == limit:
                    return AuditPage(out, e.id, scanned, True)
            start = f"({rows[-1][0].decode()}"
            if len(rows) < chunk:
                return AuditPage(out, None, scanned, True)
        return AuditPage(out, start[1:], scanned, False)

    def count(self) -> int:
        """Entries kept (one XLEN)."""
        return int(self.redis.xlen(self.key))


def _valid_id(value: str) -> bool:
    ms, _, seq = value.partition("-")
    return ms.isdigit() and (seq == "" or seq.isdigit()) and len(value) <= 40


def _matches(e: AuditEntry, user: str | None, action: str | None, queue: str | None,
             job: str | None, via: str | None, allowed: set[str] | None) -> bool:
    if allowed is not None and (e.queue is None or e.queue not in allowed):
        return False
    return ((user is None or e.user == user) and (action is None or e.action == action)
            and (queue is None or e.queue == queue) and (via is None or e.via == via)
            and (job is None or job in e.jobs))
