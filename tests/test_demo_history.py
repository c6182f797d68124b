"""The demo's history spans days: the 24h, 7d and 90d charts have more than one bar."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import jobboard
from tests.demo_support import forget_demo_modules, fresh_import


def test_history_fills_the_long_windows(redis_url: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DEMO_DATA_DIR", str(tmp_path))
    worker = fresh_import("worker")
    try:
        from demo import history

        assert history.backfill(per_moment=1, verbose=False) > 0
        queue = jobboard.Board(worker.HUEYS).queue("emails")

        def busy(window: str) -> list[float]:
            return [p.at for p in queue.metrics(window).points if p.completed + p.failed]

        assert len(busy("24h")) >= 12  # most hours of the last day
        assert len(busy("7d")) >= 6  # every day of the week
        ninety = busy("90d")
        assert len(ninety) >= 20 and min(ninety) < max(ninety) - 60 * 86400
        # The records carry their past times too (retention keeps the last day's completed).
        oldest = queue.jobs("completed", order="oldest", limit=1).jobs[0]
        assert oldest.enqueued_at is not None and oldest.enqueued_at < time.time() - 6 * 3600
    finally:
        forget_demo_modules()
