"""The OpenAPI 3.1 document of the JSON API (served at ``<prefix>/api/openapi.json``).

Written by hand, as data, next to the views it describes: the schemathesis run in
tests/test_api_schemathesis.py checks every response of the live API against it, so the two
cannot drift apart silently.
"""

from __future__ import annotations

from typing import Any

from ..checks import CHECKS
from ..board import MAX_PAGE_NUMBER, ORDERS, WINDOWS
from ..primitives import DURATION_PATTERN, PRIORITY_LIMIT
from ..records import FINISHED_STATES, STATES
from ..version import __version__
from .validate import MAX_ETA, MAX_PER_PAGE, MAX_SECONDS, SUBMIT_FIELDS

JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str | list[str], **extra: Any) -> dict[str, Any]:
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return {"type": [*kinds, "null"], **extra}


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required, **extra}


NUM_OR_NULL = nullable("number")
STR_OR_NULL = nullable("string")
PCTS = obj({k: NUM_OR_NULL for k in ("p50", "p95", "p99")})

SCHEMAS: dict[str, Any] = {
    "Error": obj({"error": obj({
        "code": {"type": "string", "description": "Machine-readable, e.g. job_not_found."},
        "message": {"type": "string", "description": "What went wrong and what to do."},
        "details": {"description": "Extra data, e.g. the list of validation errors."},
    })}),
    "Counts": obj({
        "states": obj({s: {"type": "integer", "minimum": 0} for s in STATES}),
        "total": {"type": "integer", "minimum": 0},
        "paused": {"type": "boolean"},
    }),
    "Throughput": obj({
        "window": {"type": "string", "enum": list(WINDOWS)},
        "enqueued": {"type": "integer"}, "completed": {"type": "integer"},
        "failed": {"type": "integer"}, "retried": {"type": "integer"},
        "completed_per_minute": {"type": "number"},
    }),
    "Health": obj({
        "queue": {"type": "string"}, "healthy": {"type": "boolean"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "backlog": {"type": "integer"},
        "oldest_waiting_age": nullable("number", description="Seconds."),
        "failure_rate_5m": NUM_OR_NULL, "failure_rate_60m": NUM_OR_NULL,
        "consumers_alive": {"type": "integer"}, "paused": {"type": "boolean"},
        "paused_since": nullable("number", description="Unix time the queue was paused."),
        "problems": {"type": "array", "items": ref("Problem")},
    }),
    "Problem": obj({
        "check": {"type": "string", "enum": list(CHECKS),
                  "description": "The health rule that failed (jobboard.checks.CHECKS)."},
        "message": {"type": "string"}, "value": NUM_OR_NULL, "threshold": NUM_OR_NULL,
        "queue": STR_OR_NULL,
    }),
    "Metrics": obj({
        "window": {"type": "string", "enum": list(WINDOWS)}, "task": STR_OR_NULL,
        "bucket_seconds": {"type": "integer"}, "totals": ref("Throughput"),
        "wait_ms": PCTS, "run_ms": PCTS,
        "points": {"type": "array", "items": obj({
            "at": {"type": "number"}, "enqueued": {"type": "integer"},
            "completed": {"type": "integer"}, "failed": {"type": "integer"},
            "retried": {"type": "integer"}})},
    }),
    "Queue": obj({
        "name": {"type": "string"},
        "states": {"$ref": "#/components/schemas/Counts/properties/states"},
        "total": {"type": "integer"}, "paused": {"type": "boolean"},
        "consumers_alive": {"type": "integer"},
        "throughput": ref("Throughput"), "health": ref("Health"),
    }),
    "QueueDetail": {"allOf": [ref("Queue"), obj({
        "tasks": {"type": "array", "items": {"type": "string"}},
        "metrics": ref("Metrics")})]},
    "Job": obj({
        "id": {"type": "string"}, "queue": {"type": "string"}, "task": {"type": "string"},
        "state": {"type": "string", "description": "One of " + ", ".join(STATES) + "."},
        "args": {"type": "string", "description": "Preview: the JSON of the positional "
                 "arguments without its brackets, cut at 300 characters (redacted)."},
        "kwargs": {"type": "string", "description": "Preview of the keyword arguments."},
        "priority": nullable("integer"),
        "options": {"type": "object"}, "attempt": {"type": "integer"},
        "enqueued_at": NUM_OR_NULL, "started_at": NUM_OR_NULL, "finished_at": NUM_OR_NULL,
        "scheduled_for": NUM_OR_NULL, "wait_ms": NUM_OR_NULL, "run_ms": NUM_OR_NULL,
        "consumer": STR_OR_NULL, "result": STR_OR_NULL, "error": STR_OR_NULL,
        "progress": NUM_OR_NULL, "progress_message": STR_OR_NULL, "parent": STR_OR_NULL,
        "children": {"type": "array", "items": {"type": "string"}},
        "stalls": {"type": "integer"}, "periodic": {"type": "boolean"},
        "undecodable": STR_OR_NULL,
        "url": {"type": "string", "description": "This job's API URL."},
    }),
    "JobDetail": {"allOf": [ref("Job"), obj({
        "args_json": {"type": "string", "description": "The positional arguments as JSON "
                      "text, whole up to the queue's payload_limit (redacted; text cut at "
                      "the limit ends with '…' and is not JSON)."},
        "kwargs_json": {"type": "string", "description": "The keyword arguments (see args_json)."},
        "result_json": STR_OR_NULL,
        "attempts": {"type": "array", "items": obj({
            "number": {"type": "integer"}, "at": NUM_OR_NULL,
            "error_class": {"type": "string"}, "message": {"type": "string"},
            "traceback": {"type": "string"}, "consumer": STR_OR_NULL})},
        "logs": {"type": "array", "items": obj({
            "at": {"type": "number"}, "message": {"type": "string"}})},
        "events": {"type": "array", "items": obj({
            "at": {"type": "number"}, "kind": {"type": "string"},
            "message": {"type": "string"}})},
    })]},
    "JobPage": obj({
        "queue": {"type": "string"}, "state": {"type": "string", "enum": list(STATES)},
        "task": STR_OR_NULL, "q": STR_OR_NULL,
        "order": {"type": "string", "enum": list(ORDERS)},
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        "pages": {"type": "integer", "minimum": 1}, "total": {"type": "integer"},
        "scanned": nullable("integer", description="Ids examined by a search."),
        "complete": {"type": "boolean",
                     "description": "False when a search stopped before the end of the state."},
        "jobs": {"type": "array", "items": ref("Job")},
    }),
    "Submission": obj({
        "task": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S",
                 "description": "Task name as registered with Huey (full or short)."},
        "args": {"type": "array", "description": "Positional arguments (JSON values)."},
        "kwargs": {"type": "object", "description": "Keyword arguments (JSON values)."},
        "priority": nullable("integer", minimum=-PRIORITY_LIMIT, maximum=PRIORITY_LIMIT,
                             description="Higher runs first."),
        "delay": nullable("number", minimum=0, maximum=MAX_SECONDS,
                          description="Seconds from now."),
        "eta": {"type": ["number", "string", "null"], "maximum": MAX_ETA,
                "format": "date-time",
                "description": "Unix timestamp or RFC 3339 date-time (naive = UTC); a past "
                               "time means now."},
        "retries": nullable("integer", minimum=0, maximum=1000),
        "retry_delay": nullable("number", minimum=0, maximum=MAX_SECONDS),
        "retry_backoff": nullable("number", minimum=0, maximum=100),
        "expires": nullable("number", minimum=0, maximum=MAX_SECONDS,
                            description="Seconds."),
        "id": nullable("string", pattern=r"^(?!bulk$)[A-Za-z0-9._:@+=-]{1,128}$",
                       description="Your id for the job: submitting it again is a no-op."),
    }, required=["task"], additionalProperties=False,
        # delay and eta are alternatives: both set (non-null) is refused.
        **{"not": {"properties": {"delay": {"type": "number"},
                                  "eta": {"type": ["number", "string"]}},
                   "required": ["delay", "eta"]}}),
    "SubmissionResult": obj({
        "id": {"type": "string"}, "queue": {"type": "string"}, "task": {"type": "string"},
        "created": {"type": "boolean",
                    "description": "False when a job with this id was already queued."},
        "url": {"type": "string"},
    }),
    "BulkSubmission": obj({"jobs": {"type": "array", "minItems": 1, "maxItems": 1000,
                                    "items": ref("Submission")}},
                          additionalProperties=False),
    "BulkResult": obj({
        "queue": {"type": "string"}, "created": {"type": "integer"},
        "existing": {"type": "integer"},
        "jobs": {"type": "array", "items": ref("SubmissionResult")},
    }),
    "JobAction": obj({
        "ok": {"const": True}, "action": {"type": "string"}, "queue": {"type": "string"},
        "id": {"type": "string"}, "url": {"type": "string"},
    }),
    "RetryFilter": obj({
        "state": {"type": ["string", "null"], "enum": [*STATES, None], "default": "failed"},
        "task": nullable("string", maxLength=200), "q": nullable("string", maxLength=200),
        "ids": {"type": "array", "maxItems": 10000,
                "items": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": "Retry exactly these jobs instead of a filter."},
    }, required=[], additionalProperties=False),
    "RetryResult": obj({"queue": {"type": "string"}, "retried": {"type": "integer"}}),
    "PauseResult": obj({"queue": {"type": "string"}, "paused": {"type": "boolean"}}),
    "EmptyResult": obj({"queue": {"type": "string"}, "removed": {"type": "integer"}}),
    "Clean": obj({
        "state": {"type": "string", "enum": list(FINISHED_STATES)},
        "older_than": {"type": ["number", "string"], "default": 0, "minimum": 0,
                       "pattern": DURATION_PATTERN,
                       "description": "Seconds, or a duration such as 30m, 24h, 7d."},
    }, required=["state"], additionalProperties=False),
    "CleanResult": obj({"queue": {"type": "string"}, "state": {"type": "string"},
                        "older_than": {"type": "number"}, "removed": {"type": "integer"}}),
    "Worker": obj({
        "id": {"type": "string"}, "queue": {"type": "string"}, "host": {"type": "string"},
        "pid": {"type": "integer"}, "worker_type": {"type": "string"},
        "workers": {"type": "integer"}, "periodic": {"type": "boolean"},
        "started_at": {"type": "number"}, "last_seen": {"type": "number"},
        "uptime": {"type": "number"}, "version": {"type": "string"},
        "done": {"type": "integer"}, "failed": {"type": "integer"},
        "running": {"type": "array", "items": obj({
            "job_id": {"type": "string"}, "queue": {"type": "string"},
            "task": {"type": "string"}, "started_at": {"type": "number"},
            "worker": {"type": "string"}})},
    }),
    "Periodic": obj({
        "queue": {"type": "string"}, "name": {"type": "string"},
        "short_name": {"type": "string"}, "schedule": {"type": "string"},
        "next_run": NUM_OR_NULL, "last_run": NUM_OR_NULL, "last_job_id": STR_OR_NULL,
        "last_outcome": STR_OR_NULL, "paused": {"type": "boolean"},
        "last_enqueued_by": STR_OR_NULL,
    }),
    "PeriodicRun": obj({"queue": {"type": "string"}, "name": {"type": "string"},
                        "id": {"type": "string"}, "url": {"type": "string"}}),
    "PeriodicPause": obj({"queue": {"type": "string"}, "name": {"type": "string"},
                         "paused": {"type": "boolean"}}),
}

ERRORS = {
    "400": "Bad request: malformed JSON, an invalid query parameter, a CSRF failure "
           "(session requests), or an argument the core refused.",
    "401": "No valid credentials (bearer token or dashboard session).",
    "403": "Authenticated, but the role is too low (or jobboard is read-only).",
    "404": "Unknown queue, job, task or periodic task.",
    "409": "The action does not apply to the job in its current state.",
    "413": "Request body too large (JOBBOARD_API_MAX_BODY).",
    "415": "The body is not application/json.",
    "422": "The body is JSON but not of the documented shape, or the arguments do not fit "
           "the task's signature.",
    "429": "Too many submissions for this token; see Retry-After.",
    "503": "Redis is not answering; retry later.",
}

RATE_HEADERS = {
    "X-RateLimit-Limit": {"schema": {"type": "string"}},
    "X-RateLimit-Remaining": {"schema": {"type": "string"}},
}


def error_response(status: str) -> dict[str, Any]:
    resp: dict[str, Any] = {"description": ERRORS[status],
                            "content": {JSON: {"schema": ref("Error")}}}
    if status in ("429", "503"):
        resp["headers"] = {"Retry-After": {"schema": {"type": "string"},
                                           "description": "Seconds to wait."}}
    return resp


def op(summary: str, ok: dict[str, Any], errors: list[str], *, params: list[Any] | None = None,
       body: dict[str, Any] | None = None, body_required: bool = True, role: str = "viewer",
       tag: str = "queues", op_id: str = "") -> dict[str, Any]:
    """One operation; 400/401/403/503 apply to every operation, the rest as listed."""
    statuses = sorted(set(errors) | {"400", "401", "403", "503"})
    o: dict[str, Any] = {
        "operationId": op_id, "summary": summary, "tags": [tag],
        "description": f"Needs the **{role}** role.",
        "responses": {**ok, **{s: {"$ref": f"#/components/responses/E{s}"} for s in statuses}},
    }
    if params:
        o["parameters"] = params
    if body is not None:
        o["requestBody"] = {"required": body_required, "content": {JSON: {"schema": body}}}
    return o


def success(status: str, schema: dict[str, Any], description: str = "OK",
            headers: dict[str, Any] | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {"description": description, "content": {JSON: {"schema": schema}}}
    if headers:
        r["headers"] = headers
    return {status: r}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1}}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


QUEUE = path_param("queue", "Queue name.")
JOB_ID = {**path_param("job_id", "Job id."),
          "schema": {"type": "string", "minLength": 1, "pattern": "^(?!bulk$)"}}
PERIODIC = path_param("name", "Periodic task name (full or short).")
QUEUE_Q = query("queue", {"type": "string", "maxLength": 200},
                "Queue name (periodic names are per queue; without it every queue is searched).")


def paths() -> dict[str, Any]:
    def job_action(verb: str, what: str, role: str, op_id: str) -> dict[str, Any]:
        return {"post": op(what, success("200", ref("JobAction")), ["404", "409", "413", "415"],
                           role=role, tag="jobs", op_id=op_id)}

    def periodic_action(what: str, schema: str, status: str, op_id: str) -> dict[str, Any]:
        return {"post": op(what, success(status, ref(schema)),
                           ["404", "409", "413", "415", "422"],
                           params=[QUEUE_Q], role="operator", tag="periodic", op_id=op_id)}
    return {
        "/queues": {"get": op(
            "Every queue: counts by state, paused, consumers alive, throughput, health.",
            success("200", obj({"queues": {"type": "array", "items": ref("Queue")}})), [],
            op_id="listQueues")},
        "/queues/{queue}": {"parameters": [QUEUE], "get": op(
            "One queue, with its task names and a metrics summary.",
            success("200", ref("QueueDetail")), ["404"],
            params=[query("window", {"type": "string", "enum": list(WINDOWS)},
                          "Metrics window (default 1h).")], op_id="getQueue")},
        "/queues/{queue}/jobs": {"parameters": [QUEUE], "get": op(
            "A page of jobs in one state, with the total.",
            success("200", ref("JobPage")), ["404"], params=[
                query("state", {"type": "string", "enum": list(STATES)}, "Default waiting."),
                query("task", {"type": "string", "maxLength": 200}, "Task name filter."),
                query("q", {"type": "string", "maxLength": 200},
                      "Search within the state: id start, task, words of arguments or errors."),
                query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUMBER},
                      "Page number, from 1."),
                query("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                      "Jobs per page (default 25)."),
                query("order", {"type": "string", "enum": list(ORDERS)},
                      "Default newest."),
            ], tag="jobs", op_id="listJobs"),
            "post": op(
                "Submit a job by task name; arguments are checked against the task's "
                "signature first. Idempotent when an id is given.",
                {**success("201", ref("SubmissionResult"), "Queued.",
                           {**RATE_HEADERS, "Location": {"schema": {"type": "string"}}}),
                 **success("200", ref("SubmissionResult"),
                           "A job with this id was already queued; nothing was added.",
                           {**RATE_HEADERS, "Location": {"schema": {"type": "string"}}})},
                ["404", "413", "415", "422", "429"], body=ref("Submission"),
                role="operator", tag="jobs", op_id="submitJob")},
        "/queues/{queue}/jobs/bulk": {"parameters": [QUEUE], "post": op(
            "Submit many jobs (up to JOBBOARD_API_MAX_BULK, 1,000 by default); all are "
            "checked before any is queued, then queued in one step (one Redis round trip per "
            "1,000, applied whole). Idempotent per job when an id is given, as submitJob.",
            {**success("201", ref("BulkResult"), "Queued.", RATE_HEADERS),
             **success("200", ref("BulkResult"), "Every id was already queued.", RATE_HEADERS)},
            ["404", "413", "415", "422", "429"], body=ref("BulkSubmission"),
            role="operator", tag="jobs", op_id="submitJobs")},
        "/queues/{queue}/jobs/{job_id}": {"parameters": [QUEUE, JOB_ID], "get": op(
            "The full record of a job: attempts with tracebacks, logs, timeline.",
            success("200", ref("JobDetail")), ["404"], tag="jobs", op_id="getJob"),
            "delete": op("Remove a job and its record.", success("200", ref("JobAction")),
                         ["404", "409"], role="admin", tag="jobs", op_id="removeJob")},
        "/search": {"get": op(
            "Jobs matching a search in every queue: ids by their start (case-insensitive), "
            "task names, words of arguments and errors. Bounded work per queue.",
            success("200", obj({"q": {"type": "string"}, "queues": {"type": "array", "items": obj({
                "queue": {"type": "string"}, "total": {"type": "integer"},
                "complete": {"type": "boolean", "description": "False when total is a lower bound."},
                "scanned": nullable("integer", description="Set when the queue has no search "
                                                           "index: jobs looked at."),
                "jobs": {"type": "array", "items": ref("Job")}})}})), ["404"], params=[
                {**query("q", {"type": "string", "minLength": 1, "maxLength": 200},
                         "What to search for."), "required": True},
                query("queue", {"type": "string", "maxLength": 200}, "Only this queue."),
                query("state", {"type": "string", "enum": list(STATES)}, "Only jobs in this state."),
                query("task", {"type": "string", "maxLength": 200}, "Only jobs of this task."),
                query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                      "Jobs per queue (default 25)."),
            ], tag="jobs", op_id="searchJobs")},
        "/jobs/{job_id}": {"parameters": [JOB_ID], "get": op(
            "Find a job by id in whichever queue holds it.",
            success("200", ref("JobDetail")), ["404"], tag="jobs", op_id="findJob")},
        "/queues/{queue}/jobs/{job_id}/retry": {"parameters": [QUEUE, JOB_ID], **job_action(
            "retry", "Retry a finished job with its original arguments.", "operator",
            "retryJob")},
        "/queues/{queue}/jobs/{job_id}/promote": {"parameters": [QUEUE, JOB_ID], **job_action(
            "promote", "Run a scheduled job now.", "operator", "promoteJob")},
        "/queues/{queue}/jobs/{job_id}/revoke": {"parameters": [QUEUE, JOB_ID], **job_action(
            "revoke", "Revoke a waiting or scheduled job.", "operator", "revokeJob")},
        "/queues/{queue}/retry": {"parameters": [QUEUE], "post": op(
            "Retry every job matching a filter (or the given ids); returns how many.",
            success("200", ref("RetryResult")), ["404", "413", "415", "422"],
            body=ref("RetryFilter"), body_required=False, role="operator",
            op_id="retryJobs")},
        "/queues/{queue}/pause": {"parameters": [QUEUE], "post": op(
            "Pause a queue: consumers stop taking its jobs.", success("200", ref("PauseResult")),
            ["404", "413", "415"], role="operator", op_id="pauseQueue")},
        "/queues/{queue}/resume": {"parameters": [QUEUE], "post": op(
            "Resume a paused queue.", success("200", ref("PauseResult")),
            ["404", "413", "415"], role="operator", op_id="resumeQueue")},
        "/queues/{queue}/empty": {"parameters": [QUEUE], "post": op(
            "Drop every waiting and scheduled job.", success("200", ref("EmptyResult")),
            ["404", "413", "415"], role="admin", op_id="emptyQueue")},
        "/queues/{queue}/clean": {"parameters": [QUEUE], "post": op(
            "Remove jobs of a finished state older than a given age.",
            success("200", ref("CleanResult")), ["404", "413", "415", "422"],
            body=ref("Clean"), role="admin", op_id="cleanQueue")},
        "/workers": {"get": op(
            "Live consumers with host, pid, type, concurrency, uptime and current jobs.",
            success("200", obj({"workers": {"type": "array", "items": ref("Worker")}})),
            ["404"], params=[query("queue", {"type": "string", "maxLength": 200},
                                   "Only this queue.")], tag="workers", op_id="listWorkers")},
        "/periodic": {"get": op(
            "Periodic tasks with schedule, next and last run, outcome.",
            success("200", obj({"periodic": {"type": "array", "items": ref("Periodic")}})),
            ["404"], params=[query("queue", {"type": "string", "maxLength": 200},
                                   "Only this queue.")], tag="periodic", op_id="listPeriodic")},
        "/periodic/{name}/run": {"parameters": [PERIODIC], **periodic_action(
            "Run a periodic task now.", "PeriodicRun", "201", "runPeriodic")},
        "/periodic/{name}/pause": {"parameters": [PERIODIC], **periodic_action(
            "Pause a periodic task.", "PeriodicPause", "200", "pausePeriodic")},
        "/periodic/{name}/resume": {"parameters": [PERIODIC], **periodic_action(
            "Resume a paused periodic task.", "PeriodicPause", "200", "resumePeriodic")},
        "/openapi.json": {"get": op(
            "This document.", success("200", {"type": "object"}), [], tag="meta",
            op_id="openapi")},
    }


def document(server_url: str = "/admin/queues/api") -> dict[str, Any]:
    """The OpenAPI 3.1 document, with ``server_url`` as the base of every path."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "jobboard API", "version": __version__,
            "description": (
                "Operations API for Huey task queues tracked by jobboard. Authenticate "
                "with `Authorization: Bearer <token>` (JOBBOARD_API_TOKENS) or a dashboard "
                "session (then send the CSRF token in `X-CSRFToken` on POST/DELETE). "
                "Roles: viewer reads; operator retries, promotes, revokes, pauses, runs "
                "periodic tasks and submits jobs; admin also removes, cleans and empties. "
                "Every error is `{\"error\": {\"code\", \"message\", \"details\"}}`. "
                "Submission fields: " + ", ".join(SUBMIT_FIELDS) + "."),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}, {"session": []}],
        "paths": paths(),
        "components": {
            "schemas": SCHEMAS,
            "responses": {f"E{s}": error_response(s) for s in ERRORS},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "A token from JOBBOARD_API_TOKENS."},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "The dashboard's login session."},
            },
        },
    }
