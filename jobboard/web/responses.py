"""Error responses shared by the pages and the JSON API: JSON for API clients, HTML else."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from .extension import get_state

#: Short machine codes for the HTTP statuses jobboard answers with.
STATUS_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "unprocessable", 429: "too_many_requests",
    500: "internal_error", 503: "unavailable",
}


def is_htmx() -> bool:
    """Whether the request was sent by htmx (then we answer with a fragment)."""
    return request.headers.get("HX-Request") == "true"


def wants_json() -> bool:
    """Whether to answer with JSON: API paths, bearer-token clients, or JSON-only Accept."""
    try:
        prefix = get_state().url_prefix
    except Exception:  # outside an initialised app: guess from the request alone
        prefix = ""
    if request.path.startswith(prefix + "/api"):
        return True
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return True
    if is_htmx():
        return False
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def json_error(status: int, message: str, code: str | None = None,
               details: dict[str, Any] | None = None) -> Response:
    """``{"error": {"code", "message", "details"}}`` with ``status``."""
    resp = jsonify({"error": {
        "code": code or STATUS_CODES.get(status, "error"),
        "message": message,
        "details": details or {},
    }})
    resp.status_code = status
    return resp


def error_response(status: int, message: str, code: str | None = None,
                   title: str | None = None, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """An error page (or fragment, or JSON) with ``status`` and a message saying what to do."""
    if wants_json():
        resp = json_error(status, message, code, details)
    else:
        from .views import render_page  # late: views imports this module

        resp = current_app.make_response(render_page(
            "jobboard/error.html", status=status, message=message,
            title=title or _TITLES.get(status, "Error"),
            # A Redis outage page polls its own URL and so recovers by itself.
            poll=status == 503 and request.method == "GET",
        ))
        resp.status_code = status
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


_TITLES = {
    400: "Bad request", 401: "Login required", 403: "Not allowed", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 429: "Too many attempts",
    503: "Redis is unreachable",
}


def plain_error(status: int, message: str) -> Response:
    """Last-resort text response, for when templates cannot be rendered."""
    return Response(message, status=status, mimetype="text/plain")


__all__ = ["error_response", "is_htmx", "json_error", "plain_error", "wants_json"]
