"""Failed-login throttle: growing delays per (username, client address), kept in Redis.

After ``JOBBOARD_LOGIN_FREE_FAILURES`` failures of one pair, the next attempt of that pair
must wait 1 s, then 2 s, 4 s ... up to ``JOBBOARD_LOGIN_MAX_DELAY``. Only that pair waits:
someone guessing the admin's password from one address slows down their own guesses, never
the admin's sign-in from another address, and people sharing a proxy address are not
locked out together (each has their own username). A success clears the pair.

Each pair is one small Redis hash that expires once its delay has long passed, so memory
is bounded by the rate of failed logins, and every web process shares the same counts.
"""

from __future__ import annotations

import hashlib
import math
import time

import redis

#: One hash per (username, address) pair: ``n`` failures, ``at`` the last one (ms).
KEY_PREFIX = "jobboard:web:login:"


def _key(username: str, address: str) -> str:
    digest = hashlib.sha256(f"{username.lower()}\n{address}".encode()).hexdigest()[:40]
    return KEY_PREFIX + digest


def delay_after(failures: int, free: int, max_delay: float) -> float:
    """Seconds to wait after ``failures`` failures: 0 for the first ``free``, then doubling."""
    if failures <= free:
        return 0.0
    return float(min(max_delay, 2.0 ** min(failures - free - 1, 32)))


class LoginThrottle:
    """The throttle of one app (settings read at each call, so tests may change them)."""

    def __init__(self, client: redis.Redis, free: int = 3, max_delay: float = 300.0) -> None:
        self.client = client
        self.free = free
        self.max_delay = max_delay

    def retry_after(self, username: str, address: str, now: float | None = None) -> int:
        """Whole seconds until this pair may try again (0: now)."""
        now = time.time() if now is None else now
        n, at = self.client.hmget(_key(username, address), "n", "at")
        if not n or not at:
            return 0
        wait = int(at) / 1000.0 + delay_after(int(n), self.free, self.max_delay) - now
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, username: str, address: str, now: float | None = None) -> None:
        """Count a failed login of this pair."""
        now = time.time() if now is None else now
        key = _key(username, address)
        pipe = self.client.pipeline(transaction=True)
        pipe.hincrby(key, "n", 1)
        pipe.hset(key, "at", int(now * 1000))
        # Forget the pair once even the longest delay is far behind it.
        pipe.expire(key, int(self.max_delay * 4) + 60)
        pipe.execute()

    def succeeded(self, username: str, address: str) -> None:
        """Clear the pair after a successful login."""
        self.client.delete(_key(username, address))
