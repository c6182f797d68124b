"""Jinja filters and globals for the dashboard templates: numbers, times, durations."""

from __future__ import annotations

import hashlib
import math
import time
from datetime import datetime, timezone
from typing import Any

from flask import Flask

from ..display import pretty_json


def number(value: Any) -> str:
    """``1234567`` -> ``"1,234,567"``; None -> ``"–"``."""
    if value is None:
        return "–"
    try:
        if isinstance(value, float) and not value.is_integer():
            return f"{value:,.1f}"
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def compact(value: Any) -> str:
    """``1234567`` -> ``"1.2M"``, for tight cells and chart axes."""
    if value is None:
        return "–"
    n = float(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            scaled = n / size
            return f"{scaled:.1f}{unit}" if scaled < 10 else f"{scaled:.0f}{unit}"
    return f"{n:.0f}" if n.is_integer() else f"{n:.1f}"


def abstime(ts: float | None) -> str:
    """Exact UTC time, e.g. ``2025-01-31 14:05:09 UTC``."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def clock(ts: float | None) -> str:
    """``14:05:09`` (UTC), for log lines."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M:%S")


def isotime(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def reltime(ts: float | None, now: float | None = None) -> str:
    """``"3m ago"`` / ``"in 2h"``; ``"–"`` for None."""
    if ts is None:
        return "–"
    now = time.time() if now is None else now
    delta = ts - now
    text = duration(abs(delta), coarse=True)
    if abs(delta) < 1:
        return "just now"
    return f"in {text}" if delta > 0 else f"{text} ago"


def duration(seconds: float | None, coarse: bool = False) -> str:
    """``0.0123`` -> ``"12ms"``, ``75`` -> ``"1m 15s"``, ``90000`` -> ``"1d 1h"``."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    s = float(seconds)
    if s < 1:
        return "0s" if coarse else f"{s * 1000:.0f}ms"
    if s < 60:
        return f"{s:.0f}s" if coarse or s >= 10 else f"{s:.1f}s"
    minutes, sec = divmod(int(s), 60)
    if minutes < 60:
        return f"{minutes}m" if coarse else f"{minutes}m {sec}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h" if coarse else f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d" if coarse else f"{days}d {hours}h"


def duration_ms(ms: float | None) -> str:
    return "–" if ms is None else duration(float(ms) / 1000.0)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def dom_id(value: Any, prefix: str = "k") -> str:
    """A stable element id for a job or queue name (any string): ``prefix`` + a short
    digest, safe in a CSS selector. Live polls address rows by it (web/delta.py)."""
    return prefix + hashlib.blake2b(str(value).encode(), digest_size=8).hexdigest()


def register(app: Flask) -> None:
    """Add the filters to ``app``'s Jinja environment (names prefixed ``jb_``)."""
    for name, fn in {
        "number": number, "compact": compact, "abstime": abstime, "isotime": isotime, "clock": clock,
        "reltime": reltime, "duration": duration, "duration_ms": duration_ms,
        "percent": percent, "pretty_json": pretty_json, "dom_id": dom_id,
    }.items():
        app.jinja_env.filters[f"jb_{name}"] = fn
