"""Health rules: one definition of what "unhealthy" means, with its thresholds.

``/health/*``, the overview's badge, the JSON API, the Prometheus gauge
``jobboard_health_problem`` and the webhook alerts (``jobboard.alerts``) all read
``Queue.health()`` / ``Board.health()``, which apply these rules to what they read from
Redis. Each rule has a stable name (``CHECKS``) that alerts and dashboards key on.

Thresholds come from ``JOBBOARD_HEALTH_THRESHOLDS`` (Flask) or the ``thresholds=``
argument, as a dict of the keys of ``DEFAULT_THRESHOLDS``, optionally with
``"queues": {name: {key: value}}`` overriding them for one queue.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import ConfigurationError
from .records import Problem, RedisHealth

#: The rules, by name, with the title an alert or a badge gives them:
#:
#: * ``no_consumer``: jobs are waiting and no consumer of the queue is alive;
#: * ``backlog_age``: the oldest waiting job has waited longer than ``max_wait_age``
#:   (not while paused: that is the next rule);
#: * ``paused_backlog``: the queue is paused and its oldest waiting job has waited longer
#:   than ``max_paused_age``;
#: * ``failure_rate``: more than ``max_failure_rate`` of the runs of the last 5 minutes
#:   failed, counting at least ``min_jobs_for_rate`` runs;
#: * ``redis_memory``: Redis uses more than ``redis_memory_ratio`` of its maxmemory;
#: * ``redis_oom``: Redis is at maxmemory with the noeviction policy (writes refused).
CHECKS: dict[str, str] = {
    "no_consumer": "no consumer alive",
    "backlog_age": "backlog too old",
    "paused_backlog": "paused with jobs waiting",
    "failure_rate": "failure rate too high",
    "redis_memory": "Redis memory nearly full",
    "redis_oom": "Redis out of memory",
}

#: Every threshold, with its default. Durations in seconds, rates and ratios as fractions.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "max_wait_age": 300.0,
    "max_paused_age": 300.0,
    "max_failure_rate": 0.1,
    "min_jobs_for_rate": 10,
    "redis_memory_ratio": 0.9,
}


def thresholds(raw: Mapping[str, Any] | None, queue: str | None = None) -> dict[str, float]:
    """The thresholds in force for ``queue`` (or deployment-wide): the defaults, then
    ``raw``'s top-level keys, then ``raw["queues"][queue]``. Raises ConfigurationError on
    an unknown key or a value that is not a number >= 0."""
    out = dict(DEFAULT_THRESHOLDS)
    if not raw:
        return out
    if not isinstance(raw, Mapping):
        raise ConfigurationError("JOBBOARD_HEALTH_THRESHOLDS must be a dict of "
                                 f"{', '.join(DEFAULT_THRESHOLDS)} (and 'queues').")
    layers = [{k: v for k, v in raw.items() if k != "queues"}]
    per_queue = raw.get("queues") or {}
    if not isinstance(per_queue, Mapping):
        raise ConfigurationError("JOBBOARD_HEALTH_THRESHOLDS['queues'] must map queue names "
                                 "to dicts of thresholds.")
    if queue is not None and queue in per_queue:
        layers.append(per_queue[queue])
    for name, layer in [(None, layers[0]), *((q, v) for q, v in per_queue.items())]:
        _check_layer(layer, name)
    for layer in layers:
        out.update({k: float(v) for k, v in layer.items()})
    return out


def _check_layer(layer: Any, queue: str | None) -> None:
    where = f" for queue {queue!r}" if queue else ""
    if not isinstance(layer, Mapping):
        raise ConfigurationError(f"Health thresholds{where} must be a dict.")
    for key, value in layer.items():
        if key not in DEFAULT_THRESHOLDS:
            raise ConfigurationError(
                f"Unknown health threshold {key!r}{where}; known: {', '.join(DEFAULT_THRESHOLDS)}.")
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise ConfigurationError(f"Health threshold {key!r}{where} must be a number >= 0, "
                                     f"not {value!r}.")


def queue_problems(queue: str, t: Mapping[str, float], *, backlog: int, alive: int,
                   oldest: float | None, paused: bool, paused_since: float | None,
                   rate_5m: float | None, jobs_5m: int, now: float) -> list[Problem]:
    """The problems of one queue, from what ``Queue.health()`` read."""
    out: list[Problem] = []
    if backlog and not alive:
        out.append(Problem("no_consumer", f"{backlog} jobs waiting and no consumer alive",
                           float(alive), 1.0, queue))
    if oldest is not None and not paused and oldest > t["max_wait_age"]:
        out.append(Problem("backlog_age", f"the next waiting job has waited {int(oldest)} s "
                           f"(limit {int(t['max_wait_age'])} s)", oldest, t["max_wait_age"], queue))
    if paused and backlog and oldest is not None and oldest > t["max_paused_age"]:
        since = f" for {int(now - paused_since)} s" if paused_since else ""
        out.append(Problem("paused_backlog", f"paused{since} with {backlog} jobs waiting, the oldest "
                           f"for {int(oldest)} s (limit {int(t['max_paused_age'])} s)",
                           oldest, t["max_paused_age"], queue))
    if rate_5m is not None and jobs_5m >= t["min_jobs_for_rate"] and rate_5m > t["max_failure_rate"]:
        out.append(Problem("failure_rate", f"{rate_5m:.0%} of {jobs_5m} runs failed in the last 5 "
                           f"minutes (limit {t['max_failure_rate']:.0%})", rate_5m,
                           t["max_failure_rate"], queue))
    return out


def out_of_memory(info: Mapping[str, Any]) -> bool:
    """Whether ``INFO memory`` says Redis refuses writes: maxmemory reached, noeviction."""
    limit = int(info.get("maxmemory") or 0)
    policy = str(info.get("maxmemory_policy") or "")
    return limit > 0 and policy == "noeviction" and int(info.get("used_memory") or 0) >= limit


def redis_health(info: Mapping[str, Any], t: Mapping[str, float]) -> RedisHealth:
    """The Redis's problems, from its ``INFO memory``."""
    used, limit = int(info.get("used_memory") or 0), int(info.get("maxmemory") or 0)
    policy = str(info.get("maxmemory_policy") or "")
    h = RedisHealth(used, limit, policy)
    if out_of_memory(info):
        h.problems.append(Problem(
            "redis_oom", f"Redis is out of memory ({used:,} of {limit:,} bytes, policy noeviction): "
            "enqueues and actions are refused until memory is freed", used / limit, 1.0))
    elif limit and used / limit > t["redis_memory_ratio"]:
        evicts = "" if policy == "noeviction" else f"; policy {policy} evicts keys, job records included"
        h.problems.append(Problem(
            "redis_memory", f"Redis uses {used / limit:.0%} of its maxmemory ({used:,} of {limit:,} "
            f"bytes){evicts}", used / limit, t["redis_memory_ratio"]))
    return h
