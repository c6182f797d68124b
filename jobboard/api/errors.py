"""JSON errors of the API: one shape, ``{"error": {"code", "message", "details"}}``.

Every failure the API can produce goes through :func:`error_response`, so clients (and the
OpenAPI document) see a single error schema. Bad input is always a 4xx: anything the client
sent that we cannot use is turned into an :class:`ApiError` before it reaches the core.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.exceptions
from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import (
    InvalidArgument,
    JobboardError,
    JobNotFound,
    JobStateError,
    PeriodicTaskNotFound,
    QueueNotFound,
)

log = logging.getLogger("jobboard.api")

#: Default largest request body the API reads (bytes); ``JOBBOARD_API_MAX_BODY`` overrides.
DEFAULT_MAX_BODY = 1024 * 1024

#: Error codes by HTTP status, used when an HTTPException reaches the API without a code.
CODE_BY_STATUS: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "redis_unavailable",
}


class ApiError(Exception):
    """An error answered as JSON with ``status``; raise it anywhere inside a view."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details if details is not None else {}
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The JSON response for an error (the only place that builds one)."""
    resp = jsonify({"error": {"code": code, "message": message,
                              "details": details if details is not None else {}}})
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def task_not_found_class() -> type[BaseException] | None:
    """The core's ``TaskNotFound`` if it defines one (it is a LookupError either way)."""
    from .. import errors as core_errors

    return getattr(core_errors, "TaskNotFound", None)


def to_response(exc: BaseException) -> Response:
    """Map any exception raised while serving an API request to a JSON response.

    The order matters: specific core errors first, then the generic families, so that a
    ``QueueNotFound`` (a LookupError) is a 404 with its own code rather than a 500.
    """
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    if isinstance(exc, QueueNotFound):
        return error_response(404, "queue_not_found", str(exc), {"queue": exc.name})
    if isinstance(exc, JobNotFound):
        return error_response(404, "job_not_found", str(exc),
                              {"queue": exc.queue, "job_id": exc.job_id})
    if isinstance(exc, PeriodicTaskNotFound):
        return error_response(404, "periodic_not_found", str(exc),
                              {"queue": exc.queue, "name": exc.name})
    tnf = task_not_found_class()
    if tnf is not None and isinstance(exc, tnf):
        return error_response(404, "task_not_found", str(exc))
    if isinstance(exc, JobStateError):
        return error_response(409, "invalid_state", str(exc), {
            "job_id": exc.job_id, "state": exc.state, "action": exc.action,
            "allowed": list(exc.allowed)})
    if isinstance(exc, InvalidArgument):
        return error_response(400, "invalid_argument", str(exc))
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                        redis.exceptions.BusyLoadingError)):
        # An outage is not the client's fault and not a bug: 503 so callers retry later.
        log.warning("Redis unavailable while serving %s: %s", request.path, exc)
        return error_response(503, "redis_unavailable",
                              "Redis is not answering; try again shortly.",
                              headers={"Retry-After": "5"})
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        code = CODE_BY_STATUS.get(status, "http_error")
        headers = {}
        valid = getattr(exc, "valid_methods", None)
        if status == 405 and valid:
            headers["Allow"] = ", ".join(sorted(valid))
        return error_response(status, code, exc.description or exc.name, headers=headers)
    if isinstance(exc, JobboardError):
        return error_response(400, "jobboard_error", str(exc))
    # A bug on our side: log it with the traceback, answer without leaking internals.
    current_app.logger.exception("Unhandled error in jobboard API: %s", exc)
    return error_response(500, "internal_error",
                          "Internal error in jobboard; the server log has the traceback.")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def max_body() -> int:
    """The largest body the API accepts, from ``JOBBOARD_API_MAX_BODY``."""
    return int(current_app.config.get("JOBBOARD_API_MAX_BODY", DEFAULT_MAX_BODY))


def is_json_mimetype(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json"))


def json_body(required: bool = True) -> dict[str, Any]:
    """The request body as a JSON object, or raise the right ApiError.

    415 when the body is not declared as JSON, 413 when it is bigger than the limit, 400 when
    it does not parse or is not an object. JSON only: nothing is ever unpickled.
    """
    limit = max_body()
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large",
                       f"Request body is larger than {limit} bytes.", {"limit": limit})
    request.max_content_length = limit  # also bounds chunked bodies with no length
    raw = request.get_data(cache=True)
    if not raw:
        if required:
            if not is_json_mimetype(request.mimetype):
                raise ApiError(415, "unsupported_media_type",
                               "Send a JSON body with Content-Type: application/json.")
            raise ApiError(400, "malformed_json", "The request body is empty; send a JSON object.")
        return {}
    if not is_json_mimetype(request.mimetype):
        raise ApiError(415, "unsupported_media_type",
                       "The API accepts JSON only: set Content-Type: application/json.",
                       {"content_type": request.mimetype or None})
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ApiError(400, "malformed_json", f"The request body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "The request body must be a JSON object.")
    return data
