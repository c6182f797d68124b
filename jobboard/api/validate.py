"""Checks of what clients send, done before anything reaches the core.

Query parameters that are wrong are a 400 (``invalid_parameter``); JSON bodies that parse
but do not have the documented shape are a 422 (``validation_error``), with every problem
listed in ``details.errors`` so a client can fix them all at once.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..primitives import DURATION_PATTERN, PRIORITY_LIMIT, parse_duration
from ..records import FINISHED_STATES, STATES
from .errors import ApiError

__all__ = ["DURATION_PATTERN", "parse_duration"]  # re-exported for the OpenAPI document

#: Most jobs per API page (below the core's MAX_PAGE_SIZE: JSON pages stay small).
MAX_PER_PAGE = 100
MAX_ID_LENGTH = 128
MAX_TEXT = 200
MAX_SECONDS = 10 * 365 * 86400.0  # ten years: beyond that a delay is a typo
#: Job ids a client may choose: printable, no whitespace, no path separators.
#: ("bulk" is taken by POST .../jobs/bulk.)
ID_PATTERN = re.compile(r"^(?!bulk$)[A-Za-z0-9._:@+=-]{1,128}$")

SUBMIT_FIELDS = ("task", "args", "kwargs", "priority", "delay", "eta", "retries",
                 "retry_delay", "retry_backoff", "expires", "id")


def bad_param(name: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"Query parameter {name!r}: {message}",
                    {"parameter": name})


def query_int(args: Any, name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_param(name, f"expected an integer, got {raw!r}.") from None
    if not low <= value <= high:
        raise bad_param(name, f"must be between {low} and {high}.")
    return value


def query_number(args: Any, name: str, low: float, high: float) -> float | None:
    """A finite number query parameter between ``low`` and ``high``, or None when absent."""
    raw = args.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise bad_param(name, f"expected a number, got {raw[:40]!r}.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise bad_param(name, f"must be between {low:g} and {high:g}.")
    return value


def query_choice(args: Any, name: str, choices: tuple[str, ...], default: str) -> str:
    raw = args.get(name)
    if raw is None:
        return default
    if raw not in choices:
        raise bad_param(name, f"must be one of {', '.join(choices)}.")
    return str(raw)


def query_text(args: Any, name: str) -> str | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_TEXT:
        raise bad_param(name, f"at most {MAX_TEXT} characters.")
    return str(raw)


@dataclass
class Problems:
    """Collects validation problems so a client sees all of them in one answer."""

    errors: list[dict[str, Any]] = field(default_factory=list)
    prefix: str = ""

    def add(self, path: str, message: str) -> None:
        self.errors.append({"field": f"{self.prefix}{path}", "message": message})

    def raise_if_any(self, message: str = "The request body does not have the expected shape.") -> None:
        if self.errors:
            raise ApiError(422, "validation_error", message, {"errors": self.errors})


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _integer(v: Any) -> Any:
    """``3.0`` -> ``3``: JSON Schema counts a float with no fraction as an integer."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v))


def _seconds(p: Problems, body: dict[str, Any], name: str, low: float = 0.0) -> float | None:
    v = body.get(name)
    if v is None:
        return None
    if not _is_number(v) or not low <= v <= MAX_SECONDS:
        p.add(name, f"must be a number of seconds between {low:g} and {MAX_SECONDS:g}.")
        return None
    return float(v)


#: The latest eta accepted (late 9999): later ones would overflow datetime in the core.
MAX_ETA = 253402214400.0
_LEAP_SECOND = re.compile(r"([Tt ]\d\d:\d\d):60")


def _eta(p: Problems, value: Any) -> float | None:
    """An eta as a Unix time (what ``Queue.enqueue`` takes).

    A number is a Unix time; a string is an RFC 3339 / ISO 8601 date-time (naive = UTC, a
    leap second counts as :59). Times in the past mean "now"; they are kept as given.
    """
    if value is None:
        return None
    ts: float | None = None
    if _is_number(value):
        ts = float(value)
    elif isinstance(value, str) and len(value) <= 64:
        text = _LEAP_SECOND.sub(r"\1:59", value.strip()).upper().replace("Z", "+00:00")
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.timezone.utc)  # naive means UTC, documented
            try:
                ts = when.timestamp()
            except (OverflowError, ValueError):
                ts = None
    if ts is None:
        p.add("eta", "must be a Unix timestamp or an ISO 8601 date-time.")
        return None
    # Clamp rather than refuse: a far past eta is "now", a far future one is "never".
    return min(max(ts, 0.0), MAX_ETA)


@dataclass
class Submission:
    """One checked job submission, ready for ``Queue.enqueue``."""

    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    options: dict[str, Any]
    job_id: str | None


def submission(body: Any, problems: Problems) -> Submission | None:
    """Check the shape of one submission body; None (with problems added) when wrong."""
    if not isinstance(body, dict):
        problems.add("", "must be a JSON object.")
        return None
    before = len(problems.errors)
    for key in body:
        if key not in SUBMIT_FIELDS:
            problems.add(str(key)[:MAX_TEXT], f"unknown field; known fields are {', '.join(SUBMIT_FIELDS)}.")
    task = body.get("task")
    if not isinstance(task, str) or not task.strip() or len(task) > MAX_TEXT:
        problems.add("task", f"required: the task name, a string of 1 to {MAX_TEXT} characters.")
    args = body.get("args", [])
    if not isinstance(args, list):
        problems.add("args", "must be an array of positional arguments.")
    kwargs = body.get("kwargs", {})
    if not isinstance(kwargs, dict):
        problems.add("kwargs", "must be an object of keyword arguments.")
    priority = _integer(body.get("priority"))
    if priority is not None and (not _is_int(priority) or abs(priority) > PRIORITY_LIMIT):
        problems.add("priority", f"must be an integer between {-PRIORITY_LIMIT} and "
                                 f"{PRIORITY_LIMIT} (higher runs first).")
    if body.get("delay") is not None and body.get("eta") is not None:
        problems.add("eta", "give either delay or eta, not both.")
    delay = _seconds(problems, body, "delay")
    eta = _eta(problems, body.get("eta"))
    retries = _integer(body.get("retries"))
    if retries is not None and (not _is_int(retries) or not 0 <= retries <= 1000):
        problems.add("retries", "must be an integer between 0 and 1000.")
    retry_delay = _seconds(problems, body, "retry_delay")
    retry_backoff = body.get("retry_backoff")
    if retry_backoff is not None and (not _is_number(retry_backoff) or not 0 <= retry_backoff <= 100):
        problems.add("retry_backoff", "must be a number between 0 and 100 (a delay multiplier).")
    expires = _seconds(problems, body, "expires")
    job_id = body.get("id")
    if job_id is not None and (not isinstance(job_id, str) or not ID_PATTERN.fullmatch(job_id)):
        problems.add("id", "must be 1 to 128 characters of letters, digits and . _ : @ + = - "
                            "(and not 'bulk').")
    if len(problems.errors) > before:
        return None
    options = {"priority": priority, "delay": delay, "eta": eta, "retries": retries,
               "retry_delay": retry_delay, "retry_backoff": retry_backoff, "expires": expires}
    assert isinstance(task, str)  # checked above: a problem was added otherwise
    return Submission(task=task.strip(), args=list(args), kwargs=dict(kwargs),
                      options=options, job_id=job_id)


def state_filter(body: dict[str, Any], problems: Problems, default: str) -> str:
    state = body.get("state", default)
    if state is None:
        state = default
    if state not in STATES:
        problems.add("state", f"must be one of {', '.join(STATES)}.")
    return str(state)


def finished_state(body: dict[str, Any], problems: Problems) -> str:
    state = body.get("state")
    if state not in FINISHED_STATES:
        problems.add("state", f"required: one of the finished states {', '.join(FINISHED_STATES)}.")
    return state  # type: ignore[return-value]


def optional_text(body: dict[str, Any], name: str, problems: Problems) -> str | None:
    v = body.get(name)
    if v is None or v == "":
        return None
    if not isinstance(v, str) or len(v) > MAX_TEXT:
        problems.add(name, f"must be a string of at most {MAX_TEXT} characters.")
        return None
    return v


def only_fields(body: dict[str, Any], allowed: tuple[str, ...], problems: Problems) -> None:
    for key in body:
        if key not in allowed:
            problems.add(str(key)[:MAX_TEXT], f"unknown field; known fields are {', '.join(allowed)}.")
