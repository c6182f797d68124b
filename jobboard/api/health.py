"""Health checks: ``<prefix>/health/ready`` for load balancers, ``/health/detailed`` for people.

``ready`` only asks whether Redis answers and accepts writes (200 / 503) and is open by default
(``JOBBOARD_HEALTH_OPEN``, default True) because orchestrators probe it without credentials.
``detailed`` reports the deployment's health from the core (``Board.health``: Redis memory,
then every queue's backlog, age of the oldest waiting job, failure rates, consumers alive,
paused, and the problems ``jobboard.checks`` finds) and needs the viewer role unless
``JOBBOARD_HEALTH_DETAILED_OPEN`` is set. ``?strict=1`` makes it answer 503 when a queue is
unhealthy, for monitors that only look at status codes.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..checks import out_of_memory
from ..errors import REDIS_OUTAGE, is_out_of_memory
from ..shared.state import get_board, health_thresholds
from . import access, serialize
from .errors import to_response

health_blueprint = Blueprint("jobboard_health", __name__)
health_blueprint.register_error_handler(Exception, to_response)


def _no_cache(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _unavailable(body: dict[str, Any]) -> Response:
    resp = jsonify({"status": "unavailable", **body})
    resp.status_code = 503
    resp.headers["Retry-After"] = "5"
    return _no_cache(resp)


@health_blueprint.get("/health/ready")
def ready() -> Response:
    """200 when Redis answers and accepts writes; 503 when it is down or out of memory.

    A Redis at maxmemory with the noeviction policy still answers PING but refuses every
    enqueue, so readiness reads ``INFO memory`` too (one round trip for both)."""
    if not access.open_flag("JOBBOARD_HEALTH_OPEN"):
        access.check("viewer")
    started = time.perf_counter()
    try:
        info = get_board().redis.info("memory")
    except REDIS_OUTAGE as e:
        if is_out_of_memory(e):
            return _unavailable({"redis": True, "out_of_memory": True,
                                 "error": "Redis is out of memory: writes are refused."})
        return _unavailable({"redis": False,
                             "error": f"Redis is not answering: {e.__class__.__name__}"})
    if out_of_memory(info):
        return _unavailable({
            "redis": True, "out_of_memory": True,
            "error": "Redis is out of memory (used_memory >= maxmemory with the noeviction "
                     "policy): enqueues and actions are refused until memory is freed."})
    ms = round((time.perf_counter() - started) * 1000, 3)
    return _no_cache(jsonify({"status": "ok", "redis": True, "latency_ms": ms}))


@health_blueprint.get("/health/detailed")
def detailed() -> Response:
    """Every queue's health, with the reasons when one is not healthy."""
    if not access.open_flag("JOBBOARD_HEALTH_DETAILED_OPEN"):
        access.check("viewer")
    health = get_board().health(health_thresholds())
    resp = jsonify(serialize.board_health(health))
    strict = request.args.get("strict", "").lower() in ("1", "true", "yes")
    if strict and not health.healthy:
        resp.status_code = 503
    return _no_cache(resp)
