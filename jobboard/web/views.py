"""The dashboard pages and actions. Thin: every read and change goes through the core API.

Each page route answers with the whole page, or, for an htmx request (``HX-Request``),
with just its ``<main id="main">`` fragment (``Vary: HX-Request`` tells caches the
difference). Live pages poll their own URL; those polls read through the shared poll cache
(:mod:`jobboard.shared.live`). Actions are POSTs (CSRF-checked before they get here) that
flash what they did and redirect (303) to the page they came from, filters and page
included; htmx follows the redirect and swaps the fresh fragment in place.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from flask import (
    Blueprint, Response, abort, flash, get_flashed_messages, redirect, render_template,
    request, url_for,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import alerts, records
from ..audit import Actor
from ..board import MAX_PAGE_NUMBER, ORDERS, WINDOWS, Queue
from ..errors import JobNotFound, JobStateError, PeriodicTaskNotFound, QueueNotFound
from ..primitives import match_name, short_name
from ..roles import ACTION_ROLES
from ..shared import auth
from ..shared.csrf import csrf_token
from ..shared.errors import (core_error, error_response, handle_errors, is_htmx, to_response,
                             wants_json)
from ..shared.state import get_board, get_state, health_thresholds
from ..shared.throttle import LoginThrottle
from . import assets, charts, delta, filters, i18n, localtime
from .i18n import _, lazy_gettext, ngettext
from .access import ROLE_LABELS, can, here, refuse, require_role, safe_next

#: What views answer: a page, a redirect (werkzeug's class) or an error page.
Answer = Response | WerkzeugResponse

blueprint = Blueprint(
    "jobboard", __name__, template_folder="../templates", static_folder="../static",
    static_url_path="/static",
)

T = TypeVar("T")

PER_PAGE_CHOICES = (25, 50, 100)
MAX_SEARCH = 200
#: "Clean jobs older than ..." choices, in seconds.
CLEAN_AGES: tuple[tuple[Any, float], ...] = (
    (lazy_gettext("everything"), 0.0), (lazy_gettext("1 hour"), 3600.0),
    (lazy_gettext("1 day"), 86400.0), (lazy_gettext("7 days"), 7 * 86400.0),
    (lazy_gettext("30 days"), 30 * 86400.0),
)
#: What each state is called on the pages (the identifiers stay in URLs and CSS classes).
STATE_LABELS: dict[str, Any] = {
    records.WAITING: lazy_gettext("waiting"), records.SCHEDULED: lazy_gettext("scheduled"),
    records.ACTIVE: lazy_gettext("active"), records.COMPLETED: lazy_gettext("completed"),
    records.FAILED: lazy_gettext("failed"), records.REVOKED: lazy_gettext("revoked"),
    records.CANCELED: lazy_gettext("canceled"), records.RATE_LIMITED: lazy_gettext("rate limited"),
    records.EXPIRED: lazy_gettext("expired"), records.LOCKED: lazy_gettext("locked"),
    records.INTERRUPTED: lazy_gettext("interrupted"),
}
#: Labels of what else the pages badge like a state: timeline events, flow steps.
EVENT_LABELS: dict[str, Any] = {
    "enqueued": lazy_gettext("enqueued"), "started": lazy_gettext("started"),
    "retrying": lazy_gettext("retrying"), "retried": lazy_gettext("retried"),
    "promoted": lazy_gettext("promoted"), "stalled": lazy_gettext("stalled"),
    "requeued": lazy_gettext("requeued"), "edited": lazy_gettext("edited"),
    "attempt failed": lazy_gettext("attempt failed"),
}
#: How a flow step relates to the one above it (jobboard.flows).
FLOW_RELATIONS: dict[str, Any] = {"then": lazy_gettext("then"), "on error": lazy_gettext("on error"),
                                  "callback": lazy_gettext("callback")}
#: What the Activity page calls each audited action (web/activity.py ACTIONS).
ACTION_LABELS: dict[str, Any] = {
    "enqueue": lazy_gettext("enqueue"), "retry": lazy_gettext("retry"),
    "edit_retry": lazy_gettext("edit and retry"), "duplicate": lazy_gettext("duplicate"),
    "promote": lazy_gettext("run now"), "revoke": lazy_gettext("revoke"), "remove": lazy_gettext("remove"),
    "pause": lazy_gettext("pause"), "resume": lazy_gettext("resume"), "empty": lazy_gettext("empty"),
    "clean": lazy_gettext("clean"), "run_periodic": lazy_gettext("run periodic"),
    "pause_periodic": lazy_gettext("pause periodic"), "resume_periodic": lazy_gettext("resume periodic"),
    "login": lazy_gettext("log in"), "login_failed": lazy_gettext("failed login"),
    "logout": lazy_gettext("log out"),
}
#: The kinds of alert deliveries (jobboard.alerts KINDS), as the Alerts page shows them.
ALERT_KINDS: dict[str, Any] = {"firing": lazy_gettext("firing"), "resolved": lazy_gettext("resolved"),
                               "notice": lazy_gettext("notice"), "test": lazy_gettext("test")}
#: Error page titles of the shared layer (shared/errors.py TITLES), for the pages.
ERROR_TITLES: dict[str, Any] = {
    "Bad request": lazy_gettext("Bad request"), "Login required": lazy_gettext("Login required"),
    "Not allowed": lazy_gettext("Not allowed"), "Not found": lazy_gettext("Not found"),
    "Method not allowed": lazy_gettext("Method not allowed"), "Conflict": lazy_gettext("Conflict"),
    "Too large": lazy_gettext("Too large"), "Wrong content type": lazy_gettext("Wrong content type"),
    "Invalid request": lazy_gettext("Invalid request"),
    "Too many attempts": lazy_gettext("Too many attempts"),
    "Internal error": lazy_gettext("Internal error"),
    "Redis is unavailable": lazy_gettext("Redis is unavailable"),
    "Redis is out of memory": lazy_gettext("Redis is out of memory"), "Error": lazy_gettext("Error"),
}
#: Fixed messages of the shared layer and werkzeug that error pages show, for the pages.
ERROR_MESSAGES: dict[str, Any] = {
    "The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again.": lazy_gettext(
        "There is no page at this address. If you typed it, check the spelling."),
    "The method is not allowed for the requested URL.": lazy_gettext(
        "This address does not answer to that method."),
    "jobboard is read-only (JOBBOARD_READ_ONLY): actions are turned off.": lazy_gettext(
        "jobboard is read-only (JOBBOARD_READ_ONLY): actions are turned off."),
    "Internal error in jobboard; the server log has the traceback.": lazy_gettext(
        "Internal error in jobboard; the server log has the traceback."),
}


# --- rendering helpers ------------------------------------------------------------------

def render_page(template: str, **context: Any) -> str:
    """Render a page template: whole page, or just its main fragment for htmx."""
    fragment = is_htmx() and request.headers.get("HX-Boosted") != "true"
    context.setdefault("poll", False)
    return render_template(
        template,
        layout="jobboard/_fragment.html" if fragment else "jobboard/base.html",
        is_fragment=fragment,
        **{**page_context(), **context},
    )


def render_error(status: int, message: str, title: str) -> Response:
    """The dashboard's error page (or fragment) with ``status``: the shared layer's HTML
    error renderer (wired in by the extension), so every error looks the same.

    The messages views write are translated where they are written; the shared layer's
    fixed titles and messages are translated here (the JSON API keeps them in English)."""
    resp = Response(render_page(
        "jobboard/error.html", status=status, message=ERROR_MESSAGES.get(message, message),
        title=ERROR_TITLES.get(title, title),
        # A Redis outage page polls its own URL and so recovers by itself.
        poll=status == 503 and request.method == "GET",
    ), mimetype="text/html")
    resp.status_code = status
    return resp


def is_poll() -> bool:
    """Whether this request is a live-update poll (sent by the main element's trigger)."""
    return is_htmx() and request.headers.get("X-Jobboard-Poll") == "1"


def live(key: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
    """``compute()``, shared by every poll of this interval; fresh for anything else.

    Full page loads and renders after an action compute directly so what a person just
    did is visible at once; only background polls read through the shared cache.
    """
    state = get_state()
    if not is_poll():
        return compute()
    return state.live.get(key, state.config.poll_seconds, compute)


def back(default: str) -> WerkzeugResponse:
    """Go to the ``next`` form field if it is a local path, else ``default``: a 303
    redirect, or for htmx an ``HX-Location`` (htmx fetches that page into ``#main``).

    The htmx answer *replaces* the current history entry rather than pushing one: after
    Remove on a job page the address bar shows the list, and Back goes to the page before
    the job page, never to the removed job's URL (a 404); an action on a list page leaves
    no duplicate entry of the same list behind."""
    target = safe_next(request.form.get("next"), default)
    if is_htmx():
        resp = Response(status=200)
        resp.headers["HX-Location"] = json.dumps({"path": target, "target": "#main",
                                                  "swap": "outerHTML", "push": False,
                                                  "replace": target})
        return resp
    return redirect(target, code=303)


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(error_response(400, _("%(name)s=%(value)s is not a whole number.",
                                    name=name, value=repr(raw[:40]))))
    if not low <= value <= high:
        abort(error_response(400, _("%(name)s must be between %(low)s and %(high)s (got %(value)s).",
                                    name=name, low=filters.number(low), high=filters.number(high),
                                    value=filters.number(value))))
    return value


def choice_arg(name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.args.get(name) or default
    if value not in choices:
        abort(error_response(400, _("%(name)s=%(value)s is not one of: %(choices)s.", name=name,
                                    value=repr(value[:40]), choices=", ".join(choices))))
    return value


def resolve_task(q: Queue, task: str | None) -> str | None:
    """A task filter as stored: full names pass, a unique short name (``send_email`` for
    ``app.tasks.send_email``) is expanded; anything else is kept (it matches nothing)."""
    if not task:
        return None
    return match_name(task, q.tasks()) or task


def get_queue(name: str) -> Queue:
    try:
        return get_board().queue(name)
    except QueueNotFound as exc:
        abort(error_response(404, core_message(exc)))


@blueprint.app_template_global("jb_page_url")
def page_url(**changes: Any) -> str:
    """The current page's URL with some query arguments changed (None removes one).

    Built with ``url_for`` so it keeps the script root (a proxy's ``/ops``) and the prefix."""
    args: dict[str, Any] = request.args.to_dict()
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = str(value)
    return url_for(request.endpoint or "jobboard.overview", **(request.view_args or {}), **args)


def page_context() -> dict[str, Any]:
    """What every page template gets (the base layout's header, buttons, poll)."""
    state = get_state()
    return {
        "csrf_token": csrf_token,
        "can": can,
        "role": auth.effective_role(),
        "user_name": auth.current_user_name(),
        "uses_builtin_login": bool(state.config.users),
        "can_log_out": auth.effective_role() is not None and not auth.authenticated_by_token()
        and (auth.session_user() is not None or auth.signed_in_by_host()),
        "home_url": state.config["JOBBOARD_HOME_URL"],
        "home_label": state.config["JOBBOARD_HOME_LABEL"],
        "poll_seconds": state.config.poll_seconds,
        "read_only": state.config.read_only,
        "title_prefix": state.config.title,
        "STATES": records.STATES,
        "FINISHED_STATES": records.FINISHED_STATES,
        "RETRYABLE_STATES": records.RETRYABLE_STATES,
        "PROMOTABLE_STATES": records.PROMOTABLE_STATES,
        "REVOCABLE_STATES": records.REVOCABLE_STATES,
        "REMOVABLE_STATES": records.REMOVABLE_STATES,
        "STATE_LABELS": STATE_LABELS,
        "now": time.time(),
        "time_mode": localtime.viewer_mode(),
        "zone_name": localtime.zone_name(),
        "current_path": here(),
        "EVENT_LABELS": EVENT_LABELS,
        "ROLE_LABELS": ROLE_LABELS,
        "ACTION_LABELS": ACTION_LABELS,
        "ALERT_KINDS": ALERT_KINDS,
        "FLOW_RELATIONS": FLOW_RELATIONS,
        **i18n.template_context(),
    }


@blueprint.after_request
def vary(response: Response) -> Response:
    # The same URL answers with a page or a fragment, in the viewer's language (the
    # header, unless the jb_lang cookie says otherwise): caches must keep them apart.
    response.vary.add("HX-Request")
    response.vary.add("Accept-Language")
    if request.method == "GET" and is_htmx() and response.status_code == 200:
        return send_what_changed(response)
    return response


#: The shapes of fragments recently sent, by ETag (see web/delta.py). Content-addressed,
#: so one memo serves every app in the process.
PARTS = delta.PartsMemo()


def send_what_changed(response: Response) -> Response:
    """A fragment's ETag, and for a live poll only what changed since the ETag it sent
    back (``If-None-Match``): ``304`` with no body when nothing did, the changed parts as
    out-of-band swaps when the page kept its shape, else the whole fragment."""
    if response.direct_passthrough or not response.mimetype == "text/html":
        return response
    body = response.get_data()
    etag = f'W/"{delta.digest(body)}"'
    response.headers["ETag"] = etag
    try:
        shape, pieces = delta.split(body)
    except ValueError:  # a template's markers are off: the whole fragment will do
        pieces = {}
    if pieces:
        PARTS.put(etag, shape)
    if not is_poll():
        return response
    response.vary.add("If-None-Match")
    sent = (request.headers.get("If-None-Match") or "").strip()
    if etag in sent:
        response.status_code = 304
        response.set_data(b"")
        response.headers.pop("Content-Type", None)
        return response
    old = PARTS.get(sent) if pieces and sent else None
    partial = delta.changes(old, shape, pieces) if old is not None else None
    if partial is not None and len(partial) < len(body):
        response.set_data(partial)
        response.headers["HX-Reswap"] = "none"  # <main> stays; the pieces swap in
    return response


@blueprint.route("/assets/<name>")
def asset(name: str) -> Any:
    """A static file under its content-hashed name (see web/assets.py): cached for good."""
    parts = assets.split_hashed(name)
    found = assets.load(parts[0]) if parts else None
    if found is None:
        return error_response(404, f"No asset {name[:80]!r}.")
    gz = "gzip" in request.headers.get("Accept-Encoding", "")
    resp = Response(found.gzipped if gz else found.data, mimetype=found.mimetype)
    if gz:
        resp.headers["Content-Encoding"] = "gzip"
    resp.vary.add("Accept-Encoding")
    # An old name (a page rendered before a deploy) gets today's file, not cached.
    resp.headers["Cache-Control"] = assets.IMMUTABLE if parts and parts[1] == found.digest else "no-cache"
    return resp


blueprint.add_app_template_global(assets.asset_url, "jb_asset")


# --- errors -----------------------------------------------------------------------------

handle_errors(blueprint)

#: Fixed parts of the core's JobStateError texts (jobboard.board), for core_message.
_STATE_NOTES: dict[str, Any] = {
    "undecodable": lazy_gettext("undecodable"),
    "(a key of the wrong type)": lazy_gettext("(a key of the wrong type)"),
    "(its message was not kept)": lazy_gettext("(its message was not kept)"),
    "(running)": lazy_gettext("(running)"),
}
_HINTS: dict[str, Any] = {
    "It can only be removed.": lazy_gettext("It can only be removed."),
    "Wait for it to finish, or revoke it so it will not run again.":
        lazy_gettext("Wait for it to finish, or revoke it so it will not run again."),
}


def core_message(exc: BaseException) -> str:
    """A core error's message in the viewer's language: the core's exceptions carry their
    fields, the pages word them (the JSON API keeps the core's English text)."""
    if isinstance(exc, QueueNotFound):
        return _("Unknown queue %(name)s: check the spelling.", name=repr(exc.name))
    if isinstance(exc, JobNotFound):
        return _("No job %(id)s in queue %(queue)s. It may never have existed, or it was "
                 "removed by retention or by an operator.", id=repr(exc.job_id),
                 queue=repr(exc.queue))
    if isinstance(exc, PeriodicTaskNotFound):
        return _("No periodic task %(name)s in queue %(queue)s. Periodic tasks appear once a "
                 "consumer with periodic tasks enabled has started.", name=repr(exc.name),
                 queue=repr(exc.queue))
    if isinstance(exc, JobStateError):
        word, _sep, note = exc.state.partition(" ")
        state = str(STATE_LABELS.get(word) or _STATE_NOTES.get(word) or word)
        if note:
            state += " " + str(_STATE_NOTES.get(note, note))
        text = _("Cannot %(action)s job %(id)s: it is %(state)s; that applies to %(allowed)s jobs.",
                 action=str(ACTION_LABELS.get(exc.action, exc.action)), id=repr(exc.job_id),
                 state=state, allowed=", ".join(str(STATE_LABELS.get(a, a)) for a in exc.allowed))
        if exc.hint:
            text += " " + str(_HINTS.get(exc.hint, exc.hint))
        return text
    return str(exc)


def _core_error_page(exc: Exception) -> Any:
    """The pages' answer to a core lookup or state error: its status, in the viewer's
    language; JSON askers get the shared answer (the core's English)."""
    mapped = core_error(exc)
    if wants_json() or mapped is None:
        return to_response(exc)
    return error_response(mapped[0], core_message(exc), code=mapped[1], details=mapped[2])


for _exc in (QueueNotFound, JobNotFound, JobStateError, PeriodicTaskNotFound):
    blueprint.register_error_handler(_exc, _core_error_page)


# --- login ------------------------------------------------------------------------------

@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The built-in login page (users from JOBBOARD_USERS)."""
    state = get_state()
    default = url_for("jobboard.overview")
    next_url = safe_next(request.values.get("next"), default)
    if not state.config.users:
        if auth.current_role() is not None:
            return redirect(next_url)
        return error_response(
            404, _("The built-in login is off: this dashboard uses the host app's login, or "
                   "set JOBBOARD_USERS to enable it."))
    error = None
    status = 200
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()[:200]
        password = request.form.get("password") or ""
        address = auth.client_address()
        throttle = login_throttle()
        wait = throttle.retry_after(username, address)
        if wait:
            return error_response(
                429, _("Too many failed logins for %(user)s from your address. Wait %(wait)s s "
                       "and try again.", user=username or _("this user"), wait=wait),
                headers={"Retry-After": str(wait)})
        role = auth.check_login(username, password)
        audit = get_board().audit
        if role is None:
            throttle.failed(username, address)
            # Who tried which name from where: the trail shows guessing (the throttle
            # only slows it down).
            audit.record(Actor(name=username or "-", role="-", via="web", address=address),
                         "login_failed")
            error = _("Wrong username or password.")
            status = 401
        else:
            throttle.succeeded(username, address)
            auth.login_user(username)
            audit.record(actor(), "login")
            return redirect(next_url, code=303)
    return render_page("jobboard/login.html", error=error, next=next_url), status


def login_throttle() -> LoginThrottle:
    """The failed-login throttle, in this app's Redis, with its current settings."""
    cfg = get_state().config
    return LoginThrottle(get_board().redis, free=int(cfg["JOBBOARD_LOGIN_FREE_FAILURES"]),
                         max_delay=float(cfg["JOBBOARD_LOGIN_MAX_DELAY"]))


@blueprint.route("/logout", methods=["POST"])
def logout() -> WerkzeugResponse:
    """Sign out: of the built-in login, and of the host app's flask-login session when
    that is how this person signed in (then back to the host app, JOBBOARD_HOME_URL)."""
    host = auth.signed_in_by_host()
    if auth.current_role() is not None:
        get_board().audit.record(actor(), "logout")
    auth.logout_user()
    if host:
        auth.logout_host_user()
        home = get_state().config["JOBBOARD_HOME_URL"]
        return redirect(home or request.script_root + "/", code=303)
    flash(_("Logged out."), "info")
    return redirect(url_for("jobboard.login"), code=303)


# --- pages ------------------------------------------------------------------------------

#: The states the overview shows a count of (each queue's page has them all). Only these
#: are read per queue per poll: the six rarer finished states would add six commands to
#: every row of every poll.
OVERVIEW_STATES = (records.WAITING, records.SCHEDULED, records.ACTIVE, records.COMPLETED,
                   records.FAILED)


def overview_data() -> dict[str, Any]:
    """Each queue's counts, health and last hour: at most 10 Redis commands per queue (the
    shown states' counts, the hour series instead of 60 minute hashes; see Queue.summary)."""
    rows = []
    for q in get_board().queues():
        counts, health, series = q.summary(OVERVIEW_STATES, health_thresholds())
        rows.append({
            "name": q.name,
            "counts": counts,
            "paused": health.paused,
            "health": health,
            "hour": {"completed": sum(p.completed for p in series),
                     "failed": sum(p.failed for p in series)},
            "consumers": health.consumers_alive,
            "spark": charts.sparkline([p.completed + p.failed for p in series],
                                      [p.failed for p in series]),
        })
    return {"queues": rows, "consumers_alive": sum(r["consumers"] for r in rows),
            "overview_states": OVERVIEW_STATES}


@blueprint.route("/")
@require_role("viewer")
def overview() -> str:
    data = live(("overview",), overview_data)
    return render_page("jobboard/overview.html", poll=True, **data)


@blueprint.route("/search")
@require_role("viewer")
def search() -> Any:
    """The search box: ids by their start, task names, words of arguments and errors, in
    every queue (Board.search). A query that finds one job by its id opens that job."""
    query = (request.args.get("q") or "").strip()
    if not query:
        return error_response(400, _("Type a job id (its first characters will do), a task "
                                     "name or words of the arguments or errors in the search box."))
    if len(query) > MAX_SEARCH:
        return error_response(400, _("A search is at most %(n)s characters.", n=MAX_SEARCH))
    pages = get_board().search(query)
    found = [j for p in pages for j in p.jobs]
    if len(found) == 1 and found[0].id.lower().startswith(query.lower()):
        return redirect(url_for("jobboard.job", queue=found[0].queue, job_id=found[0].id))
    if not found:
        step = get_board().find_pending_step(query)
        if step is not None:  # a pipeline step Huey has not queued yet: its parent's flow
            flash(_("Job %(id)s is not queued yet: it is a step of the flow below, waiting "
                    "for the step before it.", id=query), "info")
            return redirect(url_for("jobboard.job", queue=step[0], job_id=step[1]) + "#flow")
    return render_page("jobboard/search.html", query=query, pages=pages)


def queue_data(queue: str, state: str, offset: int, limit: int, task: str | None,
               search: str | None, order: str) -> dict[str, Any]:
    q = get_queue(queue)
    task = resolve_task(q, task)
    page = q.jobs(state, offset=offset, limit=limit, task=task, search=search, order=order)
    # the switcher's queue names too: read once per poll interval with the rest, not per poll
    return {"counts": q.counts(), "tasks": q.tasks(), "page": page, "task": task,
            "queue_names": get_board().queue_names()}


#: The default order of each state's list: pending jobs in the order they will run (the
#: next to run first: lowest score of the waiting and scheduled sets), finished ones newest
#: first.
DEFAULT_ORDER = {s: ("oldest" if s in (records.WAITING, records.SCHEDULED) else "newest")
                 for s in records.STATES}
#: How each order reads on each state's list.
ORDER_LABELS = {
    s: ({"oldest": lazy_gettext("next to run first"), "newest": lazy_gettext("last to run first")}
        if s == records.WAITING
        else {"oldest": lazy_gettext("soonest first"), "newest": lazy_gettext("latest first")}
        if s == records.SCHEDULED
        else {"newest": lazy_gettext("newest first"), "oldest": lazy_gettext("oldest first")})
    for s in records.STATES
}


@blueprint.route("/queues/<queue>")
@require_role("viewer")
def queue(queue: str) -> Any:
    state = choice_arg("state", records.STATES, "waiting")
    per_page = int_arg("per_page", 25, 1, 100)
    if per_page not in PER_PAGE_CHOICES:
        return error_response(400, _("per_page must be one of 25, 50 or 100."))
    page_no = int_arg("page", 1, 1, MAX_PAGE_NUMBER)
    order = choice_arg("order", ORDERS, DEFAULT_ORDER[state])
    task = (request.args.get("task") or "").strip() or None
    search = (request.args.get("q") or "").strip()[:MAX_SEARCH] or None
    key = ("queue", queue, state, page_no, per_page, task, search, order)

    def compute() -> dict[str, Any]:
        return queue_data(queue, state, (page_no - 1) * per_page, per_page, task, search, order)

    data = live(key, compute)
    page = data["page"]
    last_page = max(1, math.ceil(page.total / per_page))
    if page_no > last_page:
        if is_htmx():
            # The list shrank under a live view (an action, retention): show the last page.
            page_no = last_page
            data = queue_data(queue, state, (page_no - 1) * per_page, per_page, task,
                              search, order)
            page = data["page"]
        else:
            return error_response(
                404, _("Page %(page)s is past the last page (%(last)s) of the %(state)s jobs.",
                       page=filters.number(page_no), last=filters.number(last_page),
                       state=STATE_LABELS[state]))
    return render_page(
        "jobboard/queue.html", poll=True, queue=queue, state=state, per_page=per_page,
        page_no=page_no, last_page=last_page, order=order, search=search,
        clean_ages=CLEAN_AGES, default_order=DEFAULT_ORDER[state],
        order_labels=ORDER_LABELS[state], **data,
    )


@blueprint.route("/switch")
@require_role("viewer")
def switch_queue() -> Any:
    """The queue switcher without JavaScript: go to the chosen queue (same state tab)."""
    q = get_queue((request.args.get("queue") or "").strip()[:MAX_SEARCH])
    state = request.args.get("state")
    return redirect(url_for("jobboard.queue", queue=q.name,
                            state=state if state in records.STATES else None))


@blueprint.route("/queues/<queue>/jobs/<job_id>/trace")
@require_role("viewer")
def job_trace(queue: str, job_id: str) -> Any:
    """The last error and traceback of a job: the fragment a list row expands to."""
    q = get_queue(queue)
    try:
        job = q.job(job_id)
    except JobNotFound as exc:
        return error_response(404, core_message(exc))
    return render_template("jobboard/_trace.html", job=job, queue=queue,
                           attempt=job.attempts[-1] if job.attempts else None,
                           **page_context())


def job_data(queue: str, job_id: str) -> dict[str, Any]:
    q = get_queue(queue)
    return {"job": q.job(job_id), "flow": q.flow(job_id)}


@blueprint.route("/queues/<queue>/jobs/<job_id>")
@require_role("viewer")
def job(queue: str, job_id: str) -> Any:
    data = live(("job", queue, job_id), lambda: job_data(queue, job_id))
    j, flow = data["job"], data["flow"]
    # The list the person came from (its page and filters): where the crumb, and the
    # redirect after Remove, go back to.
    default = url_for("jobboard.queue", queue=queue,
                      state=j.state if j.state in records.STATES else None)
    back_url = safe_next(request.args.get("back"), default)
    if not back_url.startswith(url_for("jobboard.queue", queue=queue)):
        back_url = default
    # A finished step of a flow still going on keeps polling, so the flow is seen to end.
    flow_on = flow is not None and any(s.status in (*records.PENDING_STATES, records.PENDING_STEP)
                                       for s in flow.steps())
    return render_page("jobboard/job.html", poll=not j.is_finished or flow_on, queue=queue,
                       back_url=back_url, **data)


@blueprint.route("/workers")
@require_role("viewer")
def workers() -> str:
    consumers = live(("workers",), lambda: get_board().consumers())
    return render_page("jobboard/workers.html", poll=True, consumers=consumers)


@blueprint.route("/periodic")
@require_role("viewer")
def periodic() -> str:
    tasks = live(("periodic",), lambda: get_board().periodic())
    return render_page("jobboard/periodic.html", poll=True, tasks=tasks)


@blueprint.route("/stats")
@require_role("viewer")
def stats() -> Any:
    """Metrics: throughput, failures, retries, wait/run percentiles, as SVG charts."""
    board = get_board()
    names = [q.name for q in board.queues()]
    windows = tuple(WINDOWS)
    window = choice_arg("window", windows, "1h")
    if not names:
        return render_page("jobboard/stats.html", names=[], window=window, windows=windows)
    name = request.args.get("queue") or names[0]
    q = get_queue(name)
    task = resolve_task(q, (request.args.get("task") or "").strip() or None)
    tasks = q.tasks()
    if task and task not in tasks:
        return error_response(404, _("No task %(task)s seen in queue %(queue)s.",
                                     task=repr(task), queue=repr(name)))
    m = q.metrics(window, task)
    per_task = []
    if not task:
        for t in tasks[:50]:  # bounded: one metrics read per task
            tm = q.metrics(window, t)
            per_task.append((t, tm))
    return render_page(
        "jobboard/stats.html", names=names, queue=name, task=task, tasks=tasks,
        window=window, windows=windows, metrics=m, per_task=per_task,
        chart=charts.throughput_chart(m, tz=localtime.viewer_zone()),
        chart_narrow=charts.throughput_chart(m, width=360, height=200, labels=4,
                                             tz=localtime.viewer_zone()),
        latency={kind: charts.latency_chart(m, kind, width=480, height=200, labels=4,
                                            tz=localtime.viewer_zone())
                 for kind in ("wait", "run")},
        totals=m.totals,
    )


@blueprint.route("/alerts")
@require_role("viewer")
def alerts_page() -> str:
    """Where alerts go, who sends them now, and the last deliveries."""
    board = get_board()
    manager = get_state().alerts
    return render_page("jobboard/alerts.html", manager=manager,
                       settings=manager.settings if manager else None,
                       holder=alerts.lease_holder(board), deliveries=alerts.deliveries(board, 100))


@blueprint.route("/alerts/test", methods=["POST"])
@require_role("viewer")
def alerts_test() -> Answer:
    """Send a test message to every webhook now (admins)."""
    if not can("test_alert"):
        return refuse(ACTION_ROLES["test_alert"])
    manager = get_state().alerts
    default = url_for("jobboard.alerts_page")
    if manager is None:
        return error_response(409, _("Alerts are not configured in this dashboard: set "
                                     "JOBBOARD_ALERTS (docs/monitoring.md) to send a test from here."))
    sent = manager.send_test(auth.current_user_name() or "an admin")
    failed = [d for d in sent if d.status != "sent"]
    if failed:
        flash(_("Test alert not delivered to %(where)s.",
                where=", ".join(f"{d.webhook} ({d.error or d.http_status})" for d in failed)), "error")
    else:
        flash(ngettext("Test alert delivered to %(num)s webhook.",
                       "Test alert delivered to %(num)s webhooks.", len(sent)))
    return back(default)


# --- actions ----------------------------------------------------------------------------

def actor() -> Actor:
    """Who is acting through the pages (for the audit trail)."""
    return auth.current_actor("web")


def _done(message: str, category: str = "success") -> None:
    flash(message, category)
    get_state().live.invalidate()


JOB_ACTIONS = ("retry", "promote", "revoke", "remove")
#: What the toast after an action on one job says.
JOB_DONE = {"retry": lazy_gettext("Job %(id)s retried."), "promote": lazy_gettext("Job %(id)s promoted."),
            "revoke": lazy_gettext("Job %(id)s revoked."), "remove": lazy_gettext("Job %(id)s removed.")}


@blueprint.route("/queues/<queue>/jobs/<job_id>/<action>", methods=["POST"])
@require_role("viewer")
def job_action(queue: str, job_id: str, action: str) -> Answer:
    """Retry / promote / revoke / remove one job."""
    if action not in JOB_ACTIONS:
        return error_response(404, _("Unknown action %(action)s; try %(choices)s.",
                                     action=repr(action), choices=", ".join(JOB_ACTIONS)))
    if not can(action):
        return refuse(ACTION_ROLES[action])
    q = get_queue(queue)
    default = url_for("jobboard.job", queue=queue, job_id=job_id)
    if action == "remove":
        default = url_for("jobboard.queue", queue=queue)
    try:
        getattr(q, action)(job_id, actor=actor())
    except (JobStateError, JobNotFound) as exc:
        flash(core_message(exc), "error")
        return back(default)
    _done(str(JOB_DONE[action]) % {"id": job_id})
    return back(default)


def _filters() -> tuple[str, str | None, str | None]:
    state = request.values.get("state") or ""
    if state not in records.STATES:
        abort(error_response(400, _("Unknown state %(state)s; states are %(states)s.",
                                    state=repr(state[:40]), states=", ".join(records.STATES))))
    task = (request.values.get("task") or "").strip() or None
    search = (request.values.get("q") or "").strip()[:MAX_SEARCH] or None
    return state, task, search


BULK_ACTIONS = ("retry", "remove", "promote", "revoke")
#: The states each bulk action applies to.
BULK_STATES = {"retry": records.RETRYABLE_STATES, "remove": records.REMOVABLE_STATES,
               "promote": records.PROMOTABLE_STATES, "revoke": records.REVOCABLE_STATES}
#: Why a bulk action does not apply to a state's jobs.
BULK_REFUSED = {"retry": lazy_gettext("%(state)s jobs cannot be retried."),
                "remove": lazy_gettext("%(state)s jobs cannot be removed."),
                "promote": lazy_gettext("%(state)s jobs cannot be run now."),
                "revoke": lazy_gettext("%(state)s jobs cannot be revoked.")}


def _bulk_refused(action: str, state: str) -> Response:
    text = str(BULK_REFUSED[action]) % {"state": STATE_LABELS[state]}
    return error_response(400, text[:1].upper() + text[1:])


def _bulk_done_selected(action: str, n: int, of: int) -> str:
    """The toast after a bulk action on ``of`` selected jobs, ``n`` of them changed."""
    n_text = filters.number(n)
    if action == "retry":
        return ngettext("Retried %(n)s of %(num)s selected job.",
                        "Retried %(n)s of %(num)s selected jobs.", of, n=n_text)
    if action == "remove":
        return ngettext("Removed %(n)s of %(num)s selected job.",
                        "Removed %(n)s of %(num)s selected jobs.", of, n=n_text)
    if action == "promote":
        return ngettext("Run now: %(n)s of %(num)s selected job.",
                        "Run now: %(n)s of %(num)s selected jobs.", of, n=n_text)
    return ngettext("Revoked %(n)s of %(num)s selected job.",
                    "Revoked %(n)s of %(num)s selected jobs.", of, n=n_text)


def _bulk_done_matching(action: str, n: int, state: str) -> str:
    """The toast after a bulk action on every matching job: ``n`` changed."""
    label = STATE_LABELS[state]
    if action == "retry":
        return ngettext("Retried %(num)s %(state)s job.", "Retried %(num)s %(state)s jobs.", n,
                        state=label)
    if action == "remove":
        return ngettext("Removed %(num)s %(state)s job.", "Removed %(num)s %(state)s jobs.", n,
                        state=label)
    if action == "promote":
        return ngettext("Run now: %(num)s %(state)s job.", "Run now: %(num)s %(state)s jobs.", n,
                        state=label)
    return ngettext("Revoked %(num)s %(state)s job.", "Revoked %(num)s %(state)s jobs.", n,
                    state=label)


@blueprint.route("/queues/<queue>/bulk", methods=["GET"])
@require_role("viewer")
def bulk_confirm(queue: str) -> Any:
    """Show how many jobs match before retrying/removing all of them (no change here)."""
    action = request.args.get("action") or ""
    if action not in BULK_ACTIONS:
        return error_response(400, _("Unknown bulk action %(action)s; try %(choices)s.",
                                     action=repr(action[:40]), choices=", ".join(BULK_ACTIONS)))
    if not can(action):
        return refuse(ACTION_ROLES[action])
    state, task, search = _filters()
    if state not in BULK_STATES[action]:
        return _bulk_refused(action, state)
    q = get_queue(queue)
    task = resolve_task(q, task)
    count = q.count_matching(state, task=task, search=search)
    back_url = safe_next(request.args.get("next"), url_for("jobboard.queue", queue=queue,
                                                           state=state))
    return render_page("jobboard/bulk_confirm.html", queue=queue, action=action, state=state,
                       task=task, search=search, count=count, back_url=back_url)


@blueprint.route("/queues/<queue>/bulk", methods=["POST"])
@require_role("viewer")
def bulk(queue: str) -> Answer:
    """Retry/remove the selected jobs (``ids``) or everything matching the filters."""
    action = request.form.get("action") or ""
    if action not in BULK_ACTIONS:
        return error_response(400, _("Unknown bulk action %(action)s; try %(choices)s.",
                                     action=repr(action[:40]), choices=", ".join(BULK_ACTIONS)))
    if not can(action):
        return refuse(ACTION_ROLES[action])
    q = get_queue(queue)
    state, task, search = _filters()
    task = resolve_task(q, task)
    default = url_for("jobboard.queue", queue=queue, state=state)
    scope = request.form.get("scope") or "selected"
    if scope in ("selected", "matching") and state not in BULK_STATES[action]:
        return _bulk_refused(action, state)
    if scope == "selected":
        ids = [i for i in request.form.getlist("ids") if i][:1000]
        if not ids:
            flash(_("Nothing selected: tick some jobs first."), "error")
            return back(default)
        many = {"retry": q.retry_many, "remove": q.remove_many, "promote": q.promote_many,
                "revoke": q.revoke_many}[action]
        n = many(ids, actor=actor())
        _done(_bulk_done_selected(action, n, len(ids)))
    elif scope == "matching":
        if action == "retry":
            n = q.retry_all(state=state, task=task, search=search, actor=actor())
        elif action == "remove":
            n = q.remove_all(state, task=task, search=search, actor=actor())
        elif action == "promote":
            n = q.promote_all(task=task, search=search, actor=actor())
        else:
            n = q.revoke_all(state, task=task, search=search, actor=actor())
        _done(_bulk_done_matching(action, n, state))
    else:
        return error_response(400, _("scope must be 'selected' or 'matching'."))
    return back(default)


@blueprint.route("/queues/<queue>/<action>", methods=["POST"])
@require_role("viewer")
def queue_action(queue: str, action: str) -> Answer:
    """Pause, resume, empty or clean a queue."""
    if action not in ("pause", "resume", "empty", "clean"):
        return error_response(404, _("Unknown queue action %(action)s.", action=repr(action)))
    if not can(action):
        return refuse(ACTION_ROLES[action])
    q = get_queue(queue)
    default = url_for("jobboard.queue", queue=queue)
    if action == "pause":
        q.pause(actor=actor())
        _done(_("Queue %(queue)s paused: consumers take no new jobs from it.", queue=queue))
    elif action == "resume":
        q.resume(actor=actor())
        _done(_("Queue %(queue)s resumed.", queue=queue))
    elif action == "empty":
        n = q.empty(actor=actor())
        _done(ngettext("Emptied %(queue)s: %(num)s waiting or scheduled job dropped.",
                       "Emptied %(queue)s: %(num)s waiting and scheduled jobs dropped.", n, queue=queue))
    else:
        state = request.form.get("state") or ""
        if state not in records.FINISHED_STATES:
            return error_response(400, _("Only finished states can be cleaned, not %(state)s.",
                                         state=repr(state[:40])))
        try:
            older_than = float(request.form.get("older_than") or "")
        except ValueError:
            return error_response(400, _("older_than must be a number of seconds."))
        if not (0 <= older_than <= 10 * 365 * 86400):
            return error_response(400, _("older_than must be between 0 and ten years."))
        n = q.clean(state, older_than, actor=actor())
        _done(ngettext("Removed %(num)s %(state)s job from %(queue)s.",
                       "Removed %(num)s %(state)s jobs from %(queue)s.", n, state=STATE_LABELS[state],
                       queue=queue))
    return back(default)


PERIODIC_ACTIONS = {"run": "run_periodic", "pause": "pause_periodic",
                    "resume": "resume_periodic"}


@blueprint.route("/queues/<queue>/periodic/<action>", methods=["POST"])
@require_role("viewer")
def periodic_action(queue: str, action: str) -> Answer:
    """Run a periodic task now, or pause/resume its schedule (``name`` form field)."""
    method = PERIODIC_ACTIONS.get(action)
    if method is None:
        return error_response(404, _("Unknown periodic action %(action)s.", action=repr(action)))
    if not can("run" if action == "run" else f"{action}_periodic"):
        return refuse("operator")
    name = request.form.get("name") or ""
    q = get_queue(queue)
    default = url_for("jobboard.periodic")
    try:
        result = getattr(q, method)(name, actor=actor())
    except PeriodicTaskNotFound as exc:
        flash(core_message(exc), "error")
        return back(default)
    short = short_name(name)
    if action == "run":
        _done(_("%(task)s queued now as job %(id)s.", task=short, id=result))
    elif action == "pause":
        _done(_("%(task)s paused.", task=short))
    else:
        _done(_("%(task)s resumed.", task=short))
    return back(default)


def messages() -> list[tuple[str, str]]:
    """Flashed messages for the toast area (consumed once)."""
    return get_flashed_messages(with_categories=True)  # type: ignore[return-value]


blueprint.add_app_template_global(messages, "jb_messages")


# Pages defined in their own modules register their routes on this blueprint.
from . import activity  # noqa: E402,F401
from . import authoring  # noqa: E402,F401
