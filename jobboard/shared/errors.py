"""The one error envelope of jobboard, for the pages and the JSON API alike.

JSON clients get ``{"error": {"code", "message", "details"}}``; browsers get the dashboard's
error page (or fragment, for htmx), rendered by the pages adapter through
``JobBoardState.render_error``. Every status has one default code (:data:`STATUS_CODES`);
the core's exceptions map to one status and code each (:func:`core_error`), and a Redis
that cannot serve us (down, loading, out of memory) is always a 503 (:func:`redis_error`).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import (
    REDIS_OUTAGE, InvalidArgument, JobboardError, JobNotFound, JobStateError,
    PeriodicTaskNotFound, QueueNotFound, TaskNotFound, is_out_of_memory,
)
from .state import get_state

log = logging.getLogger("jobboard")

#: The machine code of each HTTP status jobboard answers with (used when no more specific
#: code applies). Documented in docs/api.md.
STATUS_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
    500: "internal_error", 503: "redis_unavailable",
}

#: Page titles of the HTML error page.
TITLES: dict[int, str] = {
    400: "Bad request", 401: "Login required", 403: "Not allowed", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Too large", 415: "Wrong content type",
    422: "Invalid request", 429: "Too many attempts", 500: "Internal error",
    503: "Redis is unavailable",
}

#: Seconds a client should wait before retrying after a Redis outage (Retry-After).
OUTAGE_RETRY_SECONDS = 5


def is_htmx() -> bool:
    """Whether the request was sent by htmx (then pages answer with a fragment)."""
    return request.headers.get("HX-Request") == "true"


def is_api_request() -> bool:
    """Whether the request is for the JSON API (``<prefix>/api/...``)."""
    try:
        prefix = get_state().url_prefix
    except JobboardError:  # outside an initialised app: guess from the request alone
        prefix = ""
    return request.path == prefix + "/api" or request.path.startswith(prefix + "/api/")


def wants_json() -> bool:
    """Whether to answer with JSON: the API, health and metrics, bearer-token clients, or a
    JSON-only Accept header."""
    if is_api_request():
        return True
    try:
        if request.blueprint in get_state().json_blueprints:
            return True
    except JobboardError:
        pass
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return True
    if is_htmx():
        return False
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (best == "application/json"
            and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"])


def json_error(status: int, message: str, code: str | None = None,
               details: Any = None, headers: dict[str, str] | None = None) -> Response:
    """``{"error": {"code", "message", "details"}}`` with ``status`` (the only JSON builder)."""
    resp = jsonify({"error": {
        "code": code or STATUS_CODES.get(status, "error"),
        "message": message,
        "details": details if details is not None else {},
    }})
    resp.status_code = status
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def error_response(status: int, message: str, code: str | None = None,
                   title: str | None = None, details: Any = None,
                   headers: dict[str, str] | None = None) -> Response:
    """An error as JSON, or as the dashboard's page/fragment, saying what to do next."""
    render = None
    if not wants_json():
        try:
            render = get_state().render_error
        except JobboardError:
            render = None
    if render is None:
        return json_error(status, message, code, details, headers)
    resp = render(status, message, title or TITLES.get(status, "Error"))
    resp.status_code = status
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def core_error(exc: BaseException) -> tuple[int, str, dict[str, Any]] | None:
    """(status, code, details) of a core exception, or None when ``exc`` is not one."""
    if isinstance(exc, QueueNotFound):
        return 404, "queue_not_found", {"queue": exc.name}
    if isinstance(exc, JobNotFound):
        return 404, "job_not_found", {"queue": exc.queue, "job_id": exc.job_id}
    if isinstance(exc, PeriodicTaskNotFound):
        return 404, "periodic_not_found", {"queue": exc.queue, "name": exc.name}
    if isinstance(exc, TaskNotFound):
        return 404, "task_not_found", {"queue": exc.queue, "task": exc.name}
    if isinstance(exc, JobStateError):
        return 409, "invalid_state", {"job_id": exc.job_id, "state": exc.state,
                                      "action": exc.action, "allowed": list(exc.allowed)}
    if isinstance(exc, InvalidArgument):
        return 400, "invalid_argument", {}
    return None


def is_redis_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis cannot serve us now (down, loading, out of memory)."""
    return isinstance(exc, REDIS_OUTAGE) or is_out_of_memory(exc)


def _asker_is_admin() -> bool:
    # Imported here: auth imports this module for its error answers.
    from .auth import current_role

    try:
        return current_role() == "admin"
    except Exception:  # resolving the role may need Redis, which just failed
        return False


def redis_error(exc: BaseException) -> Response:
    """The 503 for a Redis that cannot serve us: unreachable, loading, or out of memory.

    Jobs are safe either way (a refused write changed nothing). Only admins see Redis's own
    words (which name its host and port); everyone else gets the kind of problem.
    """
    state = None
    try:
        state = get_state()
    except JobboardError:
        pass
    if state is not None:
        state.live.invalidate()
    seconds = int(state.config.poll_seconds) if state is not None else OUTAGE_RETRY_SECONDS
    cause = f" Redis said: {exc}" if _asker_is_admin() else ""
    if is_out_of_memory(exc):
        log.warning("Redis is out of memory while serving %s: %s", request.path, exc)
        return error_response(
            503, "Redis is out of memory (maxmemory reached with the noeviction policy), so "
            "it refuses writes: nothing was changed. Free memory (shorter retention, "
            "clean finished jobs) or raise maxmemory, then retry." + cause,
            code="redis_out_of_memory", title="Redis is out of memory",
            details={"cause": "out_of_memory"}, headers={"Retry-After": str(seconds)})
    log.warning("Redis unavailable while serving %s: %s", request.path, exc)
    return error_response(
        503, f"jobboard cannot reach Redis ({type(exc).__name__}). Jobs are not lost: try "
        f"again in a few seconds; the dashboard checks again every {seconds} s." + cause,
        code="redis_unavailable", details={"cause": type(exc).__name__},
        headers={"Retry-After": str(seconds)})


def http_error(exc: HTTPException) -> Response:
    """A werkzeug HTTPException (404, 405, 413, ...) in the envelope."""
    if exc.response is not None:  # abort(response): already the answer
        return exc.response  # type: ignore[return-value]
    status = exc.code or 500
    headers: dict[str, str] = {}
    valid = getattr(exc, "valid_methods", None)
    if status == 405 and valid:
        headers["Allow"] = ", ".join(sorted(valid))
    return error_response(status, exc.description or exc.name, headers=headers)


def to_response(exc: BaseException) -> Response:
    """Any exception raised while serving a jobboard request, as its error response.

    Core errors and Redis outages first (a ``QueueNotFound`` is a 404, an out-of-memory
    Redis a 503), then HTTP errors; anything else is a bug: logged with its traceback and
    answered with a 500 that leaks nothing.
    """
    mapped = core_error(exc)
    if mapped is not None:
        status, code, details = mapped
        return error_response(status, str(exc), code=code, details=details)
    if is_redis_unavailable(exc):
        return redis_error(exc)
    if isinstance(exc, HTTPException):
        return http_error(exc)
    if isinstance(exc, JobboardError):
        return error_response(400, str(exc), code="jobboard_error")
    log.error("Unhandled error in jobboard while serving %s", request.path, exc_info=exc)
    return error_response(500, "Internal error in jobboard; the server log has the traceback.")


def handle_errors(blueprint: Blueprint) -> None:
    """Answer every exception raised under ``blueprint`` with :func:`to_response`."""
    # Flask looks at a blueprint's handlers before the app's for every class of the
    # exception, so a host app's own handlers never answer for jobboard's routes.
    blueprint.register_error_handler(Exception, to_response)
