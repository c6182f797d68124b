"""What the core API returns: plain dataclasses, decoded from Redis, safe to render.

Every string field that came from a task (args, kwargs, result, errors, log lines) is
display text only: already truncated and redacted, never markup. Templates must still
escape it (Jinja2 autoescaping does).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .display import whole_payload
from .primitives import short_name

# Job states. A job is in exactly one of them; each has one Redis set of ids per queue.
WAITING = "waiting"
SCHEDULED = "scheduled"  # eta / delay, or waiting for a retry with backoff
ACTIVE = "active"
COMPLETED = "completed"
FAILED = "failed"  # retries exhausted (or stalled too often)
REVOKED = "revoked"
EXPIRED = "expired"
CANCELED = "canceled"  # CancelExecution with no retry left
INTERRUPTED = "interrupted"  # reserved: SIGTERM puts a running job back to waiting
LOCKED = "locked"  # lock_task held elsewhere and no retry left
RATE_LIMITED = "rate_limited"  # rate limit hit and no retry left

PENDING_STATES: tuple[str, ...] = (WAITING, SCHEDULED, ACTIVE)
FINISHED_STATES: tuple[str, ...] = (
    COMPLETED, FAILED, REVOKED, EXPIRED, CANCELED, INTERRUPTED, LOCKED, RATE_LIMITED,
)
STATES: tuple[str, ...] = PENDING_STATES + FINISHED_STATES

# States with a per-task index (exact task filters and per-task counts in O(1)/O(page)).
# Pending jobs move too often, and completed ones are too many, for the index to pay for
# itself: a task filter on those states is a bounded scan (JobPage.complete tells).
TASK_INDEXED_STATES: tuple[str, ...] = tuple(s for s in FINISHED_STATES if s != COMPLETED)

# Which states an action applies to. The views use these to decide which buttons to show.
# Completed jobs drop their message (memory), so they cannot be retried.
RETRYABLE_STATES: tuple[str, ...] = (
    FAILED, REVOKED, EXPIRED, CANCELED, INTERRUPTED, LOCKED, RATE_LIMITED,
)
PROMOTABLE_STATES: tuple[str, ...] = (SCHEDULED,)
REVOCABLE_STATES: tuple[str, ...] = (WAITING, SCHEDULED)
# A running job is not removable: its consumer would go on and its outcome be lost.
REMOVABLE_STATES: tuple[str, ...] = tuple(s for s in STATES if s != ACTIVE)


class Counts(dict[str, int]):
    """Jobs per state of one queue (every state present, 0 when empty).

    A dict ``{state: count}`` with two extra attributes: ``paused`` and ``total``.
    """

    paused: bool

    def __init__(self, values: dict[str, int], paused: bool = False) -> None:
        super().__init__({s: int(values.get(s, 0)) for s in STATES})
        self.paused = paused

    @property
    def total(self) -> int:
        return sum(self.values())

    def as_dict(self) -> dict[str, Any]:
        return {"states": dict(self), "paused": self.paused, "total": self.total}


@dataclass
class Attempt:
    """One failed attempt of a job (``number``: its delivery number, 1 for the first)."""

    number: int
    at: float | None
    error_class: str
    message: str
    traceback: str
    consumer: str | None = None


@dataclass
class Run:
    """One run of a job: from its enqueue, or from an operator's retry, to its outcome.

    Huey's automatic retries stay inside a run (its ``attempts``); a manual retry starts
    a new one, so earlier attempts are never hidden. ``first_attempt`` is the delivery
    number its first attempt got; ``outcome`` the state the run ended in (None while it
    goes on); ``failed`` its failed attempts, with their tracebacks."""

    number: int
    started_at: float | None
    started_by: str
    first_attempt: int
    last_attempt: int
    outcome: str | None
    failed: list[Attempt] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        """Deliveries of this run so far (failed ones plus a running or final one)."""
        return max(0, self.last_attempt - self.first_attempt + 1)

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "started_at": self.started_at,
                "started_by": self.started_by, "first_attempt": self.first_attempt,
                "last_attempt": self.last_attempt, "attempts": self.attempts,
                "outcome": self.outcome, "failed": [vars(a).copy() for a in self.failed]}


@dataclass
class Event:
    """One line of a job's timeline: a state change or a notable happening."""

    at: float
    kind: str  # a state name, or "stalled", "retried", "promoted", ...
    message: str = ""


@dataclass
class LogLine:
    at: float
    message: str


@dataclass
class Job:
    """One job as recorded by jobboard.

    Lists return jobs without ``attempts``, ``logs`` and ``events`` (empty); ``Queue.job()``
    fills them in. ``undecodable`` holds the reason when the record could not be read: such
    a job still lists and can still be removed.
    """

    id: str
    queue: str
    task: str = ""
    state: str = ""
    args: str = ""
    kwargs: str = ""
    priority: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    attempt: int = 0
    enqueued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    scheduled_for: float | None = None
    wait_ms: int | None = None
    run_ms: int | None = None
    consumer: str | None = None
    result: str | None = None
    error: str | None = None
    progress: float | None = None
    progress_message: str | None = None
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    stalls: int = 0
    periodic: bool = False
    undecodable: str | None = None
    copied_from: str | None = None  # the job this one was edited or duplicated from
    copies: str | None = None  # the latest job edited or duplicated from this one
    has_message: bool = False
    #: The whole payloads as stored when their previews (``args``, ``kwargs``, ``result``)
    #: are cut; None in lists, which read only the previews. See ``args_json``.
    args_whole: str | None = None
    kwargs_whole: str | None = None
    result_whole: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def short_task(self) -> str:
        """The task name without its module path (``worker.send_email`` -> ``send_email``)."""
        return short_name(self.task)

    @property
    def args_json(self) -> str:
        """The positional arguments as JSON text (``["a", 1]``), whole up to the queue's
        ``payload_limit``; ``""`` for none. Text that is not JSON (a payload cut at the
        limit, or a record from before payloads were JSON) comes as stored."""
        return whole_payload(self.args, self.args_whole, "[]")

    @property
    def kwargs_json(self) -> str:
        """The keyword arguments as JSON text (``{"to": "a@b"}``); see ``args_json``."""
        return whole_payload(self.kwargs, self.kwargs_whole, "{}")

    @property
    def result_json(self) -> str | None:
        """The result as JSON text; None when the job recorded none (see ``args_json``)."""
        if self.result is None:
            return None
        return whole_payload(self.result, self.result_whole)

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def promotable(self) -> bool:
        """Whether "run now" applies: a scheduled job, or a waiting one whose eta is ahead
        (enqueued through Huey and not yet put in the schedule by a consumer's take)."""
        return self.state in PROMOTABLE_STATES or (
            self.state == WAITING and self.scheduled_for is not None
            and self.scheduled_for > time.time())

    @property
    def updated_at(self) -> float | None:
        return self.finished_at or self.started_at or self.enqueued_at

    def as_dict(self, detail: bool = False) -> dict[str, Any]:
        """JSON-ready form (used by the JSON API)."""
        d: dict[str, Any] = {
            "id": self.id, "queue": self.queue, "task": self.task, "state": self.state,
            "args": self.args, "kwargs": self.kwargs, "priority": self.priority,
            "options": self.options, "attempt": self.attempt,
            "enqueued_at": self.enqueued_at, "started_at": self.started_at,
            "finished_at": self.finished_at, "scheduled_for": self.scheduled_for,
            "wait_ms": self.wait_ms, "run_ms": self.run_ms, "consumer": self.consumer,
            "result": self.result, "error": self.error, "progress": self.progress,
            "progress_message": self.progress_message, "parent": self.parent,
            "children": list(self.children), "stalls": self.stalls,
            "periodic": self.periodic, "undecodable": self.undecodable,
            "copied_from": self.copied_from, "copies": self.copies,
        }
        if detail:
            d["args_json"], d["kwargs_json"] = self.args_json, self.kwargs_json
            d["result_json"] = self.result_json
            d["attempts"] = [vars(a).copy() for a in self.attempts]
            d["runs"] = [r.as_dict() for r in self.runs]
            d["logs"] = [vars(x).copy() for x in self.logs]
            d["events"] = [vars(e).copy() for e in self.events]
        return d


@dataclass
class Editable:
    """A finished job's arguments as the editor shows them (``Queue.editable``).

    ``args`` / ``kwargs`` are JSON text with sensitive values masked (``masked`` of them);
    ``problem`` says why the job cannot be edited (arguments JSON cannot hold)."""

    job: Job
    task: str
    args: str
    kwargs: str
    masked: int
    problem: str | None = None


#: What a flow step shows when it has no job yet: Huey enqueues it later, or never.
PENDING_STEP = "pending"  # waits for its parent (or, for a callback, its chord)
SKIPPED_STEP = "skipped"  # its parent ended so that it will never be enqueued


@dataclass
class FlowStep:
    """One step of a pipeline, group or chord: a job, or one Huey has not enqueued yet.

    ``state`` is the job's state (None before it is enqueued); ``status`` is that state,
    or PENDING_STEP / SKIPPED_STEP with ``note`` saying why; ``steps`` follow it
    (``relation`` "then" or "on error")."""

    id: str
    task: str
    relation: str  # "first", "then", "on error", "member", "callback"
    state: str | None = None
    status: str = PENDING_STEP
    note: str = ""
    steps: list["FlowStep"] = field(default_factory=list)
    current: bool = False

    @property
    def short_task(self) -> str:
        return short_name(self.task)

    @property
    def enqueued(self) -> bool:
        return self.state is not None

    def walk(self) -> Iterator["FlowStep"]:
        """This step and every step after it, depth first."""
        yield self
        for s in self.steps:
            yield from s.walk()

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "task": self.task, "relation": self.relation,
                "state": self.state, "status": self.status, "note": self.note,
                "current": self.current, "steps": [s.as_dict() for s in self.steps]}


@dataclass
class Flow:
    """A job's flow: a pipeline (``members`` is its first step), a group (its members)
    or a chord (its members and the ``callback`` that runs once all have ended)."""

    kind: str  # "pipeline" | "group" | "chord"
    id: str  # the first job's id, or the group's / chord's
    queue: str
    members: list[FlowStep]
    callback: FlowStep | None = None
    size: int = 0

    def steps(self) -> Iterator[FlowStep]:
        for m in self.members:
            yield from m.walk()
        if self.callback is not None:
            yield from self.callback.walk()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "queue": self.queue, "size": self.size,
                "members": [m.as_dict() for m in self.members],
                "callback": self.callback.as_dict() if self.callback else None}


@dataclass
class JobPage:
    """One page of a job list.

    ``total`` is the number of jobs matching (exact for state and task filters). With a
    ``search`` (``Queue.search``), ``complete`` is False when ``total`` is only a lower
    bound; ``scanned`` is set when the queue has no search index and the search was a
    bounded scan of that many of its newest jobs. A page never silently hides matches.
    """

    jobs: list[Job]
    total: int
    offset: int
    limit: int
    state: str
    task: str | None = None
    search: str | None = None
    order: str = "newest"
    scanned: int | None = None
    complete: bool = True
    queue: str = ""  # the queue searched (set by Queue.search)

    def __iter__(self) -> Iterator[Job]:
        """``for job in queue.jobs("failed")``: the jobs of this page."""
        return iter(self.jobs)

    def __len__(self) -> int:
        """Jobs on this page (``total`` is how many match in all)."""
        return len(self.jobs)

    def __bool__(self) -> bool:
        # A page with no jobs is falsy, like a list, whatever its total.
        return bool(self.jobs)

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.jobs) < self.total

    @property
    def has_prev(self) -> bool:
        return self.offset > 0


@dataclass
class RunningJob:
    job_id: str
    queue: str
    task: str
    started_at: float
    worker: str = ""


@dataclass
class Consumer:
    """A live ``huey_consumer`` process, from its heartbeat."""

    id: str  # "host:pid"
    queue: str
    host: str
    pid: int
    worker_type: str
    workers: int
    periodic: bool
    started_at: float
    last_seen: float
    version: str
    done: int = 0
    failed: int = 0
    running: list[RunningJob] = field(default_factory=list)

    @property
    def uptime(self) -> float:
        return max(0.0, time.time() - self.started_at)


@dataclass
class PeriodicTask:
    """A periodic task registered by a consumer that runs periodic tasks."""

    queue: str
    name: str  # full task name
    schedule: str  # crontab text, e.g. "0 1 * * *"
    next_run: float | None
    last_run: float | None
    last_job_id: str | None
    last_outcome: str | None  # a job state, e.g. "completed" / "failed"
    paused: bool
    last_enqueued_by: str | None = None  # consumer ("host:pid") whose scheduler enqueued it

    @property
    def short_name(self) -> str:
        return short_name(self.name)


@dataclass
class MetricPoint:
    """Counters of one bucket (a minute, or a day for long windows)."""

    at: float
    enqueued: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    duplicates: int = 0  # runs of a job by a delivery that had lost its lease (late ends)
    #: wait (enqueue -> start) and run time percentiles of this bucket's jobs, in ms
    #: ({"p50", "p95", "p99"}; None where no job ended in it)
    wait_ms: dict[str, float | None] = field(default_factory=dict)
    run_ms: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Metrics:
    """Throughput and timing of one queue (or one task of it) over a window."""

    queue: str
    task: str | None
    window: str  # "1h" | "24h" | "7d" | "90d"
    bucket_seconds: int
    points: list[MetricPoint]
    wait_ms: dict[str, float | None]  # {"p50":..,"p95":..,"p99":..}
    run_ms: dict[str, float | None]

    @property
    def totals(self) -> MetricPoint:
        t = MetricPoint(at=self.points[0].at if self.points else 0.0)
        for p in self.points:
            t.enqueued += p.enqueued
            t.completed += p.completed
            t.failed += p.failed
            t.retried += p.retried
        return t


#: Lifetime event counters: event name (the Prometheus ``event`` label) -> the field the
#: Lua scripts count in the per-minute hashes (see scripts.finish; 'fail' counts failed,
#: locked and rate_limited ends).
EVENT_FIELDS: dict[str, str] = {
    "enqueued": "enq", "completed": "done", "failed": "fail", "retried": "retry",
    "revoked": "revoked", "expired": "expired", "canceled": "canceled",
}


@dataclass
class Distribution:
    """Durations counted in the core's latency buckets: bucket ``b`` holds the durations
    in ``[2**((b-1)/2), 2**(b/2))`` ms (bucket 0: under 1 ms), about two per doubling;
    ``sum_ms`` is their exact sum. Counts are per bucket, not cumulative."""

    buckets: dict[int, int]
    sum_ms: int = 0

    @property
    def count(self) -> int:
        return sum(self.buckets.values())


@dataclass
class Lifetime:
    """Monotonic counters of one queue since it began (``Queue.lifetime()``): events and
    wait/run distributions, per queue and per task. Per-task counters exist from the first
    rollup that kept them; the queue's own counters hold everything."""

    queue: str
    fields: dict[str, int]

    def tasks(self) -> list[str]:
        """Every task with a counter of its own, sorted."""
        names = set()
        for key in self.fields:
            head, sep, rest = key.partition("|")
            if sep and head in ("enq", "done", "fail", "retry", "rs", "ws", "revoked", "expired",
                                "canceled"):
                names.add(rest)
            elif sep and head in ("r", "w"):
                names.add(rest.rpartition("|")[0])
        return sorted(n for n in names if n)

    def events(self, task: str | None = None) -> dict[str, int]:
        """{event: count} for the queue, or for one task."""
        suffix = f"|{task}" if task is not None else ""
        return {event: self.fields.get(f + suffix, 0) for event, f in EVENT_FIELDS.items()}

    def _distribution(self, kind: str, task: str | None) -> Distribution:
        prefix = f"{kind}|{task}|" if task is not None else f"{kind}:"
        buckets = {int(k[len(prefix):]): v for k, v in self.fields.items()
                   if k.startswith(prefix) and k[len(prefix):].isdigit()}
        total = self.fields.get(f"{kind}s|{task}" if task is not None else f"{kind}s", 0)
        return Distribution(buckets, total)

    def wait(self, task: str | None = None) -> Distribution:
        """Time from ready to start (queue-wide, or of one task)."""
        return self._distribution("w", task)

    def run(self, task: str | None = None) -> Distribution:
        """Run time of finished runs (queue-wide, or of one task)."""
        return self._distribution("r", task)

    @property
    def stalled(self) -> int:
        """Jobs put back after their consumer stopped heartbeating (lease lapsed)."""
        return self.fields.get("stall", 0)

    @property
    def duplicates(self) -> int:
        """Late ends of deliveries that had lost their lease (ignored)."""
        return self.fields.get("dup", 0)


@dataclass
class Problem:
    """One reason a queue (or the Redis under every queue) is not healthy.

    ``check`` names the rule (``jobboard.checks.CHECKS``), stable for alerts and
    dashboards; ``message`` says it to a person."""

    check: str
    message: str
    value: float | None = None
    threshold: float | None = None
    queue: str | None = None  # None: the Redis itself


@dataclass
class Health:
    """Whether a queue looks healthy, and why not (see ``jobboard.checks``)."""

    queue: str
    healthy: bool
    reasons: list[str]  # every problem's message, then notes such as "queue is paused"
    backlog: int
    oldest_waiting_age: float | None  # seconds
    failure_rate_5m: float | None
    failure_rate_60m: float | None
    consumers_alive: int
    paused: bool
    problems: list[Problem] = field(default_factory=list)
    paused_since: float | None = None  # Unix time
    jobs_5m: int = 0  # finished runs counted in failure_rate_5m
    oldest_waiting_at: float | None = None  # when the next waiting job became ready

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class RedisHealth:
    """What ``INFO memory`` says about the Redis under the board."""

    used_memory: int
    maxmemory: int  # 0: no limit
    policy: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def memory_ratio(self) -> float | None:
        return self.used_memory / self.maxmemory if self.maxmemory else None


@dataclass
class BoardHealth:
    """Health of a whole deployment: the Redis under it, then every queue."""

    healthy: bool
    redis: RedisHealth | None  # None: Redis did not answer INFO (then healthy is False)
    queues: list[Health]
    problems: list[Problem]  # the Redis's, then every queue's, in order
    checked_at: float
