"""Who is asking, and what may they do.

Roles (:mod:`jobboard.roles`), from least to most: ``viewer`` (read only), ``operator``
(retry, promote, revoke, pause/resume, run now), ``admin`` (also remove, clean, empty).
``JOBBOARD_READ_ONLY`` caps everyone at viewer.

A request's role is resolved in this order:

1. ``Authorization: Bearer <token>`` looked up in ``JOBBOARD_API_TOKENS`` (token -> role).
   A bearer header with an unknown token gives no role at all (no fallback to the session),
   so a typo fails loudly instead of silently using a browser login.
2. The host app's flask-login ``current_user``, passed to ``JOBBOARD_AUTHORIZE``
   (callable: user -> role or None), when both are configured.
3. The built-in login session (users from ``JOBBOARD_USERS``).

Built-in login sessions live in Redis: the cookie carries only a random session id, whose
record expires ``JOBBOARD_SESSION_LIFETIME`` seconds after sign-in. Logging out deletes the
record, so a copy of the cookie taken before is worthless afterwards; every web process
(gunicorn worker) sees the same sessions.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
import hashlib
import hmac
import secrets
import time

from flask import current_app, g, request, session
from werkzeug.security import check_password_hash, generate_password_hash

from ..audit import Actor
from ..roles import ROLES, Access, Grant
from .state import get_state

SESSION_ID = "jobboard_sid"
#: Server-side session records (a hash per session id, expiring with the session). Keyed
#: by a digest of the id so that reading Redis does not hand out valid cookies.
SESSION_KEY_PREFIX = "jobboard:web:session:"


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def _valid(grant: Any) -> Grant | None:
    """A role, or a mapping of queue names/patterns to roles; anything else is no access."""
    if isinstance(grant, str):
        return grant if grant in ROLES else None
    if isinstance(grant, Mapping):
        return grant  # Access keeps the entries that name a role
    return None


def _role_from_token(token: str) -> Grant | None:
    tokens = get_state().config.api_tokens
    found: Any = None
    # Compare against every token in constant time so timing does not leak a prefix.
    for known, grant in tokens.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = grant
    return _valid(found)


def _role_from_host_login() -> Grant | None:
    authorize = get_state().config.authorize
    if authorize is None or getattr(current_app, "login_manager", None) is None:
        return None
    from flask_login import current_user

    if not getattr(current_user, "is_authenticated", False):
        return None
    # A role for every queue, or (per-queue access) {"queue or pattern": role, ...}.
    return _valid(authorize(current_user._get_current_object()))


def password_stamp(password_hash: str) -> str:
    """A short digest of a user's password hash, kept in the session record.

    Changing the password (or removing the user) changes the stamp, which ends every
    session of that user at their next request. Hashes must therefore be computed once
    (the users file, the environment), not at import in each web process.
    """
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _session_key(sid: str) -> str:
    return SESSION_KEY_PREFIX + hashlib.sha256(sid.encode()).hexdigest()[:40]


def session_user() -> str | None:
    """The built-in login user of this request's session, checked against Redis, or None."""
    if "_jobboard_session_user" in g:
        return g._jobboard_session_user  # type: ignore[no-any-return]
    g._jobboard_session_user = None
    sid = session.get(SESSION_ID)
    if not sid or not isinstance(sid, str):
        return None
    record: dict[bytes, bytes] = get_state().board.redis.hgetall(_session_key(sid))  # type: ignore[assignment]
    username = (record.get(b"user") or b"").decode("utf-8", "replace")
    user = get_state().config.users.get(username) if username else None
    if not user:
        return None
    if (record.get(b"stamp") or b"").decode() != password_stamp(str(user.get("password_hash", ""))):
        return None
    g._jobboard_session_user = username
    return username


def _role_from_session() -> Grant | None:
    username = session_user()
    if username is None:
        return None
    return _valid(get_state().config.users[username].get("role", "viewer"))


def current_access() -> Access:
    """What the current request may do on which queue (an Access with no role when
    anonymous), read-only aware. Resolved once per request."""
    if "_jobboard_access" in g:
        return g._jobboard_access  # type: ignore[no-any-return]
    by_token = False
    token = _bearer_token()
    if token is not None:
        grant = _role_from_token(token)
        by_token = grant is not None
    else:
        grant = _role_from_host_login() or _role_from_session()
    access = Access(grant, read_only=get_state().config.read_only)
    g._jobboard_access = access
    g._jobboard_role = Access(grant).top_role
    g._jobboard_by_token = by_token and g._jobboard_role is not None
    return access


def current_role() -> str | None:
    """The role of the current request (before ``JOBBOARD_READ_ONLY``), or None if
    anonymous; with per-queue access, the highest role on any queue."""
    current_access()
    return g._jobboard_role  # type: ignore[no-any-return]


def token_label(token: str) -> str:
    """How the audit trail names a bearer token: a short digest, never the token itself
    (a prefix of it would hand out part of a secret to anyone who reads the trail)."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:10]


def current_actor(via: str) -> Actor:
    """Who the current request is, for the audit trail: name, role, adapter, address."""
    token = _bearer_token()
    if token is not None and authenticated_by_token():
        name = token_label(token)
    else:
        name = current_user_name() or "anonymous"
    return Actor(name=name, role=effective_role() or "-", via=via, address=client_address())


def current_user_name() -> str | None:
    """A name to show in the header: the built-in login user, or the host app's user."""
    if authenticated_by_token():
        return "API token"
    if _role_from_session():
        return session_user()
    if getattr(current_app, "login_manager", None) is not None:
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False):
            return str(getattr(current_user, "name", None) or getattr(current_user, "id", ""))
    return None


def authenticated_by_token() -> bool:
    """Whether the current request carries a valid ``Authorization: Bearer`` token."""
    current_role()
    return bool(g.get("_jobboard_by_token"))


def effective_role(queue: str | None = None) -> str | None:
    """The role after ``JOBBOARD_READ_ONLY`` (anyone logged in is at most a viewer then):
    on ``queue``, or the highest on any queue."""
    access = current_access()
    return access.role_for(queue) if queue is not None else access.top_role


def has_role(needed: str, queue: str | None = None) -> bool:
    """Whether the current request may do what ``needed`` allows, on ``queue`` or (None)
    on some queue (read-only aware)."""
    if needed not in ROLES:
        raise ValueError(f"Unknown role {needed!r}; roles are {', '.join(ROLES)}.")
    return current_access().allows(needed, queue)


def can_see(queue: str) -> bool:
    """Whether the current request may see ``queue`` at all (per-queue access)."""
    return current_access().can_see(queue)


def refusal(needed: str, queue: str | None = None) -> tuple[int, str]:
    """(status, message) for a request lacking ``needed``: 401 when anonymous, else 403."""
    role = effective_role(queue)
    if current_access().top_role is None:
        return 401, ("Authentication required: send 'Authorization: Bearer <token>' with a "
                     "token from JOBBOARD_API_TOKENS, or log in to the dashboard first.")
    if get_state().config.read_only and needed != "viewer":
        return 403, "jobboard is read-only (JOBBOARD_READ_ONLY): actions are turned off."
    return 403, f"This needs the {needed} role; you are {role}. Ask an admin for access."


# --- the built-in login -----------------------------------------------------------------

@functools.cache
def _dummy_hash() -> str:
    # A valid hash to compare against when the username is unknown, so a wrong username
    # costs the same time as a wrong password and usernames cannot be probed by timing.
    # Computed on first use, not at import: importing must stay cheap in every worker.
    return generate_password_hash(secrets.token_urlsafe(16))


def check_login(username: str, password: str) -> Grant | None:
    """The role (or per-queue roles) of ``username`` if ``password`` is right, else None."""
    user = get_state().config.users.get(username)
    password_hash = str(user.get("password_hash", "")) if user else _dummy_hash()
    try:
        ok = check_password_hash(password_hash, password)
    except ValueError:  # a malformed hash in the config: treat as a wrong password
        ok = False
    if not user or not ok:
        return None
    return _valid(user.get("role", "viewer"))


def login_user(username: str) -> None:
    """Start a built-in login session for ``username`` (the password was checked)."""
    state = get_state()
    user = state.config.users[username]
    lifetime = max(60, int(float(state.config["JOBBOARD_SESSION_LIFETIME"])))
    sid = secrets.token_urlsafe(32)
    pipe = get_state().board.redis.pipeline(transaction=True)
    pipe.hset(_session_key(sid), mapping={
        "user": username, "stamp": password_stamp(str(user.get("password_hash", ""))),
        "created": int(time.time()), "addr": client_address()})
    pipe.expire(_session_key(sid), lifetime)
    pipe.execute()
    # A fresh cookie session on login: drop whatever an attacker may have planted.
    session.clear()
    session[SESSION_ID] = sid
    # Not "permanent": the cookie ends with the browser; the record ends after lifetime.
    session.permanent = False
    for name in ("_jobboard_role", "_jobboard_session_user", "_jobboard_by_token", "_jobboard_access",
                 "_jobboard_board"):
        g.pop(name, None)


def signed_in_by_host() -> bool:
    """Whether this request's role comes from the host app's flask-login user."""
    return not authenticated_by_token() and _role_from_host_login() is not None


def logout_host_user() -> None:
    """End the host app's flask-login session (host-login mode's Log out)."""
    if getattr(current_app, "login_manager", None) is not None:
        import flask_login
        flask_login.logout_user()
    for name in ("_jobboard_role", "_jobboard_session_user", "_jobboard_by_token", "_jobboard_access",
                 "_jobboard_board"):
        g.pop(name, None)


def logout_user() -> None:
    """End the built-in login session, here and in Redis (a copied cookie stops working)."""
    sid = session.pop(SESSION_ID, None)
    if isinstance(sid, str) and sid:
        get_state().board.redis.delete(_session_key(sid))
    for name in ("_jobboard_role", "_jobboard_session_user", "_jobboard_by_token", "_jobboard_access",
                 "_jobboard_board"):
        g.pop(name, None)


def client_address() -> str:
    """The client's address: the peer, or the one the trusted proxies reported.

    With ``JOBBOARD_TRUSTED_PROXIES`` set, the extension wraps the app in werkzeug's
    ``ProxyFix``, which puts the forwarded address in ``remote_addr``; without it the
    X-Forwarded-For header is ignored (anyone can send one).
    """
    return request.remote_addr or "-"
