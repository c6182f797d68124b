"""Load many finished jobs quickly through jobboard's own scripts (for benches and tests).

``load_finished`` enqueues jobs with the real ENQUEUE script (the producer's arguments,
``tracking.message_argv``) and ends them with the real FINISH script (the consumer's
arguments, ``Tracker._error_frames``), pipelined in batches: the same records, blobs and
search index a consumer writes, without running the tasks (a consumer would take minutes
for a million jobs). Not part of the library.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

from jobboard import compact, scripts
from jobboard.display import error_summary, result_fields
from jobboard.storage import now_ms
from jobboard.tracking import message_argv

BATCH = 1000


def load_finished(huey: Any, task: Any, n: int, payload: Callable[[int], Any], state: str,
                  error: Callable[[int], BaseException] | None = None,
                  result: Callable[[int], Any] | None = None, start: int = 0) -> list[str]:
    """Enqueue ``n`` jobs of ``task`` (a Huey task) with ``payload(i)`` as their one
    argument and end them in ``state``: failed with ``error(i)`` (a traceback recorded),
    or completed with ``result(i)``. Returns their ids."""
    tracker = huey.jobboard
    conn, base, config = tracker.conn, tracker.keys.base, tracker.config
    enqueue = conn.register_script(scripts.ENQUEUE)
    finish = conn.register_script(scripts.FINISH)
    conn.sadd(f"{config.prefix}:queues", tracker.queue)
    name = huey._registry.task_to_string(task.task_class)
    ids: list[str] = []
    for first in range(start, start + n, BATCH):
        batch = range(first, min(first + BATCH, start + n))
        pipe = conn.pipeline(transaction=False)
        msgs = []
        for i in batch:
            t = task.s(payload(i))
            data = huey.serialize_task(t)
            msg = huey._registry.create_message(t)
            argv = message_argv(base, data, msg, priority=None, utc=huey.utc, config=config)
            enqueue(keys=argv[:1], args=argv[1:], client=pipe)
            msgs.append(msg)
        pipe.execute()
        pipe = conn.pipeline(transaction=False)
        for i, msg in zip(batch, msgs):
            res_text, err, frames = "", "", b""
            if state == "completed":
                preview, whole = result_fields(result(i) if result else None, config.payload_limit,
                                               config.redact_re)
                res_text = compact.preview(preview)
                if whole or res_text != preview:
                    frames += compact.frame(compact.RESULT, whole or preview, config.compress_above)
            else:
                exc = error(i) if error else RuntimeError(f"job {i} failed")
                try:
                    raise exc
                except BaseException as raised:
                    tb = "".join(traceback.format_exception(type(raised), raised, raised.__traceback__))
                summary = error_summary(exc)
                attempt = tracker_attempt(exc, summary, tb)
                err, frames = tracker._error_frames(summary, attempt)
            finish(keys=[base], args=[msg.id, state, now_ms(), res_text, err, frames,
                                      "0" if state == "completed" else "1",
                                      *config.retention_argv(state, name), "", "", ""],
                   client=pipe)
            ids.append(msg.id)
        pipe.execute()
    return ids


def tracker_attempt(exc: BaseException, summary: str, tb: str) -> str:
    """An attempt's JSON, as Tracker._attempt_json writes it."""
    return json.dumps({"at": now_ms(), "error_class": type(exc).__name__, "message": str(exc),
                       "traceback": tb, "consumer": "loader:1/Worker-1"}, separators=(",", ":"))
