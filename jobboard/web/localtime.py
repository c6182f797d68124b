"""Whose clock the pages show: the viewer's local time (their browser's zone) or UTC.

The browser reports its zone in the ``jb_tz`` cookie and the viewer's choice in
``jb_time`` (``local``, the default, or ``utc``), both set by static/localtime.js and kept
a year, so the choice is remembered per browser. Pages render times server-side in that
zone; anything unknown falls back to UTC, never to an error.
"""

from __future__ import annotations

import re
from urllib.parse import unquote
from datetime import timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import g, has_request_context, request

MODE_COOKIE = "jb_time"
ZONE_COOKIE = "jb_tz"
MODES = ("local", "utc")
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$")


def viewer_mode() -> str:
    """``local`` or ``utc``: the viewer's choice (local unless they chose UTC)."""
    if not has_request_context():
        return "utc"
    mode = request.cookies.get(MODE_COOKIE, "local")
    return mode if mode in MODES else "local"


def viewer_zone() -> tzinfo:
    """The zone this request's pages show times in."""
    if not has_request_context():
        return timezone.utc
    cached = g.get("_jobboard_zone")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    zone: tzinfo = timezone.utc
    name = unquote(request.cookies.get(ZONE_COOKIE, ""))[:100]  # the script URL-encodes "/"
    if viewer_mode() == "local" and _ZONE_NAME.match(name) and ".." not in name:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            zone = timezone.utc
    g._jobboard_zone = zone
    return zone


def zone_name() -> str:
    """``UTC``, or the viewer's zone name (``America/Sao_Paulo``)."""
    zone = viewer_zone()
    return "UTC" if zone is timezone.utc else str(zone)
