"""The ``jobboard`` command: inspect and operate Huey queues from a shell or a script.

It builds a core Board straight from Redis (``Board(redis=..., queues=None)``, queues
discovered from Redis), so it needs no import of the task modules. The same commands are
available as ``flask jobboard ...`` inside an app that uses the extension; there they act on
the app's own Board.

Readable tables by default, ``--json`` for scripts; a progress bar on long bulk actions
(on stderr, so ``--json`` output stays clean); a message and a non-zero exit on any error.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import click
import redis
import redis.sentinel

from . import config_file
from .board import MAX_PAGE_NUMBER, MAX_PAGE_SIZE, ORDERS, Board
from .errors import REDIS_OUTAGE, ConfigurationError, JobboardError, is_out_of_memory
from .primitives import parse_duration as parse_seconds
from .records import FINISHED_STATES, STATES
from .roles import ROLES

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
#: Ids handled per round trip by bulk actions run from the CLI (bounded memory, live progress).
CHUNK = 500


@dataclass
class Context:
    """What every command gets: how to reach the board, and how to print."""

    make_board: Callable[[], Any]
    as_json: bool = False
    config_path: str | None = None
    _board: Any = field(default=None, repr=False)

    @property
    def board(self) -> Any:
        if self._board is None:
            self._board = self.make_board()
        return self._board

    def emit(self, data: Any, text: str | Callable[[], str]) -> None:
        """Print ``data`` as JSON with --json, else the human-readable ``text``."""
        if self.as_json:
            # ensure_ascii (the default) escapes control characters as \uXXXX.
            click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
        else:
            click.echo(terminal_safe(text() if callable(text) else text))


class ErrorHandlingGroup(click.Group):
    """A group that turns jobboard and Redis errors into a one-line message and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except JobboardError as e:
            raise click.ClickException(str(e)) from None
        except REDIS_OUTAGE as e:
            if is_out_of_memory(e):
                raise click.ClickException(
                    f"Redis is out of memory and refuses writes ({e}); nothing was changed. "
                    "Free memory (jobboard clean, shorter retention) or raise maxmemory."
                ) from None
            if isinstance(e, redis.sentinel.MasterNotFoundError):
                # redis-py's message is the repr of a whole client: say it in one line
                raise click.ClickException(
                    "No Sentinel named a master for that name (none answered, or none "
                    "monitors it). Check the hosts and master name in --redis-url.") from None
            raise click.ClickException(
                f"Cannot reach Redis ({e}). Check --redis-url / REDIS_URL.") from None
        except redis.exceptions.RedisClusterException as e:  # not a RedisError
            raise click.ClickException(f"Redis Cluster: {e} Check --redis-url.") from None
        except redis.exceptions.RedisError as e:
            raise click.ClickException(f"Redis error: {e}") from None


def redis_board(url: str) -> Board:
    """A Board read straight from Redis; queues are the ones found there."""
    return Board.from_url(url)


def huey_board(path: str) -> Board:
    """A Board of the Huey instance(s) at ``module:attribute`` (the module is imported)."""
    import importlib

    module, _, attr = path.partition(":")
    if not module or not attr:
        raise ConfigurationError(f"--huey {path!r}: expected module:attribute, e.g. worker:huey.")
    try:
        value = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigurationError(f"--huey {path!r}: {e}.") from None
    return Board(value if isinstance(value, (list, tuple)) else [value])


pass_ctx = click.make_pass_decorator(Context)


# -- formatting ---------------------------------------------------------------------------

#: Control characters other than newline and tab (C0, DEL, C1).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """Escape control characters: job args, errors and logs come from tasks, and an escape
    sequence in them must not recolour, retitle or rewrite the operator's terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right: Iterable[int] = ()) -> str:
    """A plain-text table; columns listed in ``right`` are right-aligned (numbers)."""
    rows = [["" if v is None else str(v) for v in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, v in enumerate(r):
            widths[i] = max(widths[i], len(v))
    right = set(right)

    def line(values: Sequence[str]) -> str:
        cells = [v.rjust(widths[i]) if i in right else v.ljust(widths[i])
                 for i, v in enumerate(values)]
        return "  ".join(cells).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def ago(ts: float | None) -> str:
    if not ts:
        return "-"
    secs = dt.datetime.now(dt.timezone.utc).timestamp() - ts
    future = secs < 0
    secs = abs(secs)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            text = f"{int(secs // size)}{unit}"
            break
    else:
        text = f"{int(secs)}s"
    return f"in {text}" if future else f"{text} ago"


def when(ts: float | None) -> str:
    if not ts:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"


def short(text: str | None, width: int = 50) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def parse_duration(value: str) -> float:
    """Seconds from ``--older-than`` (``90``, ``30m``, ``24h``, ``7d``), or a usage error."""
    seconds = parse_seconds(value)
    if seconds is None or seconds < 0:
        raise click.BadParameter(f"{value!r}: use seconds or a duration like 30m, 24h, 7d.")
    return seconds


# -- the commands --------------------------------------------------------------------------

def _queue(c: Context, name: str) -> Any:
    return c.board.queue(name)


@click.command()
@pass_ctx
def stats(c: Context) -> None:
    """Counts by state, paused and consumers of every queue."""
    board = c.board
    counts = board.all_counts()
    alive: dict[str, int] = {}
    for consumer in board.consumers():
        alive[consumer.queue] = alive.get(consumer.queue, 0) + 1
    queues = [q.name for q in board.queues()]
    data = {"queues": [{"name": n, "states": dict(counts[n]), "total": counts[n].total,
                        "paused": counts[n].paused, "consumers_alive": alive.get(n, 0)}
                       for n in queues if n in counts]}
    main_states = ("waiting", "scheduled", "active", "completed", "failed")

    def text() -> str:
        if not data["queues"]:
            return "No queues found in this Redis database."
        rows = []
        for q in data["queues"]:
            s = q["states"]
            other = sum(v for k, v in s.items() if k not in main_states)
            rows.append([q["name"], *(s[k] for k in main_states), other,
                         "yes" if q["paused"] else "", q["consumers_alive"]])
        return table(["QUEUE", *(k.upper() for k in main_states), "OTHER", "PAUSED",
                      "CONSUMERS"], rows, right=range(1, 7))

    c.emit(data, text)


@click.command()
@click.argument("queue")
@click.option("--state", type=click.Choice(STATES), default="failed", show_default=True)
@click.option("--task", help="Only jobs of this task.")
@click.option("--search", "-q", help="Search job id, args or error text.")
@click.option("--limit", type=click.IntRange(1, MAX_PAGE_SIZE), default=25, show_default=True)
@click.option("--page", type=click.IntRange(1, MAX_PAGE_NUMBER), default=1, show_default=True)
@click.option("--order", type=click.Choice(ORDERS), default="newest", show_default=True)
@pass_ctx
def jobs(c: Context, queue: str, state: str, task: str | None, search: str | None,
         limit: int, page: int, order: str) -> None:
    """List the jobs of QUEUE in one state."""
    q = _queue(c, queue)
    result = q.jobs(state, offset=(page - 1) * limit, limit=limit, task=task, search=search,
                    order=order)
    data = {"queue": q.name, "state": state, "total": result.total, "page": page,
            "limit": limit, "complete": result.complete,
            "jobs": [j.as_dict() for j in result.jobs]}

    def text() -> str:
        if not result.jobs:
            return f"No {state} jobs in {q.name}" + (" matching." if task or search else ".")
        rows = [[j.id, j.short_task, j.state, j.attempt, ago(j.enqueued_at), ms(j.run_ms),
                 short(j.error if j.error else j.args)] for j in result.jobs]
        first = (page - 1) * limit + 1
        footer = f"\n{first}-{first + len(result.jobs) - 1} of {result.total} {state} jobs"
        if not result.complete:
            footer += (f" (search scanned {result.scanned} ids; there may be more)" if result.scanned
                       else " (at least: add a word to count them exactly)")
        return table(["ID", "TASK", "STATE", "ATTEMPT", "ENQUEUED", "RUN", "ERROR / ARGS"],
                     rows, right=[3]) + footer

    c.emit(data, text)


@click.command()
@click.argument("query")
@click.option("--queue", help="Only this queue (default: every queue).")
@click.option("--state", type=click.Choice(STATES), help="Only jobs in this state.")
@click.option("--task", help="Only jobs of this task.")
@click.option("--limit", type=click.IntRange(1, MAX_PAGE_SIZE), default=25, show_default=True,
              help="Jobs per queue.")
@pass_ctx
def search(c: Context, query: str, queue: str | None, state: str | None, task: str | None,
           limit: int) -> None:
    """Find jobs: by the start of their id (8 characters are enough), task name, or words
    of their arguments and errors, in every queue (the dashboard's search box)."""
    pages = c.board.search(query, limit=limit, queue=queue, state=state, task=task)
    data = {"q": query, "queues": [{"queue": p.queue, "total": p.total, "complete": p.complete,
                                    "jobs": [j.as_dict() for j in p.jobs]} for p in pages]}

    def text() -> str:
        if not pages:
            return f"No job matches {query!r}."
        rows = [[j.queue, j.id, j.short_task, j.state, ago(j.enqueued_at),
                 short(j.error if j.error else j.args)] for p in pages for j in p.jobs]
        footer = "\n" + ", ".join(
            f"{p.queue}: {p.total}{'' if p.complete else '+'} matching" for p in pages)
        return table(["QUEUE", "ID", "TASK", "STATE", "ENQUEUED", "ERROR / ARGS"], rows) + footer

    c.emit(data, text)


@click.command()
@click.argument("queue")
@click.argument("job_id")
@pass_ctx
def show(c: Context, queue: str, job_id: str) -> None:
    """Everything recorded about one job."""
    j = _queue(c, queue).job(job_id)

    def text() -> str:
        lines = [
            f"Job {j.id}", f"  queue      {j.queue}", f"  task       {j.task}",
            f"  state      {j.state}", f"  attempt    {j.attempt}",
            f"  args       {j.args}", f"  kwargs     {j.kwargs}",
            f"  priority   {j.priority}", f"  options    {json.dumps(j.options, default=str)}",
            f"  enqueued   {when(j.enqueued_at)}", f"  started    {when(j.started_at)}",
            f"  finished   {when(j.finished_at)}",
            f"  wait / run {ms(j.wait_ms)} / {ms(j.run_ms)}",
            f"  consumer   {j.consumer or '-'}",
        ]
        if j.scheduled_for:
            lines.append(f"  scheduled  {when(j.scheduled_for)}")
        if j.progress is not None:
            lines.append(f"  progress   {j.progress:.0f}% {j.progress_message or ''}")
        if j.result is not None:
            lines.append(f"  result     {j.result}")
        if j.error:
            lines.append(f"  error      {j.error}")
        if j.parent or j.children:
            lines.append(f"  parent     {j.parent or '-'}; children {', '.join(j.children) or '-'}")
        if j.undecodable:
            lines.append(f"  UNDECODABLE {j.undecodable}")
        for a in j.attempts:
            lines += [f"\nAttempt {a.number} at {when(a.at)}: {a.error_class}: {a.message}",
                      a.traceback.rstrip()]
        if j.logs:
            lines.append("\nLog")
            lines += [f"  {when(x.at)}  {x.message}" for x in j.logs]
        if j.events:
            lines.append("\nTimeline")
            lines += [f"  {when(e.at)}  {e.kind}  {e.message}" for e in j.events]
        return "\n".join(lines)

    c.emit(j.as_dict(detail=True), text)


def _bulk(label: str, total: int, chunk_ids: Callable[[], list[str]],
          act: Callable[[list[str]], int], show_progress: bool) -> int:
    """Apply ``act`` chunk by chunk until nothing is left or ``total`` is reached.

    Each round asks for the first ``CHUNK`` matching ids again (the ones acted on have left
    the state), so memory stays flat however many jobs match. ``seen`` stops a loop when a
    job comes back to the state while we run (a retried job that completes again).
    """
    done = 0
    seen: set[str] = set()
    bar = click.progressbar(length=total, label=label, file=sys.stderr) if show_progress else None
    try:
        if bar is not None:
            bar.__enter__()
        while done < total:
            ids = [i for i in chunk_ids() if i not in seen]
            if not ids:
                break
            seen.update(ids)
            n = act(ids)
            done += n
            if bar is not None:
                bar.update(n)
            if n == 0:
                break
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    return done


@click.command()
@click.argument("queue")
@click.argument("job_id", required=False)
@click.option("--all", "all_", is_flag=True, help="Every job matching --state/--task/--search.")
@click.option("--state", type=click.Choice(STATES), default="failed", show_default=True)
@click.option("--task", help="Only jobs of this task (with --all).")
@click.option("--search", "-q", help="Only jobs whose id, args or error match (with --all).")
@pass_ctx
def retry(c: Context, queue: str, job_id: str | None, all_: bool, state: str,
          task: str | None, search: str | None) -> None:
    """Retry one job (JOB_ID), or every matching job (--all)."""
    q = _queue(c, queue)
    if job_id and all_:
        raise click.UsageError("Give a JOB_ID or --all, not both.")
    if job_id:
        q.retry(job_id)
        c.emit({"queue": q.name, "retried": 1, "id": job_id}, f"Retried {job_id} in {q.name}.")
        return
    if not all_:
        raise click.UsageError("Give a JOB_ID, or --all to retry every matching job.")
    total = q.count_matching(state, task=task, search=search)
    if search or total <= CHUNK:
        # A search is a bounded scan in the core: let the core page through it.
        n = q.retry_all(state=state, task=task, search=search) if total else 0
    else:
        n = _bulk(
            f"Retrying {total} {state} jobs", total,
            lambda: [j.id for j in q.jobs(state, offset=0, limit=CHUNK, task=task,
                                          order="oldest").jobs],
            q.retry_many, show_progress=not c.as_json)
    c.emit({"queue": q.name, "state": state, "retried": n},
           f"Retried {n} {state} job{'s' if n != 1 else ''} in {q.name}.")


@click.command()
@click.argument("queue")
@click.argument("job_id")
@pass_ctx
def remove(c: Context, queue: str, job_id: str) -> None:
    """Remove one job and its record (not while it runs: wait for it to finish)."""
    q = _queue(c, queue)
    q.remove(job_id)
    c.emit({"queue": q.name, "removed": 1, "id": job_id}, f"Removed {job_id} from {q.name}.")


@click.command()
@click.argument("queue")
@pass_ctx
def pause(c: Context, queue: str) -> None:
    """Pause QUEUE: consumers stop taking its jobs."""
    q = _queue(c, queue)
    q.pause()
    c.emit({"queue": q.name, "paused": True}, f"Paused {q.name}.")


@click.command()
@click.argument("queue")
@pass_ctx
def resume(c: Context, queue: str) -> None:
    """Resume a paused QUEUE."""
    q = _queue(c, queue)
    q.resume()
    c.emit({"queue": q.name, "paused": False}, f"Resumed {q.name}.")


#: Fields of a job in ``enqueue --file`` (the JSON API's submission fields).
JOB_FIELDS = ("task", "args", "kwargs", "id", "priority", "delay", "eta", "retries",
              "retry_delay", "retry_backoff", "expires")


def _job_spec(raw: Any, where: str, default_task: str | None) -> dict[str, Any]:
    """One job of ``enqueue`` as Queue.enqueue_many takes it; a UsageError says what is wrong."""
    if not isinstance(raw, dict):
        raise click.UsageError(f"{where}: a job is a JSON object, not {type(raw).__name__}.")
    unknown = sorted(set(raw) - set(JOB_FIELDS))
    if unknown:
        raise click.UsageError(f"{where}: unknown field(s) {', '.join(unknown)}; known: "
                               f"{', '.join(JOB_FIELDS)}.")
    task = raw.get("task", default_task)
    if not isinstance(task, str) or not task:
        raise click.UsageError(f"{where}: no task (give it as the TASK argument or a \"task\" field).")
    if not isinstance(raw.get("args", []), list):
        raise click.UsageError(f"{where}: args must be a JSON array.")
    if not isinstance(raw.get("kwargs", {}), dict):
        raise click.UsageError(f"{where}: kwargs must be a JSON object.")
    spec: dict[str, Any] = {"task": task, "args": tuple(raw.get("args", [])),
                            "kwargs": raw.get("kwargs", {}), "job_id": raw.get("id")}
    for name in ("priority", "retries"):
        if raw.get(name) is not None:
            if isinstance(raw[name], bool) or not isinstance(raw[name], int):
                raise click.UsageError(f"{where}: {name} must be an integer.")
            spec[name] = raw[name]
    for name in ("delay", "retry_delay", "expires"):
        if raw.get(name) is not None:
            seconds = parse_seconds(raw[name])
            if seconds is None or seconds < 0:
                raise click.UsageError(f"{where}: {name} must be seconds or a duration (30m, 2h).")
            spec[name] = seconds
    for name in ("eta", "retry_backoff"):
        if raw.get(name) is not None:
            if isinstance(raw[name], bool) or not isinstance(raw[name], (int, float)):
                raise click.UsageError(f"{where}: {name} must be a number"
                                       + (" (a Unix time)." if name == "eta" else "."))
            spec[name] = float(raw[name])
    if spec["job_id"] is not None and not isinstance(spec["job_id"], str):
        raise click.UsageError(f"{where}: id must be a string.")
    return spec


@click.command()
@click.argument("queue")
@click.argument("task", required=False)
@click.option("--args", "args_json", default="[]", show_default=True,
              help="Positional arguments, a JSON array.")
@click.option("--kwargs", "kwargs_json", default="{}", show_default=True,
              help="Keyword arguments, a JSON object.")
@click.option("--id", "job_id", help="Job id: a second submit with the same id queues nothing.")
@click.option("--priority", type=int, help="Higher runs first.")
@click.option("--delay", help="Run after this long: seconds, or 30m, 2h...")
@click.option("--file", "jobs_file", type=click.File("r"),
              help="Many jobs, one JSON object per line (fields: " + ", ".join(JOB_FIELDS)
              + "); '-' reads stdin. Sent 1,000 per round trip, all checked first.")
@pass_ctx
def enqueue(c: Context, queue: str, task: str | None, args_json: str, kwargs_json: str,
            job_id: str | None, priority: int | None, delay: str | None,
            jobs_file: Any) -> None:
    """Queue jobs of a registered task. Needs the queue's Huey (its task modules): run it
    as ``flask jobboard enqueue`` in the app, or give ``jobboard --huey module:attr``."""
    specs: list[dict[str, Any]] = []
    if jobs_file is not None:
        for n, line in enumerate(jobs_file, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError as e:
                raise click.UsageError(f"line {n}: not JSON ({e}).") from None
            specs.append(_job_spec(raw, f"line {n}", task))
        if not specs:
            raise click.UsageError("The file holds no job.")
    else:
        try:
            raw = {"args": json.loads(args_json), "kwargs": json.loads(kwargs_json)}
        except ValueError as e:
            raise click.UsageError(f"--args / --kwargs: not JSON ({e}).") from None
        for name, value in (("id", job_id), ("priority", priority), ("delay", delay)):
            if value is not None:
                raw[name] = value
        specs.append(_job_spec(raw, "the job", task))
    q = _queue(c, queue)
    done = q.enqueue_many(specs)
    created = sum(1 for _, new in done if new)
    data = {"queue": q.name, "created": created, "existing": len(done) - created,
            "jobs": [{"id": i, "created": new} for i, new in done]}
    c.emit(data, lambda: (f"Queued {done[0][0]} on {q.name}." if len(done) == 1 and created
                          else f"Queued {created} job(s) on {q.name}"
                          + (f"; {len(done) - created} already queued." if len(done) > created else ".")))


@click.command()
@click.argument("queue")
@click.option("--state", type=click.Choice(FINISHED_STATES), default="completed",
              show_default=True)
@click.option("--older-than", default="0", show_default=True,
              help="Seconds, or a duration such as 30m, 24h, 7d.")
@pass_ctx
def clean(c: Context, queue: str, state: str, older_than: str) -> None:
    """Remove finished jobs of one state older than an age."""
    seconds = parse_duration(older_than)
    q = _queue(c, queue)
    if not c.as_json:
        click.echo(f"Cleaning {state} jobs older than {older_than} in {q.name}...", err=True)
    n = q.clean(state, seconds)
    c.emit({"queue": q.name, "state": state, "older_than": seconds, "removed": n},
           f"Removed {n} {state} job{'s' if n != 1 else ''} from {q.name}.")


@click.command()
@click.argument("queue")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def empty(c: Context, queue: str, yes: bool) -> None:
    """Drop every waiting and scheduled job of QUEUE."""
    q = _queue(c, queue)
    if not yes:
        counts = q.counts()
        n = counts["waiting"] + counts["scheduled"]
        if not sys.stdin.isatty():
            raise click.UsageError(f"This drops {n} jobs from {q.name}; pass --yes to confirm.")
        click.confirm(f"Drop {n} waiting and scheduled jobs from {q.name}?", abort=True)
    n = q.empty()
    c.emit({"queue": q.name, "removed": n}, f"Dropped {n} jobs from {q.name}.")


# -- users and tokens (the JOBBOARD_CONFIG file) -------------------------------------------

def _config(c: Context) -> tuple[Any, dict[str, Any]]:
    return config_file, config_file.load(c.config_path)


def _password(prompt_twice: bool) -> str:
    """The new password: from $JOBBOARD_PASSWORD (scripts) or a hidden prompt."""
    env = os.environ.get("JOBBOARD_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        raise click.UsageError("No terminal to ask for the password: set JOBBOARD_PASSWORD.")
    first = getpass.getpass("Password: ")
    if prompt_twice and getpass.getpass("Again: ") != first:
        raise click.ClickException("The passwords differ; nothing was changed.")
    return first


@click.group(cls=ErrorHandlingGroup)
def users() -> None:
    """Dashboard users, kept in the --config / JOBBOARD_CONFIG file."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer",
              show_default=True)
@pass_ctx
def users_add(c: Context, name: str, role: str) -> None:
    """Add user NAME (password from a prompt or JOBBOARD_PASSWORD)."""
    cf, data = _config(c)
    cf.add_user(data, name, _password(True), role)
    path = cf.save(c.config_path, data)
    c.emit({"user": name, "role": role, "config": str(path)},
           f"Added {role} {name} to {path}.")


@users.command("passwd")
@click.argument("name")
@pass_ctx
def users_passwd(c: Context, name: str) -> None:
    """Change the password of user NAME (ends their sessions)."""
    cf, data = _config(c)
    cf.set_password(data, name, _password(True))
    path = cf.save(c.config_path, data)
    c.emit({"user": name, "config": str(path)}, f"Changed the password of {name} in {path}.")


@users.command("remove")
@click.argument("name")
@pass_ctx
def users_remove(c: Context, name: str) -> None:
    """Remove user NAME."""
    cf, data = _config(c)
    cf.remove_user(data, name)
    path = cf.save(c.config_path, data)
    c.emit({"user": name, "removed": True, "config": str(path)}, f"Removed {name} from {path}.")


@users.command("list")
@pass_ctx
def users_list(c: Context) -> None:
    """List users and their roles."""
    _, data = _config(c)
    rows = sorted((n, u.get("role", "viewer")) for n, u in data["users"].items())
    c.emit({"users": [{"name": n, "role": r} for n, r in rows]},
           lambda: table(["USER", "ROLE"], rows) if rows else "No users.")


@click.group(cls=ErrorHandlingGroup)
def tokens() -> None:
    """API bearer tokens, kept in the --config / JOBBOARD_CONFIG file."""


@tokens.command("add")
@click.option("--role", type=click.Choice(ROLES), default="viewer",
              show_default=True)
@click.option("--name", default="", help="A label, e.g. the script that uses it.")
@pass_ctx
def tokens_add(c: Context, role: str, name: str) -> None:
    """Create a token (printed once; store it now)."""
    cf, data = _config(c)
    token = cf.add_token(data, role, name)
    path = cf.save(c.config_path, data)
    c.emit({"token": token, "role": role, "name": name, "config": str(path)},
           f"{token}\n(a {role} token{' named ' + name if name else ''}, saved in {path}; "
           "store it now, it is not shown again)")


@tokens.command("remove")
@click.argument("token_or_name")
@pass_ctx
def tokens_remove(c: Context, token_or_name: str) -> None:
    """Remove a token by its value, its name, or a prefix of at least 8 characters."""
    cf, data = _config(c)
    n = cf.remove_token(data, token_or_name)
    path = cf.save(c.config_path, data)
    c.emit({"removed": n, "config": str(path)}, f"Removed {n} token{'s' if n != 1 else ''}.")


@tokens.command("list")
@pass_ctx
def tokens_list(c: Context) -> None:
    """List tokens (shown by prefix only)."""
    _, data = _config(c)
    rows = [(t[:10] + "…", info.get("role", ""), info.get("name", ""),
             when(info.get("created_at"))) for t, info in data["tokens"].items()]
    c.emit({"tokens": [{"prefix": r[0].rstrip("…"), "role": r[1], "name": r[2]} for r in rows]},
           lambda: table(["TOKEN", "ROLE", "NAME", "CREATED"], rows) if rows else "No tokens.")


COMMANDS: tuple[click.Command, ...] = (stats, jobs, search, show, enqueue, retry, remove, pause, resume,
                                       clean, empty, users, tokens)


# -- the two entry points ------------------------------------------------------------------

@click.group(cls=ErrorHandlingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--redis-url", envvar="REDIS_URL", default=DEFAULT_REDIS_URL, show_default=True,
              help="Redis holding the queues (env REDIS_URL).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
@click.option("--config", "config_path", envvar="JOBBOARD_CONFIG",
              type=click.Path(dir_okay=False),
              help="Users/tokens file (env JOBBOARD_CONFIG), read by the web app too.")
@click.option("--huey", "huey_path", envvar="JOBBOARD_HUEY",
              help="module:attribute of your tracked Huey (or a list of them), imported so "
                   "that `enqueue` knows the tasks (env JOBBOARD_HUEY). Its Redis is used.")
@click.version_option(package_name="jobboard")
@click.pass_context
def cli(ctx: click.Context, redis_url: str, as_json: bool, config_path: str | None,
        huey_path: str | None) -> None:
    """Inspect and operate Huey queues tracked by jobboard."""
    make_board = (lambda: huey_board(huey_path)) if huey_path else (lambda: redis_board(redis_url))
    ctx.obj = Context(make_board=make_board, as_json=as_json, config_path=config_path)


@click.group("jobboard", cls=ErrorHandlingGroup)
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
@click.option("--config", "config_path", envvar="JOBBOARD_CONFIG",
              type=click.Path(dir_okay=False), help="Users/tokens file (env JOBBOARD_CONFIG).")
@click.pass_context
def flask_group(ctx: click.Context, as_json: bool, config_path: str | None) -> None:
    """jobboard commands acting on this app's queues."""
    from flask.cli import ScriptInfo

    info = ctx.find_object(ScriptInfo)
    if info is None:
        raise click.UsageError("Run this through the `flask` command.")
    app = info.load_app()

    def make_board() -> Any:
        state = app.extensions.get("jobboard")
        if state is None:
            raise ConfigurationError("This app does not use jobboard.web.JobBoard.")
        return state.board

    ctx.obj = Context(make_board=make_board, as_json=as_json,
                      config_path=config_path or app.config.get("JOBBOARD_CONFIG"))


for _command in COMMANDS:
    cli.add_command(_command)
    flask_group.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jobboard`` script; returns the exit status."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="jobboard",
                 standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code or 0)
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as e:
        e.show()
        return e.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
