"""The JSON API under ``<prefix>/api``: thin views over the core API (docs/core-api.md).

Each view checks its input (see :mod:`.validate`), calls ``Board`` / ``Queue`` and
serialises the result. Roles are declared with :func:`.access.needs` and enforced before the
view runs; errors of any kind become ``{"error": {...}}`` responses in :mod:`.errors`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from ..board import MAX_PAGE_NUMBER, ORDERS, WINDOWS, Board, Queue
from ..errors import PeriodicTaskNotFound
from ..records import STATES, Counts
from ..shared.auth import client_address, current_user_name
from ..shared.state import get_board, get_state, health_thresholds
from . import access, ratelimit, serialize, validate
from .errors import ApiError, json_body, to_response
from .openapi import document
from .validate import Problems

api_blueprint = Blueprint("jobboard_api", __name__)


@api_blueprint.before_request
def _before() -> None:
    access.enforce()


api_blueprint.register_error_handler(Exception, to_response)


# -- helpers -----------------------------------------------------------------------------

def board() -> Board:
    """The core Board of this app (built by the jobboard extension)."""
    return get_board()


def job_url(queue: str, job_id: str) -> str:
    return url_for("jobboard_api.job", queue=queue, job_id=job_id)


def ok(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = jsonify(payload)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _rate_identity() -> str:
    """Whose budget a submission spends: the token, else the session client."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer ") and access.authenticated_by_token():
        return "token:" + header[7:].strip()
    return f"session:{current_user_name() or '-'}:{client_address()}"


def spend_rate_limit(cost: int) -> dict[str, str]:
    """Charge ``cost`` submissions; raise 429 with Retry-After when over the limit."""
    decision = ratelimit.hit(get_state().config, board().redis, _rate_identity(), cost)
    if decision is None:
        return {}
    headers = {"X-RateLimit-Limit": str(decision.limit),
               "X-RateLimit-Remaining": str(decision.remaining)}
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after)
        raise ApiError(429, "rate_limited",
                       f"Too many job submissions; retry in {decision.retry_after} s.",
                       {"limit": decision.limit, "remaining": decision.remaining,
                        "retry_after": decision.retry_after, "cost": cost},
                       headers=headers)
    return headers


def queue_summary(q: Queue, counts: Counts, consumers_alive: int) -> dict[str, Any]:
    return {
        "name": q.name,
        **serialize.counts(counts),
        "consumers_alive": consumers_alive,
        "throughput": serialize.throughput(q.metrics("1h")),
        "health": serialize.health(q.health(health_thresholds())),
    }


def _alive_by_queue(b: Board) -> dict[str, int]:
    alive: dict[str, int] = {}
    for c in b.consumers():
        alive[c.queue] = alive.get(c.queue, 0) + 1
    return alive


# -- queues --------------------------------------------------------------------------------

@api_blueprint.get("/queues")
@access.needs("viewer")
def queues() -> Response:
    b = board()
    all_counts = b.all_counts()  # one round trip for every queue
    alive = _alive_by_queue(b)
    out = []
    for q in b.queues():
        counts = all_counts.get(q.name) or q.counts()
        out.append(queue_summary(q, counts, alive.get(q.name, 0)))
    return ok({"queues": out})


@api_blueprint.get("/queues/<queue>")
@access.needs("viewer")
def queue(queue: str) -> Response:
    b = board()
    q = b.queue(queue)
    window = validate.query_choice(request.args, "window", tuple(WINDOWS), "1h")
    data = queue_summary(q, q.counts(), len(q.consumers()))
    data["tasks"] = list(q.tasks())
    data["metrics"] = serialize.metrics(q.metrics(window))
    return ok(data)


# -- jobs ----------------------------------------------------------------------------------

@api_blueprint.get("/queues/<queue>/jobs")
@access.needs("viewer")
def jobs(queue: str) -> Response:
    args = request.args
    state = validate.query_choice(args, "state", STATES, "waiting")
    task = validate.query_text(args, "task")
    search = validate.query_text(args, "q")
    page = validate.query_int(args, "page", 1, 1, MAX_PAGE_NUMBER)
    per_page = validate.query_int(args, "per_page", 25, 1, validate.MAX_PER_PAGE)
    order = validate.query_choice(args, "order", ORDERS, "newest")
    q = board().queue(queue)
    result = q.jobs(state, offset=(page - 1) * per_page, limit=per_page, task=task,
                    search=search, order=order)
    pages = max(1, -(-result.total // per_page))
    return ok({
        "queue": q.name, "state": state, "task": task, "q": search, "order": order,
        "page": page, "per_page": per_page, "pages": pages, "total": int(result.total),
        "scanned": result.scanned, "complete": bool(result.complete),
        "jobs": [dict(j.as_dict(), url=job_url(q.name, j.id)) for j in result.jobs],
    })


@api_blueprint.get("/queues/<queue>/jobs/<jobboard_job_id:job_id>")
@access.needs("viewer")
def job(queue: str, job_id: str) -> Response:
    q = board().queue(queue)
    j = q.job(job_id)
    return ok(dict(j.as_dict(detail=True), url=job_url(q.name, j.id)))


@api_blueprint.get("/jobs/<jobboard_job_id:job_id>")
@access.needs("viewer")
def find_job(job_id: str) -> Response:
    """A job by id alone, whatever its queue (one pipelined lookup over every queue)."""
    j = board().find_job(job_id)
    return ok(dict(j.as_dict(detail=True), url=job_url(j.queue, j.id)))


@api_blueprint.get("/search")
@access.needs("viewer")
def search() -> Response:
    """Jobs matching ``q`` in every queue (or ``queue``): ids by their start, task names,
    words of arguments and errors (Board.search, as the dashboard's search box)."""
    args = request.args
    query = validate.query_text(args, "q")
    if query is None:
        raise validate.bad_param("q", "is required: an id (its first characters), a task "
                                      "name or words of the arguments or errors.")
    queue = validate.query_text(args, "queue")
    state = validate.query_choice(args, "state", STATES, "") or None
    task = validate.query_text(args, "task")
    limit = validate.query_int(args, "limit", 25, 1, validate.MAX_PER_PAGE)
    pages = board().search(query, limit=limit, queue=queue, state=state, task=task)
    return ok({"q": query, "queues": [{
        "queue": p.queue, "total": int(p.total), "complete": bool(p.complete),
        "scanned": p.scanned,
        "jobs": [dict(j.as_dict(), url=job_url(j.queue, j.id)) for j in p.jobs],
    } for p in pages]})


def _check_and_bind(q: Any, sub: validate.Submission) -> str | None:
    """Why the arguments do not fit the task, or None. TaskNotFound propagates (404)."""
    return validate.bind(q.task_signature(sub.task), sub)


def _enqueue(q: Any, sub: validate.Submission) -> dict[str, Any]:
    job_id, created = q.enqueue(sub.task, args=tuple(sub.args), kwargs=sub.kwargs,
                                job_id=sub.job_id, **sub.options)
    return _result(q, sub.task, job_id, created)


def _result(q: Any, task: str, job_id: str, created: bool) -> dict[str, Any]:
    return {"id": job_id, "queue": q.name, "task": task, "created": bool(created),
            "url": job_url(q.name, job_id)}


@api_blueprint.post("/queues/<queue>/jobs")
@access.needs("operator")
def submit(queue: str) -> Response:
    body = json_body()
    q = board().queue(queue)
    problems = Problems()
    sub = validate.submission(body, problems)
    problems.raise_if_any()
    assert sub is not None
    reason = _check_and_bind(q, sub)
    if reason:
        raise ApiError(422, "invalid_arguments",
                       f"The arguments do not fit task {sub.task!r}: {reason}",
                       {"task": sub.task, "reason": reason,
                        "signature": str(q.task_signature(sub.task))})
    headers = spend_rate_limit(1)
    result = _enqueue(q, sub)
    headers["Location"] = result["url"]
    # 201 for a new job; 200 when the id was already queued (idempotent resubmission).
    return ok(result, 201 if result["created"] else 200, headers)


@api_blueprint.post("/queues/<queue>/jobs/bulk")
@access.needs("operator")
def submit_bulk(queue: str) -> Response:
    body = json_body()
    q = board().queue(queue)
    limit = int(get_state().config["JOBBOARD_API_MAX_BULK"])
    problems = Problems()
    validate.only_fields(body, ("jobs",), problems)
    items = body.get("jobs")
    if not isinstance(items, list) or not 1 <= len(items) <= limit:
        problems.add("jobs", f"required: an array of 1 to {limit} job submissions.")
        problems.raise_if_any()
    subs: list[validate.Submission] = []
    unknown_tasks = 0
    for i, item in enumerate(items):  # type: ignore[arg-type]
        problems.prefix = f"jobs[{i}]."
        sub = validate.submission(item, problems)
        if sub is None:
            continue
        try:
            reason = _check_and_bind(q, sub)
        except LookupError as e:  # TaskNotFound: reported with the others, not as a 404
            problems.add("task", str(e))
            unknown_tasks += 1
            continue
        if reason:
            problems.add("args", f"do not fit task {sub.task!r}: {reason}")
            continue
        subs.append(sub)
    problems.prefix = ""
    # All are checked before any is queued: one bad item and nothing is submitted. An unknown
    # task is a 404, as for a single submission; every problem is listed either way.
    if unknown_tasks:
        raise ApiError(404, "task_not_found",
                       "No job was queued: some submissions name tasks this queue does not "
                       "have.", {"errors": problems.errors})
    problems.raise_if_any("No job was queued: fix these submissions and send the batch again.")
    headers = spend_rate_limit(len(subs))
    # One round trip for the whole batch (the core's ENQUEUE_MANY), applied whole.
    queued = q.enqueue_many({"task": s.task, "args": tuple(s.args), "kwargs": s.kwargs,
                             "job_id": s.job_id, **s.options} for s in subs)
    results = [_result(q, s.task, job_id, created) for s, (job_id, created) in zip(subs, queued)]
    created = sum(1 for r in results if r["created"])
    return ok({"queue": q.name, "created": created, "existing": len(results) - created,
               "jobs": results}, 201 if created else 200, headers)


def _job_action(queue: str, job_id: str, action: str) -> Response:
    q = board().queue(queue)
    getattr(q, action)(job_id)
    return ok({"ok": True, "action": action, "queue": q.name, "id": job_id,
               "url": job_url(q.name, job_id)})


@api_blueprint.post("/queues/<queue>/jobs/<jobboard_job_id:job_id>/retry")
@access.needs("operator")
def job_retry(queue: str, job_id: str) -> Response:
    json_body(required=False)  # no body needed; one that is sent must still be JSON
    return _job_action(queue, job_id, "retry")


@api_blueprint.post("/queues/<queue>/jobs/<jobboard_job_id:job_id>/promote")
@access.needs("operator")
def job_promote(queue: str, job_id: str) -> Response:
    json_body(required=False)
    return _job_action(queue, job_id, "promote")


@api_blueprint.post("/queues/<queue>/jobs/<jobboard_job_id:job_id>/revoke")
@access.needs("operator")
def job_revoke(queue: str, job_id: str) -> Response:
    json_body(required=False)
    return _job_action(queue, job_id, "revoke")


@api_blueprint.delete("/queues/<queue>/jobs/<jobboard_job_id:job_id>")
@access.needs("admin")
def job_remove(queue: str, job_id: str) -> Response:
    return _job_action(queue, job_id, "remove")


# -- queue actions -------------------------------------------------------------------------

@api_blueprint.post("/queues/<queue>/retry")
@access.needs("operator")
def queue_retry(queue: str) -> Response:
    body = json_body(required=False)
    problems = Problems()
    validate.only_fields(body, ("state", "task", "q", "ids"), problems)
    state = validate.state_filter(body, problems, "failed")
    task = validate.optional_text(body, "task", problems)
    search = validate.optional_text(body, "q", problems)
    ids = body.get("ids")
    if "ids" in body and (not isinstance(ids, list) or len(ids) > 10_000
                            or not all(isinstance(i, str) and 0 < len(i) <= 200 for i in ids)):
        problems.add("ids", "must be an array of at most 10000 job ids.")
    problems.raise_if_any()
    q = board().queue(queue)
    if ids is not None:
        n = q.retry_many(ids)
    else:
        n = q.retry_all(state=state, task=task, search=search)
    return ok({"queue": q.name, "retried": int(n)})


@api_blueprint.post("/queues/<queue>/pause")
@access.needs("operator")
def queue_pause(queue: str) -> Response:
    json_body(required=False)
    q = board().queue(queue)
    q.pause()
    return ok({"queue": q.name, "paused": True})


@api_blueprint.post("/queues/<queue>/resume")
@access.needs("operator")
def queue_resume(queue: str) -> Response:
    json_body(required=False)
    q = board().queue(queue)
    q.resume()
    return ok({"queue": q.name, "paused": False})


@api_blueprint.post("/queues/<queue>/empty")
@access.needs("admin")
def queue_empty(queue: str) -> Response:
    json_body(required=False)
    q = board().queue(queue)
    return ok({"queue": q.name, "removed": int(q.empty())})


@api_blueprint.post("/queues/<queue>/clean")
@access.needs("admin")
def queue_clean(queue: str) -> Response:
    body = json_body()
    problems = Problems()
    validate.only_fields(body, ("state", "older_than"), problems)
    state = validate.finished_state(body, problems)
    older_than = validate.parse_duration(body.get("older_than", 0))
    if older_than is None or older_than < 0:
        problems.add("older_than", "must be seconds (a number) or a duration like '30m', '24h', '7d'.")
    else:
        older_than = min(older_than, validate.MAX_SECONDS * 10)  # older than that: nothing
    problems.raise_if_any()
    assert older_than is not None  # a problem was raised otherwise
    q = board().queue(queue)
    return ok({"queue": q.name, "state": state, "older_than": older_than,
               "removed": int(q.clean(state, older_than))})


# -- workers and periodic tasks ------------------------------------------------------------

@api_blueprint.get("/workers")
@access.needs("viewer")
def workers() -> Response:
    name = validate.query_text(request.args, "queue")
    b = board()
    if name:
        b.queue(name)  # 404 for an unknown queue rather than an empty list
    return ok({"workers": [serialize.consumer(c) for c in b.consumers(queue=name)]})


@api_blueprint.get("/periodic")
@access.needs("viewer")
def periodic() -> Response:
    name = validate.query_text(request.args, "queue")
    b = board()
    if name:
        b.queue(name)
    return ok({"periodic": [serialize.periodic(p) for p in b.periodic(queue=name)]})


def find_periodic(name: str, queue: str | None) -> tuple[Any, Any]:
    """The queue and periodic task called ``name`` (full or short name).

    Periodic tasks belong to a queue; without ``queue`` every queue is searched and a name
    found in several queues is a 409 asking for the queue.
    """
    b = board()
    if queue:
        b.queue(queue)
    found = [p for p in b.periodic(queue=queue) if name in (p.name, p.short_name)]
    exact = [p for p in found if p.name == name] or found
    if not exact:
        raise PeriodicTaskNotFound(queue or "*", name)
    if len(exact) > 1:
        raise ApiError(409, "ambiguous_periodic",
                       f"Periodic task {name!r} exists in several queues; pass ?queue=<name>.",
                       {"queues": sorted({p.queue for p in exact}),
                        "names": sorted({p.name for p in exact})})
    p = exact[0]
    return b.queue(p.queue), p


def _periodic_queue_param() -> str | None:
    body = json_body(required=False)
    queue = request.args.get("queue") or body.get("queue")
    if queue is not None and (not isinstance(queue, str) or len(queue) > validate.MAX_TEXT):
        raise ApiError(422, "validation_error", "'queue' must be a queue name.",
                       {"errors": [{"field": "queue", "message": "must be a string"}]})
    return queue or None


@api_blueprint.post("/periodic/<name>/run")
@access.needs("operator")
def periodic_run(name: str) -> Response:
    q, p = find_periodic(name, _periodic_queue_param())
    job_id = q.run_periodic(p.name)
    return ok({"queue": q.name, "name": p.name, "id": job_id, "url": job_url(q.name, job_id)},
              201)


@api_blueprint.post("/periodic/<name>/pause")
@access.needs("operator")
def periodic_pause(name: str) -> Response:
    q, p = find_periodic(name, _periodic_queue_param())
    q.pause_periodic(p.name)
    return ok({"queue": q.name, "name": p.name, "paused": True})


@api_blueprint.post("/periodic/<name>/resume")
@access.needs("operator")
def periodic_resume(name: str) -> Response:
    q, p = find_periodic(name, _periodic_queue_param())
    q.resume_periodic(p.name)
    return ok({"queue": q.name, "name": p.name, "paused": False})


# -- the document --------------------------------------------------------------------------

@api_blueprint.get("/openapi.json")
@access.needs("viewer")
def openapi() -> Response:
    # url_for already includes SCRIPT_NAME, so the document is right behind a proxy prefix.
    server = url_for("jobboard_api.queues").rsplit("/queues", 1)[0]
    return ok(document(server_url=server))
