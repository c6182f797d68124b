"""Turn task arguments, results and errors into safe, bounded display text.

What is stored for display is never the value itself: it is a ``repr``-like text, with the
values of sensitive keys redacted, unprintable characters escaped and the length capped, so
that a 10 MB argument or a password never reaches Redis records, pages or logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

DEFAULT_REDACT = ("password", "passwd", "secret", "token", "api_key", "apikey", "authorization",
                  "credential", "private_key", "ssn", "card_number")
REDACTED = "[redacted]"
ARGS_LIMIT = 300
RESULT_LIMIT = 500
ERROR_LIMIT = 500
TRACEBACK_LIMIT = 20_000
LOG_LIMIT = 2_000

# Types whose repr is already printable and bounded by the value (short strings aside,
# whose length args_text checks).
_PLAIN = frozenset((int, float, bool, type(None), str))

_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def redact_pattern(keys: Iterable[str]) -> re.Pattern[str]:
    """A case-insensitive pattern matching any key that contains one of ``keys``."""
    return re.compile("|".join(re.escape(k) for k in keys) or r"(?!)", re.IGNORECASE)


_DEFAULT_PATTERN = redact_pattern(DEFAULT_REDACT)


def clean_text(text: str, limit: int) -> str:
    """Escape unprintable characters and cap the length (an ellipsis marks a cut)."""
    text = _UNPRINTABLE.sub(lambda m: "\\x%02x" % ord(m.group()) if ord(m.group()) < 256
                            else "\\u%04x" % ord(m.group()), text)
    if len(text) > limit:
        return text[: max(0, limit - 1)] + "…"
    return text


def _redacted(value: Any, pattern: re.Pattern[str], depth: int = 0) -> Any:
    """A copy of value with sensitive dict values replaced; bounded in depth and width."""
    if depth > 6:
        return "…"
    if isinstance(value, dict):
        out = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= 50:
                out["…"] = f"{len(value) - 50} more"
                break
            out[k] = REDACTED if isinstance(k, str) and pattern.search(k) else _redacted(v, pattern, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        items = [_redacted(v, pattern, depth + 1) for v in list(value[:50])]
        if len(value) > 50:
            items.append(f"… {len(value) - 50} more")
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, (str, bytes)) and len(value) > 2000:
        return value[:2000]
    return value


def safe_repr(value: Any, limit: int, pattern: re.Pattern[str] | None = None) -> str:
    """``repr`` of value, redacted and capped; never raises."""
    try:
        text = repr(_redacted(value, pattern or _DEFAULT_PATTERN))
    except Exception as exc:  # a user __repr__ may raise anything
        text = f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
    return clean_text(text, limit)


def args_text(args: tuple[Any, ...] | list[Any] | None, pattern: re.Pattern[str] | None = None) -> str:
    """Positional arguments as ``'a', 1`` (no surrounding parentheses)."""
    if not args:
        return ""
    if not isinstance(args, (tuple, list)):
        # Huey accepts anything as args (``task.schedule(3, delay=60)``): show what it is.
        return clean_text(safe_repr(args, ARGS_LIMIT, pattern), ARGS_LIMIT)
    if all(type(a) in _PLAIN and (type(a) is not str or len(a) <= ARGS_LIMIT) for a in args):
        # The common case, on the producer's hot path: numbers and short strings need no
        # redaction (it applies to dict keys) and their repr is printable, so the general
        # path would give this same text.
        try:
            text = ", ".join(map(repr, args))
        except ValueError:  # an int beyond sys.get_int_max_str_digits()
            text = ""
        if text and len(text) <= ARGS_LIMIT:
            return text
    return _args_text_general(args, pattern)


def _args_text_general(args: tuple[Any, ...] | list[Any], pattern: re.Pattern[str] | None) -> str:
    text = safe_repr(tuple(args), ARGS_LIMIT + 2, pattern)
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
        if text.endswith(","):
            text = text[:-1]
    elif text.startswith("("):
        text = text[1:]
    return clean_text(text, ARGS_LIMIT)


#: Keyword arguments that tracing integrations add to a Huey message and take out again
#: before the task runs (sentry_sdk's Huey integration: its trace headers). Not the
#: task's arguments: not shown, not searched.
CARRIER_KWARGS = frozenset({"sentry_headers"})


def kwargs_text(kwargs: dict[str, Any] | None, pattern: re.Pattern[str] | None = None) -> str:
    """Keyword arguments as ``to='a@b', n=1``."""
    if not kwargs:
        return ""
    if not isinstance(kwargs, dict):
        return clean_text(safe_repr(kwargs, ARGS_LIMIT, pattern), ARGS_LIMIT)
    if not CARRIER_KWARGS.isdisjoint(kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k not in CARRIER_KWARGS}
    redacted = _redacted(kwargs, pattern or _DEFAULT_PATTERN)
    parts = []
    for k, v in redacted.items():
        try:
            parts.append(f"{k}={v!r}")
        except Exception:
            parts.append(f"{k}=<unrepresentable>")
        if sum(len(x) for x in parts) > ARGS_LIMIT:
            break
    return clean_text(", ".join(parts), ARGS_LIMIT)


def error_summary(exc: BaseException) -> str:
    """``ValueError: message``, capped."""
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable message>"
    name = type(exc).__name__
    return clean_text(f"{name}: {message}" if message else name, ERROR_LIMIT)
