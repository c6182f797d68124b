"""Alerts that reach a person: webhooks (a generic JSON POST, or Slack-compatible) when a
queue turns unhealthy and when it recovers, and notices of jobs failed for good or
stalled.

What is watched, on every ``interval``:

* each problem of ``Board.health()`` (``jobboard.checks``: no consumer alive, backlog age,
  paused with a backlog, failure rate, Redis near or at maxmemory): one ``firing`` message
  when it appears, again every ``repeat`` seconds while it lasts, one ``resolved`` message
  when it is gone;
* jobs stalled and recovered (a consumer died), per queue, and, when ``failed_jobs`` is on,
  jobs failed for good per task: one ``notice`` at the first one, then at most one summary
  per ``repeat`` seconds counting the rest. Both come from the lifetime counters
  (``Queue.lifetime()``), so 200 failures cost one read, not 200 messages.

Exactly one process of the whole deployment evaluates and sends: the holder of a lease in
Redis (``<prefix>:alerts:lease``, renewed every interval, taken over by another process
within ``3 * interval`` when its holder dies). Dashboards (``JOBBOARD_ALERTS``) and
consumers (``RedisHuey(..., alerts={...})``) compete for the same lease, so it does not
matter which runs it or how many. The state of every condition lives in Redis too: a
takeover neither repeats nor forgets an alert. Nothing here runs in a task's hot path:
the evaluation is a background thread reading what the scripts already count.

Every message is rate-limited (``rate_limit`` per minute for the deployment; the excess
is dropped, counted and said in the next message), retried ``retries`` times with
exponential backoff on a network error, a 5xx or a 429, and recorded in a capped list
of deliveries that the dashboard's Alerts page shows.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import checks
from .errors import REDIS_OUTAGE, ConfigurationError
from .keys import alerts_key
from .version import __version__

if TYPE_CHECKING:
    from .board import Board

logger = logging.getLogger("jobboard.alerts")

FORMATS = ("json", "slack")
KINDS = ("firing", "resolved", "notice", "test")
#: Deliveries kept for the Alerts page.
DELIVERIES_KEPT = 200
USER_AGENT = f"jobboard/{__version__} (alerts)"

# Renew the lease only while it is still ours; take it if free. KEYS[1] lease key,
# ARGV: owner, ttl ms. Returns 1 when this owner holds it after the call.
_LEASE = """
local cur = redis.call('get', KEYS[1])
if cur == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
if not cur then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Webhook:
    """Where messages go: ``format`` "json" (jobboard's own payload) or "slack" (an
    incoming-webhook payload Slack, Mattermost and Rocket.Chat accept)."""

    url: str
    format: str = "json"
    name: str = ""

    @property
    def label(self) -> str:
        """The webhook as shown on the Alerts page: its name, else scheme and host only
        (a Slack webhook's path is its secret)."""
        parts = urlsplit(self.url)
        return self.name or f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}"


@dataclass(frozen=True)
class AlertSettings:
    """What to watch and where to send. Built by :meth:`from_config` from
    ``JOBBOARD_ALERTS`` or the ``alerts=`` option of ``RedisHuey``."""

    webhooks: tuple[Webhook, ...]
    interval: float = 15.0  # seconds between evaluations
    repeat: float = 3600.0  # a condition's messages are at least this far apart
    checks: tuple[str, ...] = tuple(checks.CHECKS)  # health rules that alert
    stalled: bool = True  # notices of stalled jobs
    failed_jobs: bool | tuple[str, ...] = False  # notices of jobs failed for good: all, or these tasks
    thresholds: Mapping[str, Any] | None = None  # health thresholds (jobboard.checks)
    rate_limit: int = 30  # messages per minute, deployment-wide
    retries: int = 3  # attempts per message and webhook, backoff doubling from `backoff`
    backoff: float = 1.0
    timeout: float = 5.0
    dashboard_url: str | None = None  # included in messages, for a link to the dashboard

    @classmethod
    def from_config(cls, value: Any) -> AlertSettings | None:
        """Settings from a dict (``{"webhooks": [url or {"url", "format", "name"}], ...}``
        with the fields of this class), an AlertSettings, or None/empty (alerts off).
        Raises ConfigurationError naming what is wrong."""
        if not value:
            return None
        if isinstance(value, AlertSettings):
            return value
        if not isinstance(value, Mapping):
            raise ConfigurationError("Alert settings must be a dict like {'webhooks': ['https://...']}.")
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(value) - known
        if unknown:
            raise ConfigurationError(f"Unknown alert settings: {', '.join(sorted(unknown))}. "
                                     f"Known: {', '.join(sorted(known))}.")
        hooks = value.get("webhooks") or ()
        if isinstance(hooks, (str, Mapping)):
            hooks = [hooks]
        webhooks = tuple(_webhook(h) for h in hooks)
        if not webhooks:
            raise ConfigurationError("Alerts need at least one webhook: {'webhooks': ['https://...']}.")
        opts = {k: v for k, v in value.items() if k != "webhooks"}
        for name in ("interval", "repeat", "backoff", "timeout"):
            if name in opts and not (_number(opts[name]) and float(opts[name]) > 0):
                raise ConfigurationError(f"Alert setting {name!r} is seconds above 0, not {opts[name]!r}.")
            if name in opts:
                opts[name] = float(opts[name])
        for name in ("rate_limit", "retries"):
            if name in opts and not (isinstance(opts[name], int) and not isinstance(opts[name], bool)
                                     and opts[name] >= 1):
                raise ConfigurationError(f"Alert setting {name!r} is a whole number >= 1, not {opts[name]!r}.")
        if "checks" in opts:
            wanted = tuple(opts["checks"])
            bad = [c for c in wanted if c not in checks.CHECKS]
            if bad:
                raise ConfigurationError(f"Unknown health checks {bad}; known: {', '.join(checks.CHECKS)}.")
            opts["checks"] = wanted
        if "failed_jobs" in opts and not isinstance(opts["failed_jobs"], bool):
            opts["failed_jobs"] = tuple(str(t) for t in opts["failed_jobs"])
        if opts.get("thresholds") is not None:
            checks.thresholds(opts["thresholds"])  # raises on a bad key or value
        return cls(webhooks=webhooks, **opts)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _webhook(value: Any) -> Webhook:
    if isinstance(value, Webhook):
        hook = value
    elif isinstance(value, str):
        hook = Webhook(value)
    elif isinstance(value, Mapping) and "url" in value:
        extra = set(value) - {"url", "format", "name"}
        if extra:
            raise ConfigurationError(f"A webhook takes url, format and name; not {', '.join(sorted(extra))}.")
        hook = Webhook(str(value["url"]), str(value.get("format") or "json"), str(value.get("name") or ""))
    else:
        raise ConfigurationError(f"A webhook is a URL or {{'url': ..., 'format': 'json'|'slack'}}, not {value!r}.")
    if urlsplit(hook.url).scheme not in ("http", "https") or not urlsplit(hook.url).hostname:
        raise ConfigurationError(f"Webhook URL must be http(s)://host/..., not {hook.url!r}.")
    if hook.format not in FORMATS:
        raise ConfigurationError(f"Webhook format must be one of {', '.join(FORMATS)}, not {hook.format!r}.")
    return hook


@dataclass
class Alert:
    """One message: a condition firing, resolved, a notice, or a test."""

    condition: str  # stable key, e.g. "failure_rate:emails", "failed:emails:app.send"
    kind: str  # one of KINDS
    check: str  # the health rule, or "failed_jobs" / "stalled" / "test"
    title: str
    text: str
    queue: str | None = None
    task: str | None = None
    count: int = 1
    at: float = field(default_factory=time.time)

    def payload(self, fmt: str, dashboard_url: str | None = None, suppressed: int = 0) -> dict[str, Any]:
        """The body POSTed to a webhook of format ``fmt``."""
        note = f" ({suppressed} earlier alert{'s' if suppressed != 1 else ''} dropped by the rate limit)" \
            if suppressed else ""
        if fmt == "slack":
            mark = {"firing": ":rotating_light:", "resolved": ":white_check_mark:",
                    "notice": ":warning:", "test": ":bell:"}[self.kind]
            link = f"\n<{dashboard_url}|Open the dashboard>" if dashboard_url else ""
            return {"text": f"{mark} *{self.title}*\n{self.text}{note}{link}"}
        return {"source": "jobboard", "version": __version__, "kind": self.kind,
                "condition": self.condition, "check": self.check, "queue": self.queue,
                "task": self.task, "title": self.title, "text": self.text + note,
                "count": self.count, "suppressed": suppressed,
                "at": dt.datetime.fromtimestamp(self.at, dt.timezone.utc).isoformat(timespec="seconds"),
                "dashboard_url": dashboard_url}


@dataclass
class Delivery:
    """One message to one webhook, as the Alerts page lists it."""

    at: float
    condition: str
    kind: str
    title: str
    webhook: str  # Webhook.label
    status: str  # "sent" | "failed" | "suppressed"
    attempts: int = 0
    http_status: int | None = None
    error: str = ""
    sender: str = ""


def deliveries(board: Board, limit: int = 50) -> list[Delivery]:
    """The last ``limit`` deliveries, newest first."""
    out = []
    for raw in board.redis.lrange(alerts_key(board.prefix, "deliveries"), 0, max(0, limit - 1)):
        try:
            out.append(Delivery(**json.loads(raw)))
        except (ValueError, TypeError):
            continue
    return out


def lease_holder(board: Board) -> str | None:
    """Which process sends alerts now (``host:pid:token``), or None."""
    raw = board.redis.get(alerts_key(board.prefix, "lease"))
    return raw.decode() if isinstance(raw, bytes) else raw


def post(hook: Webhook, body: dict[str, Any], settings: AlertSettings,
         sleep: Callable[[float], None] = time.sleep) -> tuple[int | None, int, str]:
    """POST ``body`` to ``hook``, retried with backoff on a network error, a 5xx or a
    429. Returns (last HTTP status or None, attempts, error text or "")."""
    data = json.dumps(body).encode()
    status: int | None = None
    error = ""
    for attempt in range(1, settings.retries + 1):
        req = urllib.request.Request(hook.url, data=data, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT})
        retry_after = None
        try:
            with urllib.request.urlopen(req, timeout=settings.timeout) as resp:  # noqa: S310 (http/https only)
                status = int(resp.status)
                return status, attempt, ""
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code} {exc.reason}"
            if exc.code != 429 and exc.code < 500:
                return status, attempt, error  # the receiver refused it: retrying won't help
            retry_after = exc.headers.get("Retry-After")
        except (OSError, ValueError) as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        if attempt < settings.retries:
            delay = settings.backoff * 2 ** (attempt - 1)
            if retry_after and retry_after.isdigit():
                delay = max(delay, min(float(retry_after), 60.0))
            sleep(delay)
    return status, settings.retries, error


class AlertManager:
    """Evaluates and sends alerts for one Board, while it holds the deployment's lease.

    ``tick()`` is one evaluation (tests call it directly); ``start()`` runs it every
    ``settings.interval`` in a daemon thread, restarted in a forked child by
    ``ensure_running()``."""

    def __init__(self, board: Board | Callable[[], Board], settings: AlertSettings,
                 owner: str | None = None) -> None:
        self._board = board
        self.settings = settings
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stop = threading.Event()
        self._failing = 0
        self._baseline = False

    @property
    def board(self) -> Board:
        return self._board if not callable(self._board) else self._board()

    def _key(self, part: str) -> str:
        return alerts_key(self.board.prefix, part)

    # The lease ---------------------------------------------------------------------------

    @property
    def lease_ms(self) -> int:
        # At least 5 s: a holder starved of CPU for a moment must not lose it to another.
        return int(max(3 * self.settings.interval, 5.0) * 1000)

    def holds_lease(self) -> bool:
        """Take or renew the lease; True while this manager is the deployment's sender."""
        return bool(self.board.redis.eval(_LEASE, 1, self._key("lease"), self.owner, self.lease_ms))

    def release(self) -> None:
        """Give the lease up (a clean stop), so another process takes over at once."""
        try:
            self.board.redis.eval(_RELEASE, 1, self._key("lease"), self.owner)
        except Exception:
            pass

    # Evaluation --------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> list[Delivery]:
        """One evaluation: nothing unless this process holds the lease; else the alerts
        due now, sent, and their deliveries."""
        if not self.holds_lease():
            return []
        alerts, changed = self._evaluate(now)
        if not self.holds_lease():
            return []  # lost the lease while evaluating (a stalled process): the new holder decides
        self._commit(changed)
        out: list[Delivery] = []
        for alert in alerts:
            out.extend(self.send(alert))
        return out

    def evaluate(self, now: float | None = None) -> list[Alert]:
        """The alerts due now, with the state of every condition updated in Redis."""
        alerts, changed = self._evaluate(now)
        self._commit(changed)
        return alerts

    def _commit(self, changed: Mapping[str, Mapping[str, Any]]) -> None:
        if not changed:
            return
        state_key = self._key("state")
        pipe = self.board.redis.pipeline(transaction=True)
        for cond, st in changed.items():
            if st:
                pipe.hset(state_key, cond, json.dumps(st))
            else:
                pipe.hdel(state_key, cond)
        pipe.execute()

    def _evaluate(self, now: float | None = None) -> tuple[list[Alert], dict[str, dict[str, Any]]]:
        now = time.time() if now is None else now
        board, s = self.board, self.settings
        state_key = self._key("state")
        state = {(k.decode() if isinstance(k, bytes) else str(k)): json.loads(v)
                 for k, v in board.redis.hgetall(state_key).items()}
        changed: dict[str, dict[str, Any]] = {}
        alerts: list[Alert] = []
        # Counters met before the first evaluation are a baseline (no alert about the
        # past); a task whose counters appear later counts from zero.
        self._baseline = "_init" not in state
        if self._baseline:
            changed["_init"] = {"type": "meta", "at": now}

        health = board.health(s.thresholds)
        current = {}
        for p in health.problems:
            if p.check in s.checks:
                current[f"{p.check}:{p.queue or 'redis'}"] = p
        for cond, p in current.items():
            st = state.get(cond) or {}
            where = f"queue {p.queue}" if p.queue else "Redis"
            title = f"{where}: {checks.CHECKS[p.check]}"
            if not st.get("firing"):
                alerts.append(Alert(cond, "firing", p.check, title, p.message, p.queue, at=now))
                changed[cond] = {"type": "health", "firing": True, "since": now, "sent": now}
            elif now - float(st.get("sent", 0)) >= s.repeat:
                since = int(now - float(st.get("since", now)))
                alerts.append(Alert(cond, "firing", p.check, title,
                                    f"{p.message} (for {since} s now)", p.queue, at=now))
                changed[cond] = {**st, "sent": now}
        for cond, st in state.items():
            if st.get("type") == "health" and st.get("firing") and cond not in current:
                check, _, queue = cond.partition(":")
                where = f"queue {queue}" if queue != "redis" else "Redis"
                lasted = int(now - float(st.get("since", now)))
                alerts.append(Alert(cond, "resolved", check, f"{where}: resolved",
                                    f"{checks.CHECKS.get(check, check)}: no longer (it lasted "
                                    f"{lasted} s)", None if queue == "redis" else queue, at=now))
                changed[cond] = {}

        for q in board.queues():
            if not (s.stalled or s.failed_jobs):
                break
            life = q.lifetime()
            if s.stalled:
                self._counter(alerts, changed, state, now, f"stalled:{q.name}", life.stalled,
                              functools.partial(self._stalled_alert, q.name, now=now))
            if s.failed_jobs:
                wanted = None if s.failed_jobs is True else set(s.failed_jobs or ())
                for task in life.tasks():
                    if wanted is not None and task not in wanted and task.rsplit(".", 1)[-1] not in wanted:
                        continue
                    self._counter(alerts, changed, state, now, f"failed:{q.name}:{task}",
                                  life.events(task)["failed"],
                                  functools.partial(self._failed_alert, q, task, now=now))
        return alerts, changed

    def _counter(self, alerts: list[Alert], changed: dict[str, dict[str, Any]],
                 state: Mapping[str, Any], now: float, cond: str, value: int,
                 make: Callable[[int], Alert]) -> None:
        """A notice condition on a monotonic counter: the first increase is sent at once,
        later ones add up until ``repeat`` has passed since the last message."""
        st = state.get(cond)
        if st is None:
            if self._baseline:  # the first evaluation: a baseline, not an alert about the past
                changed[cond] = {"type": "counter", "seen": value, "pending": 0, "sent": 0}
                return
            st = {"type": "counter", "seen": 0, "pending": 0, "sent": 0}
        seen, pending = int(st.get("seen", 0)), int(st.get("pending", 0))
        if value < seen:  # the counters were reset (flushed Redis): start again
            changed[cond] = {**st, "seen": value, "pending": 0}
            return
        pending += value - seen
        if pending and now - float(st.get("sent", 0)) >= self.settings.repeat:
            alerts.append(make(pending))
            changed[cond] = {**st, "seen": value, "pending": 0, "sent": now}
        elif value != seen:
            changed[cond] = {**st, "seen": value, "pending": pending}

    @staticmethod
    def _stalled_alert(queue: str, n: int, now: float) -> Alert:
        return Alert(f"stalled:{queue}", "notice", "stalled", f"queue {queue}: stalled jobs",
                     f"{n} job{'s' if n != 1 else ''} lost {'their' if n != 1 else 'its'} consumer "
                     "(lease lapsed) and went back to waiting: is something killing consumers?",
                     queue, count=n, at=now)

    @staticmethod
    def _failed_alert(q: Any, task: str, n: int, now: float) -> Alert:
        last = q.jobs("failed", limit=1, task=task).jobs
        detail = f" The last one, {last[0].id}, failed with: {last[0].error}" if last and last[0].error else ""
        short = task.rsplit(".", 1)[-1]
        return Alert(f"failed:{q.name}:{task}", "notice", "failed_jobs",
                     f"queue {q.name}: {short} failed",
                     f"{n} job{'s' if n != 1 else ''} of task {task} failed for good.{detail}",
                     q.name, task, count=n, at=now)

    # Sending -----------------------------------------------------------------------------

    def _allowed(self) -> tuple[bool, int]:
        """(within the deployment's rate limit?, messages dropped before this one)."""
        r = self.board.redis
        key = self._key(f"rate:{int(time.time() // 60)}")
        pipe = r.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, 120)
        n = int(pipe.execute()[0])
        if n > self.settings.rate_limit:
            r.incr(self._key("suppressed"))
            return False, 0
        raw = r.getdel(self._key("suppressed"))
        return True, int(raw or 0)

    def send(self, alert: Alert, rate_limited: bool = True) -> list[Delivery]:
        """Send one alert to every webhook; record and return the deliveries."""
        s = self.settings
        allowed, suppressed = self._allowed() if rate_limited else (True, 0)
        out = []
        for hook in s.webhooks:
            d = Delivery(at=time.time(), condition=alert.condition, kind=alert.kind,
                         title=alert.title, webhook=hook.label, status="suppressed", sender=self.owner)
            if allowed:
                status, attempts, error = post(hook, alert.payload(hook.format, s.dashboard_url, suppressed), s)
                ok = status is not None and 200 <= status < 300
                d.status, d.attempts, d.http_status, d.error = ("sent" if ok else "failed"), attempts, status, error
                if not ok:
                    logger.warning("jobboard alert %s to %s failed after %d attempts: %s",
                                   alert.condition, hook.label, attempts, error)
            out.append(d)
        self._record(out)
        return out

    def send_test(self, who: str) -> list[Delivery]:
        """A test message to every webhook now (the Alerts page's button), whoever holds
        the lease; not rate-limited, so the button always says whether delivery works."""
        return self.send(Alert("test", "test", "test", "jobboard test alert",
                               f"Sent from the dashboard by {who}. If you can read this, "
                               "jobboard's alerts reach you."), rate_limited=False)

    def _record(self, items: Iterable[Delivery]) -> None:
        rows = [json.dumps(asdict(d)) for d in items]
        if not rows:
            return
        key = self._key("deliveries")
        pipe = self.board.redis.pipeline(transaction=True)
        pipe.lpush(key, *rows)
        pipe.ltrim(key, 0, DELIVERIES_KEPT - 1)
        pipe.execute()

    # The thread --------------------------------------------------------------------------

    def ensure_running(self) -> None:
        """Start the evaluation thread in this process (again after a fork)."""
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="jobboard-alerts", daemon=True)
        self._thread.start()

    def stop(self, release: bool = True) -> None:
        """Stop the thread; give the lease up unless ``release`` is False."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.settings.timeout * self.settings.retries + 5)
        if release:
            self.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                if self._failing:
                    logger.warning("jobboard alerts: Redis is back after %d failed checks", self._failing)
                self._failing = 0
            except REDIS_OUTAGE as exc:
                self._failing += 1
                if self._failing == 1:
                    logger.warning("jobboard alerts: cannot read Redis (%s); retrying", exc)
            except Exception:
                logger.exception("jobboard alerts: evaluation failed")
            self._stop.wait(self.settings.interval)


def check_tracker_config(tracker: Any) -> None:
    """``RedisHuey(..., alerts=...)``: refuse bad settings when the Huey is created."""
    AlertSettings.from_config(getattr(tracker.config, "alerts", None))


def start_for_consumer(tracker: Any, consumer: Any) -> None:
    """The consumer-side hook (``RedisHuey(..., alerts={...})``): run an AlertManager in
    the consumer's main process, on a Board of its queue and every registered one; the
    consumer's stop stops it and gives the lease up."""
    settings = AlertSettings.from_config(getattr(tracker.config, "alerts", None))
    if settings is None:
        return
    from .board import Board

    manager = AlertManager(Board([tracker.huey]), settings)
    tracker.alert_manager = manager
    manager.ensure_running()
    if consumer is not None:
        stop = consumer.stop

        def stop_with_alerts(graceful: bool = False) -> None:
            stop(graceful=graceful)
            manager.stop()

        consumer.stop = stop_with_alerts
