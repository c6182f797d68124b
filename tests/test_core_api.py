"""The core API reads naturally: pages iterate, boards refuse what they cannot read."""

from __future__ import annotations

import inspect

import pytest

import jobboard
from jobboard.board import MAX_PAGE_SIZE, Board, Queue
from jobboard.cli import jobs as jobs_command
from tests.support import make_core_huey


def test_a_page_iterates_over_its_jobs_and_has_a_length(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    double = huey.test_tasks["double"]  # type: ignore[attr-defined]
    ids = [huey.enqueue(double.s(n)).id for n in range(3)]
    page = Board([huey]).queue("core").jobs("waiting", order="oldest", limit=2)
    assert len(page) == 2 and page.total == 3 and bool(page)
    assert [job.id for job in page] == ids[:2]
    empty = Board([huey]).queue("core").jobs("failed")
    assert len(empty) == 0 and not empty and list(empty) == []


def test_board_refuses_queues_on_different_redis_or_prefix(redis_url: str) -> None:
    a = make_core_huey(redis_url, name="a")
    other_db = redis_url.rsplit("/", 1)[0] + "/0"
    b = make_core_huey(other_db, name="b")
    with pytest.raises(jobboard.ConfigurationError, match="one Redis connection"):
        Board([a, b])
    c = jobboard.RedisHuey("c", url=redis_url, prefix="other")
    with pytest.raises(jobboard.ConfigurationError, match="prefix 'other'"):
        Board([a, c])
    same = make_core_huey(redis_url, name="same")
    assert [q.name for q in Board([a, same]).queues()] == ["a", "same"]


@pytest.mark.parametrize("cls", [Board, Queue])
def test_every_public_method_has_a_docstring(cls: type) -> None:
    missing = [name for name, member in inspect.getmembers(cls, inspect.isfunction)
               if not name.startswith("_") and not inspect.getdoc(member)]
    assert not missing, f"{cls.__name__} methods without a docstring: {missing}"


def test_cli_limit_is_the_core_bound() -> None:
    limit = next(p for p in jobs_command.params if p.name == "limit")
    assert limit.type.max == MAX_PAGE_SIZE  # type: ignore[attr-defined]
