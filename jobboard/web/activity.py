"""The Activity page: the audit trail (jobboard.audit), newest first, with filters.

Routes live on the pages' blueprint (:data:`jobboard.web.views.blueprint`); this module is
imported by :mod:`jobboard.web.views` at its end so that its routes are registered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request

from ..audit import VIAS
from ..errors import InvalidArgument
from ..shared.auth import current_access
from ..shared.errors import error_response
from ..shared.state import get_board
from .access import require_role
from .i18n import _
from .views import blueprint, render_page

#: Actions that appear in the trail (the filter's choices).
ACTIONS: tuple[str, ...] = ("enqueue", "retry", "edit_retry", "duplicate", "promote", "revoke",
                            "remove", "pause", "resume", "empty", "clean", "run_periodic",
                            "pause_periodic", "resume_periodic", "login", "login_failed", "logout")
#: "Since" choices of the filter, in seconds.
SINCE: dict[str, float] = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}
PER_PAGE = 50


def _text(name: str) -> str | None:
    value = (request.args.get(name) or "").strip()
    if len(value) > 200:
        raise InvalidArgument(_("%(name)s is at most 200 characters.", name=name))
    return value or None


@blueprint.route("/activity")
@require_role("viewer")
def activity() -> Any:
    """Who did what: every state-changing action of the pages, the API and the CLI."""
    try:
        filters: dict[str, Any] = {k: _text(k) for k in ("user", "action", "queue", "job", "via")}
        before = _text("before")
    except InvalidArgument as exc:
        return error_response(400, str(exc))
    if filters["action"] and filters["action"] not in ACTIONS:
        return error_response(400, _("Unknown action %(action)s; actions are %(actions)s.",
                                     action=repr(filters["action"][:40]), actions=", ".join(ACTIONS)))
    if filters["via"] and filters["via"] not in VIAS:
        return error_response(400, _("via must be one of %(choices)s.", choices=", ".join(VIAS)))
    since_key = request.args.get("since") or ""
    if since_key and since_key not in SINCE:
        return error_response(400, _("since must be one of %(choices)s.", choices=", ".join(SINCE)))
    since = (dt.datetime.now(dt.timezone.utc).timestamp() - SINCE[since_key]) if since_key else None
    audit = get_board().audit
    try:
        # Per-queue access: only entries of the queues this person may see.
        visible = get_board().queue_names() if current_access().scoped else None
        page = audit.entries(limit=PER_PAGE, before=before, since=since, queues=visible, **filters)
    except InvalidArgument as exc:
        return error_response(400, str(exc))
    return render_page("jobboard/activity.html", page=page, filters=filters, since=since_key,
                       actions=ACTIONS, vias=VIAS, since_choices=tuple(SINCE),
                       kept=audit.count(), max_age=audit.max_age, max_count=audit.max_count,
                       filtered=any(filters.values()) or bool(since_key))
