"""Who may call what: the role each API endpoint needs, checked before its view runs.

Who is asking (a bearer token from ``JOBBOARD_API_TOKENS``, or the browser session) is
resolved by the shared layer (:mod:`jobboard.shared.auth`), and CSRF for session requests
is enforced by :mod:`jobboard.shared.csrf` (bearer requests skip it there). This module only
says which role each endpoint needs and turns a refusal into the API's JSON error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request

from ..errors import QueueNotFound
from ..roles import ROLES
from ..shared import auth
from ..shared.state import get_state
from .errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])

#: Attribute set on view functions by :func:`needs`.
_ATTR = "_jobboard_api_role"


def needs(role: str | None) -> Callable[[F], F]:
    """Mark a view as needing ``role`` (``None``: open to anyone).

    The check itself runs in the blueprint's ``before_request`` (:func:`enforce`), so a view
    can never be reached without one: a view that forgot ``@needs`` is refused by default.
    """
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r}; use one of {ROLES}")

    def mark(view: F) -> F:
        setattr(view, _ATTR, role or "")
        # No automatic OPTIONS answer: the API is JSON-only and not for cross-origin
        # browsers, so OPTIONS gets the documented 405 with an Allow header.
        view.provide_automatic_options = False  # type: ignore[attr-defined]
        return view

    return mark


def role_of_endpoint(endpoint: str | None) -> str | None:
    """The role an endpoint needs; ``"admin"`` when it was not declared (fail closed)."""
    view = current_app.view_functions.get(endpoint or "")
    if view is None:
        return None
    declared = getattr(view, _ATTR, None)
    if declared is None:
        return "admin"
    return declared or None


def current_role() -> str | None:
    """The caller's role (bearer token or session), or None when not authenticated."""
    return auth.current_role()


def authenticated_by_token() -> bool:
    """Whether the caller sent a valid ``Authorization: Bearer`` token."""
    return auth.authenticated_by_token()


def check(role: str | None, queue: str | None = None) -> None:
    """Raise a JSON 401/403 unless the caller has ``role`` (on ``queue``, if given; a
    queue they may not see is a 404, as one that does not exist)."""
    if role is None:
        return
    if queue is not None and auth.current_access().top_role is not None and not auth.can_see(queue):
        raise QueueNotFound(queue)
    if auth.has_role(role, queue):
        return
    status, message = auth.refusal(role, queue)
    if status == 401:
        bearer = request.headers.get("Authorization", "").lower().startswith("bearer ")
        raise ApiError(401, "unauthorized", "Invalid API token." if bearer else message,
                       headers={"WWW-Authenticate": 'Bearer realm="jobboard"'})
    raise ApiError(403, "forbidden", message, {"needed": role, "role": auth.effective_role(queue)})


def enforce() -> None:
    """``before_request`` hook of the API blueprints: check the endpoint's role."""
    if request.method == "OPTIONS":
        return
    queue = (request.view_args or {}).get("queue")
    check(role_of_endpoint(request.endpoint), queue if isinstance(queue, str) else None)


def open_flag(key: str) -> bool:
    """A boolean ``JOBBOARD_*`` flag (``JOBBOARD_HEALTH_OPEN``...) from the app's settings."""
    return get_state().config.flag(key)
