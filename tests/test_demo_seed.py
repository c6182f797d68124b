"""The seeded history really runs, and leaves jobs in every end state a newcomer should see."""

from __future__ import annotations

from pathlib import Path

import pytest

import jobboard
from tests.demo_support import forget_demo_modules, fresh_import
from tests.support import running_consumers, wait_for

EXPECTED = ("completed", "failed", "scheduled", "revoked", "expired", "canceled", "locked",
            "rate_limited")


@pytest.mark.slow
def test_seed_produces_every_state(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DEMO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REPORT_SECONDS_PER_DAY", "0")
    # A gateway this slow is exceeded even when a loaded CI machine runs the campaign
    # slowly, so "rate_limited" shows up deterministically.
    monkeypatch.setenv("SMS_RATE_LIMIT", "1")
    worker = fresh_import("worker")
    try:
        from demo import seed

        assert not seed.already_seeded(worker.clinic_db())
        kinds = seed.seed(400, verbose=False)
        assert seed.already_seeded(worker.clinic_db())
        assert sum(kinds.values()) >= 400
        board = jobboard.Board(worker.HUEYS)
        # Nothing has run yet: the history is queued, push notices are already stale.
        before = board.all_counts()
        # Reminders due tomorrow wait in Huey's queue until a consumer schedules them.
        assert before["emails"]["waiting"] > 100 and before["reminders"]["waiting"] > 0

        def totals() -> dict[str, int]:
            out: dict[str, int] = {}
            for counts in board.all_counts().values():
                for state, n in counts.items():
                    out[state] = out.get(state, 0) + n
            return out

        with running_consumers(worker.HUEYS, workers=3):
            seen = wait_for(lambda: all(totals()[s] for s in EXPECTED) and totals(), timeout=45)
        missing = [s for s in EXPECTED if not totals()[s]]
        assert not missing, f"no {missing} jobs after seeding: {seen}"
        # Failures carry their traceback.
        failed = board.queue("emails").jobs("failed", limit=1).jobs[0]
        detail = board.queue("emails").job(failed.id)
        assert "Recipient address rejected" in detail.attempts[-1].message
        assert "Traceback" in detail.attempts[-1].traceback
        # Periodic tasks ran as jobs too.
        assert board.queue("reminders").jobs("completed", task="worker.follow_up_monitor").total >= 1
        assert list((tmp_path / "outbox").glob("*.eml"))
    finally:
        forget_demo_modules()
