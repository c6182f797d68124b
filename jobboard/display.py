"""Turn task arguments, results and errors into safe, bounded display text.

What is stored for display is never the value itself: it is JSON text of it, with the
values of sensitive keys redacted, unprintable characters escaped and the length capped
(``PAYLOAD_LIMIT`` per payload, configurable), so that a 10 MB argument or a password
never reaches Redis records, pages or logs. Each payload has a short preview for the list
views (``ARGS_LIMIT``); the whole JSON is stored beside it only when the preview is cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

DEFAULT_REDACT = ("password", "passwd", "secret", "token", "api_key", "apikey", "authorization",
                  "credential", "private_key", "ssn", "card_number")
REDACTED = "[redacted]"
#: Length of the list previews of arguments (the ``args`` / ``kw`` record fields): short
#: enough for the record to stay a listpack (compact.FIELD_BYTES, which also cuts by bytes).
ARGS_LIMIT = 60
#: Length of the preview of a result (``res``), likewise.
RESULT_LIMIT = 60
#: Default cap, in characters, of each payload stored whole with a job: its positional
#: arguments, its keyword arguments and its result (``RedisHuey(payload_limit=...)``).
PAYLOAD_LIMIT = 64 * 1024
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


def _json_value(value: Any, pattern: re.Pattern[str], limit: int, depth: int = 0) -> Any:
    """A JSON-ready copy of value: sensitive dict values redacted, strings cut at ``limit``
    characters (they could not fit anyway), containers bounded in depth and width, and
    what JSON has no type for (datetimes, bytes, objects) as its text."""
    kind = type(value)
    if kind is str:
        return value if len(value) <= limit else value[:limit]
    if value is None or kind in (int, bool):
        if kind is int and value.bit_length() > 14_000:
            try:
                str(value)
            except ValueError:  # more digits than sys.get_int_max_str_digits() allows
                return f"<int of {value.bit_length()} bits>"
        return value
    if kind is float:
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if depth > _MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= _MAX_WIDTH:
                out["…"] = f"{len(value) - _MAX_WIDTH} more"
                break
            key = k if isinstance(k, str) else safe_repr(k, 200, pattern)
            out[key] = REDACTED if pattern.search(key) else _json_value(v, pattern, limit, depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value) if not isinstance(value, (set, frozenset)) else sorted(value, key=repr)
        out_list = [_json_value(v, pattern, limit, depth + 1) for v in items[:_MAX_WIDTH]]
        if len(items) > _MAX_WIDTH:
            out_list.append(f"… {len(items) - _MAX_WIDTH} more")
        return out_list
    if isinstance(value, (int, float)):  # bool/int/float subclasses (IntEnum...): their value
        return _json_value(int(value) if isinstance(value, int) else float(value), pattern, limit)
    if hasattr(value, "isoformat"):
        try:
            return str(value.isoformat())[:limit]
        except Exception:
            pass
    return safe_repr(value, min(limit, 2000), pattern)


_MAX_DEPTH = 20
_MAX_WIDTH = 5000
# One encoder for stored payloads: UTF-8 kept as is (Redis and cjson pass it through),
# readable separators (the list views show this text), NaN never produced (see above).
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def payload_text(value: Any, limit: int = PAYLOAD_LIMIT,
                 pattern: re.Pattern[str] | None = None) -> str:
    """``value`` as JSON text (redacted, printable), at most ``limit`` characters.

    Text longer than that is cut and ends with ``…``: it is then no longer valid JSON,
    which is how a reader tells a cut payload from a whole one."""
    try:
        text = _encode(_json_value(value, pattern or _DEFAULT_PATTERN, limit))
    except Exception as exc:  # a user __iter__ / __str__ / isoformat may raise anything
        text = _encode(f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>")
    if _UNPRINTABLE.search(text):
        text = escape_unprintable(text)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def escape_unprintable(text: str) -> str:
    """Unprintable characters of JSON text as ``\\uXXXX`` escapes (valid JSON: they can
    only be inside strings, where an escape means the same character)."""
    return _UNPRINTABLE.sub(lambda m: "\\u%04x" % ord(m.group()), text)


def _split(full: str, inner: bool, limit: int) -> tuple[str, str]:
    """(preview, full): the preview is the JSON without its outer brackets when ``inner``
    (``"a", 1`` for ``["a", 1]``); ``full`` is kept only when the preview does not hold it
    all, so a small payload is stored once."""
    body = full[1:-1] if inner and full[:1] in "[{" and full[-1:] in "]}" else full
    if len(body) <= limit and not full.endswith("…"):
        return body, ""
    return body[: max(0, limit - 1)] + "…", full


def args_fields(args: Any, limit: int = PAYLOAD_LIMIT,
                pattern: re.Pattern[str] | None = None) -> tuple[str, str]:
    """(preview, full JSON) of positional arguments: ``'"a", 1'`` and ``''`` (the preview
    says it all), or a preview cut at ARGS_LIMIT and the whole ``["a", ...]`` up to
    ``limit`` characters. Huey accepts anything as args: a non-sequence is shown as itself."""
    if not args and args != 0:
        return "", ""
    if isinstance(args, (tuple, list)):
        if all(type(a) in _PLAIN and (type(a) is not str or len(a) <= limit) for a in args):
            # The producer's hot path: numbers and short strings need no redaction (it
            # applies to dict keys), so the C encoder takes them as they are.
            try:
                text = _encode(list(args))
            except ValueError:  # NaN / infinity
                text = payload_text(list(args), limit, pattern)
            else:
                if _UNPRINTABLE.search(text):
                    text = escape_unprintable(text)
                if len(text) > limit:
                    text = text[: max(0, limit - 1)] + "…"
            return _split(text, True, ARGS_LIMIT)
        return _split(payload_text(list(args), limit, pattern), True, ARGS_LIMIT)
    return _split(payload_text(args, limit, pattern), False, ARGS_LIMIT)


#: Keyword arguments that tracing integrations add to a Huey message and take out again
#: before the task runs (sentry_sdk's Huey integration: its trace headers). Not the
#: task's arguments: not shown, not searched.
CARRIER_KWARGS = frozenset({"sentry_headers"})


def kwargs_fields(kwargs: Any, limit: int = PAYLOAD_LIMIT,
                  pattern: re.Pattern[str] | None = None) -> tuple[str, str]:
    """(preview, full JSON) of keyword arguments: ``'"to": "a@b", "n": 1'`` and ``''``,
    or a cut preview and the whole ``{...}`` (see args_fields)."""
    if isinstance(kwargs, dict) and not CARRIER_KWARGS.isdisjoint(kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k not in CARRIER_KWARGS}
    if not kwargs:
        return "", ""
    return _split(payload_text(kwargs, limit, pattern), isinstance(kwargs, dict), ARGS_LIMIT)


def result_fields(value: Any, limit: int = PAYLOAD_LIMIT,
                  pattern: re.Pattern[str] | None = None) -> tuple[str, str]:
    """(preview, full JSON) of a task's return value (see args_fields); ``('', '')`` for None."""
    if value is None:
        return "", ""
    return _split(payload_text(value, limit, pattern), False, RESULT_LIMIT)


def whole_payload(preview: str, full: str | None, brackets: str = "") -> str:
    """The stored payload as JSON text again: ``full`` when it was kept, else the preview
    with its ``brackets`` (``"[]"`` for args, ``"{}"`` for kwargs) put back. Records
    written before payloads were JSON hold Python repr text: that comes back as it is."""
    if full:
        return full
    if not preview or not brackets or preview.endswith("…"):
        return preview
    candidate = brackets[0] + preview + brackets[1]
    try:
        json.loads(candidate)
    except ValueError:
        return preview
    return candidate


def pretty_json(text: str) -> tuple[str, bool]:
    """(display text, is_json): ``text`` indented two spaces when it is JSON, else as is."""
    try:
        value = json.loads(text)
    except ValueError:
        return text, False
    return escape_unprintable(json.dumps(value, indent=2, ensure_ascii=False)), True


def args_text(args: Any, pattern: re.Pattern[str] | None = None) -> str:
    """The list preview of positional arguments (see args_fields)."""
    return args_fields(args, PAYLOAD_LIMIT, pattern)[0]


def kwargs_text(kwargs: Any, pattern: re.Pattern[str] | None = None) -> str:
    """The list preview of keyword arguments (see kwargs_fields)."""
    return kwargs_fields(kwargs, PAYLOAD_LIMIT, pattern)[0]


def error_summary(exc: BaseException) -> str:
    """``ValueError: message``, capped."""
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable message>"
    name = type(exc).__name__
    return clean_text(f"{name}: {message}" if message else name, ERROR_LIMIT)
