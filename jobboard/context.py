"""Progress and log lines from inside a running task.

The consumer's worker sets the current job in a thread-local when it dequeues it; with
``-k greenlet`` gevent patches ``threading.local`` so it is greenlet-local, and with
``-k process`` every worker process has its own. Outside a tracked task both calls do
nothing and return False, so task code can call them unconditionally.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .tracking import Tracker

_local = threading.local()


def set_current(tracker: "Tracker | None", job_id: str | None) -> None:
    _local.job = (tracker, job_id) if tracker is not None and job_id else None


def current_job_id() -> str | None:
    """Id of the tracked job running in this worker, or None."""
    job = getattr(_local, "job", None)
    return job[1] if job else None


def progress(percent: float, message: str | None = None) -> bool:
    """Report progress (0-100) of the current job, with an optional message.

    Returns False (and does nothing) outside a tracked task. Never raises for Redis errors:
    a progress report must not fail the task."""
    job = getattr(_local, "job", None)
    if not job:
        return False
    tracker, job_id = job
    return tracker.set_progress(job_id, percent, message)


def log(message: str) -> bool:
    """Add a log line to the current job (kept capped). False outside a tracked task."""
    job = getattr(_local, "job", None)
    if not job:
        return False
    tracker, job_id = job
    return tracker.add_log(job_id, message)
