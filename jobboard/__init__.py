"""jobboard: durable job tracking, reliable delivery and a dashboard for Huey on Redis.

>>> huey = jobboard.RedisHuey("emails", url="redis://localhost:6379/0")
>>> board = jobboard.Board([huey])
>>> board.queue("emails").counts()
"""

from typing import TYPE_CHECKING

from .board import Board, Queue
from .config import Retention
from .context import log, progress
from .errors import (
    ConfigurationError,
    InvalidArgument,
    JobboardError,
    JobNotFound,
    JobStateError,
    NotReplicated,
    PeriodicTaskNotFound,
    QueueNotFound,
    RedisOutOfMemory,
    TaskNotFound,
)
from .huey import RedisHuey, track
from .version import __version__

# Consumers started with RedisHuey(..., alerts={...}) run the alert sender: wired here,
# at the top, because the runtime does not import the core (docs/architecture.md).
from . import alerts as _alerts, tracking as _tracking  # noqa: E402

if _alerts.check_tracker_config not in _tracking.TRACKER_HOOKS:
    _tracking.TRACKER_HOOKS.append(_alerts.check_tracker_config)
    _tracking.CONSUMER_HOOKS.append(_alerts.start_for_consumer)

if TYPE_CHECKING:
    from .extension import JobBoard


def __getattr__(name: str) -> object:
    # The Flask extension is imported lazily: consumers need not import Flask.
    if name == "JobBoard":
        from .extension import JobBoard

        return JobBoard
    raise AttributeError(name)


__all__ = [
    "Board", "ConfigurationError", "InvalidArgument", "JobBoard", "JobboardError",
    "JobNotFound", "JobStateError", "NotReplicated", "PeriodicTaskNotFound", "Queue", "QueueNotFound",
    "RedisHuey", "RedisOutOfMemory", "Retention", "TaskNotFound", "__version__", "log", "progress", "track",
]
