"""Rate limit of job submission, per API token (or per session client).

``JOBBOARD_API_RATE_LIMIT``: ``"120/minute"`` (default), ``"10/second"``, ``"5000/hour"``,
a ``(count, seconds)`` pair, or ``None`` / ``0`` to turn it off.
``JOBBOARD_API_RATE_LIMIT_STORAGE``: ``"redis"`` (default; every process shares the budget)
or ``"memory"`` (per process; no Redis writes).

A fixed window is enough here: the point is to stop a runaway script from flooding a queue,
not to shape traffic precisely. A bulk submission of N jobs costs N.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis

from ..errors import ConfigurationError

DEFAULT_LIMIT = "120/minute"
#: The rate limiter's own keys (the only Redis keys the API touches directly).
KEY_PREFIX = "jobboard:api:ratelimit:"

_PERIODS = {"second": 1, "sec": 1, "s": 1, "minute": 60, "min": 60, "m": 60,
            "hour": 3600, "h": 3600, "day": 86400, "d": 86400}


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until the window resets (>= 1 when refused)


def parse_limit(value: Any) -> Limit | None:
    """``"120/minute"`` -> Limit(120, 60); ``None``/``0``/``""`` -> None (no limit)."""
    if value in (None, 0, "", False):
        return None
    if isinstance(value, Limit):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        count, seconds = int(value[0]), float(value[1])
    elif isinstance(value, str):
        try:
            count_text, _, period = value.strip().partition("/")
            count = int(count_text)
            period = period.strip().lower() or "minute"
            num, unit = "", period
            while unit and unit[0].isdigit():
                num, unit = num + unit[0], unit[1:]
            seconds = float(num or 1) * _PERIODS[unit.rstrip("s") if unit not in _PERIODS else unit]
        except (ValueError, KeyError):
            raise ConfigurationError(
                f"JOBBOARD_API_RATE_LIMIT={value!r} is not understood; write it like "
                "'120/minute', '10/second' or '5000/hour', or None to turn it off."
            ) from None
    else:
        raise ConfigurationError(f"JOBBOARD_API_RATE_LIMIT={value!r}: use '120/minute' or (120, 60).")
    if count <= 0:
        return None
    if seconds <= 0:
        raise ConfigurationError("JOBBOARD_API_RATE_LIMIT needs a period longer than 0 seconds.")
    return Limit(count, seconds)


def client_key(identity: str) -> str:
    """Hash the identity so tokens never appear in Redis keys."""
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


class MemoryLimiter:
    """Per-process fixed windows, for a single-process deployment or no Redis writes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, limit: Limit, cost: int = 1, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        start = math.floor(now / limit.seconds) * limit.seconds
        reset = max(1, math.ceil(start + limit.seconds - now))
        with self._lock:
            if len(self._windows) > 10_000:  # forget old windows so memory stays bounded
                self._windows = {k: v for k, v in self._windows.items() if v[0] == start}
            w_start, used = self._windows.get(key, (start, 0))
            if w_start != start:
                used = 0
            if used + cost > limit.count:
                return Decision(False, limit.count, max(0, limit.count - used), reset)
            self._windows[key] = (start, used + cost)
            return Decision(True, limit.count, limit.count - used - cost, reset)


class RedisLimiter:
    """Fixed windows in Redis: INCRBY + EXPIRE in one MULTI, refunded when refused."""

    def hit(self, client: redis.Redis, key: str, limit: Limit, cost: int = 1,
            now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        window = int(math.floor(now / limit.seconds))
        start = window * limit.seconds
        reset = max(1, math.ceil(start + limit.seconds - now))
        rkey = f"{KEY_PREFIX}{key}:{window}"
        pipe = client.pipeline(transaction=True)
        pipe.incrby(rkey, cost)
        pipe.expire(rkey, int(math.ceil(limit.seconds)) + 1)
        used, _ = pipe.execute()
        used = int(used)
        if used > limit.count:
            # Give back what this refused request took, so a client that backs off gets
            # its full budget in the next window and refused calls cost nothing.
            client.decrby(rkey, cost)
            return Decision(False, limit.count, max(0, limit.count - (used - cost)), reset)
        return Decision(True, limit.count, limit.count - used, reset)


_memory = MemoryLimiter()
_redis = RedisLimiter()


def hit(config: Any, client: redis.Redis, identity: str, cost: int = 1) -> Decision | None:
    """Spend ``cost`` of ``identity``'s budget; None when rate limiting is off."""
    limit = parse_limit(config.get("JOBBOARD_API_RATE_LIMIT", DEFAULT_LIMIT))
    if limit is None:
        return None
    key = client_key(identity)
    storage = str(config.get("JOBBOARD_API_RATE_LIMIT_STORAGE", "redis")).lower()
    if storage == "memory":
        return _memory.hit(key, limit, cost)
    if storage != "redis":
        raise ConfigurationError(
            f"JOBBOARD_API_RATE_LIMIT_STORAGE={storage!r}: use 'redis' or 'memory'.")
    return _redis.hit(client, key, limit, cost)
