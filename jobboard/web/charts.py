"""Geometry for the server-rendered SVG charts (the templates draw; this does the maths).

Numbers only: nothing here is markup, and the templates escape what they print.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any

from .filters import day, decimal


@dataclass
class Spark:
    """A small line of totals with the failures drawn as an area beneath it."""

    width: int
    height: int
    line: str  # SVG path data
    failed: str  # SVG path data (filled area)
    peak: int
    empty: bool


def _points(values: list[float], width: float, height: float, top: float) -> list[tuple[float, float]]:
    n = len(values)
    if n == 0:
        return []
    step = width / max(1, n - 1)
    return [(round(i * step, 1), round(height - (v / top) * (height - 2) - 1, 1))
            for i, v in enumerate(values)]


def sparkline(totals: list[int], failed: list[int], width: int = 120, height: int = 28) -> Spark:
    """A sparkline of jobs finished per bucket, failures as a red area below."""
    top = float(max(totals + failed + [1]))
    pts = _points([float(v) for v in totals], width, height, top)
    fpts = _points([float(v) for v in failed], width, height, top)
    line = "M" + " L".join(f"{x},{y}" for x, y in pts) if pts else ""
    area = ""
    if fpts and any(failed):
        area = (f"M0,{height} L" + " L".join(f"{x},{y}" for x, y in fpts)
                + f" L{fpts[-1][0]},{height} Z")
    return Spark(width, height, line, area, int(max(totals + [0])), not any(totals))


@dataclass
class Bar:
    x: float
    w: float
    completed_y: float
    completed_h: float
    failed_y: float
    failed_h: float
    label: str
    completed: int
    failed: int
    retried: int
    enqueued: int


@dataclass
class Chart:
    """A stacked bar chart (completed + failed per bucket) with an enqueued line."""

    width: int
    height: int
    bars: list[Bar]
    enqueued_line: str
    retried_line: str
    top: int
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, label)
    xlabels: list[tuple[float, str]] = field(default_factory=list)  # (x, label)
    plot_left: int = 40
    plot_bottom: int = 0


def _nice_top(value: float) -> int:
    if value <= 4:
        return 4
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return int(top)
    return int(value)


#: How many buckets one bar may sum (the smallest that fits): whole 2, 5, 10, ... minutes.
GROUP_SIZES = (1, 2, 5, 10, 15, 30, 60, 120, 240)
#: The narrowest bar worth drawing: 1,440 minute bars in 676 px were sub-pixel slivers
#: that made the 24 h metrics page half a megabyte.
MIN_BAR_PX = 4


@dataclass
class _Group:
    at: float
    until: float
    enqueued: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0


def _grouped(points: list[Any], bucket_seconds: int, max_bars: int) -> tuple[list[_Group], int]:
    """The points summed into at most ``max_bars`` bars of a whole number of buckets, and
    that number."""
    size = next((g for g in GROUP_SIZES if len(points) <= g * max_bars), GROUP_SIZES[-1])
    size = max(size, -(-len(points) // max(1, max_bars)))
    out: list[_Group] = []
    for i in range(0, len(points), size):
        chunk = points[i:i + size]
        out.append(_Group(at=chunk[0].at, until=chunk[-1].at + bucket_seconds,
                          enqueued=sum(p.enqueued for p in chunk),
                          completed=sum(p.completed for p in chunk),
                          failed=sum(p.failed for p in chunk),
                          retried=sum(p.retried for p in chunk)))
    return out, size


def throughput_chart(metrics: Any, width: int = 720, height: int = 200, labels: int = 6,
                     tz: tzinfo = timezone.utc) -> Chart:
    """Bars of completed (and failed, stacked) jobs per bucket of ``metrics.points`` (several
    buckets summed per bar when one bar each would be under MIN_BAR_PX wide), with about
    ``labels`` time labels under them."""
    left, bottom, top_pad = 40, 20, 8
    plot_w = width - left - 4
    points, size = _grouped(list(metrics.points), metrics.bucket_seconds,
                            max(1, int(plot_w // MIN_BAR_PX)))
    plot_h = height - bottom - top_pad
    peak = max([p.completed + p.failed for p in points] + [p.enqueued for p in points] + [0])
    top = _nice_top(peak)
    n = max(1, len(points))
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.8)
    base = top_pad + plot_h

    def y(v: float) -> float:
        return round(base - (v / top) * plot_h, 1)

    bars = []
    enq, ret = [], []
    for i, p in enumerate(points):
        x = round(left + i * slot + (slot - bar_w) / 2, 1)
        cy = y(p.completed)
        fy = y(p.completed + p.failed)
        bars.append(Bar(
            x=x, w=round(bar_w, 1), completed_y=cy, completed_h=round(base - cy, 1),
            failed_y=fy, failed_h=round(cy - fy, 1),
            label=_label(p.at, metrics.bucket_seconds, tz) + (
                f"–{_label(p.until, metrics.bucket_seconds, tz)}" if size > 1 else ""),
            completed=p.completed, failed=p.failed, retried=p.retried, enqueued=p.enqueued,
        ))
        cx = round(left + i * slot + slot / 2, 1)
        enq.append(f"{cx},{y(p.enqueued)}")
        ret.append(f"{cx},{y(p.retried)}")
    ticks = [(y(top * f), _short(top * f)) for f in (0, 0.5, 1)]
    xlabels = []
    if points:
        every = max(1, n // labels)
        for i in range(0, n, every):
            xlabels.append((round(left + i * slot + slot / 2, 1),
                            _label(points[i].at, metrics.bucket_seconds, tz)))
    return Chart(
        width=width, height=height, bars=bars,
        enqueued_line=("M" + " L".join(enq)) if enq and any(p.enqueued for p in points) else "",
        retried_line=("M" + " L".join(ret)) if ret and any(p.retried for p in points) else "",
        top=top, ticks=ticks, xlabels=xlabels, plot_left=left, plot_bottom=base,
    )


def _short(v: float) -> str:
    """An axis count: ``1.5k`` (``1,5k`` where the locale writes a decimal comma)."""
    return decimal(v / 1000, "0.#") + "k" if v >= 1000 else decimal(v, "0")


def _label(at: float, bucket_seconds: int, tz: tzinfo = timezone.utc) -> str:
    # day buckets are UTC days: their date is the UTC one, whatever the viewer's zone
    dt = datetime.fromtimestamp(at, tz=timezone.utc if bucket_seconds >= 86400 else tz)
    return day(dt) if bucket_seconds >= 86400 else dt.strftime("%H:%M")  # "Jan 31", "31 ene"


#: The percentiles a latency chart draws, lightest (p50) to darkest (p99).
LATENCY_LINES: tuple[str, ...] = ("p50", "p95", "p99")


@dataclass
class LatencyChart:
    """p50/p95/p99 of one duration (wait or run) per bucket, on a log scale (durations
    span milliseconds to minutes). A bucket where no job ended breaks the lines."""

    width: int
    height: int
    lines: dict[str, str]  # percentile -> SVG path data
    dots: dict[str, list[tuple[float, float, float, str]]]  # percentile -> (x, y, ms, label)
    ticks: list[tuple[float, str]]
    xlabels: list[tuple[float, str]]
    empty: bool
    plot_left: int = 44
    plot_bottom: float = 0.0


def _ms_label(ms: float) -> str:
    if ms < 1000:
        return f"{ms:g}ms"
    if ms < 60_000:
        return f"{ms / 1000:g}s"
    return f"{ms / 60_000:g}m"


def latency_chart(metrics: Any, kind: str, width: int = 720, height: int = 180,
                  labels: int = 6, tz: tzinfo = timezone.utc) -> LatencyChart:
    """Lines of ``kind`` ("wait" or "run") percentiles per bucket of ``metrics.points``,
    time labels in ``tz``."""
    points = list(metrics.points)
    left, bottom, top_pad = 44, 20, 8
    plot_w = width - left - 4
    plot_h = height - bottom - top_pad
    base = top_pad + plot_h
    series = [getattr(p, f"{kind}_ms") or {} for p in points]
    values = [v for s in series for v in s.values() if v]
    n = max(1, len(points))
    slot = plot_w / n
    xlabels = []
    if points:
        every = max(1, n // labels)
        xlabels = [(round(left + i * slot + slot / 2, 1), _label(points[i].at, metrics.bucket_seconds, tz))
                   for i in range(0, n, every)]
    if not values:
        return LatencyChart(width, height, {}, {}, [], xlabels, True, left, base)
    lo = math.floor(math.log10(max(min(values), 0.1)))
    hi = max(lo + 1, math.ceil(math.log10(max(values))))

    def y(ms: float) -> float:
        frac = (math.log10(max(ms, 10 ** lo)) - lo) / (hi - lo)
        return round(base - frac * plot_h, 1)

    lines: dict[str, str] = {}
    dots: dict[str, list[tuple[float, float, float, str]]] = {}
    for q in LATENCY_LINES:
        path, pen_down = [], False
        dots[q] = []
        for i, s in enumerate(series):
            v = s.get(q)
            if not v:
                pen_down = False
                continue
            x = round(left + i * slot + slot / 2, 1)
            path.append(f"{'L' if pen_down else 'M'}{x},{y(v)}")
            dots[q].append((x, y(v), v, _label(points[i].at, metrics.bucket_seconds, tz)))
            pen_down = True
        lines[q] = " ".join(path)
    ticks = [(y(10.0 ** e), _ms_label(10.0 ** e)) for e in range(lo, hi + 1)]
    return LatencyChart(width, height, lines, dots, ticks, xlabels, False, left, base)
