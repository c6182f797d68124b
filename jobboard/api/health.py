"""Health checks: ``<prefix>/health/ready`` for load balancers, ``/health/detailed`` for people.

``ready`` only asks whether Redis answers (200 / 503) and is open by default
(``JOBBOARD_HEALTH_OPEN``, default True) because orchestrators probe it without credentials.
``detailed`` reports every queue's health from the core (backlog, age of the oldest waiting
job, failure rates, consumers alive, paused, reasons) and needs the viewer role unless
``JOBBOARD_HEALTH_DETAILED_OPEN`` is set. ``?strict=1`` makes it answer 503 when a queue is
unhealthy, for monitors that only look at status codes.
"""

from __future__ import annotations

import time

import redis.exceptions
from flask import Blueprint, Response, current_app, jsonify, request

from . import access, serialize
from .errors import to_response

health_blueprint = Blueprint("jobboard_health", __name__)

_OUTAGE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
           redis.exceptions.BusyLoadingError)


@health_blueprint.errorhandler(Exception)
def _handle(exc: Exception) -> Response:
    return to_response(exc)


def _board():  # type: ignore[no-untyped-def]
    from ..web.extension import get_board

    return get_board()


def _no_cache(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


@health_blueprint.get("/health/ready")
def ready() -> Response:
    """200 when Redis answers a PING, 503 when it does not."""
    if not access.open_flag("JOBBOARD_HEALTH_OPEN", True):
        access.check("viewer")
    started = time.perf_counter()
    try:
        _board().ping()
    except _OUTAGE as e:
        resp = jsonify({"status": "unavailable", "redis": False,
                        "error": f"Redis is not answering: {e.__class__.__name__}"})
        resp.status_code = 503
        resp.headers["Retry-After"] = "5"
        return _no_cache(resp)
    ms = round((time.perf_counter() - started) * 1000, 3)
    return _no_cache(jsonify({"status": "ok", "redis": True, "latency_ms": ms}))


@health_blueprint.get("/health/detailed")
def detailed() -> Response:
    """Every queue's health, with the reasons when one is not healthy."""
    if not access.open_flag("JOBBOARD_HEALTH_DETAILED_OPEN", False):
        access.check("viewer")
    thresholds = current_app.config.get("JOBBOARD_HEALTH_THRESHOLDS") or None
    queues = [serialize.health(q.health(thresholds)) for q in _board().queues()]
    healthy = all(h["healthy"] for h in queues)
    resp = jsonify({"status": "ok" if healthy else "unhealthy", "healthy": healthy,
                    "checked_at": time.time(), "queues": queues})
    strict = request.args.get("strict", "").lower() in ("1", "true", "yes")
    if strict and not healthy:
        resp.status_code = 503
    return _no_cache(resp)
