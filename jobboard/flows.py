"""Reading a job's flow: the Huey pipeline, group or chord it belongs to, with each step's
state, including steps Huey has not enqueued yet and steps it never will.

What is read was recorded at enqueue (``tracking.flow_argv`` and the ENQUEUE script): a
member's ``flow`` field (its pipeline ahead, its chord or group), the ``par`` link of a
pipeline step to the step before it, and the ``fl:<id>`` / ``fcb:<id>`` indexes of chords
and groups. Reading costs a few round trips, whatever the queue's size: one pipelined read
per hop up a pipeline (bounded), one for a chord's or group's members, one for the states.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .primitives import short_name
from .records import (COMPLETED, FINISHED_STATES, PENDING_STATES, PENDING_STEP,
                      RETRYABLE_STATES, SKIPPED_STEP, Flow, FlowStep)

if TYPE_CHECKING:
    from .board import Queue

#: Hops followed up a pipeline to find its first step (tracking.FLOW_DEPTH steps deep).
MAX_HOPS = 60
#: Members of a group or chord shown (a chord of 10,000 is summarised past this).
MAX_MEMBERS = 500


def _s(v: bytes | None) -> str | None:
    return v.decode("utf-8", "replace") if v is not None else None


def _load(raw: bytes | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _tree(node: dict[str, Any], relation: str) -> FlowStep:
    step = FlowStep(id=str(node.get("id", "?")), task=str(node.get("task", "")), relation=relation)
    for key, rel in (("then", "then"), ("error", "on error")):
        child = node.get(key)
        if isinstance(child, dict):
            step.steps.append(_tree(child, rel))
    return step


def _member(job_id: str, flow: dict[str, Any], relation: str) -> FlowStep:
    """A member's tree: the member itself (its task is filled in from its record) and the
    pipeline recorded in its ``flow``."""
    return _tree({"id": job_id, "task": "", **{k: flow[k] for k in ("then", "error") if k in flow}},
                 relation)


def flow_of(q: "Queue", job_id: str) -> Flow | None:
    """The flow ``job_id`` belongs to, or None for a job in no flow."""
    r = q.redis
    k = q.keys
    pipe = r.pipeline(transaction=False)
    pipe.hmget(k.record(job_id), "par", "flow", "nxt")
    pipe.get(k.chord_of_callback(job_id))
    (par, flow_raw, nxt), chord_of_cb = pipe.execute()
    root, flow = job_id, _load(flow_raw)
    hops = 0
    while par is not None and hops < MAX_HOPS:  # up the pipeline to its first step
        root = par.decode()
        par, flow_raw, nxt, cb = _hop(q, root)
        flow = _load(flow_raw)
        chord_of_cb = chord_of_cb or cb
        hops += 1
    if not flow and not nxt and chord_of_cb is None:
        return None
    chord = flow.get("chord") if isinstance(flow.get("chord"), dict) else None
    group = flow.get("group") if isinstance(flow.get("group"), dict) else None
    if chord_of_cb is not None:
        result = _chord(q, chord_of_cb.decode(), None)
    elif chord is not None:
        result = _chord(q, str(chord.get("id")), chord)
    elif group is not None:
        result = _group(q, str(group.get("id")))
    else:
        first = _member(root, flow, "first")
        if not flow and nxt:  # a pipeline recorded before flows were: children only
            first.steps = [FlowStep(id=c, task="", relation="then") for c in nxt.decode().split(",") if c]
        result = Flow("pipeline", root, q.name, [first], size=1)
    _settle(q, result, job_id)
    return result


def _hop(q: "Queue", job_id: str) -> tuple[Any, Any, Any, Any]:
    pipe = q.redis.pipeline(transaction=False)
    pipe.hmget(q.keys.record(job_id), "par", "flow", "nxt")
    pipe.get(q.keys.chord_of_callback(job_id))
    (par, flow_raw, nxt), cb = pipe.execute()
    return par, flow_raw, nxt, cb


def _members(q: "Queue", flow_id: str) -> list[tuple[str, dict[str, Any]]]:
    index: dict[bytes, bytes] = q.redis.hgetall(q.keys.flow_index(flow_id))  # type: ignore[assignment]
    ordered = sorted(index.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)
    ids = [v.decode() for _, v in ordered[:MAX_MEMBERS]]
    pipe = q.redis.pipeline(transaction=False)
    for i in ids:
        pipe.hget(q.keys.record(i), "flow")
    return list(zip(ids, (_load(f) for f in pipe.execute())))


def _chord(q: "Queue", cid: str, chord: dict[str, Any] | None) -> Flow:
    members = _members(q, cid)
    if chord is None:  # reached from the callback: any member knows size and callback
        chord = next((f["chord"] for _, f in members if isinstance(f.get("chord"), dict)), {})
    callback = chord.get("callback") if isinstance(chord.get("callback"), dict) else None
    return Flow("chord", cid, q.name, [_member(i, f, "member") for i, f in members],
                callback=_tree(callback, "callback") if callback else None,
                size=int(chord.get("size") or len(members)))


def _group(q: "Queue", gid: str) -> Flow:
    members = _members(q, gid)
    return Flow("group", gid, q.name, [_member(i, f, "member") for i, f in members],
                size=len(members))


def _settle(q: "Queue", flow: Flow, current: str) -> None:
    """Fill in each step's state from its record, and say why a step without a job
    waits or will never run."""
    steps = list(flow.steps())
    pipe = q.redis.pipeline(transaction=False)
    for s in steps:
        pipe.hmget(q.keys.record(s.id), "st", "task")
    for s, (st, task) in zip(steps, pipe.execute()):
        s.state = _s(st)
        s.task = s.task or _s(task) or ""
        s.current = s.id == current
        if s.state:
            s.status = s.state
    for m in flow.members:
        _explain(m, None)
    if flow.callback is not None:
        cb = flow.callback
        if not cb.enqueued:
            done = sum(1 for m in flow.members if _ended(m))
            cb.status, cb.note = PENDING_STEP, f"waits for the chord: {done} of {flow.size} members ended"
        for s in cb.steps:
            _explain(s, cb)


def _ended(step: FlowStep) -> bool:
    """Whether a member's pipeline has reached its end (what its chord counts)."""
    if step.state in FINISHED_STATES and step.state != COMPLETED:
        return True  # Huey reports a failed member to its chord at once
    then = [s for s in step.steps if s.relation == "then"]
    if step.state == COMPLETED:
        return not then or _ended(then[0])
    return False


def _explain(step: FlowStep, parent: FlowStep | None) -> None:
    if not step.enqueued and parent is not None:
        ps, name = parent.state, short_name(parent.task) or parent.id[:8]
        if step.relation == "then":
            if ps == COMPLETED:
                step.status, step.note = PENDING_STEP, f"queued when {name} completed"
            elif ps is None or ps in PENDING_STATES:
                step.status, step.note = PENDING_STEP, "waits for its parent"
            else:
                retry = "; retry it to go on" if ps in RETRYABLE_STATES else ""
                step.status, step.note = SKIPPED_STEP, f"will not run: {name} ended {ps}{retry}"
        elif step.relation == "on error":
            if ps == COMPLETED:
                step.status, step.note = SKIPPED_STEP, f"will not run: {name} succeeded"
            elif ps is None or ps in PENDING_STATES:
                step.status, step.note = PENDING_STEP, f"runs if {name} fails"
            else:
                step.status, step.note = PENDING_STEP, f"queued when {name} failed"
    elif not step.enqueued:
        step.status, step.note = PENDING_STEP, "not queued yet"
    for s in step.steps:
        _explain(s, step)
