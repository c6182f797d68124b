"""The consumer side of tracking: what happens to a job record as Huey runs it.

A ``Tracker`` is attached to one Huey instance (by ``jobboard.RedisHuey`` or
``jobboard.track``). It turns Huey messages into the arguments of the Lua scripts, listens
to Huey's signals and post-execute hook, keeps the set of jobs this process is running, and
runs a heartbeat thread that extends their leases, keeps the consumer registry fresh and
recovers jobs whose consumer died.

State machine (Huey signal or hook -> transition), also in docs/states.md:

=====================================  =============================================
enqueue (producer, scheduler, retry)    new -> waiting (an eta ahead too, as with Huey)
dequeue (worker)                        waiting -> active (under a lease; an eta ahead:
                                        a scheduling take, no attempt counted)
SIGNAL_SCHEDULED / add_to_schedule      active -> scheduled (retry with delay, eta)
scheduler tick (read_schedule)          scheduled -> waiting when due
post_execute, no exception              active -> completed
post_execute, exception, retries left   attempt recorded; then -> waiting/scheduled
post_execute, exception, no retry left  active -> failed | locked | rate_limited | canceled
SIGNAL_CANCELED (pre-execute hook)      active -> canceled
SIGNAL_REVOKED / SIGNAL_EXPIRED         active -> revoked / expired
SIGNAL_INTERRUPTED (SIGTERM)            active -> waiting at once (event "interrupted")
lease lapsed (consumer died)            active -> waiting (event "stalled"), or failed
                                        after more than max_stalls stalls
=====================================  =============================================
"""

from __future__ import annotations

import atexit
import base64
import calendar
import json
import logging
import multiprocessing
import os
import socket
import sys
import threading
import time
import traceback as tb_module
import uuid
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from huey import Huey
from huey.api import ResultGroup, chord, group
from huey import signals as S
from huey.exceptions import CancelExecution, RateLimitExceeded, TaskLockedException

from . import compact, context, scripts
from .config import TrackingConfig
from .connections import DirectScript
from .counters import FLUSH_SECONDS, Counters
from .cron import cron_sets, describe
from .display import (LOG_LIMIT, args_fields, clean_text, error_summary,
                      kwargs_fields, result_fields)
from .display import whole_payload
from .keys import queues_key
from .outbox import Outbox
from .primitives import ENQUEUE_BATCH
from .search import error_tokens, job_tokens
from .storage import PRIORITY_LIMIT, TrackingStorage, now_ms

logger = logging.getLogger("jobboard")
HOST = socket.gethostname()

#: Called with every new Tracker, and with (tracker, Huey consumer) in a consumer's main
#: process once its consumer exists: how the layers above the runtime (jobboard.alerts)
#: attach to consumers without the runtime importing them. ``jobboard/__init__.py``
#: registers them.
TRACKER_HOOKS: list[Callable[["Tracker"], None]] = []
CONSUMER_HOOKS: list[Callable[["Tracker", Any], None]] = []


def _epoch(value: Any, utc: bool) -> float | None:
    """Unix time of a Huey datetime (naive: UTC when huey.utc, else local)."""
    if value is None:
        return None
    if hasattr(value, "timetuple"):
        if getattr(value, "tzinfo", None) is not None:
            return value.timestamp()
        base = calendar.timegm(value.timetuple()) if utc else time.mktime(value.timetuple())
        return base + getattr(value, "microsecond", 0) / 1e6
    return None


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


_OPTION_NAMES = ("retries", "retry_delay", "retry_backoff", "timeout", "expires")


#: Deepest pipeline recorded in a job's flow (``a.then(b).then(c)...``): beyond it the
#: steps are still run by Huey, only not drawn ahead of time.
FLOW_DEPTH = 50


def _flow_node(msg: Any, depth: int = 0) -> dict[str, Any]:
    """One step of a pipeline and the steps Huey will enqueue after it (on_complete /
    on_error), as recorded for the flow view."""
    node: dict[str, Any] = {"id": msg.id, "task": msg.name}
    if depth < FLOW_DEPTH:
        if getattr(msg, "on_complete", None) is not None:
            node["then"] = _flow_node(msg.on_complete, depth + 1)
        if getattr(msg, "on_error", None) is not None:
            node["error"] = _flow_node(msg.on_error, depth + 1)
    return node


def flow_argv(msg: Any, group: tuple[str, int] | None) -> list[str]:
    """The flow fields of ENQUEUE's JSON (docs in scripts.ENQUEUE): this job's pipeline
    (what Huey enqueues after it), its chord (id, size, place, callback) or group, and the
    index entry that lets any member find the others. Empty for a plain job, which is
    almost every job: the producer's hot path pays one attribute check per field."""
    chord = None
    step, depth = msg, 0
    while step is not None and depth <= FLOW_DEPTH:  # Huey puts a chord on a member's tail
        cc = getattr(step, "chord_config", None)
        if cc is not None:
            chord = cc
            break
        step, depth = getattr(step, "on_complete", None), depth + 1
    if msg.on_complete is None and msg.on_error is None and chord is None and group is None:
        return []
    flow: dict[str, Any] = {}
    if msg.on_complete is not None:
        flow["then"] = _flow_node(msg.on_complete)
    if msg.on_error is not None:
        flow["error"] = _flow_node(msg.on_error)
    index, place, callback = "", "", ""
    if chord is not None:
        cid, size, idx, cb = chord
        flow["chord"] = {"id": cid, "size": size, "idx": idx, "callback": _flow_node(cb)}
        index, place, callback = cid, str(idx), cb.id
    elif group is not None:
        flow["group"] = {"id": group[0], "idx": group[1]}
        index, place = group[0], str(group[1])
    return [_compact_json(flow), index, place, callback]


def message_argv(base: str, data: bytes, msg: Any, *, priority: int | None, utc: bool,
                 config: TrackingConfig, periodic: str = "0", only_new: bool = False,
                 register_task: bool = True, fence: str = "", tick: str = "",
                 source: str = "", trace: str = "", counted: bool = False,
                 group: tuple[str, int] | None = None, schedule_now: bool = False) -> list[Any]:
    """ARGV of the ENQUEUE script for a Huey message (``data`` is its serialized form).

    Everything but the key base and the message travels as one JSON array: the client's
    per-argument packing costs more than encoding it (see scripts.ENQUEUE). ``fence`` is
    the delivery token of a retry re-enqueued by its consumer; ``tick`` the minute of a
    periodic run and ``source`` the consumer whose scheduler enqueued it; ``trace`` the
    W3C traceparent of the enqueue's span (jobboard.otel), kept in the record. ``counted``:
    the caller counts a new job in the minute's metrics itself (counters.py).
    ``schedule_now``: a job due later goes straight to the schedule (jobboard's own API);
    else it waits, as with Huey, until a consumer's take hands it to Huey's execute(),
    which schedules it."""
    pri = priority if priority is not None else (msg.priority or 0)
    pri = max(-PRIORITY_LIMIT, min(PRIORITY_LIMIT, int(pri)))
    eta = _epoch(msg.eta, utc) if msg.eta is not None else None
    options = {k: _jsonable(v) for k in _OPTION_NAMES if (v := getattr(msg, k, None))}
    on_complete, on_error = msg.on_complete, msg.on_error
    children = ("" if on_complete is None and on_error is None else
                ",".join(m.id for m in (on_complete, on_error) if m is not None))
    pattern, limit = config.redact_re, config.payload_limit
    args, args_whole = _fit(*args_fields(msg.args, limit, pattern), "[]")
    kwargs, kwargs_whole = _fit(*kwargs_fields(msg.kwargs, limit, pattern), "{}")
    blob = b""
    if args_whole:
        blob += compact.frame(compact.ARGS, args_whole, config.compress_above)
    if kwargs_whole:
        blob += compact.frame(compact.KWARGS, kwargs_whole, config.compress_above)
    tokens = job_tokens(msg.name, msg.args, msg.kwargs, pattern) if config.search_index else ""
    q = _json_string
    # The JSON array written out by hand: twice as fast as json.dumps of a list here.
    meta = "[%s,%d,%s,%d,%d,%s,%s,%s,\"%s\",\"%s\",%s,\"%s\",\"%s\",\"%s\",%s,%s,%d]" % (
        q(msg.id), now_ms(), q(msg.name), pri,
        (-int(eta * 1000) if schedule_now else int(eta * 1000)) if eta else 0,
        q(args), q(kwargs), q(_compact_json(options) if options else ""), periodic,
        "1" if only_new else "0", q(children), "1" if register_task else "0", fence, tick,
        q(source), q(tokens), len(blob))
    # field 18 (the trace context) and 19 ('1': the producer counts a new job itself,
    # counters.py) only when needed: the plain array stays as it was
    if trace or counted:
        meta = meta[:-1] + "," + q(trace) + ("," + '"1"' if counted else "") + "]"
    # Almost every job is in no flow: three attribute reads decide it, no call. A flow's
    # fields come after 18 and 19, which are then sent even when empty.
    if on_complete is not None or on_error is not None or msg.chord_config is not None or group:
        flow = flow_argv(msg, group)
        if not (trace or counted):
            meta = meta[:-1] + ',"",""]'
        elif not counted:
            meta = meta[:-1] + ',""]'
        meta = meta[:-1] + "," + ",".join(q(x) for x in flow) + "]"
    # The blob's frames travel in front of the message (their length is in meta): the
    # script's arguments stay (message, fields) per job.
    return [base, blob + data if blob else data, meta]


def _fit(preview: str, whole: str, brackets: str = "") -> tuple[str, str]:
    """(record preview, whole text or ''): the preview cut to fit a listpack field
    (compact.FIELD_BYTES), the whole text kept whenever the preview does not hold it."""
    short = compact.preview(preview)
    if short != preview and not whole:
        whole = whole_payload(preview, None, brackets)
    return short, whole


# Non-ASCII text goes as UTF-8, which Redis's cjson passes through untouched.
_compact_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_json_string = json.encoder.encode_basestring  # a str as a JSON string literal (C speed)


class OpaqueMessage(NamedTuple):
    """Stands in for a Huey message when the bytes given to the storage are not one."""

    id: str
    name: str = "(opaque)"
    eta: Any = None
    retries: int = 0
    retry_delay: int = 0
    retry_backoff: Any = None
    priority: int | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None
    on_complete: Any = None
    on_error: Any = None
    expires: Any = None
    timeout: Any = None
    chord_config: Any = None


class Tracker:
    """Tracking state of one Huey instance in one process."""

    def __init__(self, huey: Huey, config: TrackingConfig, storage: TrackingStorage) -> None:
        # The storage is given rather than read from huey.storage: in immediate mode Huey
        # swaps its storage for an in-memory one, and back again when it is turned off.
        self.huey = huey
        self.config = config
        self.storage = storage
        self.keys = storage.keys
        self.conn = storage.conn
        self.lease_ms = int(config.lease_timeout * 1000)
        # id -> (task, started ms, worker, delivery token)
        self.inflight: dict[str, tuple[str, int, str, str]] = {}
        self._inflight_lock = threading.Lock()
        self._registered_pid: int | None = None
        self._heartbeat: Heartbeat | None = None
        self._flusher: CounterFlusher | None = None  # a producer's writer of its counts
        self.consumer_info: dict[str, Any] | None = None
        self.stop_flag: Any = None  # the huey consumer's stop flag, once it is created
        self._periodic_names: set[str] | None = None
        self._known_tasks: set[str] = set()
        self._local = threading.local()
        #: jobboard.otel.Tracing once jobboard.otel.instrument() was called, else None
        #: (then tracing costs one attribute check per enqueue and per run).
        self.tracing: Any = None
        self.event_log: Any = None  # jobboard.eventlog.EventLog, when enabled
        #: Called with (recovered ids, failed ids) after a heartbeat put stalled jobs back.
        self.recovery_listeners: list[Callable[[list[str], list[str]], None]] = []
        self.done = 0  # jobs this process finished, reported by the heartbeat
        self.failed = 0
        self.outbox = Outbox(storage.name, config.end_retry_timeout)
        self.counters = Counters()  # this process's per-job metrics, flushed by the heartbeat
        self._scripts = {
            name: self.conn.register_script(getattr(scripts, name))
            for name in ("FINISH", "ATTEMPT_FAILED", "REQUEUE", "SCHEDULE", "CLAIM", "RECOVER_STALLED",
                         "EXTEND_LEASES", "PROGRESS", "LOG", "ROLLUP", "METRICS")
        }
        # The consumer's per-job script sent as the producer's ENQUEUE is: without redis-py's
        # per-call argument packing and pool checkout, which took about a quarter of a
        # worker's Python time per job (cProfile of a drain). Durable mode keeps the
        # pipeline with WAIT (storage.durable_call).
        self._finish_direct = DirectScript(self.conn, scripts.FINISH, numkeys=1)
        storage.tracker = self
        if type(huey).serialize_task is Huey.serialize_task:
            huey.serialize_task = self._serialize_task  # type: ignore[method-assign]
        huey.post_execute("jobboard")(self._on_post_execute)
        if type(huey).read_periodic is Huey.read_periodic:
            huey.read_periodic = self._read_periodic  # type: ignore[method-assign]
        if type(huey).read_schedule is Huey.read_schedule:
            huey.read_schedule = self._read_schedule  # type: ignore[method-assign]
        huey.signal(S.SIGNAL_REVOKED, S.SIGNAL_EXPIRED, S.SIGNAL_CANCELED,
                    S.SIGNAL_INTERRUPTED)(self._on_signal)
        if type(huey).enqueue is Huey.enqueue:
            huey.enqueue = self._enqueue  # type: ignore[method-assign]
        # Huey runs these in each consumer worker (thread, process or greenlet) as it
        # starts and stops: only there does a job's end also take the worker's next job.
        huey.on_startup("jobboard")(self._worker_started)
        huey.on_shutdown("jobboard")(self._worker_stopped)
        for hook in TRACKER_HOOKS:
            hook(self)

    # Helpers ---------------------------------------------------------------------------

    @property
    def queue(self) -> str:
        return self.storage.name

    def epoch_ms(self, value: Any) -> int:
        t = _epoch(value, self.huey.utc)
        return int(t * 1000) if t is not None else now_ms()

    def ensure_registered(self) -> None:
        """Add this queue to the global set of queues, once per process."""
        if self._registered_pid != os.getpid():
            self.conn.sadd(queues_key(self.config.prefix), self.queue)
            self._registered_pid = os.getpid()

    def decode(self, data: bytes) -> Any:
        """The Huey message in ``data``; bytes that hold none (Huey's storage API takes any
        bytes) are recorded as an opaque job of their own, as Huey's storage would keep them."""
        try:
            return self.huey.serializer.deserialize(data)
        except Exception:
            return OpaqueMessage(id=str(uuid.uuid4()))

    def is_periodic(self, name: str) -> bool:
        if self._periodic_names is None:
            reg = self.huey._registry
            self._periodic_names = {reg.task_to_string(t) for t in reg._periodic_tasks}
        return name in self._periodic_names

    def consumer_id(self) -> str:
        """``host:pid`` of the huey_consumer process this code runs under."""
        info = self.consumer_info
        pid = info["pid"] if info else os.getpid()
        return f"{HOST}:{pid}"

    def stopping(self) -> bool:
        """True once the consumer of this process was told to stop (SIGTERM, SIGINT)."""
        flag = self.stop_flag
        return flag is not None and flag.is_set()

    def worker_label(self) -> str:
        cached = getattr(self._local, "label", None)
        if cached is not None and cached[0] == os.getpid():
            return cached[1]  # type: ignore[no-any-return]
        proc = multiprocessing.current_process().name
        worker = proc if proc != "MainProcess" else threading.current_thread().name
        label = f"{self.consumer_id()}/{worker}"
        if getattr(self._local, "worker", False):  # a consumer's worker: its name is set
            self._local.label = (os.getpid(), label)
        return label

    # Producer side ---------------------------------------------------------------------

    def _read_periodic(self, timestamp: Any) -> list[Any]:
        """Huey's ``read_periodic``, each task marked with the minute it is due for.

        Every consumer running a scheduler asks each minute; the ENQUEUE script lets only
        the first enqueue of a task for a given minute through, so a schedule tick runs
        once however many schedulers there are."""
        if timestamp is None:
            timestamp = self.huey._get_timestamp()
        tick = str(int(self.epoch_ms(timestamp) // 60000))
        tasks = Huey.read_periodic(self.huey, timestamp)
        for task in tasks:
            task._jobboard_tick = tick
        return tasks

    def _read_schedule(self, timestamp: Any = None) -> list[Any]:
        """Huey's ``read_schedule``: the due tasks, as Huey returns them.

        They are already waiting (PROMOTE_DUE moved them inside Redis); each is marked so
        that the scheduler's ``enqueue`` of it only emits ``SIGNAL_ENQUEUED`` (as with
        Huey) and writes nothing."""
        if timestamp is None:
            timestamp = self.huey._get_timestamp()
        tasks = []
        for data in self.storage.read_schedule(timestamp):
            task = self._task_of(data)
            if task is not None:
                task._jobboard_promoted = True
                tasks.append(task)
        return tasks

    def _task_of(self, data: bytes) -> Any:
        try:
            return self.huey.deserialize_task(data)
        except Exception:  # its job is waiting all the same; its consumer will say why
            return None

    def _enqueue(self, task: Any) -> Any:
        """Huey's ``enqueue``; a ``group`` gets an id its members are recorded under (Huey
        keeps none), so that the flow view can show them together."""
        if isinstance(task, group) and getattr(self._local, "group", None) is None:
            self._local.group = [str(uuid.uuid4()), 0]
            try:
                return Huey.enqueue(self.huey, task)
            finally:
                self._local.group = None
        return Huey.enqueue(self.huey, task)

    def _group_place(self) -> tuple[str, int] | None:
        """(group id, position) for the next member of the group being enqueued, or None."""
        group = getattr(self._local, "group", None)
        if group is None:
            return None
        place = (group[0], group[1])
        group[1] += 1
        return place

    def _serialize_task(self, task: Any) -> bytes:
        """Huey's ``serialize_task``, keeping the message for the enqueue that follows.

        Huey serializes a task's message just before handing the bytes to
        ``storage.enqueue``; remembering the message spares the producer's hot path
        unpickling what it has just pickled."""
        message = self.huey._registry.create_message(task)
        data = self.huey.serializer.serialize(message)
        self._local.serialized = (data, message, task)
        return data

    def message_of(self, data: bytes) -> tuple[Any, Any]:
        """The Huey message that ``data`` holds, and the task it came from (or None)."""
        last = getattr(self._local, "serialized", None)
        if last is not None:
            self._local.serialized = None
            if last[0] is data:
                return last[1], last[2]
        return self.decode(data), None

    def enqueued_name(self) -> str:
        """The task name of the message this thread's last ``enqueue_argv`` was for."""
        return self._local.enqueued_name  # type: ignore[no-any-return]

    def count_enqueued(self, task: str, reply: Any) -> Any:
        """Count a new job (ENQUEUE answered 'new') in this process's counters, written
        within counters.FLUSH_SECONDS by the heartbeat or, in a producer, by its flusher."""
        if reply == b"new":
            self.counters.enqueued(now_ms(), task)
            self._ensure_flusher()
        return reply

    def _ensure_flusher(self) -> None:
        hb = self._heartbeat
        if hb is not None and hb.pid == os.getpid() and hb.is_alive():
            return  # the heartbeat writes the counts
        fl = self._flusher
        if fl is None or fl.pid != os.getpid() or not fl.is_alive():
            self._flusher = CounterFlusher(self)
            self._flusher.start()
            atexit.register(self._flush_at_exit, os.getpid())

    def _flush_at_exit(self, pid: int) -> None:
        if os.getpid() == pid:
            try:
                self.flush_counters()
            except Exception:
                pass

    def peek_message(self, data: bytes) -> tuple[Any, Any]:
        """``message_of`` without using up the remembered message (the enqueue that
        follows still finds it)."""
        last = getattr(self._local, "serialized", None)
        if last is not None and last[0] is data:
            return last[1], last[2]
        return self.decode(data), None

    def enqueue_argv(self, data: bytes, priority: int | None, only_new: bool = False,
                     periodic: str | None = None, trace: str = "",
                     counted: bool = False) -> list[Any] | None:
        """ARGV of ENQUEUE for Huey's serialized task, or None when there is nothing to
        write (a task ``read_schedule`` handed back, already waiting)."""
        msg, task = self.message_of(data)
        self._local.enqueued_name = msg.name
        if task is not None and getattr(task, "_jobboard_promoted", False):
            return None
        tick = getattr(task, "_jobboard_tick", "") if task is not None else ""
        if periodic is None:
            periodic = "1" if self.is_periodic(msg.name) else "0"
        # The queue's set of task names needs each name once: skip the SADD after that.
        register = msg.name not in self._known_tasks
        self._known_tasks.add(msg.name)
        retrying = getattr(self._local, "retrying", None)
        fence = ""
        if retrying is not None and retrying[0] == msg.id:
            fence = retrying[1]
            self._local.retrying = None
        return message_argv(self.keys.base, data, msg, priority=priority, utc=self.huey.utc,
                            config=self.config, periodic=periodic, only_new=only_new,
                            register_task=register, fence=fence, tick=tick,
                            source=self.consumer_id() if tick else "", trace=trace,
                            counted=counted, group=self._group_place())

    def enqueue_many(self, tasks: Iterable[Any]) -> list[Any]:
        """Huey's ``enqueue`` of many tasks, ``ENQUEUE_BATCH`` per round trip: each batch
        is one ENQUEUE_MANY call, atomic. Signals, expiry and pipelines as with Huey's
        ``enqueue``; groups and chords, and immediate mode, go through ``enqueue`` one by
        one, in their place. Returns what Huey's ``enqueue`` returns for each task."""
        huey = self.huey
        results: list[Any] = []
        batch: list[list[Any]] = []
        for task in tasks:
            if huey._immediate or isinstance(task, (group, chord)):
                if batch:
                    self.storage.enqueue_batch(batch)
                    batch = []
                results.append(huey.enqueue(task))
                continue
            if task.expires:
                task.resolve_expires(huey.utc)
            huey._emit(S.SIGNAL_ENQUEUED, task)
            argv = self.enqueue_argv(huey.serialize_task(task), task.priority)
            if argv is not None:
                batch.append(argv)
            if huey.results:
                pipeline = huey._pipeline_results(task)
                results.append(ResultGroup(pipeline) if len(pipeline) > 1 else pipeline[0])
            else:
                results.append(None)
            if len(batch) >= ENQUEUE_BATCH:
                self.storage.enqueue_batch(batch)
                batch = []
        self.storage.enqueue_batch(batch)
        return results

    def schedule_argv(self, data: bytes, ts: Any) -> list[Any]:
        """ARGV of SCHEDULE: a retry with a delay, or a dequeued job whose eta is ahead;
        both end the current delivery, so they carry its token."""
        msg = self.decode(data)
        retrying = getattr(self._local, "retrying", None)
        text, token = "", ""
        if retrying is not None and retrying[0] == msg.id:
            text, token = "retry scheduled after a failed attempt", retrying[1]
            self._local.retrying = None
        else:
            token = self._end_delivery(msg.id)
        return [self.keys.base, msg.id, data, now_ms(), self.epoch_ms(ts), msg.name, text, token]

    def in_delivery(self) -> bool:
        """True in a worker running a job of ours, from its take to the end of Huey's run."""
        return (getattr(self._local, "delivery", None) is not None
                or bool(getattr(self._local, "after_end", False)))

    def routes_through_outbox(self) -> bool:
        """True for Huey's own writes after a job's end in a worker (its retry, its
        pipeline's next step): those wait in the outbox behind the end when Redis is away,
        rather than raising into Huey's worker loop and being lost."""
        return bool(getattr(self._local, "after_end", False)) or bool(len(self.outbox))

    # Consumer side ---------------------------------------------------------------------

    def ensure_consumer_side(self) -> None:
        """Start the heartbeat in this process (after a fork, in each worker process)."""
        hb = self._heartbeat
        if hb is None or hb.pid != os.getpid() or not hb.is_alive():
            if hb is not None and hb.pid != os.getpid():
                # A forked worker process: the parent's lock may have been held mid-fork,
                # and the parent's in-flight jobs are not ours.
                self._inflight_lock = threading.Lock()
                self.inflight = {}
            self.ensure_registered()
            self._heartbeat = Heartbeat(self)
            self._heartbeat.start()

    def started(self, job_id: str, task: str, at_ms: int, token: str) -> None:
        """A job taken by this worker is handed to Huey: it is this worker's delivery now."""
        held = self.inflight.get(job_id)
        if held is None or held[3] != token:  # (a job the last FINISH took is there already)
            worker = self.worker_label()
            with self._inflight_lock:
                self.inflight[job_id] = (task, at_ms, worker, token)
        self._local.delivery = (job_id, token)
        self._local.after_end = False
        self._known_tasks.add(task)
        context.set_current(self, job_id)

    # One round trip per job: a worker's FINISH also takes its next job (see scripts.FINISH),
    # which waits here, leased and in ``inflight`` (so the heartbeat extends its lease, as
    # for any job taken), until the worker's next dequeue. A worker that stops first puts it
    # back (``_worker_stopped``); one that dies leaves it to lapse and be recovered.

    def _worker_started(self) -> None:
        self._local.worker = True
        self._local.label = None

    def _worker_stopped(self) -> None:
        self._local.worker = False
        self._local.empty = False
        held = getattr(self._local, "next", None)
        self._local.next = None
        if held is not None:
            job_id, token = held[0], held[5]
            self.record_end("put-back", job_id, token, "REQUEUE", [
                self.keys.base, job_id, now_ms(), "put back",
                "taken by a worker that stopped before running it; put back at once", token])
        try:
            self.flush_counters()
        except Exception:
            logger.warning("jobboard could not write the metrics of %s", self.queue, exc_info=True)

    def _take_next_argv(self, now: int) -> list[Any]:
        """FINISH's extra arguments that make it take this worker's next job, or []: only
        in a consumer's worker, not once the consumer is stopping, not when a job is held."""
        if (not getattr(self._local, "worker", False) or self.stopping()
                or getattr(self._local, "next", None) is not None):
            return []
        return [now + self.lease_ms, self.worker_label()]

    def _took_next(self, reply: list[Any], now: int) -> None:
        if len(reply) < 8:
            self.saw_empty()
            return
        job_id, msg, task, flag, task_flag, token, wait = reply[1:8]
        job, name, tok = job_id.decode(), task.decode(), token.decode()
        self.count_take(now, name, int(wait))
        with self._inflight_lock:
            self.inflight[job] = (name, now, self.worker_label(), tok)
        self._local.next = (job, msg, name, flag, task_flag, tok, now)

    def count_take(self, now: int, task: str, wait: int) -> None:
        """Count a take (its wait) in this process's metrics; TAKE's wait -1 is a scheduling
        take (an eta ahead: Huey's execute() only schedules the job), which is no start."""
        if wait >= 0:
            self.counters.took(now, task, wait)

    def flush_counters(self) -> None:
        """Write this process's counted ends and takes (see counters.py): one METRICS call
        per minute of counts; kept for the next flush if Redis does not take them."""
        base = self.keys.base
        self.counters.flush(lambda minute, fields: self._scripts["METRICS"](
            keys=[base], args=[minute, *fields]))

    def held_next(self) -> tuple[Any, ...] | None:
        """The job this worker's last FINISH took, if any (then no longer held)."""
        held = getattr(self._local, "next", None)
        if held is not None:
            self._local.next = None
        return held

    def saw_empty(self) -> None:
        """This worker found nothing to take: its next dequeue waits at once."""
        self._local.empty = True

    def queue_seen_empty(self) -> bool:
        """True once: this worker's last FINISH found nothing to take."""
        if getattr(self._local, "empty", False):
            self._local.empty = False
            return True
        return False

    def _end_delivery(self, job_id: str) -> str:
        """The worker is done with this delivery (its end is being recorded): returns its
        token, clears the task context. The in-flight entry stays (and its lease is
        extended) until the end reaches Redis: see ``_forget``."""
        delivery = getattr(self._local, "delivery", None)
        if delivery is not None and delivery[0] == job_id:
            self._local.delivery = None
            self._local.after_end = True
            token = delivery[1]
        else:
            entry = self.inflight.get(job_id)
            token = entry[3] if entry else ""
        if context.current_job_id() == job_id:
            context.set_current(None, None)
        return token

    def _forget(self, job_id: str, token: str) -> None:
        """Stop extending this delivery's lease (its end is recorded, or given up on)."""
        with self._inflight_lock:
            entry = self.inflight.get(job_id)
            if entry is not None and (not token or entry[3] == token):
                del self.inflight[job_id]

    def record_end(self, label: str, job_id: str, token: str, script: str, args: list[Any],
                   then: Any = None, take: list[Any] | None = None) -> None:
        """Send an end through the outbox: now if Redis answers, else retried in order.

        ``take`` (FINISH only): the arguments that also take this worker's next job. Only
        a first try made inline, by the worker itself, sends them: a try from the outbox
        thread takes nothing."""
        run = self._scripts[script]
        # The worker's own thread (or greenlet), not the outbox's: the job taken is held
        # for the caller's next dequeue.
        first = [bool(take)]
        caller = threading.get_ident()

        direct = self._finish_direct if script == "FINISH" and not self.config.replicas else None

        def call(argv: list[Any]) -> Any:  # argv[0]: the key base (KEYS[1])
            if direct is not None:
                return direct(argv)
            return self.storage.durable_call(run, argv[:1], argv[1:])

        def send() -> None:
            if first[0] and threading.get_ident() == caller:
                first[0] = False
                reply = call([*args, *take])  # type: ignore[misc]
                self._forget(job_id, token)
                self._took_next(reply, int(args[3]))
                res = reply[0]
            else:
                res = call(args)
                self._forget(job_id, token)
            if then is not None:
                then(res)

        self.outbox.submit(f"{label} of job {job_id}", send,
                           on_give_up=lambda: self._forget(job_id, token))

    def execute(self, run: Any, task: Any, timestamp: Any = None) -> Any:
        """Huey's ``execute`` (``run``), making sure the delivery ends one way or another.

        If Huey's run ends without any end recorded (an error on the way, such as Redis
        lost while Huey stores the result), the lease is let go so that the job is
        recovered and run again rather than held ``active`` for ever."""
        if self.tracing is not None:
            return self.tracing.execute(self._execute, run, task, timestamp)
        return self._execute(run, task, timestamp)

    def _execute(self, run: Any, task: Any, timestamp: Any = None) -> Any:
        if getattr(task, "_jobboard_promoted", False) and not self.owns(task.id):
            self._claim(task)
        try:
            return run(task, timestamp)
        finally:
            delivery = getattr(self._local, "delivery", None)
            self._local.after_end = False
            self._local.retrying = None
            if delivery is not None and delivery[0] == task.id:
                self._local.delivery = None
                if context.current_job_id() == task.id:
                    context.set_current(None, None)
                self._forget(*delivery)
                logger.warning("jobboard: job %s ended without its end being recorded; its "
                               "lease will lapse and it will run again", task.id)

    def _claim(self, task: Any) -> None:
        """A task from ``read_schedule`` run by ``execute`` directly, not dequeued: take its
        job out of waiting as this thread's delivery (CLAIM), so that it runs once and
        its end is recorded."""
        task._jobboard_promoted = False  # an enqueue of it from now on is a real one
        self.ensure_consumer_side()
        now = now_ms()
        res = self._scripts["CLAIM"](keys=[self.keys.base],
                                     args=[task.id, now, now + self.lease_ms, self.worker_label()])
        if not res:
            return  # taken by a consumer meanwhile, or removed: Huey runs it unrecorded
        name = self.huey._registry.task_to_string(type(task))
        self.count_take(now, name, int(res[1]))
        self.started(task.id, name, now, res[0].decode())

    def take_deferred_delete(self, job_id: str) -> str:
        """The revoke flag Huey asked to delete for this job, deleted by our next script."""
        key = getattr(self._local, "deferred_delete", None)
        self._local.deferred_delete = None
        return key if key == "r:" + job_id else ""

    def defer_delete(self, key: str) -> bool:
        """Hold back Huey's post-run delete of the current job's revoke flag so that the
        FINISH script does it: one round trip less per job. False if not applicable."""
        job_id = context.current_job_id()
        if job_id is None or key != "r:" + job_id:
            return False
        self._local.deferred_delete = key
        return True

    def _finish(self, job_id: str, task: str, state: str, result: str = "", error: str = "",
                attempt: str = "", keep_message: bool = True, event: str = "",
                result_whole: str = "") -> None:
        token = self._end_delivery(job_id)
        result, result_whole = _fit(result, result_whole)
        error_preview, frames = self._error_frames(error, attempt)
        if result_whole:
            frames += compact.frame(compact.RESULT, result_whole, self.config.compress_above)
        now = now_ms()
        entry = self.inflight.get(job_id)
        started = entry[1] if entry is not None and entry[3] == token else None
        # With the task name given, FINISH leaves the end's metrics to self.counters.
        args = [self.keys.base, job_id, state, now, result, error_preview, frames,
                "1" if keep_message else "0", *self.config.retention_argv(state, task),
                self.take_deferred_delete(job_id), event, token, task,
                "" if started is None else started, "1" if self.is_periodic(task) else "0"]

        def count(res: Any) -> None:
            if res == 1:
                if task:
                    self.counters.ended(now, state, task,
                                        None if started is None else max(0, now - started))
                if state == "completed":
                    self.done += 1
                else:
                    self.failed += 1

        self.record_end(state, job_id, token, "FINISH", args, count, self._take_next_argv(now))

    def _error_frames(self, error: str, attempt: str) -> tuple[str, bytes]:
        """(record preview of the error, blob frames: the attempt, the whole error, the
        error's words for the search index) for FINISH and ATTEMPT_FAILED."""
        above = self.config.compress_above
        frames = compact.frame(compact.ATTEMPT, attempt, above) if attempt else b""
        preview = compact.preview(error)
        if preview != error:
            frames += compact.frame(compact.ERROR, error, above)
        if error and self.config.search_index:
            words = error_tokens(error)
            if words:
                frames += compact.frame(compact.ADD_TOKENS, words, 1 << 30)  # Lua reads it
        return preview, frames

    def _attempt_json(self, task: Any, exc: BaseException | None, error: str,
                      tb_text: str | None = None) -> str:
        if tb_text is None and exc is not None:
            tb_text = "".join(tb_module.format_exception(type(exc), exc, exc.__traceback__))
        rec = self.inflight.get(task.id)
        return json.dumps({
            "at": now_ms(),
            # the delivery's attempt number: which run it belongs to (see Queue.job)
            "n": int(rec[3]) if rec and str(rec[3]).isdigit() else None,
            "error_class": type(exc).__name__ if exc is not None else "Error",
            "message": clean_text(str(exc), 2000) if exc is not None else error,
            "traceback": clean_text(tb_text or "", self.config.traceback_limit),
            "consumer": rec[2] if rec else self.worker_label(),
        }, separators=(",", ":"))

    def dequeue(self) -> Any:
        """Huey's ``dequeue`` with one addition: a message that cannot be decoded (a task
        module renamed, a class gone) ends its job as failed with the reason, instead of
        leaving it active under a lease the heartbeat would extend forever."""
        data = self.storage.dequeue()
        if data is None:
            return None
        try:
            return self.huey.deserialize_task(data)
        except Exception as exc:
            job_id = context.current_job_id()
            if job_id is not None:
                task = self.inflight.get(job_id, ("", 0, "", ""))[0]
                error = clean_text(f"Undecodable message: {type(exc).__name__}: {exc}", 500)
                attempt = json.dumps({"at": now_ms(), "error_class": type(exc).__name__,
                                      "message": error, "traceback": "", "consumer": self.worker_label()})
                self._finish(job_id, task, "failed", error=error, attempt=attempt)
            raise

    def owns(self, job_id: str) -> bool:
        """True for a job this process took from Redis (not one Huey ran in immediate mode)."""
        delivery = getattr(self._local, "delivery", None)
        return (delivery is not None and delivery[0] == job_id) or job_id in self.inflight

    def _on_post_execute(self, task: Any, value: Any, exc: BaseException | None) -> None:
        if not self.owns(task.id):
            return  # immediate mode: Huey ran it in memory, nothing to record
        name = self.huey._registry.task_to_string(type(task))
        try:
            if exc is None:
                result, whole = result_fields(value, self.config.payload_limit, self.config.redact_re)
                self._finish(task.id, name, "completed", result=result, result_whole=whole,
                             keep_message=False)
                return
            error = error_summary(exc)
            attempt = self._attempt_json(task, exc, error)
            if task.retries:  # Huey will retry: record the attempt, the requeue moves it
                token = self._end_delivery(task.id)
                preview, frames = self._error_frames(error, attempt)
                self.record_end("failed attempt", task.id, token, "ATTEMPT_FAILED", [
                    self.keys.base, task.id, now_ms(), frames, preview,
                    self.take_deferred_delete(task.id), token])
                self._local.retrying = (task.id, token)
                return
            if isinstance(exc, TaskLockedException):
                state = "locked"
            elif isinstance(exc, RateLimitExceeded):
                state = "rate_limited"
            elif isinstance(exc, CancelExecution):
                state = "canceled"
            else:
                state = "failed"
            self._finish(task.id, name, state, error=error, attempt=attempt)
        except Exception:
            logger.exception("jobboard could not record the end of job %s", task.id)

    def _on_signal(self, signal: str, task: Any, *args: Any) -> None:
        if not self.owns(task.id):
            return
        name = self.huey._registry.task_to_string(type(task))
        try:
            if signal == S.SIGNAL_REVOKED:
                self._finish(task.id, name, "revoked", event="revoked (Huey revoke flag)")
            elif signal == S.SIGNAL_EXPIRED:
                self._finish(task.id, name, "expired", event="expired before it could run")
            elif signal == S.SIGNAL_INTERRUPTED:
                token = self._end_delivery(task.id)
                self.record_end("put-back", task.id, token, "REQUEUE", [
                    self.keys.base, task.id, now_ms(), "interrupted",
                    "consumer stopped mid-run; put back at once", token])
            elif signal == S.SIGNAL_CANCELED:
                exc = sys.exc_info()[1]
                frames = tb_module.extract_tb(exc.__traceback__) if exc is not None else []
                # A cancel from a pre-execute hook never reaches post_execute: end it here.
                if any(f.name == "_run_pre_execute" for f in frames):
                    error = "CancelExecution: canceled by a pre-execute hook"
                    self._finish(task.id, name, "canceled", error=error,
                                 attempt=self._attempt_json(task, exc, error))
        except Exception:
            logger.exception("jobboard could not record %s for job %s", signal, task.id)

    # Inside a task -----------------------------------------------------------------------

    def set_progress(self, job_id: str, percent: float, message: str | None) -> bool:
        try:
            pct = max(0.0, min(100.0, float(percent)))
            text = clean_text(str(message), 300) if message else ""
            return bool(self._scripts["PROGRESS"](keys=[self.keys.base], args=[job_id, round(pct, 2), text, now_ms()]))
        except Exception:
            logger.warning("jobboard could not record progress of %s", job_id, exc_info=True)
            return False

    def add_log(self, job_id: str, message: str) -> bool:
        try:
            line = json.dumps([now_ms(), clean_text(str(message), LOG_LIMIT)])
            return bool(self._scripts["LOG"](keys=[self.keys.base], args=[job_id, line, self.config.log_lines]))
        except Exception:
            logger.warning("jobboard could not record a log line of %s", job_id, exc_info=True)
            return False

    # Consumer registry -------------------------------------------------------------------

    def consumer_started(self, options: dict[str, Any], consumer: Any = None) -> None:
        """Called from ``create_consumer`` in the huey_consumer main process."""
        from .version import __version__

        self.stop_flag = getattr(consumer, "stop_flag", None)
        self.consumer_info = {
            "pid": os.getpid(), "host": HOST, "queue": self.queue,
            "worker_type": str(options.get("worker_type", "thread")),
            "workers": int(options.get("workers", 1)),
            "periodic": bool(options.get("periodic", True)),
            "started": now_ms(), "version": __version__,
        }
        if self.consumer_info["periodic"]:
            self.register_periodic()
        self.storage.check_old_revoke_flags()
        self.ensure_consumer_side()
        atexit.register(self._unregister_consumer, os.getpid())
        if consumer is not None:
            stop = consumer.stop

            def stop_and_unregister(graceful: bool = False) -> None:
                stop(graceful=graceful)
                self.outbox.drain(5.0)  # ends still waiting for Redis, before we leave
                try:
                    self.flush_counters()
                except Exception:
                    logger.warning("jobboard could not write the metrics of %s", self.queue)
                if self._heartbeat is not None:
                    self._heartbeat.stop()
                self._unregister_consumer(os.getpid())
                # Every worker joined (a graceful stop that did not time out): a later
                # dequeue in this process (a test, a consumer started again) is not refused
                # as "stopping" (see storage.dequeue). After an interrupt, worker threads
                # may still be running: the flag stays.
                workers = [w for _, w in getattr(consumer, "worker_threads", [])]
                if graceful and not any(consumer.environment.is_alive(w) for w in workers):
                    self.stop_flag = None

            consumer.stop = stop_and_unregister
        for consumer_hook in CONSUMER_HOOKS:
            consumer_hook(self, consumer)

    def _unregister_consumer(self, pid: int) -> None:
        if os.getpid() != pid:
            return
        try:
            cid = self.consumer_id()
            pipe = self.conn.pipeline(transaction=False)
            pipe.delete(self.keys.consumer(cid))
            pipe.zrem(self.keys.consumers, cid)
            pipe.execute()
        except Exception:
            pass

    def register_periodic(self) -> None:
        reg = self.huey._registry
        entries = {}
        for cls in reg._periodic_tasks:
            name = reg.task_to_string(cls)
            sets = cron_sets(getattr(cls, "validate_datetime", None))
            try:
                template = self.huey.serialize_task(cls())
            except Exception:
                template = b""
            entries[name] = json.dumps({
                "schedule": describe(sets), "cron": sets, "utc": bool(self.huey.utc),
                "message": base64.b64encode(template).decode(),
                "registered": now_ms(), "consumer": self.consumer_id(),
            })
        if entries:
            self.conn.hset(self.keys.periodic, mapping=entries)

    def beat(self) -> None:
        """One heartbeat: extend leases, refresh the registry, recover stalled jobs."""
        self.flush_counters()  # this process's counts first: the rollup below may read them
        now = now_ms()
        interval = Heartbeat.interval_for(self.config.lease_timeout)
        ttl = max(10, int(interval * 3) + 1)
        with self._inflight_lock:
            running = dict(self.inflight)
        pipe = self.conn.pipeline(transaction=False)
        # A Cluster pipeline takes no scripts: there they run on their own (each goes to
        # the node of the queue's slot), the plain commands still share one pipeline.
        in_pipe = None if self.storage.cluster else pipe
        if running:
            pairs = [x for job_id, entry in running.items() for x in (job_id, entry[3])]
            self._scripts["EXTEND_LEASES"](keys=[self.keys.base], args=[now + self.lease_ms, *pairs],
                                           client=in_pipe)
        # Registered again on every beat: after Redis lost its data (a restart without
        # persistence) the queue and its tasks reappear without restarting anyone.
        pipe.sadd(queues_key(self.config.prefix), self.queue)
        if self._known_tasks:
            pipe.sadd(self.keys.tasks, *self._known_tasks)
        periodic_at = len(pipe)
        pipe.exists(self.keys.periodic)
        if self.consumer_info is not None:
            cid = self.consumer_id()
            ck = self.keys.consumer(cid)
            fields: dict[str, Any] = {f"run:{os.getpid()}": json.dumps(
                {"at": now, "jobs": [[i, t, s, w] for i, (t, s, w, _) in running.items()],
                 "done": self.done, "failed": self.failed, "ttl": ttl})}
            if self.consumer_info["pid"] == os.getpid():
                fields.update({k: str(v) for k, v in self.consumer_info.items()})
                fields["seen"] = now
            pipe.hset(ck, mapping=fields)
            pipe.expire(ck, ttl)
            if self.consumer_info["pid"] == os.getpid():
                pipe.zadd(self.keys.consumers, {cid: now})
                pipe.zremrangebyscore(self.keys.consumers, "-inf", now - ttl * 1000)
        # The minute just ended stays out of the rollup for one more minute: consumers write
        # their counts of it up to counters.FLUSH_SECONDS late (longer through an outage).
        self._scripts["ROLLUP"](keys=[self.keys.base], args=[now // 60000 - 1], client=in_pipe)
        res = pipe.execute()
        if (not res[periodic_at] and self.consumer_info is not None
                and self.consumer_info["periodic"] and self.consumer_info["pid"] == os.getpid()):
            self.register_periodic()
        res = self._scripts["RECOVER_STALLED"](keys=[self.keys.base], args=[
            now, self.config.max_stalls, 200,
            *self.config.retention["failed"].as_argv()])
        if self.recovery_listeners and len(res) > 1:
            ids = [i.decode() for i in res]
            sep = ids.index("|")
            for listener in self.recovery_listeners:
                listener(ids[:sep], ids[sep + 1:])


class Heartbeat(threading.Thread):
    """Daemon thread: ``Tracker.beat()`` every lease_timeout / 3 seconds."""

    @staticmethod
    def interval_for(lease_timeout: float) -> float:
        return max(0.5, min(10.0, lease_timeout / 3))

    def __init__(self, tracker: Tracker) -> None:
        super().__init__(name=f"jobboard-heartbeat-{tracker.queue}", daemon=True)
        self.tracker = tracker
        self.pid = os.getpid()
        self.interval = self.interval_for(tracker.config.lease_timeout)
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        failing = 0
        next_beat = 0.0
        while not self._stopped.is_set():
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + self.interval
                try:
                    self.tracker.beat()
                    if failing:
                        logger.warning("jobboard heartbeat of %s back after %d failed beats",
                                       self.tracker.queue, failing)
                    failing = 0
                except Exception as exc:
                    # The traceback once per outage, then one line per beat: an outage of
                    # minutes must not fill the log with identical tracebacks.
                    failing += 1
                    logger.warning("jobboard heartbeat of %s failed (%s: %s); retrying",
                                   self.tracker.queue, type(exc).__name__, exc,
                                   exc_info=failing == 1)
            if len(self.tracker.counters):
                try:
                    self.tracker.flush_counters()
                except Exception:  # kept for the next try; the beat reports the outage
                    pass
            self._stopped.wait(min(FLUSH_SECONDS, max(0.0, next_beat - time.monotonic())))


class CounterFlusher(threading.Thread):
    """Daemon thread of a producer process (one without a heartbeat): writes the counts of
    its enqueues every counters.FLUSH_SECONDS."""

    def __init__(self, tracker: Tracker) -> None:
        super().__init__(name=f"jobboard-counters-{tracker.queue}", daemon=True)
        self.tracker = tracker
        self.pid = os.getpid()

    def run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            if len(self.tracker.counters):
                try:
                    self.tracker.flush_counters()
                except Exception:  # kept for the next try
                    pass
