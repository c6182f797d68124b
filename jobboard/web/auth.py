"""Who is asking, and what may they do.

Roles, from least to most: ``viewer`` (read only), ``operator`` (retry, promote, revoke,
pause/resume, run now), ``admin`` (also remove, clean, empty). ``JOBBOARD_READ_ONLY`` caps
everyone at viewer.

A request's role is resolved in this order:

1. ``Authorization: Bearer <token>`` looked up in ``JOBBOARD_API_TOKENS`` (token -> role).
   A bearer header with an unknown token gives no role at all (no fallback to the session),
   so a typo fails loudly instead of silently using a browser login.
2. The host app's flask-login ``current_user``, passed to ``JOBBOARD_AUTHORIZE``
   (callable: user -> role or None), when both are configured.
3. The built-in login session (users from ``JOBBOARD_USERS``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from .extension import get_state
from .responses import error_response, is_htmx, wants_json

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")

#: Which role each dashboard action needs (the views and templates both read this).
ACTION_ROLES: dict[str, str] = {
    "retry": "operator", "promote": "operator", "revoke": "operator",
    "pause": "operator", "resume": "operator", "run": "operator",
    "pause_periodic": "operator", "resume_periodic": "operator",
    "remove": "admin", "clean": "admin", "empty": "admin",
}

SESSION_USER = "jobboard_user"
SESSION_STAMP = "jobboard_stamp"

F = TypeVar("F", bound=Callable[..., Any])


def _role_rank(role: str | None) -> int:
    return ROLES.index(role) if role in ROLES else -1


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def _role_from_token(token: str) -> str | None:
    tokens = get_state().config.api_tokens
    found: str | None = None
    # Compare against every token in constant time so timing does not leak a prefix.
    for known, role in tokens.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = role
    return found if found in ROLES else None


def _role_from_host_login() -> str | None:
    authorize = get_state().config.authorize
    if authorize is None or getattr(current_app, "login_manager", None) is None:
        return None
    from flask_login import current_user

    if not getattr(current_user, "is_authenticated", False):
        return None
    role = authorize(current_user._get_current_object())
    return role if role in ROLES else None


def password_stamp(password_hash: str) -> str:
    """A short digest of a user's password hash, kept in the session.

    Changing the password (or removing the user) changes the stamp, which logs out every
    session of that user at their next request.
    """
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _role_from_session() -> str | None:
    username = session.get(SESSION_USER)
    if not username:
        return None
    user = get_state().config.users.get(username)
    if not user:
        return None
    if session.get(SESSION_STAMP) != password_stamp(str(user.get("password_hash", ""))):
        return None
    role = user.get("role", "viewer")
    return role if role in ROLES else None


def current_role() -> str | None:
    """The role of the current request (before ``JOBBOARD_READ_ONLY``), or None if anonymous."""
    if "_jobboard_role" in g:
        return g._jobboard_role
    by_token = False
    token = _bearer_token()
    if token is not None:
        role = _role_from_token(token)
        by_token = role is not None
    else:
        role = _role_from_host_login() or _role_from_session()
    g._jobboard_role = role
    g._jobboard_by_token = by_token
    return role


def current_user_name() -> str | None:
    """A name to show in the header: the built-in login user, or the host app's user."""
    if authenticated_by_token():
        return "API token"
    if session.get(SESSION_USER) and _role_from_session():
        return str(session[SESSION_USER])
    if getattr(current_app, "login_manager", None) is not None:
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False):
            return str(getattr(current_user, "name", None) or getattr(current_user, "id", ""))
    return None


def authenticated_by_token() -> bool:
    """Whether the current request carries a valid ``Authorization: Bearer`` token."""
    current_role()
    return bool(g.get("_jobboard_by_token"))


def effective_role() -> str | None:
    """The role after ``JOBBOARD_READ_ONLY``: anyone logged in is at most a viewer then."""
    role = current_role()
    if role is not None and get_state().config.read_only:
        return "viewer"
    return role


def has_role(needed: str) -> bool:
    """Whether the current request may do what ``needed`` allows (read-only aware)."""
    if needed not in ROLES:
        raise ValueError(f"Unknown role {needed!r}; roles are {', '.join(ROLES)}.")
    return _role_rank(effective_role()) >= _role_rank(needed)


def can(action: str) -> bool:
    """Whether the current request may perform a dashboard ``action`` (see ACTION_ROLES)."""
    return has_role(ACTION_ROLES[action])


def login_url(next_url: str | None = None) -> str:
    """Where anonymous visitors go: the built-in login page, or the host app's login view."""
    state = get_state()
    manager = getattr(current_app, "login_manager", None)
    if (not state.config.users and state.config.authorize is not None and manager is not None
            and manager.login_view):
        return url_for(manager.login_view, next=next_url)
    return url_for("jobboard.login", next=next_url)


def refuse(needed: str = "viewer") -> Any:
    """The response for a request lacking ``needed``: login redirect, 401 or 403."""
    role = effective_role()
    if role is None:
        if wants_json():
            return error_response(
                401, "Authentication required: send 'Authorization: Bearer <token>' with a "
                "token from JOBBOARD_API_TOKENS, or log in to the dashboard first.",
                headers={"WWW-Authenticate": 'Bearer realm="jobboard"'})
        target = login_url(request.full_path.rstrip("?") if request.method == "GET" else None)
        if is_htmx():
            # A redirect would be followed by the XHR and the login page swapped into a
            # fragment; HX-Redirect makes htmx navigate the whole tab instead.
            resp = error_response(401, "Your session has ended. Log in again.")
            resp.headers["HX-Redirect"] = target
            return resp
        if request.method != "GET":
            return error_response(401, "Your session has ended. Log in again, then retry.")
        return redirect(target)
    if get_state().config.read_only and needed != "viewer":
        message = "The dashboard is read-only (JOBBOARD_READ_ONLY): actions are turned off."
    else:
        message = (f"This needs the {needed} role; you are {role}. Ask an admin for access.")
    return error_response(403, message)


def require_role(needed: str) -> Callable[[F], F]:
    """View decorator: let the request through only with at least role ``needed``.

    Anonymous HTML requests are redirected to the login page (``next`` = this page), htmx
    requests get a 401 with ``HX-Redirect``, JSON/API requests a 401 JSON error. A logged-in
    user whose role is too low (or any action while read-only) gets a 403.
    """
    if needed not in ROLES:
        raise ValueError(f"Unknown role {needed!r}; roles are {', '.join(ROLES)}.")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not has_role(needed):
                return refuse(needed)
            return view(*args, **kwargs)

        wrapped._jobboard_role = needed  # type: ignore[attr-defined]  # for the URL-map test
        return wrapped  # type: ignore[return-value]

    return decorator


def safe_next(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target:
        return default
    target = target.strip()
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return default
    return target


# --- the built-in login -----------------------------------------------------------------

# A valid hash to compare against when the username is unknown, so a wrong username costs
# the same time as a wrong password and usernames cannot be probed by timing.
_DUMMY_HASH = generate_password_hash("jobboard-not-a-password")


def check_login(username: str, password: str) -> str | None:
    """The role of ``username`` if ``password`` is right, else None."""
    user = get_state().config.users.get(username)
    password_hash = str(user.get("password_hash", "")) if user else _DUMMY_HASH
    try:
        ok = check_password_hash(password_hash, password)
    except ValueError:  # a malformed hash in the config: treat as a wrong password
        ok = False
    if not user or not ok:
        return None
    role = user.get("role", "viewer")
    return role if role in ROLES else None


def login_user(username: str) -> None:
    """Start a built-in login session for ``username`` (the password was checked)."""
    user = get_state().config.users[username]
    # A fresh session on login: drop whatever an attacker may have planted (fixation).
    session.clear()
    session[SESSION_USER] = username
    session[SESSION_STAMP] = password_stamp(str(user.get("password_hash", "")))
    session.permanent = True
    g.pop("_jobboard_role", None)


def logout_user() -> None:
    """End the built-in login session."""
    session.pop(SESSION_USER, None)
    session.pop(SESSION_STAMP, None)
    g.pop("_jobboard_role", None)


class LoginThrottle:
    """Failed-login counter per client address and per username, over a sliding window.

    Kept in process memory: with several server processes an attacker gets that many times
    the allowance, still bounded, and the login page keeps working while Redis is down.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, list[float]] = {}

    def _keys(self, username: str) -> list[str]:
        return [f"ip:{request.remote_addr}", f"user:{username.lower()}"]

    def retry_after(self, username: str) -> int:
        """Seconds until another attempt is allowed (0 when allowed now)."""
        cfg = get_state().config
        limit = int(cfg["JOBBOARD_LOGIN_ATTEMPTS"])
        window = float(cfg["JOBBOARD_LOGIN_WINDOW"])
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in self._keys(username):
                times = [t for t in self._failures.get(key, []) if now - t < window]
                self._failures[key] = times
                if len(times) >= limit:
                    wait = max(wait, window - (now - times[0]))
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, username: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 10_000:  # bound memory under a spray of addresses
                self._failures.clear()
            for key in self._keys(username):
                self._failures.setdefault(key, []).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username.lower()}", None)

