"""The ``jobboard`` CLI against a real Redis (jobs made by a real consumer)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import jobboard.cli
from jobboard.cli import main
from tests.support import API, RunningConsumer, auth, make_app, make_huey, wait_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def queue_with_jobs(redis_url: str) -> Any:
    """Queue "emails": 3 completed, 2 failed, 1 waiting, 1 scheduled; returns the Queue."""
    huey = make_huey(redis_url)
    client = make_app(huey).test_client()
    post = lambda body: client.post(f"{API}/queues/emails/jobs", json=body,  # noqa: E731
                                    headers=auth("operator"))
    running = RunningConsumer(huey)
    try:
        for i in range(3):
            post({"task": "add", "args": [i], "id": f"ok-{i}"})
        for i in range(2):
            post({"task": "boom", "args": [f"bad {i}"], "id": f"bad-{i}"})
        q = client.application.extensions["jobboard"].board.queue("emails")
        wait_for(lambda: q.counts()["completed"] == 3 and q.counts()["failed"] == 2)
    finally:
        running.stop()
    post({"task": "add", "args": [7], "id": "later", "delay": 3600})
    post({"task": "add", "args": [8], "id": "next"})
    return q


def run(capsys: pytest.CaptureFixture[str], redis_url: str, *argv: str) -> tuple[int, str, str]:
    code = main(["--redis-url", redis_url, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_stats_table_and_json(queue_with_jobs: Any, redis_url: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, redis_url, "stats")
    assert code == 0
    header, rule, row = out.splitlines()[:3]
    assert header.split()[:6] == ["QUEUE", "WAITING", "SCHEDULED", "ACTIVE", "COMPLETED", "FAILED"]
    assert row.split()[:6] == ["emails", "1", "1", "0", "3", "2"]
    code, out, _ = run(capsys, redis_url, "--json", "stats")
    data = json.loads(out)
    assert data["queues"][0]["states"] == dict(queue_with_jobs.counts())


def test_jobs_and_show(queue_with_jobs: Any, redis_url: str,
                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, redis_url, "jobs", "emails", "--state", "failed")
    assert code == 0
    assert {"bad-0", "bad-1"} <= set(out.split()) and "1-2 of 2 failed jobs" in out
    code, out, _ = run(capsys, redis_url, "--json", "jobs", "emails", "--state", "completed",
                       "--limit", "2")
    data = json.loads(out)
    assert data["total"] == 3 and len(data["jobs"]) == 2
    code, out, _ = run(capsys, redis_url, "show", "emails", "bad-1")
    assert code == 0 and "state      failed" in out
    assert "RuntimeError" in out and "Traceback" in out and "bad 1" in out
    code, out, _ = run(capsys, redis_url, "--json", "show", "emails", "ok-2")
    assert json.loads(out)["result"] == "2"


def test_retry_all_with_progress_then_one(queue_with_jobs: Any, redis_url: str,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Chunks of one, so the 2 failed jobs take two rounds and draw a progress bar.
    monkeypatch.setattr(jobboard.cli, "CHUNK", 1)
    code, out, err = run(capsys, redis_url, "retry", "emails", "--all")
    assert code == 0 and "Retried 2 failed jobs in emails." in out
    assert "Retrying 2 failed jobs" in err
    assert queue_with_jobs.counts()["waiting"] == 3 and queue_with_jobs.counts()["failed"] == 0
    code, out, _ = run(capsys, redis_url, "--json", "retry", "emails", "--all")
    assert json.loads(out) == {"queue": "emails", "state": "failed", "retried": 0}
    code, _, err = run(capsys, redis_url, "retry", "emails", "bad-0")  # waiting now
    assert code == 1 and "Cannot retry job 'bad-0': it is waiting" in err
    code, _, err = run(capsys, redis_url, "retry", "emails")
    assert code == 2 and "--all" in err


def test_retry_one(queue_with_jobs: Any, redis_url: str,
                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, redis_url, "retry", "emails", "bad-1")
    assert code == 0 and "Retried bad-1" in out
    assert queue_with_jobs.job("bad-1").state == "waiting"


def test_pause_resume_clean_empty(queue_with_jobs: Any, redis_url: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, redis_url, "pause", "emails")[0] == 0
    assert queue_with_jobs.is_paused()
    assert run(capsys, redis_url, "resume", "emails")[0] == 0
    assert not queue_with_jobs.is_paused()
    code, out, _ = run(capsys, redis_url, "--json", "clean", "emails", "--state", "completed",
                       "--older-than", "1h")
    assert json.loads(out)["removed"] == 0
    code, out, _ = run(capsys, redis_url, "clean", "emails", "--state", "completed")
    assert code == 0 and "Removed 3 completed jobs" in out
    code, _, err = run(capsys, redis_url, "empty", "emails")  # no terminal, no --yes
    assert code == 2 and "--yes" in err
    code, out, _ = run(capsys, redis_url, "empty", "emails", "--yes")
    assert code == 0 and "Dropped 2 jobs" in out
    assert queue_with_jobs.counts()["waiting"] == queue_with_jobs.counts()["scheduled"] == 0


def test_errors_exit_non_zero_with_a_message(redis_url: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, redis_url, "jobs", "nope")
    assert code == 1 and "Unknown queue 'nope'" in err
    code, _, err = run(capsys, "redis://127.0.0.1:1/0", "stats")
    assert code == 1 and "Cannot reach Redis" in err
    code, _, err = run(capsys, redis_url, "clean", "x", "--older-than", "soon")
    assert code == 2 and "soon" in err


def test_users_and_tokens_file_is_read_by_the_app(tmp_path: Path, redis_url: str,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "jobboard.json"
    monkeypatch.setenv("JOBBOARD_PASSWORD", "correct horse")
    assert main(["--config", str(path), "users", "add", "alice", "--role", "admin"]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["users"]["alice"]["role"] == "admin"
    assert "correct horse" not in path.read_text()  # only the hash is stored
    old_hash = data["users"]["alice"]["password_hash"]
    monkeypatch.setenv("JOBBOARD_PASSWORD", "battery staple")
    assert main(["--config", str(path), "users", "passwd", "alice"]) == 0
    assert json.loads(path.read_text())["users"]["alice"]["password_hash"] != old_hash
    capsys.readouterr()
    monkeypatch.setenv("JOBBOARD_CONFIG", str(path))
    assert main(["--json", "tokens", "add", "--role", "operator", "--name", "ci"]) == 0
    token = json.loads(capsys.readouterr().out)["token"]
    assert main(["users", "add", "alice"]) == 1  # exists already
    assert "exists" in capsys.readouterr().err

    # The web app reads the same file (JOBBOARD_CONFIG) when the API is registered.
    app = make_app(make_huey(redis_url), JOBBOARD_API_TOKENS={"app-token": "viewer"},
                   JOBBOARD_CONFIG_RELOAD_SECONDS=0)
    client = app.test_client()
    assert app.config["JOBBOARD_USERS"]["alice"]["role"] == "admin"
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.post(f"{API}/queues/emails/pause", headers=bearer).status_code == 200

    # Removing the token revokes it in the running app, without a restart.
    assert main(["tokens", "remove", "ci"]) == 0
    assert client.post(f"{API}/queues/emails/pause", headers=bearer).status_code == 401
    assert client.get(f"{API}/queues", headers={"Authorization": "Bearer app-token"}).status_code == 200
    # A file broken while the app runs keeps the last good users and tokens.
    path.write_text("{not json")
    assert client.get(f"{API}/queues", headers={"Authorization": "Bearer app-token"}).status_code == 200
    assert app.config["JOBBOARD_USERS"]["alice"]["role"] == "admin"
    assert main(["tokens", "list"]) == 1  # the CLI does refuse it
    capsys.readouterr()
    path.write_text(json.dumps({"users": data["users"], "tokens": {}}))  # repaired
    assert main(["users", "remove", "alice"]) == 0
    assert json.loads(path.read_text()) == {"users": {}, "tokens": {}}
    assert main(["tokens", "remove", "ci"]) == 1


def test_flask_jobboard_commands(queue_with_jobs: Any, redis_url: str) -> None:
    app = make_app(make_huey(redis_url))
    result = app.test_cli_runner().invoke(args=["jobboard", "--json", "stats"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["queues"][0]["states"]["failed"] == 2
    result = app.test_cli_runner().invoke(args=["jobboard", "jobs", "nope"])
    assert result.exit_code == 1 and "Unknown queue" in result.output


def test_enqueue_one_or_many_from_a_file(redis_url: str, tmp_path: Path) -> None:
    """``flask jobboard enqueue``: one job from options, many from JSON lines (checked
    first, sent in one round trip); ids are idempotent; a bad line queues nothing."""
    huey = make_huey(redis_url)
    app = make_app(huey)
    cli = app.test_cli_runner()
    q = app.extensions["jobboard"].board.queue("emails")
    one = cli.invoke(args=["jobboard", "enqueue", "emails", "add", "--args", "[1, 2]",
                           "--id", "cli-1", "--priority", "3"])
    assert one.exit_code == 0 and "Queued cli-1 on emails." in one.output, one.output
    assert (q.job("cli-1").args, q.job("cli-1").priority) == ("1, 2", 3)
    lines = [json.dumps({"args": [i], "kwargs": {"b": 1}, "id": f"f-{i}"}) for i in range(300)]
    lines.insert(5, "")
    lines.append(json.dumps({"task": "boom", "args": ["x"], "delay": "1h"}))
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n".join(lines))
    many = cli.invoke(args=["jobboard", "--json", "enqueue", "emails", "add", "--file", str(path)])
    assert many.exit_code == 0, many.output
    data = json.loads(many.output)
    assert (data["created"], data["existing"], len(data["jobs"])) == (301, 0, 301)
    assert q.counts()["waiting"] == 301 and q.counts()["scheduled"] == 1
    again = cli.invoke(args=["jobboard", "enqueue", "emails", "add", "--file", str(path)])
    assert "Queued 1 job(s) on emails; 300 already queued." in again.output, again.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"args": [1], "id": "never"}) + "\n" + json.dumps({"args": "1"}))
    refused = cli.invoke(args=["jobboard", "enqueue", "emails", "add", "--file", str(bad)])
    assert refused.exit_code != 0 and "line 2: args must be a JSON array" in refused.output
    unknown = cli.invoke(args=["jobboard", "enqueue", "emails", "nope"])
    assert unknown.exit_code == 1 and "Unknown task 'nope'" in unknown.output
    assert q.counts().total == 303  # the boom job has no id: queued again by the second run
    assert "never" not in {j.id for j in q.jobs("waiting").jobs}


def test_console_script_enqueues_with_the_hueys_tasks(redis_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_url}
    proc = subprocess.run([sys.executable, "-m", "jobboard.cli", "--huey",
                           "tests.delivery_tasks:huey", "--json", "enqueue", "fault", "work",
                           "--args", "[1, 5]", "--id", "from-cli"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["jobs"] == [{"id": "from-cli", "created": True}]
    proc = subprocess.run([sys.executable, "-m", "jobboard.cli", "enqueue", "fault", "work"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert proc.returncode == 1 and "no Huey instance" in proc.stderr


def test_console_script_needs_no_task_modules(queue_with_jobs: Any, redis_url: str,
                                              tmp_path: Path) -> None:
    # A fresh process that can import jobboard and nothing else of this checkout: the task
    # module (tests/support.py) is not importable there.
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "jobboard").symlink_to(ROOT / "jobboard")
    env = {**os.environ, "PYTHONPATH": str(lib), "REDIS_URL": redis_url}
    proc = subprocess.run([sys.executable, "-m", "jobboard.cli", "--json", "show", "emails",
                           "bad-0"], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["state"] == "failed"
    proc = subprocess.run([sys.executable, "-m", "jobboard.cli", "retry", "emails", "--all"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 0 and "Retried 2 failed jobs" in proc.stdout, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "jobboard.cli", "show", "emails", "nope"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 1 and "No job 'nope'" in proc.stderr


def test_control_characters_from_tasks_cannot_reach_the_terminal(
        redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    huey = make_huey(redis_url)
    client = make_app(huey).test_client()
    evil = "\x1b]0;pwned\x07\x1b[2J red"
    client.post(f"{API}/queues/emails/jobs", headers=auth("operator"),
                json={"task": "boom", "args": [evil], "id": "evil"})
    running = RunningConsumer(huey)
    try:
        q = client.application.extensions["jobboard"].board.queue("emails")
        wait_for(lambda: q.counts()["failed"] == 1)
    finally:
        running.stop()
    for argv in (("show", "emails", "evil"), ("jobs", "emails")):
        code, out, _ = run(capsys, redis_url, *argv)
        assert code == 0 and "\x1b" not in out and "\x07" not in out
        assert "\\x1b" in out
    code, out, _ = run(capsys, redis_url, "--json", "show", "emails", "evil")
    assert "\x1b" not in out and "pwned" in json.loads(out)["error"]


def test_a_running_job_is_not_removed_by_the_cli_or_the_api(queue_with_jobs: Any, redis_url: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import threading

    huey = queue_with_jobs.huey
    taken: list[Any] = []
    worker = threading.Thread(target=lambda: taken.append(huey.dequeue()))
    worker.start()
    worker.join(10)
    assert taken and taken[0].id == "next" and queue_with_jobs.job("next").state == "active"
    code, _, err = run(capsys, redis_url, "remove", "emails", "next")
    assert code == 1 and "active (running)" in err and "Wait for it to finish" in err
    client = make_app(huey).test_client()
    res = client.delete(f"{API}/queues/emails/jobs/next", headers=auth("admin"))
    assert res.status_code == 409 and "Wait for it to finish" in res.get_json()["error"]["message"]
    assert queue_with_jobs.job("next").state == "active"
    code, out, _ = run(capsys, redis_url, "remove", "emails", "bad-0")
    assert code == 0 and "Removed bad-0" in out
    for thread in threading.enumerate():  # the dequeue started this process's heartbeat
        if type(thread).__name__ == "Heartbeat":
            thread.stop()  # type: ignore[attr-defined]


@pytest.mark.parametrize("url,says", [
    ("foo://x", "Unsupported Redis URL scheme 'foo'"),
    ("redis+sentinel://127.0.0.1:1", "names no master"),
    ("redis+sentinel://127.0.0.1:1/jbmaster", "No Sentinel named a master"),
    ("redis+cluster://127.0.0.1:1", "Redis Cluster"),
    ("redis://127.0.0.1:notaport/0", "Bad Redis URL"),
])
def test_a_bad_or_unreachable_redis_url_is_one_line(url: str, says: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--redis-url", url, "stats"])
    err = capsys.readouterr().err
    assert code == 1 and says in err and len(err.strip().splitlines()) == 1, err
