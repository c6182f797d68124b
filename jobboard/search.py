"""What the search index keeps of a job, and how a query is read.

The scripts keep, per queue (scripts.INDEX): each job's number ``n`` (its record's ``n``
field, from the queue's sequence) mapped back to its id; for each token, the jobs holding
it, in chunks of 512 consecutive numbers (a set of offsets in the chunk, which Redis packs
as 16-bit integers, 2 bytes a job; a chunk's only posting of a token is kept in the
token's chunk list instead); for each token, the chunks it appears in, sorted; and every
id in lower case, sorted, for prefix lookups. A search reads those, never the records, so
its cost follows the matches, not the jobs. A job that goes leaves the number map and the
id list at once; its postings stay until every job of its chunk is gone (a search leaves
them out), then go with the chunk's.

Tokens are the lower-cased word runs (letters, digits, ``_``) in
the task name, the values (not the keys) of the arguments, and the error texts, at most
``MAX_TOKENS`` per job. Two more kinds are made by the scripts: ``~s:<state>`` for jobs in
a finished state and ``~t:<task>`` for the exact task. A query matches a job holding every
one of its words (in any order); a single word also matches ids that start with it.
"""

from __future__ import annotations

import re
from typing import Any

from .display import CARRIER_KWARGS
from .primitives import short_name

#: Tokens kept per job (the first ones met: task, then arguments, then errors).
MAX_TOKENS = 48
#: Longer word runs are cut to this many characters (a query's words are cut alike).
TOKEN_CHARS = 40
#: Job numbers per posting set: Redis keeps a set of up to 512 integers packed
#: (``set-max-intset-entries``). scripts.PRELUDE has the same number.
CHUNK = 512
#: Error words added per failed attempt.
ERROR_TOKENS = 16
#: Shortest id prefix looked up (shorter ones match too many ids to mean anything).
MIN_PREFIX = 3

_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")
_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def words(text: str) -> list[str]:
    """The tokens of a text, in order, without repeats."""
    seen: dict[str, None] = {}
    for w in _WORD.findall(text.lower()):
        seen.setdefault(w[:TOKEN_CHARS])
    return list(seen)


def _texts(value: Any, out: list[str], redact: re.Pattern[str], depth: int = 0) -> None:
    """The text of every scalar in ``value`` (dict values, not keys), appended to out."""
    kind = type(value)
    if kind is str:
        out.append(value[:4000])
    elif kind is int or kind is float:
        if not (kind is int and value.bit_length() > 200):  # no 10,000-digit numbers
            out.append(str(value))
    elif depth > 8 or len(out) > 400:
        return
    elif isinstance(value, dict):
        for k, v in list(value.items())[:200]:
            # a redacted value is not shown, so it must not be found either
            if not (isinstance(k, str) and (_redacted(redact, k) or k in CARRIER_KWARGS)):
                _texts(v, out, redact, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in list(value)[:200]:
            _texts(v, out, redact, depth + 1)
    # Other objects: their text is not looked at (a user __str__ may be slow or raise).


_REDACTED_KEYS: dict[tuple[re.Pattern[str], str], bool] = {}


def _redacted(redact: re.Pattern[str], key: str) -> bool:
    """Whether ``redact`` matches the key; remembered (payloads repeat their keys)."""
    hit = _REDACTED_KEYS.get((redact, key))
    if hit is None:
        hit = redact.search(key) is not None
        if len(_REDACTED_KEYS) < 10_000:
            _REDACTED_KEYS[(redact, key)] = hit
    return hit


def job_tokens(task: str, args: Any, kwargs: Any, redact: re.Pattern[str]) -> str:
    """The tokens of a new job, space-separated, as ENQUEUE takes them. Values under keys
    that ``redact`` matches (passwords...) are left out, as they are from the display."""
    texts = [short_name(task)]
    _texts(args, texts, redact)
    if isinstance(kwargs, dict):  # keyword names are keys too: only their values count
        _texts(kwargs, texts, redact)
    out: dict[str, None] = {task_token(task): None}
    for w in _WORD.findall(" ".join(texts).lower()):
        out.setdefault(w[:TOKEN_CHARS])
    return " ".join(list(out)[:MAX_TOKENS + 1])


def error_tokens(text: str) -> str:
    """The tokens of an error summary, space-separated (FINISH, ATTEMPT_FAILED)."""
    return " ".join(words(text)[:ERROR_TOKENS])


def task_token(task: str) -> str:
    """The token every job of ``task`` holds (whitespace cannot be part of a token)."""
    return "~t:" + _SPACE.sub("_", task)


def state_token(state: str) -> str:
    """The token of the jobs in a finished state (kept by the scripts)."""
    return "~s:" + state


def id_member(job_id: str) -> str:
    """A job's entry in the sorted id index: its id in ASCII lower case (what Lua's
    ``string.lower`` does), followed by a tab and the id itself when they differ."""
    low = job_id.translate(_ASCII_UPPER)
    return low if low == job_id else f"{low}\t{job_id}"


def id_of_member(member: str) -> str:
    """The job id of an entry of the sorted id index (see ``id_member``)."""
    return member.split("\t", 1)[1] if "\t" in member else member


def query_words(query: str) -> list[str]:
    """The words of a query, as tokens (see ``words``)."""
    return words(query)


def id_prefix(query: str) -> str | None:
    """The id prefix a query stands for: a single word (letters, digits, ``-`` ``_`` ``.``
    ``:``) of at least MIN_PREFIX characters, in ASCII lower case; else None."""
    q = query.strip()
    if len(q) < MIN_PREFIX or len(q) > 200 or not re.fullmatch(r"[\w.:-]+", q):
        return None
    return q.translate(_ASCII_UPPER)
