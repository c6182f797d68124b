"""``jobboard.RedisHuey`` and ``jobboard.track(huey)``: Huey with jobboard's tracking."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import huey as huey_lib
from huey import Huey
from huey.api import ResultGroup, TaskWrapper
from huey.storage import RedisExpireStorage, RedisStorage

from . import eventlog
from .config import TrackingConfig
from .compact import COMPRESS_ABOVE
from .display import PAYLOAD_LIMIT, TRACEBACK_LIMIT
from .errors import ConfigurationError
from .keys import DEFAULT_PREFIX
from .storage import TrackingExpireStorage, TrackingStorage
from .tracking import Tracker

_TRACKING_OPTIONS = ("prefix", "lease_timeout", "max_stalls", "retention", "task_retention",
                     "redact", "log_lines", "end_retry_timeout", "enqueue_retry_timeout",
                     "replicas", "replica_timeout", "payload_limit", "traceback_limit",
                     "compress_above", "search_index", "alerts")


class TrackedTaskWrapper(TaskWrapper):
    """Huey's task wrapper, whose ``map`` enqueues in batches (``enqueue_many``)."""

    def map(self, it: Iterable[Any]) -> ResultGroup | None:
        """Huey's ``task.map(iterable)``: a job per item, one round trip per 1,000."""
        return self.huey.enqueue_many(self._apply(it))  # type: ignore[no-any-return]


def enqueue_many(huey: Huey, tasks: Iterable[Any]) -> ResultGroup | None:
    """Enqueue many tasks (``task.s(...)``) with one round trip per 1,000, each batch
    atomic; otherwise as ``huey.enqueue`` of each, in order (signals, pipelines, eta).
    Returns a ``ResultGroup`` of their results, or None when the Huey keeps no results."""
    results = huey.jobboard.enqueue_many(tasks)  # type: ignore[attr-defined]
    return ResultGroup(results) if huey.results else None


class RedisHuey(huey_lib.PriorityRedisHuey):
    """A Huey on Redis that records every job, with priorities and at-least-once delivery.

    A subclass of Huey's ``PriorityRedisHuey`` (so also of ``huey.RedisHuey``): code that
    checks ``isinstance(h, huey.RedisHuey)`` treats it as what it is.

    Takes Huey's usual arguments and Redis connection arguments (``url=``, ``host=``,
    ``port=``, ``db=``, ``password=``, ``connection_pool=``), plus:

    - ``lease_timeout`` (seconds, default 30): a job whose consumer stops heartbeating for
      this long is put back and run by a live consumer.
    - ``max_stalls`` (default 1): after more stalls than this, the job fails instead.
    - ``retention``: ``{state: (max_age_seconds, max_count)}`` for finished states;
      defaults: completed 24 h / 10,000, failed and other ends 7 days / 100,000.
    - ``task_retention``: ``{task_name: {state: (max_age, max_count)}}``.
    - ``redact``: key names whose values are hidden in displayed arguments.
    - ``payload_limit`` (characters, default 65,536): each job's positional arguments,
      keyword arguments and result are recorded whole, as JSON (redacted), up to this
      many characters each; a longer one is cut and marked ``…``. The list views show a
      preview of about 60 characters.
    - ``traceback_limit`` (characters, default 20,000): each failed attempt's traceback
      is kept up to this many characters.
    - ``compress_above`` (bytes, default 200): a job's big fields (whole payloads,
      errors, tracebacks) longer than this are stored zlib-compressed (see compact.py).
    - ``search_index`` (default True): keep the queue's search index (ids, task, words of
      the arguments and errors; see search.py) so that a search looks at every retained
      job in bounded time. Off, enqueues and ends cost a little less and a search is a
      bounded scan of the newest jobs.
    - ``prefix`` (default ``"jb"``): the start of every Redis key.
    - ``end_retry_timeout`` (seconds, default 300): how long a consumer keeps retrying
      the record of a job's end while Redis does not answer, before letting the job go
      (its lease lapses and it runs again).
    - ``enqueue_retry_timeout`` (seconds, default 5): how long an enqueue is retried while
      Redis does not answer (a failover, a restart) before it raises; a retry never makes
      a second job (the job's id makes it a no-op if the first try got through).
    - ``replicas`` (default 0) and ``replica_timeout`` (seconds, default 1): durable mode.
      With ``replicas=1`` an enqueue returns, and a job's end counts as recorded, only
      once at least that many replicas have it (Redis ``WAIT``); otherwise the enqueue is
      retried and then raises ``NotReplicated``, and the end is retried by the outbox.
      Costs one replication round trip per enqueue and per end. See docs/scaling.md.

    - ``alerts`` (default None): webhook alerts sent by this queue's consumers, e.g.
      ``{"webhooks": ["https://hooks.slack.com/...", ...]}`` (the settings of
      ``jobboard.alerts.AlertSettings``; docs/monitoring.md). However many processes have
      it, one at a time sends (a lease in Redis), dashboards with ``JOBBOARD_ALERTS``
      included.

    - ``event_log`` (default False): one JSON line per job transition, on stdout (True)
      or to the ``logging.Handler`` given (``jobboard.eventlog``).

    Priorities: a **higher number runs first** (``priority=10`` before ``priority=1``); jobs
    of equal priority run in the order they were enqueued.

    Immediate mode (``immediate=True``, or ``huey.immediate = True`` at any time) is
    Huey's own: tasks run in the calling thread on Huey's in-memory storage, Redis is not
    touched and nothing is recorded; ``jobboard.progress()`` / ``log()`` do nothing and
    return False. Turning it off again goes back to the tracked Redis storage.
    """

    storage_class = TrackingStorage

    def __init__(self, name: str = "huey", *, prefix: str = DEFAULT_PREFIX,
                 lease_timeout: float = 30.0, max_stalls: int = 1,
                 retention: Mapping[str, Any] | None = None,
                 task_retention: Mapping[str, Mapping[str, Any]] | None = None,
                 redact: Iterable[str] | None = None, log_lines: int = 200,
                 end_retry_timeout: float = 300.0, enqueue_retry_timeout: float = 5.0,
                 replicas: int = 0, replica_timeout: float = 1.0,
                 payload_limit: int = PAYLOAD_LIMIT, traceback_limit: int = TRACEBACK_LIMIT,
                 compress_above: int = COMPRESS_ABOVE, search_index: bool = True,
                 alerts: Any = None, event_log: bool | logging.Handler = False,
                 **kwargs: Any) -> None:
        kwargs.setdefault("prefix", prefix)
        super().__init__(name, **kwargs)
        config = TrackingConfig.build(prefix=prefix, lease_timeout=lease_timeout,
                                      max_stalls=max_stalls, retention=retention,
                                      task_retention=task_retention, redact=redact,
                                      log_lines=log_lines, end_retry_timeout=end_retry_timeout,
                                      enqueue_retry_timeout=enqueue_retry_timeout,
                                      replicas=replicas, replica_timeout=replica_timeout,
                                      payload_limit=payload_limit,
                                      traceback_limit=traceback_limit,
                                      compress_above=compress_above, search_index=search_index,
                                      alerts=alerts)
        storage = self.storage
        if not isinstance(storage, TrackingStorage):  # immediate mode: built, not connected
            storage = self.get_storage(**self.storage_kwargs)
        self.jobboard = Tracker(self, config, storage)
        if event_log:
            eventlog.enable(self, handler=event_log if isinstance(event_log, logging.Handler) else None)

    def create_storage(self) -> Any:
        # Huey calls this at start and whenever `immediate` changes: immediate mode gets
        # Huey's memory storage, normal mode our one tracked storage again.
        tracker = getattr(self, "jobboard", None)
        if tracker is not None and not (self._immediate and self.immediate_use_memory):
            return tracker.storage
        return super().create_storage()

    def get_task_wrapper_class(self) -> type[TaskWrapper]:
        return TrackedTaskWrapper  # a batched task.map()

    def enqueue_many(self, tasks: Iterable[Any]) -> ResultGroup | None:
        """Enqueue many tasks in batches of 1,000, one round trip and atomic each: as
        ``enqueue`` of each task, in order. ``task.map(items)`` goes through here."""
        return enqueue_many(self, tasks)

    def dequeue(self) -> Any:
        return self.jobboard.dequeue()

    def execute(self, task: Any, timestamp: Any = None) -> Any:
        return self.jobboard.execute(super().execute, task, timestamp)

    def create_consumer(self, **options: Any) -> Any:
        consumer = super().create_consumer(**options)
        self.jobboard.consumer_started(options, consumer)
        return consumer


def track(huey: Huey, **options: Any) -> Huey:
    """Add jobboard tracking to an existing ``huey.RedisHuey`` / ``PriorityRedisHuey``.

    The instance keeps its name, connection and tasks; its storage is replaced by
    jobboard's (keys under ``jb:{name}:``, so jobs queued before tracking with plain Huey
    are not seen: drain them first). Accepts the tracking options of ``RedisHuey``.
    Returns the same instance.
    """
    unknown = set(options) - set(_TRACKING_OPTIONS)
    if unknown:
        raise ConfigurationError(f"Unknown tracking options: {', '.join(sorted(unknown))}. "
                                 f"Known: {', '.join(_TRACKING_OPTIONS)}.")
    if getattr(huey, "jobboard", None) is not None:
        return huey
    storage_class = getattr(huey, "storage_class", None) or type(huey.storage)
    if not (isinstance(storage_class, type) and issubclass(storage_class, RedisStorage)):
        raise ConfigurationError(
            f"jobboard.track() needs a Redis-backed Huey; {type(huey).__name__} uses "
            f"{getattr(storage_class, '__name__', storage_class)}. Use jobboard.RedisHuey instead."
        )
    # RedisExpireHuey: results are keys with a TTL that a read leaves in place.
    expiring = issubclass(storage_class, RedisExpireStorage)
    cls = TrackingExpireStorage if expiring else TrackingStorage
    prefix = options.get("prefix", DEFAULT_PREFIX)
    old = huey.storage
    if isinstance(old, RedisStorage):
        extra = {"expire_time": old._expire_time} if expiring else {}
        storage = cls(old.name, blocking=old.blocking, read_timeout=old.read_timeout,
                      connection_pool=old.pool, notify_result=old.notify_result,
                      notify_result_ttl=old.notify_result_ttl, prefix=prefix, **extra)
    else:  # immediate mode: Huey holds its memory storage; build ours from its settings
        storage = cls(huey.name, prefix=prefix, **huey.storage_kwargs)
    config = TrackingConfig.build(**options)
    huey.jobboard = Tracker(huey, config, storage)  # type: ignore[attr-defined]
    if isinstance(old, RedisStorage):
        huey.storage = storage
    create_storage = huey.create_storage

    def tracked_storage() -> Any:
        if huey._immediate and huey.immediate_use_memory:
            return create_storage()
        return storage

    huey.create_storage = tracked_storage  # type: ignore[method-assign]
    original = huey.create_consumer

    def create_consumer(**consumer_options: Any) -> Any:
        consumer = original(**consumer_options)
        huey.jobboard.consumer_started(consumer_options, consumer)  # type: ignore[attr-defined]
        return consumer

    huey.create_consumer = create_consumer  # type: ignore[method-assign]
    huey.dequeue = huey.jobboard.dequeue  # type: ignore[method-assign,attr-defined]
    huey.enqueue_many = lambda tasks: enqueue_many(huey, tasks)  # type: ignore[attr-defined]
    if huey.task_wrapper_class is TaskWrapper:  # tasks defined from now on: a batched map()
        huey.task_wrapper_class = TrackedTaskWrapper
    execute = huey.execute
    huey.execute = lambda task, timestamp=None: huey.jobboard.execute(  # type: ignore[method-assign,attr-defined]
        execute, task, timestamp)
    return huey
