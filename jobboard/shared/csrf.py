"""CSRF protection for every state-changing request under the jobboard prefix.

Two independent checks, both required for browser requests:

* a per-session random token, sent as the form field ``csrf_token`` or the header
  ``X-CSRFToken`` (htmx sends the header, set once with ``hx-headers`` on ``<body>``);
* the browser's own word on where the request came from: ``Sec-Fetch-Site`` must be
  ``same-origin`` (or ``none``, a user-typed navigation) and ``Origin``, when sent, must
  be this site.

Requests authenticated with ``Authorization: Bearer`` skip both: browsers never attach
such a header on their own, so a forged cross-site request cannot carry one.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Response, abort, request, session

from .auth import authenticated_by_token
from .errors import error_response
from .state import get_state

SESSION_KEY = "jobboard_csrf"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRFToken"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def csrf_token() -> str:
    """This session's CSRF token (created on first use). Exposed to templates."""
    token = session.get(SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return str(token)


def csrf_problem() -> str | None:
    """Why the current request fails the CSRF check, or None when it passes."""
    if authenticated_by_token():
        return None
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return f"The request came from another site (Sec-Fetch-Site: {fetch_site})."
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        expected = request.host_url.rstrip("/")
        if origin.rstrip("/") != expected:
            return f"The request came from another origin ({origin}, expected {expected})."
    elif origin == "null":
        return "The request came from an opaque origin."
    sent = request.headers.get(HEADER) or request.form.get(FORM_FIELD) or ""
    expected_token = session.get(SESSION_KEY)
    if not expected_token:
        return "No CSRF token in this session: reload the page (cookies must be enabled)."
    if not sent:
        return "The CSRF token is missing: reload the page and try again."
    if not hmac.compare_digest(str(expected_token).encode(), sent.encode()):
        return "The CSRF token is wrong or from an old session: reload the page and try again."
    return None


def check_csrf() -> None:
    """Abort with 400 (HTML page or JSON error) unless the current request passes CSRF."""
    problem = csrf_problem()
    if problem is not None:
        abort(csrf_failure(problem))


def csrf_failure(problem: str) -> Response:
    return error_response(400, problem, code="csrf_failed")


def guard_request() -> Response | None:
    """``before_request`` hook: CSRF-check every unsafe request under the jobboard prefix."""
    if request.method in SAFE_METHODS:
        return None
    if not get_state().owns_request():  # the host app's own routes are its business
        return None
    problem = csrf_problem()
    if problem is not None:
        return csrf_failure(problem)
    return None
