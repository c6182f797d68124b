"""Validation of the producer helpers' payloads.

A bad payload is refused in the web request that builds it, with a message naming the
field, instead of becoming a job that fails on the consumer minutes later. Valid payloads
are normalised to JSON-safe values (dates as ISO strings), so that what jobboard shows and
what a retry re-enqueues is exactly what the task receives.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

EMAIL_TEMPLATES: tuple[str, ...] = (
    "appointment-confirmation",
    "appointment-reminder",
    "medication-reminder",
    "report-ready",
    "export-ready",
    "follow-up",
    "notification",
)
REPORT_TYPES: tuple[str, ...] = ("financial", "appointments")
REPORT_FORMATS: tuple[str, ...] = ("csv",)
REMINDER_TYPES: tuple[str, ...] = ("appointment", "medication")
REMINDER_CHANNELS: tuple[str, ...] = ("email", "sms", "both")
RECIPIENT_TYPES: tuple[str, ...] = ("client", "patient", "staff")
NOTIFICATION_CHANNELS: tuple[str, ...] = ("push", "in_app", "email")
EXPORT_TYPES: tuple[str, ...] = ("patients", "appointments", "invoices")
EXPORT_FORMATS: tuple[str, ...] = ("csv", "json")

MAX_REPORT_DAYS = 366
MAX_MESSAGE_CHARS = 480  # three SMS segments
MAX_BULK = 1000

# Deliberately simple: one "@", a dot in the domain, no spaces. The mail relay is the
# real judge; this only catches typos and swapped fields.
_EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[A-Za-z0-9-]{2,}$")
_PHONE_RE = re.compile(r"^\+[1-9]\d{6,14}$")  # E.164
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class InvalidPayload(ValueError):
    """A producer helper was given a payload it cannot queue. ``field`` names the culprit."""

    def __init__(self, kind: str, field: str, problem: str) -> None:
        super().__init__(f"Invalid {kind} payload: {field}: {problem}")
        self.kind = kind
        self.field = field
        self.problem = problem


class _Checker:
    """Reads fields of one payload, raising :class:`InvalidPayload` with the field name."""

    def __init__(self, kind: str, payload: Any) -> None:
        if not isinstance(payload, Mapping):
            raise InvalidPayload(kind, "payload", f"expected a dict, got {type(payload).__name__}")
        self.kind = kind
        self.payload = payload

    def fail(self, field: str, problem: str) -> InvalidPayload:
        return InvalidPayload(self.kind, field, problem)

    def text(self, field: str, *, required: bool = True, max_len: int = 200,
             pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
        value = self.payload.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.fail(field, "is required")
            return None
        if not isinstance(value, str):
            raise self.fail(field, f"must be a string, got {type(value).__name__}")
        value = value.strip()
        if len(value) > max_len:
            raise self.fail(field, f"is {len(value)} characters long; the limit is {max_len}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(field, f"{value!r} is not {what or 'valid'}")
        return value

    def choice(self, field: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.payload.get(field, default)
        if value is None:
            raise self.fail(field, f"is required (one of {', '.join(choices)})")
        if value not in choices:
            raise self.fail(field, f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    def priority(self, default: int = 5) -> int:
        value = self.payload.get("priority", default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
            raise self.fail("priority", f"{value!r} must be an integer from 1 to 10 "
                            "(10 runs first)")
        return value

    def email(self, field: str, *, required: bool = True) -> str | None:
        return self.text(field, required=required, max_len=254, pattern=_EMAIL_RE,
                         what="an email address")

    def phone(self, field: str, *, required: bool = True) -> str | None:
        return self.text(field, required=required, max_len=16, pattern=_PHONE_RE,
                         what="a phone number in E.164 form like +15551234567")

    def identifier(self, field: str, *, required: bool = True) -> str | None:
        return self.text(field, required=required, max_len=64, pattern=_ID_RE,
                         what="an id (letters, digits, _ . : -)")


def _json_safe(kind: str, field: str, value: Any, depth: int = 0) -> Any:
    """Check that a template context holds only JSON values (dates become ISO strings)."""
    if depth > 4:
        raise InvalidPayload(kind, field, "is nested too deeply")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_safe(kind, f"{field}.{k}", v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(kind, f"{field}[{i}]", v, depth + 1) for i, v in enumerate(value)]
    raise InvalidPayload(kind, field, f"holds a {type(value).__name__}, which cannot be queued")


def parse_date(kind: str, field: str, value: Any) -> dt.date:
    """A date from a ``date``, a ``datetime`` or an ISO ``YYYY-MM-DD`` string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise InvalidPayload(kind, field, f"{value!r} is not a date (YYYY-MM-DD)")


def parse_datetime(kind: str, field: str, value: Any) -> dt.datetime:
    """An aware UTC datetime from a datetime (naive means UTC) or an ISO 8601 string."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidPayload(kind, field, f"{value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, dt.datetime):
        raise InvalidPayload(kind, field, f"{value!r} is not a date-time")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def email_payload(payload: Any) -> dict[str, Any]:
    """Validate a ``send_email`` payload: to, subject, template, context, priority."""
    c = _Checker("email", payload)
    context = payload.get("context") or {}
    if not isinstance(context, Mapping):
        raise c.fail("context", "must be a dict of template variables")
    return {
        "to": c.email("to"),
        "subject": c.text("subject", max_len=200),
        "template": c.choice("template", EMAIL_TEMPLATES),
        "context": _json_safe("email", "context", dict(context)),
        "priority": c.priority(),
    }


def report_payload(payload: Any) -> dict[str, Any]:
    """Validate a ``generate_report`` payload: type, format, date range, requester, email."""
    c = _Checker("report", payload)
    fmt = payload.get("format", "csv")
    if fmt not in REPORT_FORMATS:
        raise c.fail("format", f"{fmt!r} is not supported; the demo writes csv reports")
    date_range = payload.get("date_range")
    if not isinstance(date_range, Mapping):
        raise c.fail("date_range", "is required: {'start': 'YYYY-MM-DD', 'end': 'YYYY-MM-DD'}")
    start = parse_date("report", "date_range.start", date_range.get("start"))
    end = parse_date("report", "date_range.end", date_range.get("end"))
    if end < start:
        raise c.fail("date_range", f"ends ({end}) before it starts ({start})")
    if (end - start).days + 1 > MAX_REPORT_DAYS:
        raise c.fail("date_range", f"spans {(end - start).days + 1} days; the limit is "
                     f"{MAX_REPORT_DAYS} (split it into yearly reports)")
    return {
        "report_type": c.choice("report_type", REPORT_TYPES),
        "format": fmt,
        "date_range": {"start": start.isoformat(), "end": end.isoformat()},
        "requested_by": c.identifier("requested_by"),
        "email": c.email("email", required=False),
    }


def reminder_payload(payload: Any, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Validate a ``send_reminder`` payload; the channel decides which contacts are required."""
    c = _Checker("reminder", payload)
    channel = c.choice("channel", REMINDER_CHANNELS)
    result: dict[str, Any] = {
        "type": c.choice("type", REMINDER_TYPES),
        "recipient_type": c.choice("recipient_type", RECIPIENT_TYPES, default="client"),
        "recipient_id": c.identifier("recipient_id"),
        "recipient_email": c.email("recipient_email", required=channel in ("email", "both")),
        "recipient_phone": c.phone("recipient_phone", required=channel in ("sms", "both")),
        "channel": channel,
        "message": c.text("message", max_len=MAX_MESSAGE_CHARS),
        "appointment_id": c.identifier("appointment_id", required=False),
        "scheduled_for": None,
    }
    if payload.get("scheduled_for") is not None:
        when = parse_datetime("reminder", "scheduled_for", payload["scheduled_for"])
        now = now or dt.datetime.now(dt.timezone.utc)
        if when < now - dt.timedelta(days=1):
            raise c.fail("scheduled_for", f"{when.isoformat()} is more than a day in the past")
        result["scheduled_for"] = when.isoformat()
    return result


def bulk_reminder_payloads(payloads: Any) -> list[dict[str, Any]]:
    """Validate every reminder first, so a bad one in the middle queues none of them."""
    return _bulk("reminder", reminder_payload, payloads)


def bulk_notification_payloads(payloads: Any) -> list[dict[str, Any]]:
    """Validate every notification first, so a bad one queues none of them."""
    return _bulk("notification", notification_payload, payloads)


def _bulk(kind: str, check: Any, payloads: Any) -> list[dict[str, Any]]:
    if isinstance(payloads, (str, bytes, Mapping)) or not isinstance(payloads, Iterable):
        raise InvalidPayload(kind, "payloads", f"expected a list of {kind} dicts")
    items = list(payloads)
    if not items:
        raise InvalidPayload(kind, "payloads", "is empty")
    if len(items) > MAX_BULK:
        raise InvalidPayload(kind, "payloads", f"has {len(items)} items; the limit is "
                             f"{MAX_BULK} per call")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(check(item))
        except InvalidPayload as exc:
            raise InvalidPayload(kind, f"[{i}].{exc.field}", exc.problem) from None
    return out


def notification_payload(payload: Any) -> dict[str, Any]:
    """Validate a ``send_notification`` payload: channels among push, in_app, email."""
    c = _Checker("notification", payload)
    channels = payload.get("channels", ["in_app"])
    if isinstance(channels, str) or not isinstance(channels, (list, tuple)) or not channels:
        raise c.fail("channels", f"must be a non-empty list of {', '.join(NOTIFICATION_CHANNELS)}")
    for channel in channels:
        if channel not in NOTIFICATION_CHANNELS:
            raise c.fail("channels", f"{channel!r} is not one of {', '.join(NOTIFICATION_CHANNELS)}")
    action_url = c.text("action_url", required=False, max_len=500)
    if action_url and not (action_url.startswith("/") or action_url.startswith("https://")):
        raise c.fail("action_url", "must be a path (/...) or an https:// URL")
    return {
        "type": c.identifier("type"),
        "recipient_id": c.identifier("recipient_id"),
        "recipient_type": c.choice("recipient_type", RECIPIENT_TYPES, default="client"),
        "recipient_email": c.email("recipient_email", required="email" in channels),
        "title": c.text("title", max_len=120),
        "message": c.text("message", max_len=MAX_MESSAGE_CHARS),
        "action_url": action_url,
        "channels": sorted(set(channels), key=NOTIFICATION_CHANNELS.index),
        "priority": c.priority(),
    }


def export_payload(payload: Any) -> dict[str, Any]:
    """Validate an ``export_data`` payload: what to export, in which format, for whom."""
    c = _Checker("export", payload)
    return {
        "export_type": c.choice("export_type", EXPORT_TYPES),
        "format": c.choice("format", EXPORT_FORMATS, default="csv"),
        "requested_by": c.identifier("requested_by"),
        "email": c.email("email", required=False),
    }
