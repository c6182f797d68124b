"""Arguments as an editor shows them: JSON, with sensitive values masked.

An operator edits a failed job's arguments as JSON (``Queue.editable`` /
``Queue.edit_and_retry``). Values under keys that the queue redacts (``password``,
``token``... see :mod:`jobboard.display`) are shown as :data:`MASK` and never sent to the
browser; a :data:`MASK` left where it was is put back to the original value on save, and
one anywhere else is refused, so the editor cannot be used to read a secret back or to
copy it somewhere it was not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from .errors import InvalidArgument

#: What a redacted value looks like in the editor (a string no real value should be).
MASK = "[redacted: kept unless you change it]"
#: Largest arguments document the editor accepts (bytes of JSON).
MAX_JSON = 64 * 1024

Path = tuple[Any, ...]


def to_json(value: Any, where: str = "args") -> Any:
    """``value`` as JSON types (tuples become arrays); InvalidArgument naming the first
    value JSON cannot hold, so the page can say why a job cannot be edited."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidArgument(f"{where} has a non-string key {k!r}: JSON cannot hold it.")
            out[k] = to_json(v, f"{where}.{k}")
        return out
    raise InvalidArgument(f"{where} is a {type(value).__name__}, which JSON cannot hold: this "
                          "job's arguments cannot be edited here (retry it as it is instead).")


def _walk(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, (*path, i))


def mask(value: Any, pattern: re.Pattern[str]) -> tuple[Any, set[Path]]:
    """A copy of JSON ``value`` with every value under a sensitive key replaced by MASK,
    and the paths that were masked."""
    masked: set[Path] = set()

    def go(v: Any, path: Path) -> Any:
        if isinstance(v, dict):
            out = {}
            for k, item in v.items():
                if pattern.search(k):
                    out[k] = MASK
                    masked.add((*path, k))
                else:
                    out[k] = go(item, (*path, k))
            return out
        if isinstance(v, list):
            return [go(item, (*path, i)) for i, item in enumerate(v)]
        return v

    return go(value, ()), masked


def _get(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def unmask(edited: Any, original: Any, pattern: re.Pattern[str]) -> Any:
    """``edited`` with each MASK that sits where the original had a masked value put back
    to that value; InvalidArgument for a MASK anywhere else."""
    _, masked = mask(original, pattern)

    def go(v: Any, path: Path) -> Any:
        if isinstance(v, str) and v == MASK:
            if path not in masked:
                where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) or "the value"
                raise InvalidArgument(
                    f"{where.lstrip('.')} holds the redacted placeholder, but no redacted value "
                    "was there: type the value itself.")
            return _get(original, path)
        if isinstance(v, dict):
            return {k: go(item, (*path, k)) for k, item in v.items()}
        if isinstance(v, list):
            return [go(item, (*path, i)) for i, item in enumerate(v)]
        return v

    return go(edited, ())


class FieldError(InvalidArgument):
    """An editor field that is not what it must be. ``reason`` says which way, for an
    adapter that words it itself (the pages, in the viewer's language): ``too_large``,
    ``not_json`` (``detail``: the parser's message) or ``wrong_kind``."""

    def __init__(self, message: str, name: str, reason: str, detail: str = "") -> None:
        super().__init__(message)
        self.name, self.reason, self.detail = name, reason, detail


def parse(text: str, kind: type, name: str) -> Any:
    """JSON text of an editor field (``args`` an array, ``kwargs`` an object), or
    FieldError saying where it is wrong."""
    if len(text.encode()) > MAX_JSON:
        raise FieldError(f"{name} is larger than {MAX_JSON // 1024} KB of JSON.", name, "too_large")
    if not text.strip():
        return kind()
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise FieldError(f"{name} is not valid JSON: {exc}.", name, "not_json", str(exc)) from None
    if not isinstance(value, kind):
        what = "an array, e.g. [1, \"a\"]" if kind is list else "an object, e.g. {\"to\": \"a@b\"}"
        raise FieldError(f"{name} must be {what}.", name, "wrong_kind")
    return value
