"""Tracking settings of one queue: retention, leases, redaction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .compact import COMPRESS_ABOVE
from .display import DEFAULT_REDACT, PAYLOAD_LIMIT, TRACEBACK_LIMIT, redact_pattern
from .errors import ConfigurationError
from .keys import DEFAULT_PREFIX
from .primitives import short_name
from .records import COMPLETED, FINISHED_STATES

DAY = 86400


@dataclass(frozen=True)
class Retention:
    """How many finished jobs of a state to keep, and for how long (like BullMQ's
    removeOnComplete / removeOnFail). ``max_count=None`` or ``max_age=None`` means no limit."""

    max_age: float | None = None  # seconds
    max_count: int | None = None

    def as_argv(self) -> tuple[int, int]:
        """(age in ms or 0 for none, count or -1 for none), as the Lua scripts take them."""
        age = int(self.max_age * 1000) if self.max_age else 0
        count = int(self.max_count) if self.max_count is not None else -1
        return age, count


DEFAULT_RETENTION: dict[str, Retention] = {
    state: (Retention(DAY, 10_000) if state == COMPLETED else Retention(7 * DAY, 100_000))
    for state in FINISHED_STATES
}


def _retention(value: object) -> Retention:
    if isinstance(value, Retention):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return Retention(value[0], value[1])  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        return Retention(value.get("max_age"), value.get("max_count"))  # type: ignore[arg-type]
    raise ConfigurationError(
        f"Retention must be Retention(max_age, max_count), a (max_age, max_count) tuple or a "
        f"dict with those keys; got {value!r}."
    )


def _states_map(value: Mapping[str, object] | None) -> dict[str, Retention]:
    out: dict[str, Retention] = {}
    for state, r in (value or {}).items():
        if state not in FINISHED_STATES:
            raise ConfigurationError(
                f"Retention is set per finished state ({', '.join(FINISHED_STATES)}); "
                f"{state!r} is not one."
            )
        out[state] = _retention(r)
    return out


@dataclass
class TrackingConfig:
    """Settings of a tracked queue. See ``jobboard.RedisHuey`` for the meaning of each."""

    prefix: str = DEFAULT_PREFIX
    lease_timeout: float = 30.0
    max_stalls: int = 1
    retention: dict[str, Retention] = field(default_factory=dict)
    task_retention: dict[str, dict[str, Retention]] = field(default_factory=dict)
    redact: tuple[str, ...] = DEFAULT_REDACT
    log_lines: int = 200
    end_retry_timeout: float = 300.0
    enqueue_retry_timeout: float = 5.0
    replicas: int = 0
    replica_timeout: float = 1.0
    payload_limit: int = PAYLOAD_LIMIT
    traceback_limit: int = TRACEBACK_LIMIT
    compress_above: int = COMPRESS_ABOVE
    search_index: bool = True
    #: Webhook alerts run by this queue's consumers (jobboard.alerts.AlertSettings.from_config
    #: checks it when the Huey is created); None: off.
    alerts: Any = None
    redact_re: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        if self.lease_timeout < 1:
            raise ConfigurationError("lease_timeout is in seconds and must be at least 1.")
        if self.enqueue_retry_timeout < 0 or self.replicas < 0 or self.replica_timeout <= 0:
            raise ConfigurationError("enqueue_retry_timeout must be >= 0 s, replicas >= 0 and "
                                     "replica_timeout above 0 s.")
        if self.end_retry_timeout <= 0:
            raise ConfigurationError("end_retry_timeout is in seconds and must be above 0.")
        if not 1_000 <= self.payload_limit <= 16 * 1024 * 1024:
            raise ConfigurationError("payload_limit is in characters per payload (args, kwargs, "
                                     "result) and must be between 1,000 and 16 MiB.")
        if not 100 <= self.traceback_limit <= 1024 * 1024:
            raise ConfigurationError("traceback_limit is in characters per failed attempt and "
                                     "must be between 100 and 1 MiB.")
        if self.compress_above < 0:
            raise ConfigurationError("compress_above is a size in bytes (0: compress every "
                                     "big field that shrinks) and must be 0 or more.")
        if self.max_stalls < 0:
            raise ConfigurationError("max_stalls must be 0 or more.")
        merged = dict(DEFAULT_RETENTION)
        merged.update(_states_map(self.retention))
        self.retention = merged
        self.task_retention = {t: _states_map(m) for t, m in (self.task_retention or {}).items()}
        self.redact_re = redact_pattern(self.redact)

    @classmethod
    def build(cls, prefix: str = DEFAULT_PREFIX, lease_timeout: float = 30.0, max_stalls: int = 1,
              retention: Mapping[str, object] | None = None,
              task_retention: Mapping[str, Mapping[str, object]] | None = None,
              redact: Iterable[str] | None = None, log_lines: int = 200,
              end_retry_timeout: float = 300.0, enqueue_retry_timeout: float = 5.0,
              replicas: int = 0, replica_timeout: float = 1.0,
              payload_limit: int = PAYLOAD_LIMIT, traceback_limit: int = TRACEBACK_LIMIT,
              compress_above: int = COMPRESS_ABOVE, search_index: bool = True,
              alerts: Any = None) -> "TrackingConfig":
        return cls(prefix=prefix, lease_timeout=float(lease_timeout), max_stalls=int(max_stalls),
                   retention=dict(retention or {}),  # type: ignore[arg-type]
                   task_retention={k: dict(v) for k, v in (task_retention or {}).items()},  # type: ignore[misc]
                   redact=tuple(redact) if redact is not None else DEFAULT_REDACT,
                   log_lines=int(log_lines), end_retry_timeout=float(end_retry_timeout),
                   enqueue_retry_timeout=float(enqueue_retry_timeout), replicas=int(replicas),
                   replica_timeout=float(replica_timeout), payload_limit=int(payload_limit),
                   traceback_limit=int(traceback_limit), compress_above=int(compress_above),
                   search_index=bool(search_index), alerts=alerts)

    def retention_argv(self, state: str, task: str) -> list[int]:
        """[queue age ms, queue count, task age ms, task count] for the FINISH script.

        A task's own setting is matched by its full name or by its short name."""
        q_age, q_count = self.retention.get(state, Retention()).as_argv()
        per_task = self.task_retention.get(task) or self.task_retention.get(short_name(task))
        t_age, t_count = (0, -1)
        if per_task and state in per_task:
            t_age, t_count = per_task[state].as_argv()
        return [q_age, q_count, t_age, t_count]
