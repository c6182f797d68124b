"""Adding, duplicating, and editing-and-retrying jobs from the pages (operator role).

Thin: the form is read here, every check that matters (the task's signature, masked
values, states) is the core's (``Queue.argument_problem``, ``Queue.edit_and_retry``...),
the same the JSON API makes. A form with problems comes back with them next to its
fields and a 422, what the person typed kept. Routes live on the pages' blueprint.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from flask import Response, abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from .. import authoring
from ..errors import InvalidArgument, JobNotFound, JobStateError
from ..primitives import PRIORITY_LIMIT
from ..records import RETRYABLE_STATES
from ..shared import auth
from ..shared.errors import error_response, is_htmx
from .access import require_role
from .filters import number
from .i18n import _
from .localtime import viewer_zone
from .views import Answer, back, blueprint, core_message, get_queue, render_page

MAX_DELAY = 10 * 365 * 86400.0  # ten years: beyond that a delay is a typo
MAX_RETRIES = 1000


def open_job(queue: str, job_id: str) -> WerkzeugResponse:
    """Go to a job's page: a 303, or for htmx an ``HX-Redirect`` so that the address bar
    shows the new job (a followed redirect would swap it in under the old URL)."""
    url = url_for("jobboard.job", queue=queue, job_id=job_id)
    if is_htmx():
        resp = Response("", status=200)
        resp.headers["HX-Redirect"] = url
        return resp
    return redirect(url, code=303)


def _int_field(errors: dict[str, str], name: str, low: int, high: int) -> int | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        errors[name] = _("%(value)s is not a whole number.", value=repr(raw[:40]))
        return None
    if not low <= value <= high:
        errors[name] = _("must be between %(low)s and %(high)s.", low=number(low), high=number(high))
        return None
    return value


def _when(errors: dict[str, str]) -> tuple[float | None, float | None]:
    """(delay seconds, eta Unix time) from the form; an eta is read in the viewer's zone
    (their local time, or UTC: what every time on the pages is shown in)."""
    delay_raw = (request.form.get("delay") or "").strip()
    eta_raw = (request.form.get("eta") or "").strip()
    if delay_raw and eta_raw:
        errors["eta"] = _("Give a delay or a time, not both.")
        return None, None
    if delay_raw:
        try:
            delay = float(delay_raw)
        except ValueError:
            errors["delay"] = _("must be a number of seconds.")
            return None, None
        if not math.isfinite(delay) or not 0 <= delay <= MAX_DELAY:
            errors["delay"] = _("must be between 0 s and ten years.")
            return None, None
        return delay, None
    if eta_raw:
        try:
            when = dt.datetime.fromisoformat(eta_raw)
        except ValueError:
            errors["eta"] = _("must be a date and time such as 2026-01-31T14:30.")
            return None, None
        if when.tzinfo is None:
            when = when.replace(tzinfo=viewer_zone())
        return None, when.timestamp()
    return None, None


def _json_field(errors: dict[str, str], name: str, kind: type) -> Any:
    try:
        return authoring.parse(request.form.get(name) or "", kind, name)
    except authoring.FieldError as exc:
        errors[name] = _field_error(exc, kind)
        return None


def _field_error(exc: authoring.FieldError, kind: type) -> str:
    """The core's field error in the viewer's language (the parser's own detail stays)."""
    if exc.reason == "too_large":
        return _("%(name)s is larger than %(kb)s KB of JSON.", name=exc.name,
                 kb=authoring.MAX_JSON // 1024)
    if exc.reason == "not_json":
        return _("%(name)s is not valid JSON: %(detail)s.", name=exc.name, detail=exc.detail)
    if kind is list:
        return _("%(name)s must be an array, e.g. [1, \"a\"].", name=exc.name)
    return _("%(name)s must be an object, e.g. {\"to\": \"a@b\"}.", name=exc.name)


@blueprint.route("/queues/<queue>/new", methods=["GET", "POST"])
@require_role("operator")
def add_job(queue: str) -> Any:
    """Add a job: task, JSON arguments checked against its signature, priority, delay/eta."""
    q = get_queue(queue)
    tasks = q.registered_tasks()
    form: dict[str, str] = {k: request.values.get(k, "") for k in (
        "task", "args", "kwargs", "priority", "delay", "eta", "retries")}
    if request.method == "GET":  # the form only: nothing changes on GET
        form["args"] = form["args"] or "[]"
        form["kwargs"] = form["kwargs"] or "{}"
        return render_page("jobboard/job_new.html", queue=queue, tasks=tasks, form=form, errors={})
    errors: dict[str, str] = {}
    task = form["task"]
    if not tasks:
        # A POST here must not answer 200 with the bare form, as if it had been taken.
        errors["task"] = _("No task of this queue is known to the dashboard: mount it with the "
                           "queue's Huey (JobBoard(hueys=[...])) to add jobs from here.")
    elif task not in tasks:
        errors["task"] = _("Choose one of this queue's tasks.")
    args = _json_field(errors, "args", list)
    kwargs = _json_field(errors, "kwargs", dict)
    priority = _int_field(errors, "priority", -PRIORITY_LIMIT, PRIORITY_LIMIT)
    retries = _int_field(errors, "retries", 0, MAX_RETRIES)
    delay, eta = _when(errors)
    if not errors:
        problem = q.argument_problem(task, args, kwargs)
        if problem:
            errors["args"] = _("The arguments do not fit %(task)s: %(problem)s.",
                               task=f"{task}{tasks[task]}", problem=problem)
    if errors:
        page = render_page("jobboard/job_new.html", queue=queue, tasks=tasks, form=form,
                           errors=errors)
        return page, 422
    job_id, _created = q.enqueue(task, args=args, kwargs=kwargs, priority=priority, delay=delay, eta=eta,
                          retries=retries, actor=auth.current_actor("web"))
    flash(_("Job %(id)s added.", id=job_id), "success")
    return open_job(queue, job_id)


@blueprint.route("/queues/<queue>/jobs/<job_id>/duplicate", methods=["POST"])
@require_role("operator")
def duplicate_job(queue: str, job_id: str) -> Answer:
    """Queue a copy of a job (same task, arguments, options) and open it."""
    q = get_queue(queue)
    try:
        new_id = q.duplicate(job_id, actor=auth.current_actor("web"))
    except (JobNotFound, JobStateError) as exc:
        flash(core_message(exc), "error")
        return back(url_for("jobboard.job", queue=queue, job_id=job_id))
    flash(_("Job %(id)s duplicated as %(new)s.", id=job_id, new=new_id), "success")
    return open_job(queue, new_id)


@blueprint.route("/queues/<queue>/jobs/<job_id>/edit", methods=["GET", "POST"])
@require_role("operator")
def edit_job(queue: str, job_id: str) -> Any:
    """The JSON editor of a finished job's arguments; saving queues the edited copy."""
    q = get_queue(queue)
    try:
        editable = q.editable(job_id)
    except JobNotFound as exc:
        abort(error_response(404, core_message(exc)))
    except JobStateError as exc:
        abort(error_response(409, core_message(exc)))
    if request.method == "GET" or editable.problem:
        page = render_page("jobboard/job_edit.html", queue=queue, e=editable,
                           form={"args": editable.args, "kwargs": editable.kwargs}, errors={},
                           RETRYABLE=RETRYABLE_STATES)
        return page, 200 if request.method == "GET" else 422
    errors: dict[str, str] = {}
    form = {"args": request.form.get("args") or "", "kwargs": request.form.get("kwargs") or ""}
    args = _json_field(errors, "args", list)
    kwargs = _json_field(errors, "kwargs", dict)
    if not errors:
        try:
            new_id = q.edit_and_retry(job_id, args, kwargs, actor=auth.current_actor("web"))
        except InvalidArgument as exc:
            errors["args"] = str(exc)
        else:
            flash(_("Job %(id)s edited and retried as %(new)s; the original is kept.", id=job_id,
                    new=new_id), "success")
            return open_job(queue, new_id)
    page = render_page("jobboard/job_edit.html", queue=queue, e=editable, form=form,
                       errors=errors, RETRYABLE=RETRYABLE_STATES)
    return page, 422
