"""Jinja filters and globals for the dashboard templates: numbers, times, durations.

Every number and time is written as the viewer's language writes it (Babel, the locale of
:mod:`.i18n`): ``1,234`` in English, ``1.234`` in Spanish and Portuguese; times in the
viewer's zone (:mod:`.localtime`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from babel import dates as babel_dates, numbers as babel_numbers
from flask import Flask

from .i18n import gettext, viewer_locale
from .localtime import viewer_zone

from ..display import pretty_json


def number(value: Any) -> str:
    """``1234567`` -> ``"1,234,567"`` (``"1.234.567"`` in Spanish); None -> ``"–"``."""
    if value is None:
        return "–"
    try:
        if isinstance(value, float) and not value.is_integer():
            return decimal(value, "#,##0.0")
        return decimal(int(value), "#,##0")
    except (TypeError, ValueError):
        return str(value)


def decimal(value: float, pattern: str) -> str:
    """``value`` with a Babel number ``pattern`` in the viewer's locale."""
    return str(babel_numbers.format_decimal(value, format=pattern, locale=viewer_locale()))


def compact(value: Any) -> str:
    """``1234567`` -> ``"1.2M"``, for tight cells and chart axes."""
    if value is None:
        return "–"
    n = float(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            scaled = n / size
            return decimal(scaled, "0.0" if scaled < 10 else "0") + unit
    return decimal(n, "0" if n.is_integer() else "0.0")


def _local(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=viewer_zone())


def _date_pattern() -> str:
    """The locale's medium date (``31 ene 2025``); English keeps the ISO order the pages
    always showed (``2025-01-31``), unambiguous between US and UK readers."""
    locale = viewer_locale()
    if locale.language == "en":
        return "yyyy-MM-dd"
    return str(locale.date_formats["medium"].pattern)


def abstime(ts: float | None) -> str:
    """The exact time in the viewer's zone (local or UTC, see localtime), with seconds and
    the zone: ``2025-01-31 14:05:09 UTC`` / ``31 ene 2025 11:05:09 -03``."""
    if ts is None:
        return ""
    when = _local(ts)
    text = babel_dates.format_datetime(when, _date_pattern() + " HH:mm:ss", locale=viewer_locale())
    return f"{text} {when.tzname() or 'UTC'}"


def day(when: datetime) -> str:
    """A day without its year, as the locale writes it: ``Jan 31``, ``31 ene``."""
    return str(babel_dates.format_skeleton("MMMd", when, locale=viewer_locale()))


def clock(ts: float | None) -> str:
    """``14:05:09`` in the viewer's zone, for log lines."""
    if ts is None:
        return ""
    return _local(ts).strftime("%H:%M:%S")


def stamp(ts: float | None, now: float | None = None) -> str:
    """A timeline time: ``14:05:09.123`` today, ``Jan 31 14:05:09.123`` another day
    (viewer's zone, milliseconds: steps of one job are often under a second apart)."""
    if ts is None:
        return ""
    when = _local(ts)
    today = _local(time.time() if now is None else now).date()
    text = when.strftime("%H:%M:%S") + f".{when.microsecond // 1000:03d}"
    return text if when.date() == today else f"{day(when)} {text}"


def gap(seconds: float | None) -> str:
    """The time between two timeline steps: ``+12ms``, ``+1.5s``, ``+2m 5s``."""
    if seconds is None or seconds < 0:
        return ""
    return "+" + duration(seconds)


def isotime(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def reltime(ts: float | None, now: float | None = None) -> str:
    """``"3m ago"`` / ``"in 2h"`` (``"hace 3 min"``, ``"há 3 min."``); ``"–"`` for None.

    Babel's narrow relative times, in the largest unit that is at least one (rounded);
    static/jobboard.js keeps them current with the same patterns (:func:`rel_patterns`)."""
    if ts is None:
        return "–"
    now = time.time() if now is None else now
    delta = ts - now
    if abs(delta) < 1:
        return gettext("just now")
    return str(babel_dates.format_timedelta(timedelta(seconds=delta), format="narrow", threshold=1,
                                            add_direction=True, locale=viewer_locale()))


def since_text(seconds: float) -> str:
    """How long, without a direction: ``5m``, ``5 min`` (``<time data-since>``)."""
    return str(babel_dates.format_timedelta(timedelta(seconds=max(1.0, seconds)), format="narrow",
                                            threshold=1, locale=viewer_locale()))


#: Babel's units of relative times, with their length in seconds (its own table).
REL_UNITS = tuple((unit, float(secs)) for unit, secs in babel_dates.TIMEDELTA_UNITS)


def rel_patterns() -> dict[str, Any]:
    """The viewer locale's relative-time texts for static/jobboard.js: per unit, the past,
    future and bare form for one and for many, ``{n}`` standing for the number."""
    return _rel_patterns(str(viewer_locale()), gettext("just now"))


@functools.cache
def _rel_patterns(locale: str, just_now: str) -> dict[str, Any]:
    out: dict[str, Any] = {"just_now": just_now, "units": []}
    for unit, secs in REL_UNITS:
        forms = {}
        for kind, sign in (("past", -1), ("future", 1), ("bare", 0)):
            for name, n in (("one", 1), ("other", 7)):
                text = babel_dates.format_timedelta(
                    timedelta(seconds=(sign or 1) * n * secs), format="narrow", threshold=1,
                    add_direction=bool(sign), locale=locale)
                forms[f"{kind}_{name}"] = str(text).replace(str(n), "{n}", 1)
        out["units"].append([secs, forms])
    return out


def duration(seconds: float | None, coarse: bool = False) -> str:
    """``0.0123`` -> ``"12ms"``, ``75`` -> ``"1m 15s"``, ``90000`` -> ``"1d 1h"``."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    s = float(seconds)
    if s < 1:
        return "0s" if coarse else f"{s * 1000:.0f}ms"
    if s < 60:
        return f"{s:.0f}s" if coarse or s >= 10 else decimal(s, "0.0") + "s"
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
    """``0.123`` -> ``"12.3%"`` (``"12,3 %"`` where the locale spaces it)."""
    if value is None:
        return "–"
    locale = viewer_locale()
    # the locale's own pattern (its spacing: "12,5 %" in Spanish), with one decimal
    pattern = str(locale.percent_formats[None].pattern).replace("#,##0", "#,##0.0", 1)
    return str(babel_numbers.format_percent(value, format=pattern, locale=locale))


def dom_id(value: Any, prefix: str = "k") -> str:
    """A stable element id for a job or queue name (any string): ``prefix`` + a short
    digest, safe in a CSS selector. Live polls address rows by it (web/delta.py)."""
    return prefix + hashlib.blake2b(str(value).encode(), digest_size=8).hexdigest()


def register(app: Flask) -> None:
    """Add the filters to ``app``'s Jinja environment (names prefixed ``jb_``)."""
    for name, fn in {
        "number": number, "compact": compact, "abstime": abstime, "isotime": isotime, "clock": clock,
        "reltime": reltime, "duration": duration, "duration_ms": duration_ms,
        "percent": percent, "stamp": stamp, "gap": gap, "pretty_json": pretty_json,
        "dom_id": dom_id, "since": since_text,
    }.items():
        app.jinja_env.filters[f"jb_{name}"] = fn
    app.jinja_env.globals["jb_rel_patterns"] = rel_patterns
    # {% trans %} blocks need Jinja's i18n extension. The callables come from each page's
    # context (web/i18n.py); a host app with no gettext of its own gets Jinja's null ones,
    # in the "newstyle" Flask-Babel uses, so one kind of trans block works under both.
    if "jinja2.ext.InternationalizationExtension" not in app.jinja_env.extensions:
        app.jinja_env.add_extension("jinja2.ext.i18n")
    if "gettext" not in app.jinja_env.globals:
        app.jinja_env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
