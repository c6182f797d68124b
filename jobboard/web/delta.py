"""Live polls that send only what changed.

A live page's fragment is cut into pieces by the templates, each one element with an
``id``: *parts* between ``<!--part-->`` and ``<!--/part-->`` (the queue page's header, state
tabs, list bar and pager; the overview's header) and *rows* between ``<!--row-->`` and
``<!--/row-->`` (each job of a list, as its own ``<tbody>`` with its trace row; each queue of
the overview), whose ids are derived from the job id / queue name. Everything else is the
fragment's *frame*.

Each answer to a poll carries an ETag: a digest of the whole fragment (the text of
``<time>`` elements left out: the page's script keeps those current). The ETag is a
content hash, so what it stands for never changes: :class:`PartsMemo` remembers, per
ETag, the digest of the frame and of each part (a few bytes each, in process memory).

When a poll comes back with the ETag of what the page shows (``If-None-Match``):

- same ETag: ``304`` and no body (as before);
- same frame and parts, and the rows that stay keep their order: an answer with only the
  parts and rows that changed (``hx-swap-oob``), the rows that left (``delete``) and those
  that came (inserted after their predecessor, or before the first row that stayed),
  table elements inside ``<template>`` as htmx wants them, and ``HX-Reswap: none`` so the
  page's ``<main>`` itself stays;
- anything else (the frame changed: the list became empty, a pager appeared, a toast; no
  row stayed; rows reordered; or an ETag this process does not remember, e.g. another
  server process answered the last poll): the whole fragment, as before.

Applied in order, the partial answer leaves the page showing exactly what the whole
fragment would, so its ETag is the new one. Nothing is stored per client, and a miss
only costs bytes.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

#: What changes from one render to the next when no job did: the text of <time>
#: elements (relative times, ages), which the page's script keeps current between answers.
VOLATILE = re.compile(rb"(<time\b[^>]*>)[^<]*(</time>)")
PIECE = re.compile(rb"<!--(part|row)-->(.*?)<!--/\1-->", re.S)
_OPEN_TAG = re.compile(rb"\s*<([a-z]+)\b([^>]*)>")
_ID = re.compile(rb'\bid="([^"]+)"')
#: Elements htmx can only take out of band inside a <template> (the HTML parser drops a
#: bare <tr> outside a table).
_TABLE_ELEMENTS = (b"tr", b"tbody", b"thead", b"td", b"th")
MEMO_ENTRIES = 2048


def digest(data: bytes) -> str:
    """The content digest of some HTML, ``<time>`` texts left out."""
    return hashlib.blake2b(VOLATILE.sub(rb"\1\2", data), digest_size=12).hexdigest()


@dataclass(frozen=True)
class Piece:
    """One swappable element of a fragment (a part or a row)."""

    id: str
    digest: str
    html: bytes
    tag: bytes


@dataclass(frozen=True)
class Shape:
    """What a fragment is made of: its frame's digest, its parts' and its rows' ids and
    digests (rows in page order)."""

    frame: str
    parts: tuple[tuple[str, str], ...]
    rows: tuple[tuple[str, str], ...]
    row_tags: dict[str, bytes]


def split(body: bytes) -> tuple[Shape, dict[str, Piece]]:
    """The fragment's shape and its pieces by id (each must be one element with an id)."""
    pieces: dict[str, Piece] = {}
    parts: list[tuple[str, str]] = []
    rows: list[tuple[str, str]] = []

    def cut(m: re.Match[bytes]) -> bytes:
        html = m.group(2).strip()
        tag = _OPEN_TAG.match(html)
        found = _ID.search(tag.group(2)) if tag else None
        if tag is None or found is None:
            raise ValueError(f"a live piece must be one element with an id: {html[:80]!r}")
        piece = Piece(found.group(1).decode(), digest(html), html, tag.group(1))
        if piece.id in pieces:
            raise ValueError(f"two live pieces share the id {piece.id!r}")
        pieces[piece.id] = piece
        if m.group(1) == b"part":
            parts.append((piece.id, piece.digest))
            return b"<!--part " + found.group(1) + b"-->"
        rows.append((piece.id, piece.digest))
        return b""  # rows come and go without changing the frame

    # Whitespace runs collapse: the template's indentation between rows is not content.
    frame = re.sub(rb"\s+", b" ", PIECE.sub(cut, body))
    tags = {i: pieces[i].tag for i, _ in rows}
    return Shape(digest(frame), tuple(parts), tuple(rows), tags), pieces


def _oob(piece: Piece, how: str = "true", html: bytes | None = None) -> bytes:
    html = piece.html if html is None else html
    tag = _OPEN_TAG.match(html)
    assert tag is not None  # split() checked
    end = tag.end(1)
    out = html[:end] + f' hx-swap-oob="{how}"'.encode() + html[end:]
    return b"<template>" + out + b"</template>" if piece.tag in _TABLE_ELEMENTS else out


#: What htmx inserts for ``afterend`` / ``beforebegin`` is the oob element's *children*,
#: so a new row travels inside an element that may hold it.
_WRAPPER = {b"tbody": b"table", b"thead": b"table", b"tr": b"tbody", b"td": b"tr", b"th": b"tr"}


def _insert(piece: Piece, where: str) -> bytes:
    """The new row ``piece`` placed ``where`` (``afterend:#id`` / ``beforebegin:#id``)."""
    wrap = _WRAPPER.get(piece.tag, b"div")
    html = (b"<" + wrap + b' hx-swap-oob="' + where.encode() + b'">' + piece.html + b"</"
            + wrap + b">")
    return b"<template>" + html + b"</template>" if piece.tag in _TABLE_ELEMENTS else html


def _delete(row_id: str, tag: bytes) -> bytes:
    """An element that deletes the row ``row_id`` (gone from the page) out of band."""
    html = b"<" + tag + b' id="' + row_id.encode() + b'" hx-swap-oob="delete"></' + tag + b">"
    return b"<template>" + html + b"</template>" if tag in _TABLE_ELEMENTS else html


def changes(old: Shape, new: Shape, pieces: dict[str, Piece]) -> bytes | None:
    """What turns the page ``old`` into ``new`` as htmx out-of-band swaps, or None when
    only the whole fragment will do (see the module docstring)."""
    if old.frame != new.frame or [i for i, _ in old.parts] != [i for i, _ in new.parts]:
        return None
    before_rows = dict(old.rows)
    after_rows = dict(new.rows)
    kept_old = [i for i, _ in old.rows if i in after_rows]
    kept_new = [i for i, _ in new.rows if i in before_rows]
    if kept_old != kept_new or (new.rows and not kept_new):
        return None  # reordered, or nothing to anchor the new rows to
    before_parts = dict(old.parts)
    out = [_oob(pieces[i]) for i, d in new.parts if before_parts[i] != d]
    # Swaps inside <template> apply in document order: removals, then each row of the
    # new order (changed ones replaced, new ones placed after the row before them).
    out += [_delete(i, old.row_tags[i]) for i, _ in old.rows if i not in after_rows]
    previous: str | None = None
    for i, d in new.rows:
        piece = pieces[i]
        if i not in before_rows:
            where = f"afterend:#{previous}" if previous else f"beforebegin:#{kept_new[0]}"
            out.append(_insert(piece, where))
        elif before_rows[i] != d:
            out.append(_oob(piece))
        previous = i
    return b"\n".join(out)


class PartsMemo:
    """ETag -> the shape of the fragment it names (bounded, least recently used dropped).

    Correct whatever it holds: an ETag is a digest of its content, so its shape is fixed."""

    def __init__(self, size: int = MEMO_ENTRIES) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._shapes: OrderedDict[str, Shape] = OrderedDict()

    def put(self, etag: str, shape: Shape) -> None:
        with self._lock:
            self._shapes[etag] = shape
            self._shapes.move_to_end(etag)
            while len(self._shapes) > self.size:
                self._shapes.popitem(last=False)

    def get(self, etag: str) -> Shape | None:
        with self._lock:
            shape = self._shapes.get(etag)
            if shape is not None:
                self._shapes.move_to_end(etag)
            return shape
