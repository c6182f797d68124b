"""A Huey storage that records every job and leases the ones it hands out.

``TrackingStorage`` replaces Huey's Redis storage. Messages stay in Redis until their job
ends: ``dequeue`` moves a job from the waiting set into the active set under a lease (one
Lua call, the same single round trip as Huey's BZPOPMIN), and the job record is written by
the same call. Higher priority numbers run first; within a priority, first in, first out.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import redis
from huey.storage import BaseStorage, RedisExpireStorage, RedisStorage

from . import scripts
from .connections import DirectScript, client_from_url, follow_promotions, is_cluster
from .outbox import is_transient
from .errors import NotReplicated, RedisOutOfMemory
from .keys import QueueKeys
from .primitives import PRIORITY_LIMIT as PRIORITY_LIMIT  # re-exported: tracking imports
from .primitives import now_ms as now_ms  # them from here
from .records import SCHEDULED, STATES, WAITING

if TYPE_CHECKING:
    from .tracking import Tracker

# Errors an enqueue is retried on (until enqueue_retry_timeout): Redis not reachable now,
# a replica promoted or demoted, a Cluster slot moving, durable mode not confirmed yet.
ENQUEUE_RETRY_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError, redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError, NotReplicated,
)


class TrackingStorage(RedisStorage):
    """Huey storage with job records, leases and pause (see keys.py for the layout)."""

    priority = True
    # Huey's result store is the queue's ``results`` hash: DEQUEUE reads the job's revoke
    # flags from it and FINISH deletes the flag, saving Huey two round trips per job.
    results_in_hash = True

    def __init__(self, name: str = "huey", blocking: bool = True, read_timeout: float = 1,
                 connection_pool: Any = None, url: str | None = None,
                 client_name: str | None = None, notify_result: bool = False,
                 notify_result_ttl: int = 60, prefix: str = "jb", client: Any = None,
                 **connection_params: Any) -> None:
        # Besides Huey's url / connection_pool / host=..., a ready client: a Redis Cluster
        # (``redis+cluster://`` URL or a ``RedisCluster`` passed as connection_pool or
        # client) or a Sentinel master (``redis+sentinel://``). Huey's own storage can
        # only build ``Redis(connection_pool=...)``.
        if client is None and url and "+" in url.split("://", 1)[0]:
            client, url = client_from_url(url), None
        if client is None and connection_pool is not None and not isinstance(
                connection_pool, redis.ConnectionPool):
            client, connection_pool = connection_pool, None
        if client is not None:
            if url or connection_pool or connection_params:
                from .errors import ConfigurationError

                raise ConfigurationError("Give a Redis client, or url / connection_pool / "
                                         "host=..., not both.")
            BaseStorage.__init__(self, name)
            self.pool = follow_promotions(getattr(client, "connection_pool", None))
            self.conn = client
            self.connection_params = {}
            self.name = self.clean_name(name)
            self.notify_result, self.notify_result_ttl = notify_result, notify_result_ttl
            self.blocking, self.read_timeout = blocking, read_timeout
        else:
            super().__init__(name, blocking=blocking, read_timeout=read_timeout,
                             connection_pool=follow_promotions(connection_pool), url=url, client_name=client_name,
                             notify_result=notify_result, notify_result_ttl=notify_result_ttl,
                             **connection_params)
        self.cluster = is_cluster(self.conn)
        self.set_prefix(prefix)
        self.tracker: Tracker | None = None
        self._revoke_cache = threading.local()

    def set_prefix(self, prefix: str) -> None:
        self.keys = keys = QueueKeys(prefix, self.name)
        self.queue_key = keys.state("waiting")
        self.schedule_key = keys.state("scheduled")
        self.result_key = keys.results
        self.counter_key = keys.counters
        self.notify_prefix = keys.base + "notify."
        self._scripts = {
            name: self.conn.register_script(getattr(scripts, name))
            for name in ("DEQUEUE", "PROMOTE_DUE", "CLEAN", "DROP_INDEX")
        }
        # The producer's one round trip per enqueue, without redis-py's per-command
        # pool checkout (see connections.py; measured by bench/bench_throughput.py).
        self._enqueue_script = DirectScript(self.conn, scripts.ENQUEUE, numkeys=1)
        self._enqueue_many_script = DirectScript(self.conn, scripts.ENQUEUE_MANY, numkeys=1)

    def _require_tracker(self) -> Tracker:
        if self.tracker is None:
            from .errors import ConfigurationError

            raise ConfigurationError(
                "TrackingStorage is used without a tracker. Use jobboard.RedisHuey(...) or "
                "jobboard.track(huey) rather than creating the storage directly."
            )
        return self.tracker

    # Queue -------------------------------------------------------------------------------

    def enqueue(self, data: bytes, priority: int | None = None) -> None:
        tracker = self._require_tracker()
        if tracker.tracing is not None:  # jobboard.otel: a span around the same call
            tracker.tracing.enqueue(self, data, priority)
            return
        self.send_enqueue(tracker, tracker.enqueue_argv(data, priority, counted=True), counted=True)

    def send_enqueue(self, tracker: Tracker, argv: list[Any] | None, counted: bool = False) -> None:
        """Run ENQUEUE with ``argv`` (None: nothing to write), retried through a failover.
        ``counted``: the argv asks the script not to count a new job, this process does."""
        if argv is None:
            return
        if counted:
            task = tracker.enqueued_name()
            self._send(tracker, "enqueue of a follow-up job",
                       lambda: tracker.count_enqueued(task, self._run_enqueue(argv)))
        else:
            self._send(tracker, "enqueue of a follow-up job", lambda: self._run_enqueue(argv))

    def enqueue_batch(self, argvs: list[list[Any]]) -> list[str]:
        """Enqueue jobs (``Tracker.enqueue_argv`` of each) in one ENQUEUE_MANY call:
        atomic, one round trip. Returns ENQUEUE's answer for each ('new', 'exists'...),
        or 'queued' for each when it waits in the outbox."""
        if not argvs:
            return []
        tracker = self._require_tracker()
        flat: list[Any] = [self.keys.base]
        for argv in argvs:
            flat += argv[1:]
        res = self._send(tracker, f"bulk enqueue of {len(argvs)} jobs",
                         lambda: self._run_enqueue(flat, self._enqueue_many_script))
        if res is None:
            return ["queued"] * len(argvs)
        return [r.decode() for r in res]

    def _send(self, tracker: Tracker, label: str, run: Any) -> Any:
        """Run a producer's write, retried on "not now" errors; None if it went to the outbox."""
        if tracker.routes_through_outbox():
            # Huey's retry or pipeline step after a job's end, in a consumer: queued behind
            # that end while Redis is away (see outbox.py), never raised into Huey.
            tracker.outbox.submit(label, run)
            return None
        delay, deadline = 0.05, 0.0
        while True:
            try:
                tracker.ensure_registered()
                return run()
            except redis.exceptions.OutOfMemoryError as exc:
                raise RedisOutOfMemory(str(exc)) from exc
            except Exception as exc:
                if not (isinstance(exc, ENQUEUE_RETRY_ERRORS) or is_transient(exc)):
                    raise
                # A failover, a restart, a dropped connection: try again for a while. The
                # job's id makes a retry whose first try got through a no-op ('exists').
                now = time.monotonic()
                deadline = deadline or now + tracker.config.enqueue_retry_timeout
                if now + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _run_enqueue(self, argv: list[Any], script: DirectScript | None = None) -> Any:
        script = script or self._enqueue_script
        if self.tracker is not None and self.tracker.config.replicas:
            return self.durable_call(script.script, argv[:1], argv[1:])
        return script(argv)

    def durable_call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run a script; in durable mode (``replicas=N``) also ``WAIT`` for N replicas on
        the same connection (WAIT counts that connection's writes), in one round trip.
        Raises NotReplicated when fewer confirm within ``replica_timeout``."""
        config = self._require_tracker().config
        if not config.replicas:
            return script(keys=keys, args=args)
        if self.cluster:
            # WAIT counts the writes of its own connection: both go to the master serving
            # the queue's slot, on that node's client (a Cluster pipeline would send the
            # keyless WAIT to any node).
            node = self.conn.get_node_from_key(keys[0])
            pipe = self.conn.get_redis_connection(node).pipeline(transaction=False)
        else:
            pipe = self.conn.pipeline(transaction=False)
        script(keys=keys, args=args, client=pipe)
        pipe.execute_command("WAIT", config.replicas, int(config.replica_timeout * 1000))
        try:
            reply, acks = pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
            if self.cluster and (not isinstance(exc, redis.ResponseError)
                                 or str(exc).startswith(("MOVED", "ASK", "CLUSTERDOWN"))):
                # The slot's master died or moved: learn the new layout before the
                # caller's retry (the Cluster client does this for its own commands).
                self.conn.nodes_manager.initialize()
                raise redis.ConnectionError(f"Cluster layout changed: {exc}") from exc
            raise
        if int(acks) < config.replicas:
            raise NotReplicated(config.replicas, int(acks))
        return reply

    def dequeue(self) -> bytes | None:
        tracker = self._require_tracker()
        if not tracker.stopping():
            held = tracker.held_next()
            if held is not None:  # taken by this worker's last FINISH: no round trip
                return self._hand_out(tracker, *held)
        tracker.ensure_consumer_side()
        if tracker.stopping():
            # Told to stop (the flag is set before the workers are interrupted): take
            # nothing. An idle worker between two waits would otherwise take a job that a
            # sibling's SIGTERM handler just put back, and put it back again itself, one
            # attempt more (seen as attempt 3 instead of 2 in test_delivery's SIGTERM test).
            # A job this worker's last FINISH took stays held: its shutdown puts it back.
            return None
        # When the last FINISH found the queue empty, go straight to the wait.
        res = None if tracker.queue_seen_empty() else self._take(tracker)
        if res is None and self.blocking:
            # Empty (or paused): wait for a wake token pushed by an enqueue, then try once
            # more. Huey's worker loop calls us again when we return None.
            self.conn.brpop([self.keys.wake], timeout=self.read_timeout)
            if tracker.stopping():
                # The consumer is shutting down: take nothing more. (The wake may be the
                # token of its own interrupted job being put back; a live consumer runs it.)
                return None
            res = self._take(tracker)
            if res is None:
                tracker.saw_empty()  # so the next call goes straight to the wait
        return res

    def _take(self, tracker: Tracker) -> bytes | None:
        now = now_ms()
        res = self._scripts["DEQUEUE"](
            keys=[self.keys.base], args=[now, now + tracker.lease_ms, tracker.worker_label()])
        if not res:
            return None
        job_id, msg, task, flag, task_flag, token, wait = res
        name = task.decode()
        tracker.count_take(now, name, int(wait))
        return self._hand_out(tracker, job_id.decode(), msg, name, flag, task_flag,
                              token.decode(), now)

    def _hand_out(self, tracker: Tracker, job: str, msg: bytes, name: str, flag: bytes,
                  task_flag: bytes, token: str, now: int) -> bytes:
        """Make a taken job the worker's delivery; returns its message for Huey."""
        self._revoke_cache.checked = None
        tracker.started(job, name, now, token)
        # Huey's next call is is_revoked(): answer it from what the take read.
        found = {k: v for k, v in ((f"r:{job}", flag), (f"rt:{name}", task_flag)) if v}
        if self.results_in_hash:
            self._revoke_cache.flags = ([f"r:{job}", f"rt:{name}"], found)
        return msg

    # Huey's result store: the revoke check and flag delete around each job are folded
    # into our scripts (see DEQUEUE and FINISH) to save two round trips per job.

    def peek_many(self, keys: list[str]) -> dict[str, bytes]:
        cached = getattr(self._revoke_cache, "flags", None)
        if cached is not None:
            self._revoke_cache.flags = None
            if list(keys) == cached[0]:
                # Huey's revoke check of the job just taken: its post-run delete of the
                # job's flag may now be folded into FINISH (see delete_data).
                job_flag = cached[0][0]
                self._revoke_cache.checked = (job_flag, job_flag in cached[1])
                return cached[1]
        return super().peek_many(keys)

    def _revoke_flag(self, key: Any) -> None:
        """Before Huey writes a revoke flag (``r:<id>``, ``rt:<task>``): set the marker
        without which a take does not read the flags (scripts.TAKE). First the marker,
        then the flag, so that no flag is ever without it."""
        text = key.decode() if isinstance(key, bytes) else str(key)
        if self.results_in_hash and (text.startswith("r:") or text.startswith("rt:")):
            self.conn.incr(self.keys.revokes)

    def check_old_revoke_flags(self) -> None:
        """Flags written before the marker existed (an older jobboard) still count: look
        for them once per queue (HSCAN: Redis is not blocked) and keep the marker if any.
        Until that is done the marker is set, so that no take skips a flag."""
        if not self.results_in_hash or self.conn.exists(self.keys.base + "rvscan"):
            return
        mark = self.conn.incr(self.keys.revokes)
        found = any(k.startswith((b"r:", b"rt:")) for k, _ in self.conn.hscan_iter(
            self.result_key, match="r*", count=1000))
        if not found:
            # Unless a revoke came in meanwhile (it moved the counter on), none exist.
            self.conn.eval("if redis.call('get', KEYS[1]) == ARGV[1] then "
                           "redis.call('del', KEYS[1]) end", 1, self.keys.revokes, mark)
        self.conn.set(self.keys.base + "rvscan", "1")

    def put_if_empty(self, key: Any, value: bytes, ttl: Any = None) -> bool:
        self._revoke_flag(key)
        return bool(super().put_if_empty(key, value, ttl))

    def put_data(self, key: Any, value: bytes, is_result: bool = False) -> None:
        if not is_result:
            self._revoke_flag(key)
        tracker = self.tracker
        put = super().put_data
        if tracker is not None and is_result and tracker.in_delivery():
            # Huey stores a job's result or error just before its end is recorded: while
            # Redis is away it waits in the outbox, ahead of the end, instead of raising
            # out of Huey's run (which would skip the end altogether).
            tracker.outbox.submit("result of a job",
                                  lambda: put(key, value, is_result))
            return
        super().put_data(key, value, is_result)

    def delete_data(self, key: str) -> bool:
        cached = getattr(self._revoke_cache, "flags", None)
        if cached is not None and key in cached[0]:
            # restore() before Huey's revoke check of the job just taken: what DEQUEUE
            # read is stale now, so let the check read Redis.
            self._revoke_cache.flags = None
            return bool(super().delete_data(key))
        checked = getattr(self._revoke_cache, "checked", None)
        if checked is not None and checked[0] == key and self.tracker is not None \
                and self.tracker.defer_delete(key):
            # Huey's delete of the flag after the run: FINISH does it, one round trip less.
            # Whether the flag existed is known from DEQUEUE's read.
            self._revoke_cache.checked = None
            return checked[1]
        return bool(super().delete_data(key))

    def queue_size(self) -> int:
        return int(self.conn.zcard(self.queue_key))

    def enqueued_items(self, limit: int | None = None) -> list[bytes]:
        ids = self.conn.zrange(self.queue_key, 0, (limit - 1) if limit else -1)
        return self._messages(ids)

    def _messages(self, ids: list[bytes]) -> list[bytes]:
        if not ids:
            return []
        msgs = self.conn.mget([self.keys.message(i.decode()) for i in ids])
        return [m for m in msgs if m is not None]

    def _flush_state(self, state: str) -> None:
        """Delete every job of a state with everything recorded about it, in chunks."""
        while self._scripts["CLEAN"](keys=[self.keys.base], args=[state, "+inf", 500]) == 500:
            pass

    def flush_queue(self) -> None:
        """Huey's ``flush_queue``: the waiting jobs go, records and messages included."""
        self._flush_state(WAITING)

    # Schedule ----------------------------------------------------------------------------

    def add_to_schedule(self, data: bytes, ts: Any) -> None:
        tracker = self._require_tracker()
        argv = tracker.schedule_argv(data, ts)
        tracker.record_end("schedule", argv[1], argv[7], "SCHEDULE", argv)

    def read_schedule(self, ts: Any) -> list[bytes]:
        """Due jobs, already moved to the waiting set inside Redis (atomically, so a
        scheduler killed mid-way loses nothing). Huey gets their messages back, as from
        its own storage; ``Tracker.read_schedule`` marks the tasks so that the scheduler's
        enqueue of each is a no-op rather than a second job. One PROMOTE_DUE round trip
        per 500 jobs."""
        now = self._require_tracker().epoch_ms(ts)
        due: list[bytes] = []
        while True:
            res = self._scripts["PROMOTE_DUE"](keys=[self.keys.base], args=[now, 500])
            due.extend(m for m in res[1:] if m)
            if int(res[0]) < 500:
                return due

    def schedule_size(self) -> int:
        return int(self.conn.zcard(self.schedule_key))

    def scheduled_items(self, limit: int | None = None) -> list[bytes]:
        ids = self.conn.zrange(self.schedule_key, 0, (limit - 1) if limit else -1)
        return self._messages(ids)

    def flush_schedule(self) -> None:
        self._flush_state(SCHEDULED)

    def flush_all(self) -> None:
        """Huey's ``flush()``: nothing of the queue's jobs is left behind, whatever their
        state (a running job's end then finds no record and records nothing). Metrics
        history, the consumer and periodic registries stay."""
        for state in STATES:
            self._flush_state(state)
        # every job went: the index's postings (lazy deletion, scripts.INDEX) go too
        while self._scripts["DROP_INDEX"](keys=[self.keys.base], args=[2000]):
            pass
        self.flush_results()
        self.flush_counters()
        self.conn.delete(self.keys.base + "seq", self.keys.wake)


class TrackingExpireStorage(TrackingStorage, RedisExpireStorage):
    """``TrackingStorage`` with ``RedisExpireHuey``'s result store: each result a key of
    its own with a TTL (``expire_time``), which a read does not delete.

    Its keys live under the queue's base (``<base>r.<key>``, ``<base>c.<key>``) so that they
    share its hash tag. Revoke flags are read and deleted by Huey's own calls (two round
    trips per job more than with the hash)."""

    results_in_hash = False

    def set_prefix(self, prefix: str) -> None:
        super().set_prefix(prefix)
        self.result_prefix = rp = (self.keys.base + "r.").encode()
        self.counter_prefix = cp = (self.keys.base + "c.").encode()
        self.result_key = lambda k: rp + (k if isinstance(k, bytes) else k.encode())  # type: ignore[assignment]
        self.counter_key = lambda k: cp + (k if isinstance(k, bytes) else k.encode())  # type: ignore[assignment]
