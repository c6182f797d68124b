"""JSON errors of the API: one shape, ``{"error": {"code", "message", "details"}}``.

Every failure the API can produce goes through :func:`to_response` and the shared layer's
envelope (:mod:`jobboard.shared.errors`), so clients (and the OpenAPI document) see a single
error schema, the same the pages send to JSON clients. Bad input is always a 4xx: anything the client
sent that we cannot use is turned into an :class:`ApiError` before it reaches the core.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request

from ..shared.errors import json_error
from ..shared.errors import to_response as shared_to_response
from ..shared.state import DEFAULTS, get_state

#: Default largest request body the API reads (bytes); ``JOBBOARD_API_MAX_BODY`` overrides.
DEFAULT_MAX_BODY = int(DEFAULTS["JOBBOARD_API_MAX_BODY"])


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


def to_response(exc: BaseException) -> Response:
    """Any exception raised while serving an API request, as the one JSON error envelope.

    An :class:`ApiError` carries its own status and code; everything else (core errors,
    Redis outages and out-of-memory, HTTP errors, bugs) is mapped by the shared layer.
    """
    if isinstance(exc, ApiError):
        return json_error(exc.status, exc.message, exc.code, exc.details, exc.headers)
    return shared_to_response(exc)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def max_body() -> int:
    """The largest body the API accepts, from ``JOBBOARD_API_MAX_BODY``."""
    return int(get_state().config["JOBBOARD_API_MAX_BODY"])


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
