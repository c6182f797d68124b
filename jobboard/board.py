"""The core API: read and act on tracked queues. Views, the JSON API, the CLI and the tests
all go through ``Board`` and ``Queue``; nothing else reads jobboard's Redis keys.

Reads never write. Counts are single commands sent in one pipeline; a list page is one
ranged read plus one pipelined fetch of that page's records, so both cost the same with a
thousand jobs or a million.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import inspect
import json
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import redis as redis_lib
from huey.serializer import Serializer

from . import authoring, checks, compact, cron, flows, scripts
from . import search as tokens
from .audit import Actor, AuditLog
from .config import TrackingConfig
from .connections import client_from_url, follow_promotions
from .errors import (ConfigurationError, InvalidArgument, JobNotFound, JobStateError,
                     PeriodicTaskNotFound, QueueNotFound, RedisOutOfMemory, TaskNotFound)
from .keys import DEFAULT_PREFIX, QueueKeys, queues_key
from .primitives import CONSUMER_ALIVE_SECONDS, ENQUEUE_BATCH, PRIORITY_LIMIT, match_name, now_ms
from .records import (ACTIVE, COMPLETED, FINISHED_STATES, PENDING_STATES, PROMOTABLE_STATES,
                      REMOVABLE_STATES, REVOCABLE_STATES, RETRYABLE_STATES, SCHEDULED, STATES,
                      TASK_INDEXED_STATES, WAITING, Attempt, BoardHealth, Consumer, Counts, Editable,
                      Event, Flow, Health, Job, JobPage, Lifetime, LogLine, MetricPoint, Metrics,
                      PeriodicTask, Run, RunningJob)
from .tracking import message_argv

if TYPE_CHECKING:
    from huey import Huey

CHUNK = 500  # ids per round trip in bulk actions: memory stays flat whatever the total
SEARCH_SCAN_LIMIT = 20_000  # ids examined by a scan (queues without an index) before it stops
#: Redis commands one search may run inside the SEARCH script (its page's reads come on
#: top: at most MAX_SEARCH_PAGE more). Past it, the total is a lower bound (JobPage.complete).
SEARCH_BUDGET = 120
#: Most jobs one search page holds (a page of the global search, of the API, of a tab).
MAX_SEARCH_PAGE = 25
#: Ids read from the sorted id index for one prefix (more: the total is still exact).
PREFIX_READ = 25
#: Most jobs one ``Queue.jobs()`` call returns (the CLI's ``--limit`` has the same bound).
MAX_PAGE_SIZE = 500
#: Highest page number the pages and the API accept (deeper is a typo, not a use).
MAX_PAGE_NUMBER = 1_000_000
#: Metric windows: name -> (span in seconds, bucket size in seconds).
WINDOWS = {"1h": (3600, 60), "24h": (86400, 60), "7d": (7 * 86400, 86400), "90d": (90 * 86400, 86400)}
#: Sort orders of job lists.
ORDERS = ("newest", "oldest")


def _s(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _ms_to_s(value: bytes | str | None) -> float | None:
    if value in (None, b"", ""):
        return None
    return int(value) / 1000.0  # type: ignore[arg-type]


#: The record fields a list row reads (``Queue._fetch``). The whole payloads, errors and
#: attempts are in the job's blob (compact.py), which only the job page reads.
LIST_FIELDS = ("st", "task", "args", "kw", "opt", "eta", "pri", "att", "enq", "sta", "fin",
               "wait", "run", "by", "res", "err", "pct", "pmsg", "par", "nxt", "stl", "per")


def decode_record(queue: str, job_id: str, raw: dict[bytes, bytes]) -> Job:
    """A Job from the fields of its record hash; never raises (see ``Job.undecodable``)."""
    try:
        h = {k.decode(): v for k, v in raw.items()}
        state = _s(h.get("st")) or ""
        if state and state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        opts = json.loads(h["opt"]) if h.get("opt") else {}
        eta = _ms_to_s(h.get("eta"))
        return Job(
            id=job_id, queue=queue, task=_s(h.get("task")) or "", state=state,
            args=_s(h.get("args")) or "", kwargs=_s(h.get("kw")) or "",
            priority=int(h.get("pri") or 0), options=opts, attempt=int(h.get("att") or 0),
            enqueued_at=_ms_to_s(h.get("enq")), started_at=_ms_to_s(h.get("sta")),
            finished_at=_ms_to_s(h.get("fin")),
            scheduled_for=eta if state == SCHEDULED or eta else None,
            wait_ms=int(h["wait"]) if h.get("wait") else None,
            run_ms=int(h["run"]) if h.get("run") else None,
            consumer=_s(h.get("by")), result=_s(h.get("res")), error=_s(h.get("err")),
            progress=float(h["pct"]) if h.get("pct") else None,
            progress_message=_s(h.get("pmsg")), parent=_s(h.get("par")),
            children=[c for c in (_s(h.get("nxt")) or "").split(",") if c],
            stalls=int(h.get("stl") or 0), periodic=bool(h.get("per")),
            copied_from=_s(h.get("from")), copies=_s(h.get("copies")),
        )
    except Exception as exc:  # a broken record must not break a listing
        return Job(id=job_id, queue=queue, state=_s(raw.get(b"st")) or "",
                   task=_s(raw.get(b"task")) or "",
                   undecodable=f"{type(exc).__name__}: {exc}")


def _where(huey: Any) -> str:
    """Where a Huey's storage keeps its data: the connection's host, port (or socket) and db."""
    conn = huey.jobboard.storage.conn
    if huey.jobboard.storage.cluster:  # any client of the same cluster sees the same masters
        return "redis cluster " + ",".join(sorted(n.name for n in conn.get_primaries()))
    kwargs = conn.connection_pool.connection_kwargs
    where = kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    return f"redis {where}/{kwargs.get('db', 0)}"


def _loads_message(data: bytes, serializer: Serializer | None) -> Any:
    return (serializer or Serializer()).deserialize(data)


def _dumps_message(msg: Any, serializer: Serializer | None) -> bytes:
    return (serializer or Serializer()).serialize(msg)


class Board:
    """Every tracked queue reachable from one Redis connection.

    ``Board([huey, ...])`` takes tracked Huey instances (``jobboard.RedisHuey`` or
    ``jobboard.track(h)``); ``Board(redis=client, queues=[...])`` needs no task module, and
    with ``queues=None`` discovers the queues producers have registered.
    """

    def __init__(self, hueys: Iterable["Huey"] | None = None, *,
                 redis: redis_lib.Redis | None = None, queues: Iterable[str] | None = None,
                 prefix: str | None = None) -> None:
        self._hueys: dict[str, Huey] = {}
        for h in hueys or ():
            if getattr(h, "jobboard", None) is None:
                raise ConfigurationError(
                    f"Huey instance {h.name!r} is not tracked. Create it with "
                    "jobboard.RedisHuey(...) or call jobboard.track(huey) first.")
            self._hueys[h.jobboard.storage.name] = h
        first = next(iter(self._hueys.values()), None)
        for h in self._hueys.values():
            # Every queue is read through one client and one key prefix: a Huey on another
            # Redis (or database, or prefix) would be read in the wrong place, silently.
            if first is not None and (_where(h) != _where(first)
                                      or h.jobboard.config.prefix != first.jobboard.config.prefix):
                raise ConfigurationError(
                    f"Board() reads every queue through one Redis connection, but queue "
                    f"{h.jobboard.storage.name!r} uses {_where(h)} prefix {h.jobboard.config.prefix!r} "
                    f"and {first.jobboard.storage.name!r} uses {_where(first)} prefix "
                    f"{first.jobboard.config.prefix!r}. Make one Board per Redis and prefix.")
        if redis is None:
            if first is None:
                raise ConfigurationError("Board needs Huey instances or a redis= client.")
            redis = first.jobboard.storage.conn
        follow_promotions(getattr(redis, "connection_pool", None))  # a Sentinel pool: see connections.py
        self.redis: redis_lib.Redis = redis
        self.prefix = prefix or (first.jobboard.config.prefix if first is not None else DEFAULT_PREFIX)
        self._static = list(queues or [])
        self._scripts: dict[str, Any] = {}
        #: The audit trail of this board's Redis and prefix (see jobboard.audit).
        self.audit = AuditLog(self.redis, self.prefix)
        self._allowed: Callable[[str], bool] | None = None  # see restricted()

    @classmethod
    def from_url(cls, url: str, queues: Iterable[str] | None = None,
                 prefix: str | None = None) -> "Board":
        """A Board on the Redis that ``url`` names: ``redis://``, ``rediss://``,
        ``unix://``, ``redis+cluster://host:port,...`` or
        ``redis+sentinel://host:port,.../<master>[/db]``. A malformed URL raises
        ConfigurationError in one line."""
        return cls(redis=client_from_url(url), queues=queues, prefix=prefix)

    def script(self, name: str) -> Any:
        """The Lua script ``jobboard.scripts.<name>``, registered once on this board's Redis."""
        if name not in self._scripts:
            self._scripts[name] = self.redis.register_script(getattr(scripts, name))
        return self._scripts[name]

    def restricted(self, allowed: Callable[[str], bool]) -> "Board":
        """This board as seen by someone who may see only the queues ``allowed`` accepts
        (per-queue access): every listing, count, lookup and search skips the others, and
        ``queue()`` of a hidden one raises QueueNotFound, as for one that does not exist."""
        view = copy.copy(self)
        view._allowed = allowed
        return view

    def huey_for(self, queue: str) -> "Huey | None":
        """The Huey instance given for ``queue``, or None (a board read straight from Redis)."""
        return self._hueys.get(queue)

    def queue_names(self) -> list[str]:
        """Queues given to this board plus the ones producers registered (one SMEMBERS)."""
        names = set(self._hueys) | set(self._static)
        names.update(n.decode() for n in self.redis.smembers(queues_key(self.prefix)))
        allowed = self._allowed
        return sorted(n for n in names if allowed is None or allowed(n))

    def queues(self) -> list["Queue"]:
        """Every queue of :meth:`queue_names`, sorted by name."""
        return [Queue(self, n) for n in self.queue_names()]

    def queue(self, name: str) -> "Queue":
        """The queue called ``name``; raises QueueNotFound."""
        if self._allowed is not None and not self._allowed(name):
            raise QueueNotFound(name)
        if name in self._hueys or name in self._static:
            return Queue(self, name)
        if self.redis.sismember(queues_key(self.prefix), name):
            return Queue(self, name)
        raise QueueNotFound(name)

    def ping(self) -> None:
        """Raise redis ConnectionError when Redis does not answer."""
        self.redis.ping()

    def all_counts(self) -> dict[str, Counts]:
        """Counts of every queue, in one round trip."""
        names = self.queue_names()
        pipe = self.redis.pipeline(transaction=False)
        for n in names:
            Queue(self, n)._queue_counts(pipe)
        res = pipe.execute()
        per = len(STATES) + 1
        return {n: Counts(dict(zip(STATES, res[i * per: i * per + len(STATES)])),
                          paused=bool(res[i * per + len(STATES)]))
                for i, n in enumerate(names)}

    def find_job(self, job_id: str) -> Job:
        """The job with this id in whichever queue holds it; raises JobNotFound."""
        names = self.queue_names()
        pipe = self.redis.pipeline(transaction=False)
        for n in names:
            pipe.hexists(QueueKeys(self.prefix, n).record(job_id), "st")
        for n, found in zip(names, pipe.execute()):
            if found:
                return Queue(self, n).job(job_id)
        raise JobNotFound("*", job_id)

    def find_pending_step(self, job_id: str) -> tuple[str, str] | None:
        """(queue, the step before it) for a pipeline step Huey has not enqueued yet (it
        holds only a link to its parent), or None."""
        names = self.queue_names()
        pipe = self.redis.pipeline(transaction=False)
        for n in names:
            pipe.hmget(QueueKeys(self.prefix, n).record(job_id), "st", "par")
        for n, res in zip(names, pipe.execute(raise_on_error=False)):
            if isinstance(res, list) and res[0] is None and res[1] is not None:
                return n, res[1].decode()
        return None

    def search(self, query: str, limit: int = MAX_SEARCH_PAGE, queue: str | None = None,
               state: str | None = None, task: str | None = None) -> list[JobPage]:
        """:meth:`Queue.search` in every queue (or in ``queue``): the first ``limit``
        matches of each queue that has any, queues in name order. What the dashboard's
        search box, ``GET /api/search`` and ``jobboard search`` show."""
        names = [self.queue(queue).name] if queue else self.queue_names()
        pages = [Queue(self, n).search(query, state=state, task=task, limit=limit) for n in names]
        return [p for p in pages if p.total or p.jobs or not p.complete]

    def consumers(self, queue: str | None = None) -> list[Consumer]:
        """Live consumers (heartbeat younger than CONSUMER_ALIVE_SECONDS), of one queue or all."""
        names = [queue] if queue else self.queue_names()
        out: list[Consumer] = []
        for n in names:
            out.extend(Queue(self, n).consumers())
        return out

    def health(self, thresholds: Mapping[str, Any] | None = None) -> BoardHealth:
        """The deployment's health: the Redis's memory (``INFO memory``), then every queue's
        (``Queue.health``), with every problem found (see ``jobboard.checks``). A Redis
        that refuses writes (out of memory) still answers these reads."""
        t = checks.thresholds(thresholds)
        info = self.redis.info("memory")
        if "used_memory" not in info and all(isinstance(v, dict) for v in info.values()):
            # a Cluster answers per node: the fullest node counts
            nodes = [v for v in info.values() if v]
            info = max(nodes, key=lambda i: (int(i.get("used_memory") or 0) / int(i["maxmemory"])
                                             if int(i.get("maxmemory") or 0) else -1.0)) if nodes else {}
        redis_h = checks.redis_health(info, t)
        queues = [q.health(thresholds) for q in self.queues()]
        problems = list(redis_h.problems) + [p for q in queues for p in q.problems]
        return BoardHealth(not problems, redis_h, queues, problems, time.time())

    def periodic(self, queue: str | None = None) -> list[PeriodicTask]:
        """Periodic tasks registered by consumers, of one queue or all."""
        names = [queue] if queue else self.queue_names()
        out: list[PeriodicTask] = []
        for n in names:
            out.extend(Queue(self, n).periodic())
        return out


class Queue:
    """One tracked queue: its counts, jobs and actions."""

    def __init__(self, board: Board, name: str) -> None:
        self.board = board
        self.name = name
        self.redis = board.redis
        self.keys = QueueKeys(board.prefix, name)
        self.huey = board.huey_for(name)
        tracker = getattr(self.huey, "jobboard", None)
        self.config: TrackingConfig = tracker.config if tracker else TrackingConfig(prefix=board.prefix)
        self.serializer: Serializer | None = self.huey.serializer if self.huey else None

    def __repr__(self) -> str:
        return f"<Queue {self.name}>"

    def _run(self, name: str, *args: Any) -> Any:
        try:
            return self.board.script(name)(keys=[self.keys.base], args=list(args))
        except redis_lib.exceptions.OutOfMemoryError as exc:
            raise RedisOutOfMemory(str(exc)) from exc

    # Reads -------------------------------------------------------------------------------

    def _queue_counts(self, pipe: Any) -> None:
        for s in STATES:
            pipe.zcard(self.keys.state(s))
        pipe.exists(self.keys.paused)

    def counts(self) -> Counts:
        """Jobs in every state, and whether the queue is paused: one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        self._queue_counts(pipe)
        res = pipe.execute()
        return Counts(dict(zip(STATES, res)), paused=bool(res[-1]))

    def task_counts(self, state: str) -> dict[str, int]:
        """Jobs of each task in one state: O(1) per task for indexed states, else a
        bounded scan of the newest SEARCH_SCAN_LIMIT jobs."""
        self._check_state(state)
        if state not in TASK_INDEXED_STATES:
            counts: dict[str, int] = {}
            for ids in self._iter_ids(self.keys.state(state), "newest", SEARCH_SCAN_LIMIT):
                pipe = self.redis.pipeline(transaction=False)
                for i in ids:
                    pipe.hget(self.keys.record(i), "task")
                for t in pipe.execute(raise_on_error=False):
                    if t and not isinstance(t, redis_lib.ResponseError):
                        counts[t.decode()] = counts.get(t.decode(), 0) + 1
            return counts
        tasks = self.tasks()
        pipe = self.redis.pipeline(transaction=False)
        for t in tasks:
            pipe.zcard(self.keys.task_state(state, t))
        return {t: n for t, n in zip(tasks, pipe.execute()) if n}

    def tasks(self) -> list[str]:
        """Task names seen in this queue."""
        return sorted(t.decode() for t in self.redis.smembers(self.keys.tasks))

    def is_paused(self) -> bool:
        """Whether the queue is paused (consumers take none of its jobs)."""
        return bool(self.redis.exists(self.keys.paused))

    @staticmethod
    def _check_state(state: str) -> None:
        if state not in STATES:
            raise InvalidArgument(f"Unknown state {state!r}; use one of: {', '.join(STATES)}.")

    def _key(self, state: str, task: str | None) -> str:
        """The set to read: the per-task index when there is one, else the state's set
        (then the task filter is applied by ``_scan``)."""
        self._check_state(state)
        if task and state in TASK_INDEXED_STATES:
            return self.keys.task_state(state, task)
        return self.keys.state(state)

    @staticmethod
    def _scan_task(state: str, task: str | None) -> str | None:
        """The task a scan must match exactly (None when the index already did it)."""
        return task if task and state not in TASK_INDEXED_STATES else None

    def jobs(self, state: str, offset: int = 0, limit: int = 25, task: str | None = None,
             search: str | None = None, order: str = "newest") -> JobPage:
        """One page of the jobs in ``state``, newest or oldest first.

        ``task`` filters by task name (exact, O(page)); ``search`` is :meth:`search`
        within the state."""
        key = self._key(state, task)
        if order not in ORDERS:
            raise InvalidArgument(f"order must be 'newest' or 'oldest', not {order!r}.")
        try:
            offset, limit = int(offset), int(limit)
        except (TypeError, ValueError):
            raise InvalidArgument("offset and limit must be whole numbers.") from None
        if offset < 0 or not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"offset must be >= 0 and limit between 1 and {MAX_PAGE_SIZE}.")
        search = (search or "").strip() or None
        if search:
            return self.search(search, state=state, task=task, offset=offset, limit=limit,
                               order=order)
        scan_task = self._scan_task(state, task)
        if scan_task:
            matched, scanned, complete = self._scan(key, order, search, task=scan_task)
            ids = matched[offset: offset + limit]
            return JobPage(self._fetch(ids), len(matched), offset, limit, state, task, search,
                           order, scanned=scanned, complete=complete)
        pipe = self.redis.pipeline(transaction=True)
        pipe.zcard(key)
        if order == "newest":
            pipe.zrevrange(key, offset, offset + limit - 1)
        else:
            pipe.zrange(key, offset, offset + limit - 1)
        total, ids = pipe.execute()
        return JobPage(self._fetch([i.decode() for i in ids]), total, offset, limit, state,
                       task, None, order)

    # Search ------------------------------------------------------------------------------

    def search(self, query: str, state: str | None = None, task: str | None = None,
               offset: int = 0, limit: int = MAX_SEARCH_PAGE, order: str = "newest") -> JobPage:
        """Jobs matching ``query``, over every job the queue holds, in bounded time.

        A job matches when its id starts with the query (a single word of 3 characters or
        more, case-insensitive: the 8-character ids tables show), or when it holds every
        word of the query in its task name, its argument values or its error texts
        (search.py). Id matches come first, then the others by enqueue order, newest first
        (``order="oldest"``: oldest first). ``state`` and ``task`` narrow the search.

        The work is bounded whatever the number of jobs: at most SEARCH_BUDGET Redis
        commands in one script, plus the page's reads. ``JobPage.complete`` is False when
        ``total`` is a lower bound: several common words whose combinations would take
        longer to count, or jobs the index does not hold (enqueued with
        ``search_index=False``), which a queue without any index searches by a bounded
        scan of its newest jobs instead."""
        query = (query or "").strip()
        if not query:
            raise InvalidArgument("Type something to search for: an id, a task name, or words "
                                  "of the arguments or errors.")
        if len(query) > 200:
            raise InvalidArgument("A search is at most 200 characters long.")
        if state is not None:
            self._check_state(state)
        if order not in ORDERS:
            raise InvalidArgument(f"order must be 'newest' or 'oldest', not {order!r}.")
        if offset < 0 or not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"offset must be >= 0 and limit between 1 and {MAX_PAGE_SIZE}.")
        words = tokens.query_words(query)
        prefix = tokens.id_prefix(query)
        if task:  # a short name too, as everywhere a task is named
            task = match_name(task, self.tasks()) or task
        if not words and prefix is None:
            raise InvalidArgument(f"Search for words (letters or digits), or the first "
                                  f"{tokens.MIN_PREFIX} characters of a job id; {query!r} "
                                  f"has neither.")
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(self.keys.ids)
        for s in STATES:
            pipe.zcard(self.keys.state(s))
        indexed, *sizes = pipe.execute()
        held = sum(sizes) if state is None else sizes[STATES.index(state)]
        if not indexed and held:
            return self._search_by_scan(query, state, task, offset, limit, order)
        complete = indexed >= sum(sizes)  # else some jobs are not in the index
        first, first_total = self._prefix_matches(prefix, state, task) if prefix else ([], 0)
        page = first[offset: offset + limit]
        total = first_total
        if words:
            terms = list(words)
            if state in FINISHED_STATES:
                terms.append(tokens.state_token(state))
            if task:
                terms.append(tokens.task_token(task))
            pending = state if state in PENDING_STATES else ""
            want = limit - len(page) + len(first)  # room for matches found both ways
            found, counted, done = self._index_search(
                terms, pending, max(0, offset - len(first)), want if want > len(first) else 0,
                order, SEARCH_BUDGET)
            seen = set(first)
            extra = [i for i in found if i not in seen]
            total += counted - (len(found) - len(extra))
            page += extra[: limit - len(page)]
            complete = complete and done
        if len(first) < first_total and (state or task):
            complete = False  # id matches past those read were not filtered
        return JobPage(self._fetch(page), total, offset, limit, state or "", task, query,
                       order, complete=complete, queue=self.name)

    def _prefix_matches(self, prefix: str, state: str | None,
                        task: str | None) -> tuple[list[str], int]:
        """(ids starting with ``prefix`` in the sorted id index, at most PREFIX_READ, that
        pass the filters; how many ids start with it). Two reads, three with a filter."""
        low = prefix.encode()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrangebylex(self.keys.ids, b"[" + low, b"[" + low + b"\xff", start=0, num=PREFIX_READ)
        pipe.zlexcount(self.keys.ids, b"[" + low, b"[" + low + b"\xff")
        members, total = pipe.execute()
        ids = [tokens.id_of_member(m.decode("utf-8", "replace")) for m in members]
        if ids and (state or task):
            keep = ids
            if state:
                scores = self.redis.zmscore(self.keys.state(state), ids)
                keep = [i for i, sc in zip(ids, scores) if sc is not None]
            if task and keep:
                pipe = self.redis.pipeline(transaction=False)
                for i in keep:
                    pipe.hget(self.keys.record(i), "task")
                keep = [i for i, t in zip(keep, pipe.execute(raise_on_error=False))
                        if isinstance(t, bytes) and t.decode() == task]
            return keep, len(keep) if total <= PREFIX_READ else total
        return ids, int(total)

    def _index_search(self, terms: list[str], pending: str, skip: int, want: int, order: str,
                      budget: int, cursor: str = "") -> tuple[list[str], int, bool]:
        """(ids of the matches wanted, matches counted, whether every chunk was counted):
        one run of the SEARCH script."""
        res = self._run("SEARCH", " ".join(terms), pending, cursor, skip, want, budget,
                        "desc" if order == "newest" else "asc")
        return [i.decode() for i in res[3:]], int(res[1]), not res[0]

    def _search_by_scan(self, query: str, state: str | None, task: str | None, offset: int,
                        limit: int, order: str) -> JobPage:
        """A queue without a search index: a bounded scan of the newest jobs (of the
        state, or of each state in turn), substring matching."""
        matched: list[str] = []
        scanned = 0
        for st in [state] if state else STATES:
            key = self._key(st, task)
            got, n, _ = self._scan(key, order, query, limit=SEARCH_SCAN_LIMIT // (1 if state else 4),
                                   task=self._scan_task(st, task))
            matched += got
            scanned += n
            if len(matched) >= offset + limit or scanned >= SEARCH_SCAN_LIMIT:
                break
        return JobPage(self._fetch(matched[offset: offset + limit]), len(matched), offset, limit,
                       state or "", task, query, order, scanned=scanned, complete=False,
                       queue=self.name)

    def _search_ids(self, query: str, state: str, task: str | None) -> Iterator[list[str]]:
        """Every id matching a search in ``state``, in chunks (for bulk actions: not
        bounded, but each script run is)."""
        words = tokens.query_words(query)
        prefix = tokens.id_prefix(query)
        if task:
            task = match_name(task, self.tasks()) or task
        if not self.redis.zcard(self.keys.ids):
            matched, _, _ = self._scan(self._key(state, task), "oldest", query, limit=10 ** 9,
                                       task=self._scan_task(state, task))
            for i in range(0, len(matched), CHUNK):
                yield matched[i: i + CHUNK]
            return
        first: list[str] = []
        if prefix:
            first = self._prefix_matches(prefix, state, task)[0]
            if first:
                yield first
        if not words:
            return
        terms = list(words)
        if state in FINISHED_STATES:
            terms.append(tokens.state_token(state))
        if task:
            terms.append(tokens.task_token(task))
        pending = state if state in PENDING_STATES else ""
        seen, cursor = set(first), ""
        while True:
            res = self._run("SEARCH", " ".join(terms), pending, cursor, 0, 10 ** 9, 200, "asc")
            ids = [i.decode() for i in res[3:] if i.decode() not in seen]
            for i in range(0, len(ids), CHUNK):
                yield ids[i: i + CHUNK]
            cursor = res[0].decode()
            if not cursor:
                return

    def _iter_ids(self, key: str, order: str, limit: int) -> Iterator[list[str]]:
        start = 0
        while start < limit:
            stop = min(start + CHUNK, limit) - 1
            chunk = (self.redis.zrevrange(key, start, stop) if order == "newest"
                     else self.redis.zrange(key, start, stop))
            if not chunk:
                return
            yield [i.decode() for i in chunk]
            if len(chunk) < stop - start + 1:
                return
            start += CHUNK

    def _scan(self, key: str, order: str, search: str | None, limit: int = SEARCH_SCAN_LIMIT,
              task: str | None = None) -> tuple[list[str], int, bool]:
        """Ids whose id, task, args, kwargs or error contain ``search`` (case-insensitive)
        and, when ``task`` is given, whose task is exactly that."""
        needle = (search or "").lower()
        matched: list[str] = []
        scanned = 0
        for ids in self._iter_ids(key, order, limit):
            pipe = self.redis.pipeline(transaction=False)
            for i in ids:
                pipe.hmget(self.keys.record(i), "task", "args", "kw", "err")
            for i, fields in zip(ids, pipe.execute(raise_on_error=False)):
                if isinstance(fields, redis_lib.ResponseError):
                    fields = [None, None, None, None]  # a wrong-typed record: its id still matches
                if task is not None and _s(fields[0]) != task:
                    continue
                text = " ".join([i, *(_s(f) or "" for f in fields)]).lower()
                if needle in text:
                    matched.append(i)
            scanned += len(ids)
        total = self.redis.zcard(key)
        return matched, scanned, scanned >= total

    def _fetch(self, ids: Sequence[str]) -> list[Job]:
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for i in ids:
            pipe.hmget(self.keys.record(i), LIST_FIELDS)
        jobs = []
        for i, values in zip(ids, pipe.execute(raise_on_error=False)):
            if isinstance(values, redis_lib.ResponseError):
                jobs.append(self._wrong_type(i, values))
                continue
            raw = {f.encode(): v for f, v in zip(LIST_FIELDS, values) if v is not None}
            if not raw:
                jobs.append(Job(id=i, queue=self.name, undecodable="record missing (removed while listing)"))
            else:
                jobs.append(decode_record(self.name, i, raw))
        return jobs

    def job(self, job_id: str) -> Job:
        """Everything recorded about one job; raises JobNotFound."""
        k = self.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(k.record(job_id))
        pipe.get(k.blob(job_id))
        pipe.lrange(k.logs(job_id), 0, -1)
        pipe.lrange(k.events(job_id), 0, -1)
        pipe.exists(k.message(job_id))
        raw, data, logs, events, has_msg = pipe.execute(raise_on_error=False)
        if isinstance(raw, redis_lib.ResponseError):
            return self._wrong_type(job_id, raw)
        if not raw or b"st" not in raw:
            raise JobNotFound(self.name, job_id)
        # another program's key under one of the job's names: shown as a note, not a 500
        logs, events = (x if isinstance(x, list) else [] for x in (logs, events))
        big = compact.parse(data if isinstance(data, bytes) else None)
        if isinstance(data, redis_lib.ResponseError):
            big.damaged = f"its blob key {k.blob(job_id)} is not a string"
        job = decode_record(self.name, job_id, raw)
        job.has_message = bool(has_msg)
        job.args_whole, job.kwargs_whole = big.get(compact.ARGS), big.get(compact.KWARGS)
        job.result_whole = big.get(compact.RESULT)
        job.error = big.get(compact.ERROR) or job.error
        attempts: list[Any] = list(big.attempts)
        if big.damaged:
            attempts.append(json.dumps({"error_class": "Undecodable", "traceback": "",
                                        "message": f"part of this job's record is damaged: {big.damaged}"}))
        # Attempts recorded before delivery numbers were ("n"): numbered by position, which
        # is exact until the capped list drops its oldest.
        for n, a in enumerate(attempts, 1):
            try:
                d = json.loads(a)
                job.attempts.append(Attempt(number=int(d.get("n") or n), at=_ms_to_s(d.get("at")),
                                            error_class=str(d.get("error_class", "")),
                                            message=str(d.get("message", "")),
                                            traceback=str(d.get("traceback", "")),
                                            consumer=d.get("consumer")))
            except (ValueError, TypeError, AttributeError) as exc:
                job.attempts.append(Attempt(n, None, "Undecodable", str(exc), ""))
        for line in logs:
            try:
                at, text = json.loads(line)
                job.logs.append(LogLine(at=at / 1000.0, message=str(text)))
            except (ValueError, TypeError) as exc:
                job.logs.append(LogLine(at=0.0, message=f"<undecodable log line: {exc}>"))
        job.events = self._timeline(job, events)
        job.runs = self._runs(job, raw.get(b"runs"))
        return job

    @staticmethod
    def _runs(job: Job, raw_runs: bytes | None) -> list[Run]:
        """The job's runs: the first from its enqueue, one more per operator retry (the
        RETRY script appends ``[start ms, first attempt, who, previous outcome]``)."""
        try:
            marks = [m for m in json.loads(raw_runs or b"[]")
                     if isinstance(m, list) and len(m) >= 4]
        except ValueError:
            marks = []
        submitted = next((e.message.removeprefix("submitted by ") for e in job.events
                          if e.kind == "enqueued" and e.message.startswith("submitted by ")), None)
        starts: list[tuple[float | None, int, str]] = [
            (job.enqueued_at, 1, submitted or ("the scheduler" if job.periodic else "the producer"))]
        outcomes: list[str | None] = []
        for at, first, who, before in marks:
            outcomes.append(str(before))
            starts.append((int(at) / 1000.0, int(first), str(who).removeprefix("retried by ")))
        outcomes.append(job.state if job.state in FINISHED_STATES else None)
        runs = []
        for i, (at, first, who) in enumerate(starts):
            last = starts[i + 1][1] - 1 if i + 1 < len(starts) else max(job.attempt, first - 1)
            failed = [a for a in job.attempts if first <= a.number <= last]
            runs.append(Run(number=i + 1, started_at=at, started_by=who, first_attempt=first,
                            last_attempt=last, outcome=outcomes[i], failed=failed))
        return runs

    def flow(self, job_id: str) -> Flow | None:
        """The pipeline, group or chord ``job_id`` belongs to, each step with its state
        (steps not enqueued yet included), or None for a job in no flow."""
        return flows.flow_of(self, job_id)

    def _wrong_type(self, job_id: str, error: Exception) -> Job:
        """A job whose record key holds another type than a hash (not written by
        jobboard): listed as undecodable in the state set that holds its id, so it can be
        seen and removed."""
        key = self.keys.record(job_id)
        kind = _s(self.redis.type(key)) or "?"
        pipe = self.redis.pipeline(transaction=False)
        for st in STATES:
            pipe.zscore(self.keys.state(st), job_id)
        state = next((st for st, score in zip(STATES, pipe.execute()) if score is not None), "")
        return Job(id=job_id, queue=self.name, state=state,
                   undecodable=f"its record key {key} holds a {kind}, not a job record "
                               f"({type(error).__name__}); it can only be removed")

    @staticmethod
    def _timeline(job: Job, raw_events: list[bytes]) -> list[Event]:
        ev: list[Event] = []
        if job.enqueued_at:
            ev.append(Event(job.enqueued_at, "enqueued", f"priority {job.priority}" if job.priority else ""))
        for a in job.attempts:
            if a.at:
                ev.append(Event(a.at, "attempt failed", f"attempt {a.number}: {a.error_class}"))
        for e in raw_events:
            try:
                at, kind, text = json.loads(e)
                ev.append(Event(at / 1000.0, str(kind), str(text)))
            except (ValueError, TypeError):
                continue
        if job.started_at:
            ev.append(Event(job.started_at, "active", f"attempt {job.attempt} on {job.consumer or '?'}"))
        if job.finished_at and job.state in FINISHED_STATES:
            # a retried job that then completed still holds its last error: not this end's
            ev.append(Event(job.finished_at, job.state,
                            "" if job.state == COMPLETED else job.error or ""))
        ev.sort(key=lambda e: e.at)
        return ev

    # Actions -----------------------------------------------------------------------------

    def _reset_message(self, data: bytes, options: dict[str, Any]) -> bytes:
        """The stored message with its retry budget and eta restored, for an operator retry.

        If the message cannot be unpickled here (an argument's class is not importable in
        this process), it is re-queued exactly as stored."""
        try:
            msg = _loads_message(data, self.serializer)
            msg = msg._replace(retries=int(options.get("retries") or 0),
                               retry_delay=options.get("retry_delay") or 0, eta=None)
            return _dumps_message(msg, self.serializer)
        except Exception:
            return data

    def _record(self, actor: Actor | None, action: str, jobs: Iterable[str] = (),
                filter: dict[str, Any] | None = None, count: int | None = None,
                detail: str = "") -> None:
        """Put an action in the audit trail when an adapter said who asked for it."""
        if actor is not None:
            self.board.audit.record(actor, action, queue=self.name, jobs=jobs, filter=filter,
                                    count=count, detail=detail)

    @staticmethod
    def _by(what: str, actor: Actor | None, default: str = "an operator") -> str:
        """A timeline line naming who acted: ``retried by alice (operator, web)``."""
        return f"{what} by {actor.label() if actor is not None else default}"

    def retry(self, job_id: str, actor: Actor | None = None) -> None:
        """Run a finished job again with its original arguments (a new run of it);
        raises JobNotFound or JobStateError. ``actor`` (who asked) goes to the audit
        trail and the job's timeline."""
        self._retry(job_id, self._by("retried", actor))
        self._record(actor, "retry", [job_id])

    def _retry(self, job_id: str, text: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(self.keys.record(job_id), "st", "opt")
        pipe.get(self.keys.message(job_id))
        fields, data = pipe.execute(raise_on_error=False)
        if isinstance(fields, redis_lib.ResponseError) or isinstance(data, redis_lib.ResponseError):
            raise JobStateError(job_id, "undecodable (a key of the wrong type)", "retry",
                                RETRYABLE_STATES, hint="It can only be removed.")
        state, opt = fields
        if state is None:
            raise JobNotFound(self.name, job_id)
        st = state.decode()
        if st not in RETRYABLE_STATES:
            raise JobStateError(job_id, st, "retry", RETRYABLE_STATES)
        if data is None:
            raise JobStateError(job_id, st + " (its message was not kept)", "retry", RETRYABLE_STATES)
        try:
            options = json.loads(opt) if opt else {}
        except ValueError:
            options = {}
        self._act("RETRY", job_id, "retry", RETRYABLE_STATES, now_ms(),
                  self._reset_message(data, options), ",".join(RETRYABLE_STATES), text)

    def _act(self, script: str, job_id: str, action: str, allowed: tuple[str, ...], *args: Any) -> None:
        """Run one job's action script; a key of another type under the job's names is a
        state error (the job can only be removed), not a crash."""
        try:
            res = self._run(script, job_id, *args)
        except redis_lib.ResponseError as exc:
            if "WRONGTYPE" not in str(exc):
                raise
            raise JobStateError(job_id, "undecodable (a key of the wrong type)", action, allowed,
                                hint="It can only be removed.") from exc
        self._check_result(res, job_id, action, allowed)

    def _check_result(self, res: list[bytes], job_id: str, action: str, allowed: tuple[str, ...]) -> None:
        kind = res[0].decode()
        if kind == "missing":
            raise JobNotFound(self.name, job_id)
        if kind == "state":
            raise JobStateError(job_id, res[1].decode(), action, allowed)

    def retry_many(self, ids: Iterable[str], actor: Actor | None = None) -> int:
        """Retry each job that can be retried; returns how many were."""
        done = self._retry_each(ids, self._by("retried", actor))
        self._record(actor, "retry", done)
        return len(done)

    def _retry_each(self, ids: Iterable[str], text: str) -> list[str]:
        done = []
        for i in ids:
            try:
                self._retry(i, text)
                done.append(i)
            except (JobNotFound, JobStateError):
                continue
        return done

    def _matching(self, state: str, task: str | None, search: str | None) -> Iterator[list[str]]:
        """Chunks of the ids matching a filter, read as a snapshot of at most a chunk at a
        time from the end (actions move ids out of the set as they go)."""
        key = self._key(state, task)
        if search:
            yield from self._search_ids(search, state, task)
            return
        scan_task = self._scan_task(state, task)
        if scan_task:
            matched, _, _ = self._scan(key, "oldest", search, limit=10 ** 9, task=scan_task)
            for i in range(0, len(matched), CHUNK):
                yield matched[i: i + CHUNK]
            return
        cursor_end = self.redis.zcard(key)
        skip = 0  # ids left behind (e.g. not retryable) stay at the front
        while True:
            ids = self.redis.zrange(key, skip, skip + CHUNK - 1)
            if not ids:
                return
            before = self.redis.zcard(key)
            yield [i.decode() for i in ids]
            moved = before - self.redis.zcard(key)
            skip += len(ids) - moved
            cursor_end -= len(ids)
            if cursor_end <= 0:
                return

    def count_matching(self, state: str, task: str | None = None, search: str | None = None) -> int:
        """How many jobs a bulk action with this filter would touch."""
        key = self._key(state, task)
        if search:
            return sum(len(ids) for ids in self._search_ids(search, state, task))
        scan_task = self._scan_task(state, task)
        if scan_task:
            return len(self._scan(key, "oldest", search, limit=10 ** 9, task=scan_task)[0])
        return int(self.redis.zcard(key))

    def retry_all(self, state: str = "failed", task: str | None = None,
                  search: str | None = None, actor: Actor | None = None) -> int:
        """Retry every job in ``state`` matching the filter, in chunks; returns the count
        (one audit entry with the filter, the count and the first ids)."""
        if state not in RETRYABLE_STATES:
            raise InvalidArgument(f"Jobs in state {state!r} cannot be retried; retryable: "
                                  f"{', '.join(RETRYABLE_STATES)}.")
        text = self._by("retried", actor) + " (bulk)"
        done: list[str] = []
        n = 0
        for ids in self._matching(state, task, search):
            chunk = self._retry_each(ids, text)
            n += len(chunk)
            if len(done) < 50:
                done.extend(chunk)
        self._record(actor, "retry", done, {"state": state, "task": task, "q": search}, n)
        return n

    def remove(self, job_id: str, actor: Actor | None = None) -> None:
        """Delete a job and everything recorded about it; raises JobNotFound, or
        JobStateError for a running job (wait for it to end, or stop its consumer: a job
        whose lease has lapsed can be removed)."""
        removed, refused = self._remove([job_id])
        if refused:
            raise JobStateError(job_id, "active (running)", "remove", REMOVABLE_STATES,
                                hint="Wait for it to finish, or revoke it so it will not run again.")
        if not removed:
            raise JobNotFound(self.name, job_id)
        self._record(actor, "remove", [job_id])

    def _remove(self, ids: Sequence[str]) -> tuple[int, list[str]]:
        res = self._run("REMOVE", now_ms(), *ids)
        return int(res[0]), [i.decode() for i in res[1:]]

    def remove_many(self, ids: Iterable[str], actor: Actor | None = None) -> int:
        """Remove each job of ``ids`` that exists and is not running, in chunks; returns how
        many were removed."""
        ids = list(ids)
        n = sum(self._remove(ids[i: i + CHUNK])[0] for i in range(0, len(ids), CHUNK))
        if n:
            self._record(actor, "remove", ids, count=n)
        return n

    def remove_all(self, state: str, task: str | None = None, search: str | None = None,
                   actor: Actor | None = None) -> int:
        """Remove every job in ``state`` matching the filter, in chunks (not ``active``:
        running jobs cannot be removed)."""
        if state == ACTIVE:
            raise InvalidArgument("Running (active) jobs cannot be removed: their consumers would "
                                  "go on and their outcome be lost. Wait for them to finish.")
        first: list[str] = []
        n = 0
        for ids in self._matching(state, task, search):
            n += self.remove_many(ids)
            if len(first) < 50:
                first.extend(ids)
        self._record(actor, "remove", first, {"state": state, "task": task, "q": search}, n)
        return n

    def promote(self, job_id: str, actor: Actor | None = None) -> None:
        """Run a scheduled job now (it moves to waiting, its eta cleared)."""
        self._promote(job_id, self._by("run now", actor))
        self._record(actor, "promote", [job_id])

    def _promote(self, job_id: str, text: str) -> None:
        try:
            data = self.redis.get(self.keys.message(job_id))
        except redis_lib.ResponseError:
            data = None  # a wrong-typed message: PROMOTE below says what the job is
        if data is not None:
            try:  # Huey would put a job whose eta is ahead back in the schedule
                data = _dumps_message(_loads_message(data, self.serializer)._replace(eta=None),
                                      self.serializer)
            except Exception:
                pass
        self._act("PROMOTE", job_id, "promote", PROMOTABLE_STATES, now_ms(), data or b"", text)

    def revoke(self, job_id: str, actor: Actor | None = None) -> None:
        """Cancel a waiting or scheduled job: it will not run (state revoked, retryable)."""
        self._revoke(job_id, self._by("revoked", actor))
        self._record(actor, "revoke", [job_id])

    def _revoke(self, job_id: str, text: str) -> None:
        self._act("REVOKE", job_id, "revoke", REVOCABLE_STATES, now_ms(),
                  *self.config.retention["revoked"].as_argv(), text)

    def _each(self, action: str, ids: Iterable[str], text: str) -> list[str]:
        """Apply ``_promote`` / ``_revoke`` to each id it applies to; the ids it did."""
        done = []
        act = getattr(self, "_" + action)
        for i in ids:
            try:
                act(i, text)
                done.append(i)
            except (JobNotFound, JobStateError):
                continue
        return done

    def promote_many(self, ids: Iterable[str], actor: Actor | None = None) -> int:
        """Run each scheduled job of ``ids`` now; returns how many were promoted."""
        done = self._each("promote", ids, self._by("run now", actor))
        self._record(actor, "promote", done)
        return len(done)

    def revoke_many(self, ids: Iterable[str], actor: Actor | None = None) -> int:
        """Revoke each waiting or scheduled job of ``ids``; returns how many were revoked."""
        done = self._each("revoke", ids, self._by("revoked", actor))
        self._record(actor, "revoke", done)
        return len(done)

    def _each_matching(self, action: str, state: str, task: str | None, search: str | None,
                       actor: Actor | None, what: str) -> int:
        """A bulk action over a filter, chunked; one audit entry with the filter."""
        text = self._by(what, actor) + " (bulk)"
        first: list[str] = []
        n = 0
        for ids in self._matching(state, task, search):
            done = self._each(action, ids, text)
            n += len(done)
            if len(first) < 50:
                first.extend(done)
        self._record(actor, action, first, {"state": state, "task": task, "q": search}, n)
        return n

    def promote_all(self, task: str | None = None, search: str | None = None,
                    actor: Actor | None = None) -> int:
        """Run every scheduled job matching the filter now (chunked)."""
        return self._each_matching("promote", SCHEDULED, task, search, actor, "run now")

    def revoke_all(self, state: str, task: str | None = None, search: str | None = None,
                   actor: Actor | None = None) -> int:
        """Revoke every waiting or scheduled job matching the filter (chunked)."""
        if state not in REVOCABLE_STATES:
            raise InvalidArgument(f"Only {' and '.join(REVOCABLE_STATES)} jobs can be revoked.")
        return self._each_matching("revoke", state, task, search, actor, "revoked")

    def clean(self, state: str, older_than: float, actor: Actor | None = None) -> int:
        """Remove jobs of a finished state that finished more than ``older_than`` s ago."""
        if state not in FINISHED_STATES:
            raise InvalidArgument(f"clean applies to finished states ({', '.join(FINISHED_STATES)}), "
                                  f"not {state!r}.")
        try:
            older_than = float(older_than)
        except (TypeError, ValueError):
            raise InvalidArgument("older_than must be a number of seconds.") from None
        if older_than < 0 or math.isnan(older_than):
            raise InvalidArgument("older_than must be a number of seconds >= 0.")
        cutoff = now_ms() - int(older_than * 1000)
        total = 0
        while True:
            n = int(self._run("CLEAN", state, cutoff, CHUNK))
            total += n
            if n < CHUNK:
                self._record(actor, "clean", (), {"state": state, "older_than": older_than}, total)
                return total

    def empty(self, actor: Actor | None = None) -> int:
        """Remove every waiting and scheduled job (running ones finish). Returns the count."""
        total = 0
        for state in (WAITING, SCHEDULED):
            while True:
                ids = [i.decode() for i in self.redis.zrange(self.keys.state(state), 0, CHUNK - 1)]
                if not ids:
                    break
                total += self.remove_many(ids)
        self._record(actor, "empty", (), {"state": "waiting,scheduled"}, total)
        return total

    def pause(self, actor: Actor | None = None) -> None:
        """No consumer starts a new job of this queue until resume(); running jobs finish."""
        self.redis.set(self.keys.paused, str(now_ms()))
        self._record(actor, "pause")

    def resume(self, actor: Actor | None = None) -> None:
        """Undo :meth:`pause`, and wake consumers blocked waiting for its jobs."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.keys.paused)
        pipe.lpush(self.keys.wake, *(["1"] * 16))  # wake consumers blocked on the queue
        pipe.ltrim(self.keys.wake, 0, 63)
        pipe.execute()
        self._record(actor, "resume")

    # Submission (JSON API) ---------------------------------------------------------------

    def _task_class(self, task_name: str) -> Any:
        if self.huey is None:
            raise TaskNotFound(self.name, task_name, "this board has no Huey instance for the queue")
        registry = self.huey._registry._registry
        name = match_name(task_name, registry)  # the short name too, when unambiguous
        if name is None:
            raise TaskNotFound(self.name, task_name)
        return registry[name]

    def task_signature(self, task_name: str) -> inspect.Signature:
        """The signature of the function behind a task (for argument checks)."""
        cls = self._task_class(task_name)
        execute = cls.__dict__.get("execute")
        for cell in getattr(execute, "__closure__", None) or ():
            value = cell.cell_contents
            if inspect.isfunction(value):
                sig = inspect.signature(value)
                if getattr(cls, "context", False):
                    # context=True: Huey passes the task itself as `task=`; callers don't.
                    sig = sig.replace(parameters=[p for n, p in sig.parameters.items() if n != "task"])
                return sig
        return inspect.Signature([inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
                                  inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])

    def enqueue(self, task_name: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None,
                priority: int | None = None, delay: float | None = None, eta: float | None = None,
                retries: int | None = None, retry_delay: float | None = None,
                retry_backoff: float | None = None, expires: float | None = None,
                job_id: str | None = None, actor: Actor | None = None,
                detail: str = "") -> tuple[str, bool]:
        """Queue a job of a registered task; returns (job id, created).

        With ``job_id`` the call is idempotent: a second call with the same id queues
        nothing and returns created=False. ``eta`` is a Unix time; ``delay`` seconds.
        ``actor`` (who submitted it) goes to the audit trail and the job's timeline."""
        data, msg = self._job_message(task_name, args, kwargs, priority, delay, eta, retries,
                                      retry_delay, retry_backoff, expires, job_id)
        at = now_ms()  # the note's time: before any consumer can start the job
        created = self._enqueue_message(data, msg, priority, only_new=job_id is not None)
        if created:
            self._note(msg.id, "enqueued", actor, "submitted", at)
        self._record(actor, "enqueue", [msg.id], detail=task_name + ("" if created else " (existing id)")
                     + (f"; {detail}" if detail else ""))
        return msg.id, created

    def _enqueue_message(self, data: bytes, msg: Any, priority: int | None,
                         only_new: bool = False) -> bool:
        """ENQUEUE one Huey message (traced when tracing is on); True when it made a new
        job. The one send of enqueue, duplicate and edit-and-retry."""
        huey = self.huey
        assert huey is not None
        tracing = getattr(huey.jobboard, "tracing", None)
        with tracing.send(msg.id, msg.name, msg.retries) if tracing else contextlib.nullcontext(
                (None, "")) as (_, traceparent):
            argv = message_argv(self.keys.base, data, msg, priority=priority, utc=huey.utc,
                                config=self.config, only_new=only_new, trace=traceparent,
                                schedule_now=True)
            return self._send_one(argv)

    def _send_one(self, argv: list[Any]) -> bool:
        try:
            self.redis.sadd(queues_key(self.board.prefix), self.name)
            res = self.board.script("ENQUEUE")(keys=argv[:1], args=argv[1:])
        except redis_lib.exceptions.OutOfMemoryError as exc:
            raise RedisOutOfMemory(str(exc)) from exc
        return bool(res == b"new")

    def enqueue_many(self, jobs: Iterable[Mapping[str, Any]]) -> list[tuple[str, bool]]:
        """Queue many jobs; returns (job id, created) for each, in order.

        Each job is a mapping of :meth:`enqueue`'s arguments, with ``task`` for the task
        name. Every job is built and checked before any is sent (one bad job raises and
        queues nothing); then one ENQUEUE_MANY call per ``ENQUEUE_BATCH`` jobs: a round
        trip each, applied whole with nothing else in between. Ids are idempotent as
        with :meth:`enqueue`."""
        built = []
        for job in jobs:
            spec = dict(job)
            task = spec.pop("task")
            built.append(self._job_argv(
                task, spec.pop("args", ()), spec.pop("kwargs", None), spec.pop("priority", None),
                spec.pop("delay", None), spec.pop("eta", None), spec.pop("retries", None),
                spec.pop("retry_delay", None), spec.pop("retry_backoff", None),
                spec.pop("expires", None), spec.pop("job_id", None), unknown=spec))
        out: list[tuple[str, bool]] = []
        if not built:
            return out
        script = self.board.script("ENQUEUE_MANY")
        try:
            self.redis.sadd(queues_key(self.board.prefix), self.name)
            for start in range(0, len(built), ENQUEUE_BATCH):
                chunk = built[start:start + ENQUEUE_BATCH]
                res = script(keys=[self.keys.base], args=[x for _, argv in chunk for x in argv[1:]])
                out += [(job_id, r == b"new") for (job_id, _), r in zip(chunk, res)]
        except redis_lib.exceptions.OutOfMemoryError as exc:
            raise RedisOutOfMemory(str(exc)) from exc
        return out

    def _job_argv(self, task_name: str, args: Sequence[Any], kwargs: dict[str, Any] | None,
                  priority: int | None, delay: float | None, eta: float | None,
                  retries: int | None, retry_delay: float | None, retry_backoff: float | None,
                  expires: float | None, job_id: str | None,
                  unknown: Mapping[str, Any] | None = None) -> tuple[str, list[Any]]:
        """(job id, ENQUEUE argv) of a submission, checked; raises before anything is sent."""
        data, msg = self._job_message(task_name, args, kwargs, priority, delay, eta, retries,
                                      retry_delay, retry_backoff, expires, job_id, unknown)
        assert self.huey is not None
        return msg.id, message_argv(self.keys.base, data, msg, priority=priority,
                                    utc=self.huey.utc, config=self.config,
                                    only_new=job_id is not None, schedule_now=True)

    def _job_message(self, task_name: str, args: Sequence[Any], kwargs: dict[str, Any] | None,
                     priority: int | None, delay: float | None, eta: float | None,
                     retries: int | None, retry_delay: float | None, retry_backoff: float | None,
                     expires: float | None, job_id: str | None,
                     unknown: Mapping[str, Any] | None = None) -> tuple[bytes, Any]:
        """(serialized Huey message, message) of a submission, checked."""
        if unknown:
            raise InvalidArgument(f"Unknown job fields: {', '.join(sorted(unknown))}.")
        cls = self._task_class(task_name)
        huey = self.huey
        assert huey is not None
        if priority is not None and not -PRIORITY_LIMIT <= int(priority) <= PRIORITY_LIMIT:
            raise InvalidArgument(
                f"priority must be between {-PRIORITY_LIMIT:,} and {PRIORITY_LIMIT:,} "
                f"(got {priority:,}): beyond that, jobs of one priority could run out of order.")
        when = None
        if delay is not None or eta is not None:
            ts = eta if eta is not None else time.time() + float(delay)  # type: ignore[arg-type]
            when = (dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None) if huey.utc
                    else dt.datetime.fromtimestamp(ts))
        task = cls(args=tuple(args), kwargs=dict(kwargs or {}), id=job_id or str(uuid.uuid4()),
                   eta=when, retries=retries, retry_delay=retry_delay, priority=priority,
                   expires=expires, retry_backoff=retry_backoff)
        if task.expires:
            task.resolve_expires(huey.utc)
        data = huey.serialize_task(task)
        msg = huey.serializer.deserialize(data)
        return data, msg

    # Authoring (add, duplicate, edit and retry) -------------------------------------------

    def registered_tasks(self) -> dict[str, inspect.Signature]:
        """Tasks this board can queue on this queue (its Huey's registry), with their
        signatures; empty for a board read straight from Redis."""
        if self.huey is None:
            return {}
        return {name: self.task_signature(name) for name in sorted(self.huey._registry._registry)
                if not self._is_periodic_class(self.huey._registry._registry[name])}

    @staticmethod
    def _is_periodic_class(cls: Any) -> bool:
        return bool(getattr(cls, "validate_datetime", None))

    def argument_problem(self, task_name: str, args: Sequence[Any],
                         kwargs: dict[str, Any]) -> str | None:
        """Why ``args``/``kwargs`` do not fit the task's signature, or None when they do
        (the check the JSON API and the pages both make before queueing anything)."""
        try:
            self.task_signature(task_name).bind(*args, **kwargs)
        except TypeError as exc:
            return str(exc)
        return None

    def _stored_message(self, job_id: str, action: str, allowed: tuple[str, ...]) -> tuple[Job, Any]:
        """The job and its kept Huey message (unpickled here, from this board's own Redis)."""
        job = self.job(job_id)
        if job.state not in allowed:
            raise JobStateError(job_id, job.state, action, allowed)
        data = self.redis.get(self.keys.message(job_id))
        if data is None:
            raise JobStateError(job_id, job.state + " (its message was not kept)", action, allowed)
        try:
            return job, _loads_message(data, self.serializer)
        except Exception as exc:
            raise JobStateError(job_id, f"{job.state} (its message cannot be read here: "
                                f"{type(exc).__name__})", action, allowed) from exc

    def editable(self, job_id: str) -> Editable:
        """A failed job's arguments as the editor shows them: JSON, sensitive values
        masked (see jobboard.authoring). ``problem`` says why it cannot be edited."""
        job, msg = self._stored_message(job_id, "edit", RETRYABLE_STATES)
        try:
            args = authoring.to_json(list(msg.args or ()), "args")
            kwargs = authoring.to_json(dict(msg.kwargs or {}), "kwargs")
        except InvalidArgument as exc:
            return Editable(job, msg.name, "", "", 0, str(exc))
        pattern = self.config.redact_re
        margs, m1 = authoring.mask(args, pattern)
        mkwargs, m2 = authoring.mask(kwargs, pattern)
        return Editable(job, msg.name, json.dumps(margs, indent=2, ensure_ascii=False),
                        json.dumps(mkwargs, indent=2, ensure_ascii=False), len(m1) + len(m2))

    def edit_and_retry(self, job_id: str, args: Sequence[Any], kwargs: dict[str, Any],
                       actor: Actor | None = None) -> str:
        """Queue a new job of a finished job's task with edited arguments (and its
        options, pipeline and priority); the original stays as it is, linked to the new
        one both ways. Masked values left in place keep their original value. Returns the
        new job's id; raises InvalidArgument when the arguments do not fit the task."""
        job, msg = self._stored_message(job_id, "edit and retry", RETRYABLE_STATES)
        pattern = self.config.redact_re
        try:
            old_args = authoring.to_json(list(msg.args or ()), "args")
            old_kwargs = authoring.to_json(dict(msg.kwargs or {}), "kwargs")
        except InvalidArgument:
            old_args, old_kwargs = [], {}
        new_args = authoring.unmask(list(args), old_args, pattern)
        new_kwargs = authoring.unmask(dict(kwargs), old_kwargs, pattern)
        problem = self.argument_problem(msg.name, new_args, new_kwargs)
        if problem:
            raise InvalidArgument(f"The arguments do not fit task {msg.name}: {problem}")
        new_id = str(uuid.uuid4())
        retries = int(job.options.get("retries") or 0)
        new = msg._replace(id=new_id, args=tuple(new_args), kwargs=new_kwargs, eta=None,
                           retries=retries)
        self._enqueue_message(_dumps_message(new, self.serializer), new, job.priority)
        self._link(job_id, new_id, "edited", actor)
        self._record(actor, "edit_retry", [job_id, new_id], count=1,
                     detail="original, then its edited copy")
        return new_id

    def duplicate(self, job_id: str, actor: Actor | None = None) -> str:
        """Queue a copy of a job (same task, arguments, options and priority) under a new
        id; needs the job's kept message (completed jobs drop theirs). Returns the id."""
        job, msg = self._stored_message(job_id, "duplicate", STATES)
        new_id = str(uuid.uuid4())
        new = msg._replace(id=new_id, eta=None, retries=int(job.options.get("retries") or 0))
        self._enqueue_message(_dumps_message(new, self.serializer), new, job.priority)
        self._link(job_id, new_id, "duplicated", actor)
        self._record(actor, "duplicate", [job_id, new_id], count=1,
                     detail="original, then its copy")
        return new_id

    def _link(self, old: str, new: str, how: str, actor: Actor | None) -> None:
        """Link an original and its copy both ways (record fields and timelines)."""
        now = now_ms()
        who = f" by {actor.label()}" if actor is not None else ""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.record(old), "copies", new)
        pipe.hset(self.keys.record(new), "from", old)
        pipe.rpush(self.keys.events(old), json.dumps([now, how, f"{how} as {new}{who}"]))
        pipe.rpush(self.keys.events(new), json.dumps([now, "enqueued", f"{how} from {old}{who}"]))
        pipe.ltrim(self.keys.events(old), -50, -1)
        pipe.execute()

    # Consumers and periodic tasks ----------------------------------------------------------

    def consumers(self) -> list[Consumer]:
        """Consumers of this queue whose heartbeat is fresh."""
        now = now_ms()
        ids = self.redis.zrangebyscore(self.keys.consumers, now - CONSUMER_ALIVE_SECONDS * 1000,
                                       "+inf")
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for cid in ids:
            pipe.hgetall(self.keys.consumer(cid.decode()))
        out = []
        for cid, raw in zip(ids, pipe.execute()):
            if not raw:
                continue
            h = {k.decode(): v.decode("utf-8", "replace") for k, v in raw.items()}
            running: list[RunningJob] = []
            done = failed = 0
            for k, v in h.items():
                if not k.startswith("run:"):
                    continue
                try:
                    d = json.loads(v)
                    done += int(d.get("done", 0))
                    failed += int(d.get("failed", 0))
                    if now - int(d["at"]) > int(d.get("ttl", 60)) * 1000:
                        # a worker process that stopped reporting (killed alone, e.g. by
                        # the OOM killer): its jobs' leases lapse, it runs nothing
                        continue
                    for job_id, task, started, worker in d["jobs"]:
                        running.append(RunningJob(job_id, self.name, task, started / 1000.0, worker))
                except (ValueError, KeyError, TypeError):
                    continue
            try:
                out.append(Consumer(
                    id=cid.decode(), queue=self.name, host=h.get("host", "?"),
                    pid=int(h.get("pid", 0)), worker_type=h.get("worker_type", "?"),
                    workers=int(h.get("workers", 0)), periodic=h.get("periodic") == "True",
                    started_at=int(h.get("started", 0)) / 1000.0,
                    last_seen=int(h.get("seen", 0)) / 1000.0, version=h.get("version", "?"),
                    done=done, failed=failed,
                    running=sorted(running, key=lambda r: r.started_at)))
            except ValueError:
                continue
        return out

    def periodic(self) -> list[PeriodicTask]:
        """This queue's periodic tasks: schedule, next and last run, last outcome, paused."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self.keys.periodic)
        pipe.smembers(self.keys.periodic_paused)
        pipe.hgetall(self.keys.periodic_last)
        reg, paused, last = pipe.execute()
        paused = {p.decode() for p in paused}
        out = []
        now = time.time()
        for name_b, raw in sorted(reg.items()):
            name = name_b.decode()
            try:
                d = json.loads(raw)
            except ValueError:
                d = {}
            last_state = last_at = last_id = last_by = None
            if name_b in last:
                parts = last[name_b].decode().split("|")
                if len(parts) >= 3:
                    last_state, last_at, last_id = parts[0], int(parts[1]) / 1000.0, parts[2]
                    last_by = parts[3] if len(parts) > 3 and parts[3] else None
            out.append(PeriodicTask(
                queue=self.name, name=name, schedule=d.get("schedule", "custom"),
                next_run=None if name in paused else cron.next_run(d.get("cron"), now, d.get("utc", True)),
                last_run=last_at, last_job_id=last_id, last_outcome=last_state,
                paused=name in paused, last_enqueued_by=last_by))
        return out

    def _periodic_entry(self, name: str) -> dict[str, Any]:
        raw = self.redis.hget(self.keys.periodic, name)
        if raw is None:
            raise PeriodicTaskNotFound(self.name, name)
        return json.loads(raw)

    def run_periodic(self, name: str, actor: Actor | None = None) -> str:
        """Queue a periodic task now, outside its schedule (even when paused). Returns the
        new job id."""
        entry = self._periodic_entry(name)
        data = base64.b64decode(entry.get("message") or "")
        if not data:
            raise PeriodicTaskNotFound(self.name, name)
        msg = _loads_message(data, self.serializer)._replace(id=str(uuid.uuid4()))
        data = _dumps_message(msg, self.serializer)
        argv = message_argv(self.keys.base, data, msg, priority=None,
                            utc=bool(entry.get("utc", True)), config=self.config, periodic="2")
        self.board.script("ENQUEUE")(keys=argv[:1], args=argv[1:])
        self._note(msg.id, "enqueued", actor, "run now")
        self._record(actor, "run_periodic", [msg.id], detail=name)
        return msg.id

    def pause_periodic(self, name: str, actor: Actor | None = None) -> None:
        """Stop scheduling periodic task ``name`` until resumed; raises PeriodicTaskNotFound."""
        self._periodic_entry(name)
        self.redis.sadd(self.keys.periodic_paused, name)
        self._record(actor, "pause_periodic", detail=name)

    def resume_periodic(self, name: str, actor: Actor | None = None) -> None:
        """Schedule periodic task ``name`` again; raises PeriodicTaskNotFound."""
        self._periodic_entry(name)
        self.redis.srem(self.keys.periodic_paused, name)
        self._record(actor, "resume_periodic", detail=name)

    def _note(self, job_id: str, kind: str, actor: Actor | None, what: str,
              at_ms: int | None = None) -> None:
        """Add ``<what> by <actor>`` to a job's timeline (only when an adapter said who)."""
        if actor is None:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(self.keys.events(job_id),
                   json.dumps([at_ms or now_ms(), kind, self._by(what, actor)]))
        pipe.ltrim(self.keys.events(job_id), -50, -1)
        pipe.execute()

    # Metrics and health --------------------------------------------------------------------

    def _flush_counters(self) -> None:
        """Write the per-job counts this process's consumer keeps in memory (counters.py)
        before reading metrics: a reader in that process sees its own counts at once."""
        if self.huey is not None:
            try:
                self.huey.jobboard.flush_counters()  # type: ignore[attr-defined]
            except redis_lib.exceptions.RedisError:
                pass  # kept for the next flush; the read below says whether Redis answers

    def metrics(self, window: str = "1h", task: str | None = None) -> Metrics:
        """Counters per bucket and wait/run percentiles over a window (1h, 24h, 7d, 90d)."""
        if window not in WINDOWS:
            raise InvalidArgument(f"window must be one of {', '.join(WINDOWS)}, not {window!r}.")
        self._flush_counters()
        span, step = WINDOWS[window]
        now = time.time()
        first = int((now - span) // step) + 1
        last = int(now // step)
        pipe = self.redis.pipeline(transaction=False)
        for b in range(first, last + 1):
            pipe.hgetall(self.keys.minute(b) if step == 60 else self.keys.day(b))
        points, wait_h, run_h = [], {}, {}
        suffix = f"|{task}" if task else ""
        wpre, rpre = (f"w|{task}|", f"r|{task}|") if task else ("w:", "r:")
        for b, raw in zip(range(first, last + 1), pipe.execute()):
            h = {k.decode(): int(v) for k, v in raw.items()}
            # enqueues are counted per task only (one command less on the producer's path)
            enqueued = (h.get("enq" + suffix, 0) if task else
                        sum(v for k, v in h.items() if k.startswith("enq|")))
            bucket_wait: dict[int, int] = {}
            bucket_run: dict[int, int] = {}
            for k, v in h.items():
                if k.startswith(wpre):
                    bucket_wait[int(k[len(wpre):])] = v
                elif k.startswith(rpre):
                    bucket_run[int(k[len(rpre):])] = v
            for hb, n in bucket_wait.items():
                wait_h[hb] = wait_h.get(hb, 0) + n
            for hb, n in bucket_run.items():
                run_h[hb] = run_h.get(hb, 0) + n
            # Each bucket's own percentiles too: a latency regression shows when it began.
            points.append(MetricPoint(at=float(b * step), enqueued=enqueued,
                                      completed=h.get("done" + suffix, 0),
                                      failed=h.get("fail" + suffix, 0),
                                      retried=h.get("retry" + suffix, 0),
                                      wait_ms=percentiles(bucket_wait),
                                      run_ms=percentiles(bucket_run)))
        return Metrics(self.name, task, window, step, points, percentiles(wait_h), percentiles(run_h))

    def _lifetime_fields(self) -> dict[str, int]:
        """Every lifetime counter: the rolled-up ``totals`` plus the minutes not rolled up
        yet, read in one snapshot. ``enq`` is the queue's enqueues (minutes count them per
        task only)."""
        self._flush_counters()
        now_min = int(time.time() // 60)
        base = self.keys.base
        rolled = self.redis.get(base + "rolled")
        first = max(int(rolled) + 1 if rolled else 0, now_min - 2880)  # minutes live 48 h
        pipe = self.redis.pipeline(transaction=True)  # totals and minutes as one snapshot
        pipe.hgetall(base + "totals")
        pipe.get(base + "rolled")
        for m in range(first, now_min + 1):
            pipe.hgetall(self.keys.minute(m))
        res = pipe.execute()
        total, rolled_now, minutes = res[0], res[1], res[2:]
        if rolled_now != rolled and rolled_now is not None:
            # a rollup ran between the reads: its minutes are in totals now, skip them
            minutes = minutes[max(0, int(rolled_now) + 1 - first):]
        fields: dict[str, int] = {}
        for k, v in total.items():
            fields[k.decode()] = int(v)
        for h in minutes:
            for k, v in h.items():
                key = k.decode()
                fields[key] = fields.get(key, 0) + int(v)
                if key.startswith("enq|"):
                    fields["enq"] = fields.get("enq", 0) + int(v)
        return fields

    def lifetime(self) -> Lifetime:
        """Monotonic counters since the queue began: events and wait/run distributions,
        queue-wide and per task (what the Prometheus counters and histograms export)."""
        return Lifetime(self.name, self._lifetime_fields())

    def totals(self) -> MetricPoint:
        """Lifetime counts of jobs enqueued, completed, failed and retried (monotonic).

        Rolled-up totals plus the minutes not rolled up yet, read in one snapshot."""
        f = self._lifetime_fields()
        return MetricPoint(at=time.time(), enqueued=f.get("enq", 0), completed=f.get("done", 0),
                           failed=f.get("fail", 0), retried=f.get("retry", 0),
                           duplicates=f.get("dup", 0))

    def hour_series(self) -> list[MetricPoint]:
        """Jobs completed and failed in each of the last 60 minutes, oldest first: one
        command (the hour series hash, see keys.QueueKeys.hour_series)."""
        self._flush_counters()
        return self._series(self.redis.hgetall(self.keys.hour_series), time.time())

    @staticmethod
    def _series(raw: dict[bytes, bytes], now: float) -> list[MetricPoint]:
        minute = int(now // 60)
        h = {k.decode(): int(v) for k, v in raw.items()}
        return [MetricPoint(at=float(m * 60), completed=h.get(f"{m}done", 0),
                            failed=h.get(f"{m}fail", 0))
                for m in range(minute - 59, minute + 1)]

    def summary(self, states: Sequence[str] = STATES,
                thresholds: Mapping[str, Any] | None = None,
                ) -> tuple[dict[str, int], Health, list[MetricPoint]]:
        """The counts of ``states`` (only those: the overview reads the five it shows),
        health (paused and since when included) and the hour series, in one round trip:
        ``len(states)`` ZCARD + ZRANGE + ZCOUNT + HGETALL + GET, and one HGET for the age of
        the next waiting job when there is one (the overview's row for this queue)."""
        for s in states:
            self._check_state(s)
        self._flush_counters()
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for s in states:
            pipe.zcard(self.keys.state(s))
        # the backlog (health's "jobs waiting and no consumer") is the waiting count
        if WAITING not in states:
            pipe.zcard(self.keys.state(WAITING))
        self._health_reads(pipe, now)
        res = pipe.execute()
        counts = {s: int(v) for s, v in zip(states, res)}
        rest = res[len(states):]
        if WAITING not in states:
            backlog, rest = int(rest[0]), rest[1:]
        else:
            backlog = counts[WAITING]
        head, alive, raw, paused_raw = rest
        series = self._series(raw, now)
        health = self._health(now, backlog, head, paused_raw, int(alive), series, thresholds)
        return counts, health, series

    def _health_reads(self, pipe: Any, now: float) -> None:
        pipe.zrange(self.keys.state(WAITING), 0, 0)
        pipe.zcount(self.keys.consumers, int(now * 1000) - CONSUMER_ALIVE_SECONDS * 1000, "+inf")
        pipe.hgetall(self.keys.hour_series)
        pipe.get(self.keys.paused)  # when it was paused (ms), or None

    def health(self, thresholds: Mapping[str, Any] | None = None) -> Health:
        """Backlog, age of the next waiting job, recent failure rates, live consumers, and
        the problems ``jobboard.checks`` finds in them (``thresholds``: see there)."""
        self._flush_counters()
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(self.keys.state(WAITING))
        self._health_reads(pipe, now)
        backlog, head, alive, raw, paused_raw = pipe.execute()
        return self._health(now, int(backlog), head, paused_raw, int(alive),
                            self._series(raw, now), thresholds)

    def _health(self, now: float, backlog: int, head: list[bytes], paused_raw: bytes | None,
                alive: int, series: list[MetricPoint], thresholds: Mapping[str, Any] | None) -> Health:
        t = checks.thresholds(thresholds, self.name)
        paused = paused_raw is not None
        try:
            paused_since = int(paused_raw) / 1000.0 if paused_raw else None
        except ValueError:
            paused_since = None
        buckets = [(p.completed, p.failed) for p in series]
        oldest = oldest_at = None
        if head:
            rdy = self.redis.hget(self.keys.record(head[0].decode()), "rdy")
            if rdy:
                oldest_at = int(rdy) / 1000.0
                oldest = max(0.0, now - oldest_at)

        def rate(items: list[tuple[int, int]]) -> float | None:
            done, fail = sum(d for d, _ in items), sum(f for _, f in items)
            return fail / (done + fail) if done + fail else None

        r5, r60 = rate(buckets[-5:]), rate(buckets)
        n5 = sum(d + f for d, f in buckets[-5:])
        problems = checks.queue_problems(self.name, t, backlog=backlog, alive=alive, oldest=oldest,
                                         paused=paused, paused_since=paused_since, rate_5m=r5,
                                         jobs_5m=n5, now=now)
        reasons = [p.message for p in problems] + (["queue is paused"] if paused else [])
        return Health(self.name, not problems, reasons, backlog, oldest, r5, r60, alive, paused,
                      problems=problems, paused_since=paused_since, jobs_5m=n5,
                      oldest_waiting_at=oldest_at)


def bucket_bounds(b: int) -> tuple[float, float]:
    """The duration range (ms) of histogram bucket b (see the Lua ``bucket``)."""
    if b <= 0:
        return 0.0, 1.0
    return 2 ** ((b - 1) / 2), 2 ** (b / 2)


def percentiles(hist: dict[int, int], qs: Sequence[float] = (0.5, 0.95, 0.99)) -> dict[str, float | None]:
    """p50/p95/p99 from bucket counts (each bucket's geometric middle)."""
    total = sum(hist.values())
    out: dict[str, float | None] = {}
    for q in qs:
        name = f"p{int(q * 100)}"
        if not total:
            out[name] = None
            continue
        need, seen = q * total, 0
        for b in sorted(hist):
            seen += hist[b]
            if seen >= need:
                lo, hi = bucket_bounds(b)
                out[name] = round(math.sqrt(lo * hi) if lo else hi / 2, 2)
                break
    return out
