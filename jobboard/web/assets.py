"""The dashboard's static files under content-hashed names, cached for a year.

``jb_asset("jobboard.css")`` in a template gives ``.../assets/jobboard.1a2b3c4d5e.css``: the
name changes whenever the file does, so browsers may keep each version for good
(``Cache-Control: immutable``) and still get a new one the moment it changes. The files are
read once per process (again if their modification time changes) and kept gzipped too.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import threading
from dataclasses import dataclass
from pathlib import Path

from flask import url_for

STATIC = Path(__file__).resolve().parent.parent / "static"
#: What a hashed asset URL answers with.
IMMUTABLE = "public, max-age=31536000, immutable"
DIGEST_LENGTH = 10


@dataclass(frozen=True)
class Asset:
    name: str
    digest: str
    data: bytes
    gzipped: bytes
    mimetype: str

    @property
    def hashed_name(self) -> str:
        stem, dot, ext = self.name.rpartition(".")
        return f"{stem}.{self.digest}.{ext}" if dot else f"{self.name}.{self.digest}"


_lock = threading.Lock()
_cache: dict[str, tuple[int, Asset]] = {}


def load(name: str) -> Asset | None:
    """The static file ``name`` (no directories), or None when there is none."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    path = STATIC / name
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    with _lock:
        hit = _cache.get(name)
        if hit is not None and hit[0] == mtime:
            return hit[1]
    data = path.read_bytes()
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if mimetype.startswith("text/") or mimetype in ("application/javascript", "image/svg+xml"):
        mimetype += "; charset=utf-8" if not mimetype.startswith("image/") else ""
    asset = Asset(name, hashlib.sha256(data).hexdigest()[:DIGEST_LENGTH], data,
                  gzip.compress(data, 9, mtime=0), mimetype)
    with _lock:
        _cache[name] = (mtime, asset)
    return asset


def split_hashed(hashed: str) -> tuple[str, str] | None:
    """``("jobboard.css", "1a2b3c4d5e")`` from ``jobboard.1a2b3c4d5e.css``."""
    parts = hashed.split(".")
    if len(parts) < 3 or len(parts[-2]) != DIGEST_LENGTH:
        return None
    return ".".join(parts[:-2] + parts[-1:]), parts[-2]


def asset_url(name: str) -> str:
    """The content-hashed URL of static file ``name`` (the plain static URL if unknown)."""
    asset = load(name)
    if asset is None:
        return url_for("jobboard.static", filename=name)
    return url_for("jobboard.asset", name=asset.hashed_name)
