"""The bottom layer: small values and functions every other layer may use.

Nothing here imports another jobboard module (see docs/architecture.md), so the runtime,
the core and the adapters can all share one definition of each.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable

#: Priorities allowed anywhere (producers, ``Queue.enqueue``, the JSON API). Waiting jobs
#: are scored ``-priority * PRIORITY_STRIDE + seq`` in a Redis sorted set, whose scores are
#: doubles: integers are exact only up to 2**53. With |priority| <= 9,000 and a sequence
#: below 10**12 every score stays exact, so first-in-first-out holds within each priority.
#: Producers clamp a priority outside the range to its edge; the API refuses it (422).
PRIORITY_LIMIT = 9_000
#: Distance between two priorities in the waiting set's score (the ENQUEUE script's factor).
PRIORITY_STRIDE = 10**12

#: Jobs per ENQUEUE_MANY call (one round trip, atomic): a bulk enqueue of more goes in
#: batches of this many; the JSON API's bulk submit takes at most this many per request.
ENQUEUE_BATCH = 1_000

#: A consumer is alive while its heartbeat is younger than this. The heartbeat runs every
#: lease_timeout / 3 seconds (at most 10 s) and its record expires after three beats.
CONSUMER_ALIVE_SECONDS = 30


def now_ms() -> int:
    """The current Unix time in whole milliseconds, as every record stores it."""
    return int(time.time() * 1000)


def short_name(name: str) -> str:
    """A task name without its module path: ``app.tasks.send_email`` -> ``send_email``."""
    return name.rsplit(".", 1)[-1] if name else ""


def match_name(name: str, names: Iterable[str]) -> str | None:
    """``name`` if it is one of ``names``, else the one name whose short name it is.

    ``None`` when nothing matches or the short name is ambiguous (two modules define a
    ``send_email``): the caller then says so rather than guessing.
    """
    names = list(names)
    if name in names:
        return name
    hits = [n for n in names if short_name(n) == name]
    return hits[0] if len(hits) == 1 else None


_DURATION = re.compile(r"^ *([0-9]+(?:\.[0-9]+)?) *([smhdwSMHDW]?) *$")
#: The pattern above as text, for the OpenAPI document.
DURATION_PATTERN = _DURATION.pattern
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> float | None:
    """Seconds from a number or ``"90"``, ``"30m"``, ``"24h"``, ``"7d"``; None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        m = _DURATION.fullmatch(value)
        if m:
            return float(m.group(1)) * _UNIT[m.group(2).lower()]
    return None
