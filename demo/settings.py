"""Demo configuration, read from the environment the way the clinic's BullMQ setup did.

Redis: ``REDIS_URL`` wins; otherwise ``REDIS_HOST`` / ``REDIS_PORT`` / ``REDIS_PASSWORD`` /
``REDIS_DB`` / ``REDIS_TLS``. With neither ``REDIS_URL`` nor ``REDIS_HOST`` set, the demo
launcher (:mod:`demo.run`) starts a private redis-server and exports ``REDIS_URL`` to the
processes it starts; a process started by hand falls back to ``localhost:6379``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}


def env_flag(name: str, default: bool = False) -> bool:
    """A boolean environment variable: 1/true/yes/on (any case) mean True."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in _TRUE


def env_int(name: str, default: int, minimum: int = 0) -> int:
    """An integer environment variable; a bad value is an error that names the variable."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an integer") from None
    if number < minimum:
        raise ValueError(f"{name}={number} must be at least {minimum}")
    return number


def external_redis_configured() -> bool:
    """True when the environment points at a Redis of its own (no embedded server needed)."""
    return bool(os.environ.get("REDIS_URL") or os.environ.get("REDIS_HOST"))


def redis_url() -> str:
    """The Redis URL for every demo process, built from ``REDIS_*`` when no ``REDIS_URL``."""
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        return url
    host = os.environ.get("REDIS_HOST", "localhost").strip() or "localhost"
    port = env_int("REDIS_PORT", 6379, minimum=1)
    db = env_int("REDIS_DB", 0)
    password = os.environ.get("REDIS_PASSWORD", "")
    scheme = "rediss" if env_flag("REDIS_TLS") else "redis"
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"{scheme}://{auth}{host}:{port}/{db}"


def redis_display_url() -> str:
    """:func:`redis_url` with any password hidden, for logs and the console."""
    url = redis_url()
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def redis_client() -> redis.Redis:
    """A client for the clinic's own data (appointments, inbox), separate from Huey's pools."""
    return redis.Redis.from_url(redis_url(), decode_responses=True, health_check_interval=30)


@dataclass(frozen=True)
class Settings:
    """Everything the demo reads from the environment, resolved once."""

    data_dir: Path
    outbox_dir: Path
    reports_dir: Path
    tmp_dir: Path
    smtp_url: str | None
    mail_from: str
    base_url: str
    queue_concurrency: int
    reports_concurrency: int
    sms_rate_limit: int
    lab_api_failure_rate: float
    report_seconds_per_day: float

    def huey_kwargs(self) -> dict[str, Any]:
        """Connection arguments for ``jobboard.RedisHuey(name, **kwargs)``."""
        return {"url": redis_url()}

    def concurrency(self, queue: str) -> int:
        """Worker threads for one queue's consumer (reports are heavier: fewer of them)."""
        return self.reports_concurrency if queue == "reports" else self.queue_concurrency


def load() -> Settings:
    """Read the environment now (tests change it between runs, so nothing is cached)."""
    data_dir = Path(os.environ.get("DEMO_DATA_DIR") or ROOT / ".demo").resolve()
    port = env_int("DEMO_PORT", 8000, minimum=1)
    failure_rate = float(os.environ.get("LAB_API_FAILURE_RATE", "0.5"))
    if not 0.0 <= failure_rate <= 1.0:
        raise ValueError(f"LAB_API_FAILURE_RATE={failure_rate} must be between 0 and 1")
    return Settings(
        data_dir=data_dir,
        outbox_dir=Path(os.environ.get("OUTBOX_DIR") or data_dir / "outbox"),
        reports_dir=Path(os.environ.get("REPORTS_DIR") or data_dir / "reports"),
        tmp_dir=Path(os.environ.get("DEMO_TMP_DIR") or data_dir / "tmp"),
        smtp_url=os.environ.get("SMTP_URL") or None,
        mail_from=os.environ.get("MAIL_FROM", "Riverside Clinic <no-reply@riverside-clinic.example>"),
        base_url=(os.environ.get("BASE_URL") or f"http://127.0.0.1:{port}").rstrip("/"),
        queue_concurrency=env_int("QUEUE_CONCURRENCY", 5, minimum=1),
        reports_concurrency=env_int("REPORTS_CONCURRENCY", 2, minimum=1),
        sms_rate_limit=env_int("SMS_RATE_LIMIT", 20, minimum=1),
        lab_api_failure_rate=failure_rate,
        report_seconds_per_day=float(os.environ.get("REPORT_SECONDS_PER_DAY", "0.03")),
    )
