"""Who may call what: roles per endpoint, checked with the dashboard's own auth module.

The API has no authentication of its own: a bearer token (``JOBBOARD_API_TOKENS``) or the
browser session are resolved by :mod:`jobboard.web.auth`, and CSRF for session requests is
enforced by :mod:`jobboard.web.csrf` (bearer requests skip it there). This module only says
which role each endpoint needs and turns a refusal into the API's JSON error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request

from .errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])

#: Roles from least to most powerful (mirrors jobboard.web.auth.ROLES).
ROLE_ORDER: tuple[str, ...] = ("viewer", "operator", "admin")

#: Attribute set on view functions by :func:`needs`.
_ATTR = "_jobboard_api_role"


def needs(role: str | None) -> Callable[[F], F]:
    """Mark a view as needing ``role`` (``None``: open to anyone).

    The check itself runs in the blueprint's ``before_request`` (:func:`enforce`), so a view
    can never be reached without one: a view that forgot ``@needs`` is refused by default.
    """
    if role is not None and role not in ROLE_ORDER:
        raise ValueError(f"unknown role {role!r}; use one of {ROLE_ORDER}")

    def mark(view: F) -> F:
        setattr(view, _ATTR, role or "")
        # No automatic OPTIONS answer: the API is JSON-only and not for cross-origin
        # browsers, so OPTIONS gets the documented 405 with an Allow header.
        view.provide_automatic_options = False  # type: ignore[attr-defined]
        return view

    return mark


def _auth() -> Any:
    from ..web import auth  # late: the web package registers us, not the other way round

    return auth


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
    return _auth().current_role()


def authenticated_by_token() -> bool:
    return bool(_auth().authenticated_by_token())


def check(role: str | None) -> None:
    """Raise a JSON 401/403 unless the caller has ``role``."""
    if role is None:
        return
    auth = _auth()
    if auth.has_role(role):
        return
    if auth.current_role() is None:
        bearer = request.headers.get("Authorization", "").lower().startswith("bearer ")
        raise ApiError(
            401, "unauthorized",
            "Invalid API token." if bearer else
            "Authentication required: send 'Authorization: Bearer <token>' "
            "(a token from JOBBOARD_API_TOKENS) or log in to the dashboard.",
            headers={"WWW-Authenticate": 'Bearer realm="jobboard"'},
        )
    effective = auth.effective_role()
    if effective != auth.current_role():
        message = "jobboard is read-only (JOBBOARD_READ_ONLY): actions are turned off."
    else:
        message = f"This action needs the {role} role; you are {effective}. Ask an admin."
    raise ApiError(403, "forbidden", message, {"needed": role, "role": effective})


def enforce() -> None:
    """``before_request`` hook of the API blueprints: check the endpoint's role."""
    if request.method == "OPTIONS":
        return
    check(role_of_endpoint(request.endpoint))


def open_flag(key: str, default: bool) -> bool:
    """A boolean ``JOBBOARD_*`` flag from the app config."""
    value = current_app.config.get(key, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
