"""Prometheus as a real user runs it: promtool on a scrape of the demo app, histograms that
``histogram_quantile`` reads right, the shipped alert rules and their unit tests, the
Grafana dashboard's queries against what is exported.

promtool comes from Debian's ``prometheus`` package (scripts/test.sh installs it). Without
it these tests skip locally, and fail under CI (``CI`` set), where it must be there.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import jobboard
from jobboard.api.prometheus import HISTOGRAM_BOUNDS, OTHER_TASK
from tests.demo_support import forget_demo_modules, fresh_import
from tests.support import API, PREFIX, auth, make_app, make_core_huey, make_huey, running_consumers, wait_for

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "jobboard-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "jobboard-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "jobboard-dashboard.json"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing in CI: scripts/test.sh installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return path


def run_promtool(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], input=stdin, capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def families_of(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def scrape_text(client: Any, headers: dict[str, str] | None = None) -> str:
    resp = client.get(f"{PREFIX}/metrics", headers=headers or auth("viewer"))
    assert resp.status_code == 200, resp.data[:300]
    return str(resp.get_data(as_text=True))


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus's histogram_quantile on one series: (le, cumulative count) sorted, +Inf
    last; linear interpolation inside the bucket where the rank falls."""
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    raise AssertionError("no bucket reached the rank")


# -- promtool on a scrape of the demo app --------------------------------------------------

def test_demo_app_metrics_pass_promtool_check_metrics(redis_url: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    promtool()
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DEMO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    monkeypatch.setenv("LAB_API_FAILURE_RATE", "1")  # every lab sync fails: failures to export
    monkeypatch.setenv("JOBBOARD_API_TOKENS", "scrape-token:viewer")
    monkeypatch.delenv("SMTP_URL", raising=False)
    wsgi = fresh_import("wsgi")
    try:
        worker = wsgi.worker
        app = wsgi.create_app({"TESTING": True})
        client = app.test_client()
        for i in range(3):
            worker.queue_notification({"type": "welcome", "recipient_id": f"client-{i}",
                                       "title": "Welcome", "message": "Hello", "channels": ["in_app"]})
        worker.queue_lab_sync("order-1", "client-1")
        board = jobboard.Board(worker.HUEYS)
        with running_consumers(worker.HUEYS, workers=2):
            wait_for(lambda: board.queue("notifications").counts()["completed"] >= 3, timeout=30)
        body = scrape_text(client, {"Authorization": "Bearer scrape-token"})
    finally:
        forget_demo_modules()
    families = families_of(body)
    assert "jobboard_job_run_seconds" in families and families["jobboard_job_run_seconds"].type == "histogram"
    assert any(s.name == "jobboard_job_run_seconds_bucket" for s in families["jobboard_job_run_seconds"].samples)
    checked = run_promtool("check", "metrics", stdin=body)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == "", checked.stdout + checked.stderr


# -- histograms ----------------------------------------------------------------------------

def test_histogram_quantile_is_within_one_bucket_of_the_true_p95(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    slow = huey.test_tasks["slow"]  # type: ignore[attr-defined]
    # A known spread of run times: 80 jobs from 20 ms to 420 ms.
    asked = [20 + (i * 37) % 400 for i in range(80)]
    for ms in asked:
        slow(ms)
    app = make_app(huey)
    q = jobboard.Board([huey]).queue("core")
    with running_consumers([huey], workers=4):
        wait_for(lambda: q.counts()["completed"] == len(asked), timeout=60)
    measured = sorted(j.run_ms for j in q.jobs("completed", limit=100).jobs)  # type: ignore[type-var]
    assert len(measured) == len(asked) and all(m is not None for m in measured)
    true_p95 = measured[math.ceil(0.95 * len(measured)) - 1] / 1000.0

    fam = families_of(scrape_text(app.test_client()))["jobboard_job_run_seconds"]
    series = {float(s.labels["le"]): s.value for s in fam.samples
              if s.name.endswith("_bucket") and s.labels["task"].endswith("slow")}
    buckets = sorted(series.items())
    assert [le for le, _ in buckets[:-1]] == list(HISTOGRAM_BOUNDS) and math.isinf(buckets[-1][0])
    assert buckets[-1][1] == len(asked)
    counts = [c for _, c in buckets]
    assert counts == sorted(counts), "cumulative counts must never go down"
    count = next(s.value for s in fam.samples if s.name.endswith("_count") and s.labels["task"].endswith("slow"))
    total = next(s.value for s in fam.samples if s.name.endswith("_sum") and s.labels["task"].endswith("slow"))
    assert count == len(asked)
    assert total == pytest.approx(sum(measured) / 1000.0)  # the exact sum, not an estimate

    estimate = histogram_quantile(0.95, buckets)
    upper = next(le for le, _ in buckets if le >= true_p95)
    lower = max([0.0] + [le for le, _ in buckets if le < true_p95])
    width = upper - lower
    assert abs(estimate - true_p95) <= width, (estimate, true_p95, width)
    assert sum(1 for m in measured if m / 1000.0 <= upper) >= 0.95 * len(measured)

    # The same through Prometheus's own engine: promtool evaluates the query on the buckets.
    lines = [f"      - series: 'jobboard_job_run_seconds_bucket{{le=\"{'+Inf' if math.isinf(le) else repr(le)}\"}}'\n"
             f"        values: '{int(c)}x5'\n" for le, c in buckets]
    test_file = (
        "rule_files: []\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n"
        + "".join(lines)
        + "    promql_expr_test:\n"
        f"      - expr: abs(histogram_quantile(0.95, jobboard_job_run_seconds_bucket) - {true_p95!r}) <= bool {width!r}\n"
        "        eval_time: 1m\n        exp_samples:\n          - labels: '{}'\n            value: 1\n"
    )
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"jobboard-quantile-{os.getpid()}.test.yml"
    path.write_text(test_file)
    try:
        result = run_promtool("test", "rules", str(path))
    finally:
        path.unlink()
    assert result.returncode == 0, result.stdout + result.stderr


def submit(client: Any, task: str, *args: Any) -> None:
    resp = client.post(f"{API}/queues/emails/jobs", json={"task": task, "args": list(args)},
                       headers=auth("operator"))
    assert resp.status_code == 201, resp.get_json()


def test_task_labels_are_capped_and_can_be_turned_off(redis_url: str) -> None:
    huey = make_huey(redis_url)
    client = make_app(huey).test_client()
    for i in range(3):
        submit(client, "add", i)
        submit(client, "boom", str(i))
        submit(client, "sleepy", 0.0)
    q = jobboard.Board([huey]).queue("emails")
    with running_consumers([huey]):
        wait_for(lambda: q.counts()["completed"] == 6 and q.counts()["failed"] == 3)

    capped = make_app(huey, JOBBOARD_METRICS_MAX_TASKS=1)
    fams = families_of(scrape_text(capped.test_client()))
    events = [s for s in fams["jobboard_job_events"].samples if s.name.endswith("_total")]
    labelled = {s.labels["task"] for s in events}
    first = sorted(t for t in q.tasks() if t.rsplit(".", 1)[-1] in ("add", "boom", "sleepy"))[0]
    assert labelled == {first, OTHER_TASK}
    by_event: dict[str, float] = {}
    for s in events:
        by_event[s.labels["event"]] = by_event.get(s.labels["event"], 0) + s.value
    life = q.lifetime().events()
    assert by_event["completed"] == life["completed"] == 6 and by_event["failed"] == life["failed"] == 3
    run_count = sum(s.value for s in fams["jobboard_job_run_seconds"].samples if s.name.endswith("_count"))
    assert run_count == 9

    off = make_app(huey, JOBBOARD_METRICS_PER_TASK=False)
    fams = families_of(scrape_text(off.test_client()))
    assert all("task" not in s.labels for f in ("jobboard_job_events", "jobboard_job_run_seconds",
                                               "jobboard_job_wait_seconds") for s in fams[f].samples)
    assert sum(s.value for s in fams["jobboard_job_run_seconds"].samples if s.name.endswith("_count")) == 9


def test_lifetime_counters_survive_the_rollup(redis_url: str) -> None:
    huey = make_core_huey(redis_url)
    for n in range(5):
        huey.test_tasks["double"](n)  # type: ignore[attr-defined]
    q = jobboard.Board([huey]).queue("core")
    with running_consumers([huey]):
        wait_for(lambda: q.counts()["completed"] == 5)
    before = q.lifetime()
    # Roll every minute up, as the heartbeat does once they are over: the counters the
    # scrape reads (totals + minutes not rolled yet) must not move.
    huey.jobboard._scripts["ROLLUP"](keys=[q.keys.base], args=[int(time.time() // 60) + 2])
    after = q.lifetime()
    task = next(t for t in after.tasks() if t.endswith("double"))
    assert after.events(task) == before.events(task) and after.events(task)["completed"] == 5
    assert after.run(task) == before.run(task) and after.run(task).count == 5
    assert after.wait(task).count == 5 and after.events()["enqueued"] == 5


# -- the shipped rules and dashboard --------------------------------------------------------

def test_shipped_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    checked = run_promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout
    tested = run_promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_rule_has_a_unit_test() -> None:
    rules = set(re.findall(r"^\s+- alert: (\w+)", RULES.read_text(), re.M))
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert rules and rules == tested


def test_dashboard_queries_only_name_exported_metrics(client: Any, huey: Any) -> None:
    submit(client, "add", 1)
    q = jobboard.Board([huey]).queue("emails")
    with running_consumers([huey]):
        wait_for(lambda: q.counts()["completed"] == 1)
    exported = set()
    for fam in text_string_to_metric_families(scrape_text(client)):
        exported.update(s.name for s in fam.samples)
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 12
    named = {m for e in exprs for m in re.findall(r"\b(jobboard_[a-z_]+)", e)}
    assert named and named <= exported, named - exported
    rule_named = set(re.findall(r"\b(jobboard_[a-z_]+)", RULES.read_text()))
    assert rule_named <= exported, rule_named - exported
