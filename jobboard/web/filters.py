"""Jinja filters and globals for the dashboard templates: numbers, times, durations.

Every number and time is written as the viewer's language writes it (Babel, the locale of
:mod:`.i18n`): ``1,234`` in English, ``1.234`` in Spanish and Portuguese; times in the
viewer's zone (:mod:`.localtime`). Each takes the request's :class:`~.i18n.Viewer` as
``v`` (templates pass the one of their context; Python callers may leave it out).
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

from babel import Locale, dates as babel_dates, numbers as babel_numbers
from flask import Flask

from jinja2 import pass_context
from jinja2.runtime import Context

from .i18n import N_, Viewer, viewer

from ..display import pretty_json


def number(value: Any, v: Viewer | None = None) -> str:
    """``1234567`` -> ``"1,234,567"`` (``"1.234.567"`` in Spanish); None -> ``"–"``.

    Pages print hundreds of counts: Python formats them, and the locale's group and
    decimal symbols (Babel's) replace ``,`` and ``.``, which is what Babel's ``#,##0``
    writes for the shipped locales at a twentieth of the cost (tests/test_i18n.py
    compares the two)."""
    if value is None:
        return "–"
    try:
        if isinstance(value, float) and not value.is_integer():
            text = f"{value:,.1f}"
        else:
            text = f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)
    return text.translate(_symbols((v or viewer()).locale_name))


@functools.cache
def _symbols(locale: str) -> dict[int, str]:
    """Python's ``,`` and ``.`` -> the locale's group and decimal symbols."""
    return {ord(","): babel_numbers.get_group_symbol(locale),
            ord("."): babel_numbers.get_decimal_symbol(locale)}


def decimal(value: float, pattern: str, v: Viewer | None = None) -> str:
    """``value`` with a Babel number ``pattern`` in the viewer's locale."""
    return str(_number_pattern(pattern).apply(value, (v or viewer()).locale))


@functools.cache
def _number_pattern(pattern: str) -> Any:
    return babel_numbers.parse_pattern(pattern)


def compact(value: Any, v: Viewer | None = None) -> str:
    """``1234567`` -> ``"1.2M"``, for tight cells and chart axes."""
    if value is None:
        return "–"
    n = float(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            scaled = n / size
            return decimal(scaled, "0.0" if scaled < 10 else "0", v) + unit
    return decimal(n, "0" if n.is_integer() else "0.0", v)


def _local(ts: float, v: Viewer | None) -> datetime:
    return datetime.fromtimestamp(ts, tz=(v or viewer()).zone)


def _date_pattern(locale: str) -> str:
    """The locale's medium date (``31 ene 2025``); English keeps the ISO order the pages
    always showed (``2025-01-31``), unambiguous between US and UK readers."""
    parsed = Locale.parse(locale)
    if parsed.language == "en":
        return "yyyy-MM-dd"
    return str(parsed.date_formats["medium"].pattern)


def abstime(ts: float | None, v: Viewer | None = None) -> str:
    """The exact time in the viewer's zone (local or UTC, see localtime), with seconds and
    the zone: ``2025-01-31 14:05:09 UTC`` / ``31 ene 2025 11:05:09 -03``."""
    if ts is None:
        return ""
    v = v or viewer()
    when = _local(ts, v)
    return f"{_date(v.locale_name, when.date())} {when:%H:%M:%S} {when.tzname() or 'UTC'}"


@functools.lru_cache(maxsize=1024)
def _date(locale: str, when: date) -> str:
    """A date as :func:`abstime` writes it (the times of one page share a few dates)."""
    return str(babel_dates.format_date(when, _date_pattern(locale), locale=locale))


def day(when: datetime, v: Viewer | None = None) -> str:
    """A day without its year, as the locale writes it: ``Jan 31``, ``31 ene``."""
    return _day((v or viewer()).locale_name, when.date())


@functools.lru_cache(maxsize=1024)
def _day(locale: str, when: date) -> str:
    return str(babel_dates.format_skeleton("MMMd", when, locale=locale))


def clock(ts: float | None, v: Viewer | None = None) -> str:
    """``14:05:09`` in the viewer's zone, for log lines."""
    if ts is None:
        return ""
    return _local(ts, v).strftime("%H:%M:%S")


def stamp(ts: float | None, now: float | None = None, v: Viewer | None = None) -> str:
    """A timeline time: ``14:05:09.123`` today, ``Jan 31 14:05:09.123`` another day
    (viewer's zone, milliseconds: steps of one job are often under a second apart)."""
    if ts is None:
        return ""
    when = _local(ts, v)
    today = _local(time.time() if now is None else now, v).date()
    text = when.strftime("%H:%M:%S") + f".{when.microsecond // 1000:03d}"
    return text if when.date() == today else f"{day(when, v)} {text}"


def gap(seconds: float | None, v: Viewer | None = None) -> str:
    """The time between two timeline steps: ``+12ms``, ``+1.5s``, ``+2m 5s``."""
    if seconds is None or seconds < 0:
        return ""
    return "+" + duration(seconds, v=v)


def isotime(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def reltime(ts: float | None, now: float | None = None, v: Viewer | None = None) -> str:
    """``"3m ago"`` / ``"in 2h"`` (``"hace 3 min"``, ``"há 3 min."``); ``"–"`` for None.

    Babel's narrow relative times, in the largest unit that is at least one (rounded);
    static/jobboard.js keeps them current with the same patterns (:func:`rel_patterns`)."""
    if ts is None:
        return "–"
    now = time.time() if now is None else now
    delta = ts - now
    v = v or viewer()
    if abs(delta) < 1:
        return rel_patterns(v)["just_now"]  # type: ignore[no-any-return]
    return _relative(delta, "future" if delta > 0 else "past", v)


def since_text(seconds: float, v: Viewer | None = None) -> str:
    """How long, without a direction: ``5m``, ``5 min`` (``<time data-since>``)."""
    return _relative(max(1.0, seconds), "bare", v or viewer())


def _relative(seconds: float, kind: str, v: Viewer) -> str:
    """Babel's rule (format_timedelta, threshold 1): the largest unit with at least one of
    it, the count rounded, in the locale's narrow words (from :func:`rel_patterns`, which
    the script uses too: both write the same text). Babel's own call costs ten times more,
    on every time of every row."""
    s = abs(seconds)
    patterns = rel_patterns(v)["units"]
    secs, forms = patterns[-1]
    for unit_secs, unit_forms in patterns:
        if s / unit_secs >= 1:
            secs, forms = unit_secs, unit_forms
            break
    n = max(1, round(s / secs))
    return str(forms[f"{kind}_{'one' if n == 1 else 'other'}"]).replace("{n}", str(n))


#: Babel's units of relative times, with their length in seconds (its own table).
REL_UNITS = tuple((unit, float(secs)) for unit, secs in babel_dates.TIMEDELTA_UNITS)


def rel_patterns(v: Viewer | None = None) -> dict[str, Any]:
    """The viewer locale's relative-time texts for static/jobboard.js: per unit, the past,
    future and bare form for one and for many, ``{n}`` standing for the number."""
    v = v or viewer()
    return _rel_patterns(v.locale_name, str(v.translations.ugettext(JUST_NOW)))


JUST_NOW = N_("just now")


@functools.cache
def _rel_patterns(locale: str, just_now: str) -> dict[str, Any]:
    out: dict[str, Any] = {"just_now": just_now, "units": []}
    for unit, secs in REL_UNITS:
        forms = {}
        for kind, sign in (("past", -1), ("future", 1), ("bare", 0)):
            for name, n in (("one", 1), ("other", 2)):  # 2 of a unit stays in it
                text = babel_dates.format_timedelta(
                    timedelta(seconds=(sign or 1) * n * secs), format="narrow", threshold=1,
                    add_direction=bool(sign), locale=locale)
                forms[f"{kind}_{name}"] = str(text).replace(str(n), "{n}", 1)
        out["units"].append([secs, forms])
    return out


def duration(seconds: float | None, coarse: bool = False, v: Viewer | None = None) -> str:
    """``0.0123`` -> ``"12ms"``, ``75`` -> ``"1m 15s"``, ``90000`` -> ``"1d 1h"``."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    s = float(seconds)
    if s < 1:
        return "0s" if coarse else f"{s * 1000:.0f}ms"
    if s < 60:
        return f"{s:.0f}s" if coarse or s >= 10 else f"{s:.1f}".translate(
            _symbols((v or viewer()).locale_name)) + "s"
    minutes, sec = divmod(int(s), 60)
    if minutes < 60:
        return f"{minutes}m" if coarse else f"{minutes}m {sec}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h" if coarse else f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d" if coarse else f"{days}d {hours}h"


def duration_ms(ms: float | None, v: Viewer | None = None) -> str:
    return "–" if ms is None else duration(float(ms) / 1000.0, v=v)


def percent(value: float | None, v: Viewer | None = None) -> str:
    """``0.123`` -> ``"12.3%"`` (``"12,3 %"`` where the locale spaces it)."""
    if value is None:
        return "–"
    locale = (v or viewer()).locale
    # the locale's own pattern (its spacing: "12,5 %" in Spanish), with one decimal
    pattern = str(locale.percent_formats[None].pattern).replace("#,##0", "#,##0.0", 1)
    return str(_number_pattern(pattern).apply(value, locale))


def dom_id(value: Any, prefix: str = "k") -> str:
    """A stable element id for a job or queue name (any string): ``prefix`` + a short
    digest, safe in a CSS selector. Live polls address rows by it (web/delta.py)."""
    return prefix + hashlib.blake2b(str(value).encode(), digest_size=8).hexdigest()


def _with_viewer(fn: Any) -> Any:
    """``fn`` as a filter given the ``jb_viewer`` of the template's context (pages have it,
    see i18n.template_context), so a page's hundreds of values look nothing up."""
    @pass_context
    def filtered(context: Context, value: Any, *args: Any) -> Any:
        return fn(value, *args, v=context.get("jb_viewer"))

    filtered.__doc__ = fn.__doc__
    return filtered


def register(app: Flask) -> None:
    """Add the filters to ``app``'s Jinja environment (names prefixed ``jb_``)."""
    for name, fn in {
        "number": number, "compact": compact, "abstime": abstime, "clock": clock,
        "reltime": reltime, "duration": duration, "duration_ms": duration_ms,
        "percent": percent, "stamp": stamp, "gap": gap, "since": since_text,
    }.items():
        app.jinja_env.filters[f"jb_{name}"] = _with_viewer(fn)
    for name, fn in {"isotime": isotime, "pretty_json": pretty_json, "dom_id": dom_id}.items():
        app.jinja_env.filters[f"jb_{name}"] = fn
    app.jinja_env.globals["jb_rel_patterns"] = rel_patterns
    # {% trans %} blocks need Jinja's i18n extension. The callables come from each page's
    # context (web/i18n.py); a host app with no gettext of its own gets Jinja's null ones,
    # in the "newstyle" Flask-Babel uses, so one kind of trans block works under both.
    if "jinja2.ext.InternationalizationExtension" not in app.jinja_env.extensions:
        app.jinja_env.add_extension("jinja2.ext.i18n")
    if "gettext" not in app.jinja_env.globals:
        app.jinja_env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
