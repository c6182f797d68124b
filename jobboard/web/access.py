"""Role checks of the pages: who may see a page or press a button.

Who is asking is resolved by the shared layer (:mod:`jobboard.shared.auth`); this module
turns a refusal into what a browser needs: a redirect to the login page (``next`` = this
page, script root included), an ``HX-Redirect`` for htmx, or a 401/403 error page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Response, current_app, g, redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from ..errors import QueueNotFound
from ..roles import ACTION_ROLES, ROLES
from ..shared import auth
from ..shared.errors import error_response, is_htmx, wants_json
from ..shared.state import get_state
from .i18n import _, lazy_gettext

F = TypeVar("F", bound=Callable[..., Any])

#: How the pages name the roles (the identifiers stay in CSS classes and the config).
ROLE_LABELS: dict[str, Any] = {"viewer": lazy_gettext("viewer"), "operator": lazy_gettext("operator"),
                               "admin": lazy_gettext("admin")}


def can(action: str, queue: str | None = None) -> bool:
    """Whether the current request may perform a dashboard ``action`` (see ACTION_ROLES)
    on ``queue``; by default the queue of the page (its URL's ``<queue>``), else on some
    queue. Templates call it as ``can("retry")`` or ``can("pause", row.name)``."""
    return auth.has_role(ACTION_ROLES[action], queue if queue is not None else g.get("_jobboard_queue"))


def here() -> str:
    """This request's URL as a local path, script root included (``/ops/admin/queues/?x``).

    Behind a proxy mounting the app at ``/ops`` (SCRIPT_NAME), ``request.path`` lacks the
    prefix; links, ``next`` and the poll's ``hx-get`` must keep it.
    """
    return request.script_root + request.full_path.rstrip("?")


def login_url(next_url: str | None = None) -> str:
    """Where anonymous visitors go: the built-in login page, or the host app's login view."""
    state = get_state()
    manager = getattr(current_app, "login_manager", None)
    if (not state.config.users and state.config.authorize is not None and manager is not None
            and manager.login_view):
        return url_for(manager.login_view, next=next_url)
    return url_for("jobboard.login", next=next_url)


def refuse(needed: str = "viewer") -> Response | WerkzeugResponse:
    """The response for a request lacking ``needed``: login redirect, 401 or 403."""
    status, message = auth.refusal(needed, g.get("_jobboard_queue"))
    if status == 401:
        if wants_json():
            return error_response(401, message,
                                  headers={"WWW-Authenticate": 'Bearer realm="jobboard"'})
        target = login_url(here() if request.method == "GET" else None)
        if is_htmx():
            # A redirect would be followed by the XHR and the login page swapped into a
            # fragment; HX-Redirect makes htmx navigate the whole tab instead.
            resp = error_response(401, _("Your session has ended. Log in again."))
            resp.headers["HX-Redirect"] = target
            return resp
        if request.method != "GET":
            return error_response(401, _("Your session has ended. Log in again, then retry."))
        return redirect(target)
    if not wants_json():  # the page's words for the shared layer's refusal
        if get_state().config.read_only and needed != "viewer":
            message = _("jobboard is read-only (JOBBOARD_READ_ONLY): actions are turned off.")
        else:
            role = auth.effective_role(g.get("_jobboard_queue"))
            shown = ROLE_LABELS[role] if role in ROLE_LABELS else (role or _("not signed in"))
            message = _("This needs the %(needed)s role; you are %(role)s. Ask an admin for access.",
                        needed=ROLE_LABELS.get(needed, needed), role=shown)
    return error_response(403, message)


def require_role(needed: str) -> Callable[[F], F]:
    """View decorator: let the request through only with at least role ``needed``.

    Anonymous HTML requests are redirected to the login page (``next`` = this page), htmx
    requests get a 401 with ``HX-Redirect``, JSON requests a 401 JSON error. A logged-in
    user whose role is too low (or any action while read-only) gets a 403.
    """
    if needed not in ROLES:
        raise ValueError(f"Unknown role {needed!r}; roles are {', '.join(ROLES)}.")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            queue = kwargs.get("queue")
            if isinstance(queue, str):
                # Per-queue access: the role on this queue is what counts; a queue the
                # person may not see answers as one that does not exist.
                g._jobboard_queue = queue
                if auth.current_access().top_role is not None and not auth.can_see(queue):
                    return error_response(404, str(QueueNotFound(queue)))
            if not auth.has_role(needed, queue if isinstance(queue, str) else None):
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
