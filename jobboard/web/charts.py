"""Geometry for the server-rendered SVG charts (the templates draw; this does the maths).

Numbers only: nothing here is markup, and the templates escape what they print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


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


def throughput_chart(metrics: Any, width: int = 720, height: int = 200, labels: int = 6) -> Chart:
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
            label=_label(p.at, metrics.bucket_seconds) + (
                f"–{_label(p.until, metrics.bucket_seconds)}" if size > 1 else ""),
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
                            _label(points[i].at, metrics.bucket_seconds)))
    return Chart(
        width=width, height=height, bars=bars,
        enqueued_line=("M" + " L".join(enq)) if enq and any(p.enqueued for p in points) else "",
        retried_line=("M" + " L".join(ret)) if ret and any(p.retried for p in points) else "",
        top=top, ticks=ticks, xlabels=xlabels, plot_left=left, plot_bottom=base,
    )


def _short(v: float) -> str:
    return f"{v / 1000:.1f}k".replace(".0k", "k") if v >= 1000 else f"{v:.0f}"


def _label(at: float, bucket_seconds: int) -> str:
    dt = datetime.fromtimestamp(at, tz=timezone.utc)
    return dt.strftime("%b %d") if bucket_seconds >= 86400 else dt.strftime("%H:%M")
