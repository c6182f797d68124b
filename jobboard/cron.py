"""Read a Huey ``crontab()`` back: its schedule as text, and its next run time.

``huey.crontab()`` returns a closure over the sorted value lists of month, day, weekday,
hour and minute. We read those lists (``cron_settings``) so that a periodic task shows as
``0 1 * * *`` and its next run can be computed without running the predicate minute by
minute for days.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any, Callable

# huey's order inside the closure: month, day, weekday, hour, minute.
_FULL = {"m": list(range(1, 13)), "d": list(range(1, 32)), "w": list(range(7)),
         "H": list(range(24)), "M": list(range(60))}


def cron_sets(validate: Callable[..., Any], _depth: int = 0) -> dict[str, list[int]] | None:
    """The value lists of a huey crontab predicate, or None for a custom predicate.

    ``huey.periodic_task`` wraps the crontab function in a method, so look one level into
    the closure too."""
    func = getattr(validate, "__func__", validate)
    closure = getattr(func, "__closure__", None) or ()
    names = getattr(getattr(func, "__code__", None), "co_freevars", ())
    for name, cell in zip(names, closure):
        try:
            inner = cell.cell_contents
        except ValueError:
            continue
        if name != "cron_settings" and callable(inner) and _depth < 2:
            found = cron_sets(inner, _depth + 1)
            if found:
                return found
        if name == "cron_settings":
            try:
                m, d, w, H, M = cell.cell_contents
            except (ValueError, TypeError):
                return None
            return {"m": list(m), "d": list(d), "w": [x % 7 for x in w], "H": list(H), "M": list(M)}
    return None


def _field(values: list[int], full: list[int]) -> str:
    values = sorted(set(values))
    if values == full:
        return "*"
    if len(values) > 2:
        step = values[1] - values[0]
        if step > 1 and values[0] == full[0] and values == full[:: step]:
            return f"*/{step}"
    out, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(str(start) if start == v else (f"{start}-{v}" if v - start > 1 else f"{start},{v}"))
            start = None
    return ",".join(out)


def describe(sets: dict[str, list[int]] | None) -> str:
    """Crontab text, minute first: ``0 1 * * *``."""
    if not sets:
        return "custom"
    return " ".join(_field(sets[k], _FULL[k]) for k in ("M", "H", "d", "m", "w"))


def next_run(sets: dict[str, list[int]] | None, after: float, utc: bool = True,
             horizon_days: int = 400) -> float | None:
    """Unix time of the first minute after ``after`` that matches, or None.

    Walks days, then hours, then minutes, skipping whole non-matching days and hours."""
    if not sets:
        return None
    tz = dt.timezone.utc if utc else None
    start = dt.datetime.fromtimestamp(after, tz).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    months, days, wdays = set(sets["m"]), set(sets["d"]), set(sets["w"])
    hours, minutes = sorted(sets["H"]), sorted(sets["M"])
    day = start.replace(hour=0, minute=0)
    for _ in range(horizon_days):
        weekday = (day.weekday() + 1) % 7  # huey: Sunday = 0
        if day.month in months and day.day in days and weekday in wdays:
            for h in hours:
                for m in minutes:
                    candidate = day.replace(hour=h, minute=m)
                    if candidate >= start:
                        if tz is None:
                            return candidate.timestamp()
                        return float(calendar.timegm(candidate.timetuple()))
        day = (day + dt.timedelta(days=1)).replace(hour=0, minute=0)
    return None
