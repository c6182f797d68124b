"""The exceptions jobboard raises. Each message says what to do next."""

from __future__ import annotations

import redis.exceptions


class JobboardError(Exception):
    """Base class of every jobboard error."""


class QueueNotFound(JobboardError, LookupError):
    """No queue of that name is known to this board."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Unknown queue {name!r}. Known queues are the ones passed to Board() "
            "or seen by a tracked producer; check the spelling."
        )
        self.name = name


class JobNotFound(JobboardError, LookupError):
    """No job with that id is recorded in the queue (it may have been trimmed)."""

    def __init__(self, queue: str, job_id: str) -> None:
        super().__init__(
            f"No job {job_id!r} in queue {queue!r}. It may never have existed, or it "
            "was removed by retention or by an operator."
        )
        self.queue = queue
        self.job_id = job_id


class JobStateError(JobboardError):
    """The action does not apply to the job in its current state (HTTP 409)."""

    def __init__(self, job_id: str, state: str, action: str, allowed: tuple[str, ...],
                 hint: str = "") -> None:
        super().__init__(
            f"Cannot {action} job {job_id!r}: it is {state}; {action} applies to "
            f"{', '.join(allowed)} jobs." + (f" {hint}" if hint else "")
        )
        self.job_id = job_id
        self.state = state
        self.action = action
        self.allowed = allowed
        self.hint = hint


class InvalidArgument(JobboardError, ValueError):
    """A parameter given to the core API is out of range or of the wrong kind (HTTP 400)."""


class PeriodicTaskNotFound(JobboardError, LookupError):
    """No periodic task of that name has been registered by a consumer."""

    def __init__(self, queue: str, name: str) -> None:
        super().__init__(
            f"No periodic task {name!r} in queue {queue!r}. Periodic tasks appear once a "
            "consumer with periodic tasks enabled has started."
        )
        self.queue = queue
        self.name = name


class ConfigurationError(JobboardError):
    """jobboard was set up in a way that cannot work."""


class TaskNotFound(JobboardError, LookupError):
    """No task of that name is registered for the queue (HTTP 404)."""

    def __init__(self, queue: str, name: str, why: str = "") -> None:
        super().__init__(
            f"Unknown task {name!r} in queue {queue!r}" + (f": {why}." if why else
            ". Use the full name (module.function) of a task registered on the queue's Huey.")
        )
        self.queue = queue
        self.name = name


class NotReplicated(JobboardError):
    """Durable mode (``RedisHuey(replicas=N)``): fewer than N replicas confirmed a write
    within ``replica_timeout``. The write is on the master, not yet known to be safe."""

    def __init__(self, wanted: int, got: int, what: str = "write") -> None:
        super().__init__(
            f"Only {got} of the {wanted} replicas required confirmed this {what} in time "
            "(durable mode). Check the replicas' links to the master, or lower replicas=.")
        self.wanted = wanted
        self.got = got


class RedisOutOfMemory(JobboardError, redis.exceptions.OutOfMemoryError):
    """Redis refused a write because it reached ``maxmemory`` (HTTP 503).

    Raised by producers (``task()``, ``Board`` actions) instead of redis-py's bare
    ``OutOfMemoryError``; it still is one, so existing handlers keep catching it. Nothing
    was half-written: every change is one Lua script, which Redis refuses whole."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "Redis is out of memory (maxmemory reached with a noeviction policy), so the "
            "job was not recorded. Free memory (shorter retention, `jobboard clean`), raise "
            "maxmemory, or retry later." + (f" Redis said: {detail}" if detail else "")
        )


#: Redis errors that mean "Redis cannot serve us right now", not "the request is wrong":
#: every adapter answers them with 503 and a Retry-After (health with "unavailable").
#: ``OutOfMemoryError`` (maxmemory with noeviction: writes refused) is one of them; it is
#: a ``ResponseError``, so it must be tested before any generic Redis error.
REDIS_OUTAGE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError, redis.exceptions.OutOfMemoryError,
)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis refusing a write at maxmemory (ours or redis-py's).

    A Lua script that hits the limit comes back as a plain ``ResponseError`` whose text
    starts with OOM (redis-py maps only the top-level reply), so the text is checked too.
    """
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return True
    return isinstance(exc, redis.exceptions.ResponseError) and "OOM " in str(exc)[:64]
