"""Priorities keep first-in-first-out at every allowed value, and every layer allows the same."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from tests.support import auth

import jobboard
from jobboard import InvalidArgument
from jobboard.primitives import PRIORITY_LIMIT
from tests.support import make_core_huey


def order(board: jobboard.Board, queue: str) -> list[str]:
    """Waiting jobs in the order consumers take them (highest priority, then oldest)."""
    return [j.id for j in board.queue(queue).jobs("waiting", order="oldest", limit=500)]


@pytest.mark.parametrize("priority", [PRIORITY_LIMIT, -PRIORITY_LIMIT, 0])
def test_fifo_within_a_priority_at_the_limits(redis_url: str, priority: int) -> None:
    huey = make_core_huey(redis_url)
    double = huey.test_tasks["double"]  # type: ignore[attr-defined]
    board = jobboard.Board([huey])
    queued = [huey.enqueue(double.s(n, priority=priority)).id for n in range(60)]
    assert order(board, "core") == queued


def test_priorities_beyond_the_limit_are_clamped_and_stay_fifo(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    double = huey.test_tasks["double"]  # type: ignore[attr-defined]
    top = [huey.enqueue(double.s(n, priority=10**9)).id for n in range(20)]
    edge = [huey.enqueue(double.s(n, priority=PRIORITY_LIMIT)).id for n in range(20)]
    low = [huey.enqueue(double.s(n, priority=-(10**9))).id for n in range(20)]
    board = jobboard.Board([huey])
    # 10**9 is PRIORITY_LIMIT: same priority as `edge`, so the two groups stay in order.
    assert order(board, "core") == top + edge + low
    assert board.queue("core").job(top[0]).priority == PRIORITY_LIMIT


def test_core_and_api_refuse_a_priority_out_of_range(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    queue = jobboard.Board([huey]).queue("core")
    with pytest.raises(InvalidArgument, match="priority must be between"):
        queue.enqueue("double", args=(1,), priority=PRIORITY_LIMIT + 1)
    job_id, _ = queue.enqueue("double", args=(1,), priority=-PRIORITY_LIMIT)
    assert queue.job(job_id).priority == -PRIORITY_LIMIT

    app = Flask("priority")
    app.config.update(SECRET_KEY="x", JOBBOARD_API_TOKENS={"admin-token": "admin"},
                      JOBBOARD_API_RATE_LIMIT=None)
    jobboard.JobBoard(app, hueys=[huey])
    client = app.test_client()
    url = "/admin/queues/api/queues/core/jobs"
    ok = client.post(url, json={"task": "double", "args": [1], "priority": PRIORITY_LIMIT},
                     headers=auth("admin"))
    assert ok.status_code == 201
    too_high: Any = client.post(url, json={"task": "double", "args": [1],
                                           "priority": PRIORITY_LIMIT + 1}, headers=auth("admin"))
    assert too_high.status_code == 422
    assert too_high.get_json()["error"]["details"]["errors"][0]["field"] == "priority"
    doc = client.get("/admin/queues/api/openapi.json", headers=auth("admin")).get_json()
    prio = doc["components"]["schemas"]["Submission"]["properties"]["priority"]
    assert prio["maximum"] == PRIORITY_LIMIT and prio["minimum"] == -PRIORITY_LIMIT
