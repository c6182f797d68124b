"""jobboard: durable job tracking, reliable delivery and a dashboard for Huey on Redis."""

from .errors import (
    ConfigurationError,
    InvalidArgument,
    JobboardError,
    JobNotFound,
    JobStateError,
    PeriodicTaskNotFound,
    QueueNotFound,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError", "InvalidArgument", "JobboardError", "JobNotFound",
    "JobStateError", "PeriodicTaskNotFound", "QueueNotFound", "__version__",
]
