"""How a job's data is laid out compactly in Redis.

A job record (``j:<id>``, a hash) keeps only small fields: states, times, counters and
short previews of the arguments, result and error, each at most ``FIELD_BYTES`` bytes.
Redis then stores the hash as one listpack (``hash-max-listpack-value`` is 64 by default)
instead of a hash table, which costs several times as much per field.

Everything big goes into one string beside it, the job's blob (``x:<id>``): a sequence of
frames, each ``kind`` (1 byte), body length (4 bytes, big endian), body. A body is ``=``
followed by UTF-8 text, or ``z`` followed by that text zlib-compressed (when it is longer
than ``compress_above`` bytes and compression saves space). One frame per kind, except
attempts, which accumulate (the newest ``MAX_ATTEMPTS`` are kept). The Lua scripts put and
drop frames without reading their bodies (scripts.PRELUDE ``xput``), and write raw frames
of their own (attempts of stalled jobs).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

#: Most bytes of one record field: Redis's default ``hash-max-listpack-value``.
FIELD_BYTES = 64
#: Frames kept of each kind: the newest failed attempts of a job.
MAX_ATTEMPTS = 25
#: Default size above which a frame's text is zlib-compressed (``RedisHuey(compress_above=)``).
COMPRESS_ABOVE = 200

ARGS = b"a"  # the whole positional arguments JSON, when the preview is cut
KWARGS = b"k"  # the whole keyword arguments JSON, likewise
RESULT = b"r"  # the whole result JSON, likewise
ERROR = b"e"  # the whole error summary, when the record's preview is cut
ATTEMPT = b"t"  # one failed attempt, JSON (see Tracker._attempt_json)
TOKENS = b"w"  # search tokens, written by versions before lazy deletion (dropped on re-add)
ADD_TOKENS = b"W"  # words for the scripts to add to the tokens (an error's); never stored

RAW, ZLIB = b"=", b"z"


def preview(text: str, limit: int = FIELD_BYTES) -> str:
    """``text`` cut so that its UTF-8 form fits in ``limit`` bytes, ``…`` marking a cut."""
    if len(text) * 4 <= limit or len(text.encode("utf-8")) <= limit:
        return text
    cut = text[: limit - 3]
    while len(cut.encode("utf-8")) > limit - 3:  # "…" takes 3 bytes
        cut = cut[:-1]
    return cut + "…"


def frame(kind: bytes, text: str, compress_above: int = COMPRESS_ABOVE) -> bytes:
    """One frame of ``kind`` holding ``text``, compressed when that pays."""
    data = text.encode("utf-8")
    body = RAW + data
    if len(data) > compress_above:
        packed = zlib.compress(data, 6)
        if len(packed) + 1 < len(body):
            body = ZLIB + packed
    return kind + struct.pack(">I", len(body)) + body


@dataclass
class Blob:
    """The frames of one job's blob, decoded."""

    texts: dict[bytes, str] = field(default_factory=dict)  # kind -> text (the last frame)
    attempts: list[str] = field(default_factory=list)  # attempt JSON, oldest first
    damaged: str | None = None  # why the rest could not be read

    def get(self, kind: bytes) -> str | None:
        return self.texts.get(kind)


def parse(data: bytes | None) -> Blob:
    """Decode a blob; never raises (a damaged tail is reported in ``Blob.damaged``)."""
    blob = Blob()
    if not data:
        return blob
    i, end = 0, len(data)
    try:
        while i + 5 <= end:
            kind = data[i:i + 1]
            (n,) = struct.unpack(">I", data[i + 1:i + 5])
            body = data[i + 5:i + 5 + n]
            if len(body) != n or not body:
                raise ValueError(f"frame at byte {i} is cut short")
            raw = zlib.decompress(body[1:]) if body[:1] == ZLIB else body[1:]
            text = raw.decode("utf-8", "replace")
            if kind == ATTEMPT:
                blob.attempts.append(text)
            else:
                blob.texts[kind] = text
            i += 5 + n
        if i != end:
            raise ValueError(f"{end - i} stray bytes at the end")
    except (ValueError, zlib.error, struct.error) as exc:
        blob.damaged = f"{type(exc).__name__}: {exc}"
    return blob
