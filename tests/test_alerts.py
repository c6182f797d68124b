"""Webhook alerts against a real local HTTP receiver: deduplicated, resolved, rate-limited,
retried, and sent by exactly one process of the deployment."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

import jobboard
from jobboard import alerts
from jobboard.alerts import Alert, AlertManager, AlertSettings
from jobboard.errors import ConfigurationError
from jobboard.keys import alerts_key
from tests import fault_tasks
from tests.fault_support import Consumers
from jobboard.primitives import now_ms
from tests.support import (PREFIX, RunningConsumer, csrf_from, login, make_app, make_core_huey, make_huey,
                           soup, wait_for)

ROOT = Path(__file__).resolve().parent.parent


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it; answers
    ``fail_with`` to the first ``failures`` requests."""

    def __init__(self, failures: int = 0, fail_with: int = 503) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        self.failures = failures
        self.fail_with = fail_with
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                owner.requests += 1
                if owner.requests <= owner.failures:
                    self.send_response(owner.fail_with)
                    self.end_headers()
                    return
                owner.bodies.append(body)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def of(self, condition: str) -> list[dict[str, Any]]:
        return [b for b in self.bodies if b.get("condition") == condition]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def settings_for(url: str, **extra: Any) -> dict[str, Any]:
    return {"webhooks": [url], "interval": 0.2, "backoff": 0.05, "timeout": 2.0, **extra}


def stop_alerts(app: Any) -> None:
    manager = app.extensions["jobboard"].alerts
    if manager is not None:
        manager.stop()


# -- dedup, resolved --------------------------------------------------------------------

def test_a_burst_of_200_failures_sends_one_alert_and_one_resolved(redis_url: str, receiver: Receiver) -> None:
    huey = make_huey(redis_url)
    app = make_app(huey, JOBBOARD_ALERTS=settings_for(receiver.url),
                   JOBBOARD_HEALTH_THRESHOLDS={"max_failure_rate": 0.5})
    q = jobboard.Board([huey]).queue("emails")
    consumer = RunningConsumer(huey, workers=4)
    try:
        for i in range(200):
            q.enqueue("boom", [f"burst {i}"])
        wait_for(lambda: q.counts()["failed"] == 200, timeout=60)
        wait_for(lambda: receiver.of("failure_rate:emails"), timeout=20)
        for i in range(250):  # successes bring the 5-minute failure rate back under 50%
            q.enqueue("add", [i, 1])
        wait_for(lambda: q.counts()["completed"] == 250, timeout=60)
        wait_for(lambda: len(receiver.of("failure_rate:emails")) == 2, timeout=20)
        time.sleep(1.0)  # five more evaluations: nothing else may arrive
    finally:
        consumer.stop()
        stop_alerts(app)
    sent = receiver.of("failure_rate:emails")
    assert [b["kind"] for b in sent] == ["firing", "resolved"]
    assert sent[0]["queue"] == "emails" and sent[0]["check"] == "failure_rate"
    assert "failed in the last 5 minutes" in sent[0]["text"]
    assert len(receiver.bodies) == 2, [b["condition"] for b in receiver.bodies]


def test_failed_job_notices_add_up_instead_of_one_per_job(redis_url: str, receiver: Receiver) -> None:
    huey = make_huey(redis_url)
    app = make_app(huey, JOBBOARD_ALERTS=settings_for(receiver.url, failed_jobs=["boom"], checks=[]))
    q = jobboard.Board([huey]).queue("emails")
    manager = app.extensions["jobboard"].alerts
    redis_client = q.redis
    wait_for(lambda: redis_client.hexists(alerts_key("jb", "state"), "_init"))  # evaluating
    consumer = RunningConsumer(huey, workers=4)
    try:
        for i in range(200):
            q.enqueue("boom", [f"burst {i}"])
            q.enqueue("add", [i])  # another task: no notice
        wait_for(lambda: q.counts()["failed"] == 200 and q.counts()["completed"] == 200, timeout=60)
        time.sleep(1.0)
    finally:
        consumer.stop()
        manager.stop()
    boom = next(t for t in q.tasks() if t.endswith("boom"))
    notices = receiver.of(f"failed:emails:{boom}")
    assert len(notices) == 1 and notices[0]["kind"] == "notice"
    assert 1 <= notices[0]["count"] < 200
    assert "failed for good" in notices[0]["text"] and "burst" in notices[0]["text"]
    # The rest add up for the next message (after `repeat`), counted, not dropped.
    state = json.loads(redis_client.hget(alerts_key("jb", "state"), f"failed:emails:{boom}"))
    assert notices[0]["count"] + state["pending"] == 200
    assert len(receiver.bodies) == 1


# -- retries, rate limit, formats, settings ------------------------------------------------

def test_retried_with_backoff_then_delivered_and_refusals_not_retried(redis_url: str) -> None:
    flaky = Receiver(failures=2, fail_with=503)
    refusing = Receiver(failures=99, fail_with=400)
    try:
        board = jobboard.Board([make_huey(redis_url)])
        manager = AlertManager(board, AlertSettings.from_config(
            {"webhooks": [flaky.url, {"url": refusing.url, "name": "strict"}], "retries": 4,
             "backoff": 0.05}))
        out = manager.send_test("tester")
    finally:
        flaky.close()
        refusing.close()
    by_hook = {d.webhook: d for d in out}
    ok = by_hook[f"http://127.0.0.1:{flaky.server.server_address[1]}"]
    assert (ok.status, ok.attempts, ok.http_status) == ("sent", 3, 200)
    assert flaky.requests == 3 and flaky.bodies[0]["kind"] == "test"
    refused = by_hook["strict"]
    assert (refused.status, refused.attempts, refused.http_status) == ("failed", 1, 400)
    assert refusing.requests == 1
    listed = alerts.deliveries(board)
    assert {d.status for d in listed} == {"sent", "failed"}
    assert all("/hook" not in d.webhook for d in listed)  # a webhook's path may be its secret


def test_rate_limit_drops_the_excess_and_says_so_next_time(redis_url: str, receiver: Receiver) -> None:
    board = jobboard.Board([make_huey(redis_url)])
    manager = AlertManager(board, AlertSettings.from_config(
        {"webhooks": [{"url": receiver.url, "format": "slack"}], "rate_limit": 2}))
    results = [manager.send(Alert(f"c{i}", "notice", "stalled", f"alert {i}", "text"))[0].status
               for i in range(5)]
    assert results == ["sent", "sent", "suppressed", "suppressed", "suppressed"]
    assert len(receiver.bodies) == 2 and set(receiver.bodies[0]) == {"text"}  # Slack's payload
    assert receiver.bodies[0]["text"].startswith(":warning: *alert 0*")
    board.redis.delete(alerts_key("jb", f"rate:{int(time.time() // 60)}"))  # the next minute
    manager.send(Alert("c9", "notice", "stalled", "later", "text"))
    assert "3 earlier alerts dropped by the rate limit" in receiver.bodies[-1]["text"]


def test_bad_settings_are_refused_with_a_message(redis_url: str) -> None:
    with pytest.raises(ConfigurationError, match="webhook"):
        AlertSettings.from_config({"webhooks": []})
    with pytest.raises(ConfigurationError, match="Unknown alert settings: intervall"):
        AlertSettings.from_config({"webhooks": ["http://x"], "intervall": 5})
    with pytest.raises(ConfigurationError, match="format"):
        AlertSettings.from_config({"webhooks": [{"url": "http://x", "format": "teams"}]})
    with pytest.raises(ConfigurationError, match="ftp"):
        AlertSettings.from_config({"webhooks": ["ftp://x"]})
    with pytest.raises(ConfigurationError, match="Unknown health checks"):
        AlertSettings.from_config({"webhooks": ["http://x"], "checks": ["disk"]})
    with pytest.raises(ConfigurationError, match="max_wait_agee"):
        AlertSettings.from_config({"webhooks": ["http://x"], "thresholds": {"max_wait_agee": 1}})
    with pytest.raises(ConfigurationError, match="Unknown alert settings"):  # RedisHuey checks too
        jobboard.RedisHuey("x", url=redis_url, alerts={"webhooks": ["http://x"], "bogus": 1})


# -- one sender per deployment ---------------------------------------------------------------

DASHBOARD = """
import sys, time
sys.path.insert(0, {root!r})
from tests.support import make_app, make_huey
app = make_app(make_huey({url!r}), JOBBOARD_ALERTS={settings!r})
print(app.extensions["jobboard"].alerts.owner, flush=True)
time.sleep(120)
"""


def test_two_dashboard_processes_do_not_both_send(redis_url: str, receiver: Receiver) -> None:
    huey = make_huey(redis_url)
    q = jobboard.Board([huey]).queue("emails")
    for i in range(3):
        q.enqueue("add", [i])  # waiting, and no consumer alive: "no_consumer"
    settings = settings_for(receiver.url)
    procs = [subprocess.Popen([sys.executable, "-c", DASHBOARD.format(root=str(ROOT), url=redis_url,
                                                                     settings=settings)],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        owners = [p.stdout.readline().strip() for p in procs]  # type: ignore[union-attr]
        assert all(owners) and owners[0] != owners[1]
        wait_for(lambda: receiver.of("no_consumer:emails"), timeout=20)
        time.sleep(1.5)  # several intervals of both processes
        assert len(receiver.of("no_consumer:emails")) == 1
        holder = alerts.lease_holder(q.board)
        assert holder in owners
        # The sender dies; the other takes over once the lease lapses and, knowing the
        # state from Redis, neither repeats the alert nor misses its end.
        procs[owners.index(holder)].send_signal(signal.SIGKILL)
        wait_for(lambda: alerts.lease_holder(q.board) not in (None, holder), timeout=30)
        q.empty()
        wait_for(lambda: len(receiver.of("no_consumer:emails")) == 2, timeout=20)
        time.sleep(1.0)
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)
    sent = receiver.of("no_consumer:emails")
    assert [b["kind"] for b in sent] == ["firing", "resolved"]
    senders = [d.sender for d in alerts.deliveries(q.board) if d.condition == "no_consumer:emails"]
    assert len(senders) == 2 and set(senders) <= set(owners)
    assert senders[0] != holder  # the resolution came from the survivor (newest first)


@pytest.mark.slow
def test_a_killed_consumer_fleet_sends_one_no_consumer_alert(redis_url: str, receiver: Receiver,
                                                             tmp_path: Path) -> None:
    side_url = redis_url.rsplit("/", 1)[0] + "/" + str((int(redis_url.rsplit("/", 1)[1]) + 1) % 64)
    redis.Redis.from_url(side_url).flushdb()
    huey = fault_tasks.build(redis_url, side_url)
    app = make_app(huey, JOBBOARD_ALERTS=settings_for(receiver.url))
    q = jobboard.Board([huey]).queue(fault_tasks.QUEUE)
    fleet = Consumers(redis_url, side_url, tmp_path)
    try:
        procs = [fleet.start(workers=2) for _ in range(3)]
        wait_for(lambda: len(q.consumers()) == 3, timeout=30)
        for _ in range(40):
            q.enqueue("work", [3000])  # long enough that most are still waiting at the kill
        wait_for(lambda: q.counts()["active"] >= 6, timeout=30)
        for proc in procs:
            fleet.kill(proc)
        # Heartbeats go stale after CONSUMER_ALIVE_SECONDS; then exactly one alert.
        wait_for(lambda: receiver.of(f"no_consumer:{fault_tasks.QUEUE}"), timeout=60)
        time.sleep(2.0)
    finally:
        fleet.close()
        stop_alerts(app)
    sent = receiver.of(f"no_consumer:{fault_tasks.QUEUE}")
    assert len(sent) == 1 and sent[0]["kind"] == "firing"
    assert "no consumer alive" in sent[0]["text"]
    assert not [b for b in receiver.bodies if b["kind"] == "resolved"]


# -- the Alerts page ------------------------------------------------------------------------

def test_alerts_page_and_test_button(redis_url: str, receiver: Receiver) -> None:
    app = make_app(make_huey(redis_url), JOBBOARD_ALERTS=settings_for(receiver.url, checks=[]))
    try:
        viewer = app.test_client()
        login(viewer, "viewer")
        page = soup(viewer.get(f"{PREFIX}/alerts"))
        assert page.find("h1").get_text() == "Alerts"
        assert page.find(string="No alert has been sent yet.")
        assert not page.select("form[action$='/alerts/test']")  # admins only
        token = csrf_from(viewer.get(f"{PREFIX}/alerts").get_data(as_text=True))
        assert viewer.post(f"{PREFIX}/alerts/test", data={"csrf_token": token}).status_code == 403

        admin = app.test_client()
        token = login(admin, "admin")
        assert admin.post(f"{PREFIX}/alerts/test").status_code == 400  # no CSRF token
        assert not receiver.bodies
        resp = admin.post(f"{PREFIX}/alerts/test", data={"csrf_token": token})
        assert resp.status_code == 303
        assert [b["kind"] for b in receiver.bodies] == ["test"]
        assert "admin" in receiver.bodies[0]["text"]
        page = soup(admin.get(f"{PREFIX}/alerts"))
        rows = page.select("table.deliveries tbody tr")
        assert len(rows) == 1 and rows[0]["data-status"] == "sent"
        assert "jobboard test alert" in rows[0].get_text()
        assert page.select("form[action$='/alerts/test']")
        assert admin.get(f"{PREFIX}/alerts/test").status_code == 405  # no change on GET
    finally:
        stop_alerts(app)


def test_consumers_can_send_alerts_too(redis_url: str, receiver: Receiver) -> None:
    huey = jobboard.RedisHuey("emails", url=redis_url, alerts=settings_for(
        receiver.url, thresholds={"max_paused_age": 0}))
    huey.task(name="noop")(lambda: None)
    board = jobboard.Board([huey])
    q = board.queue("emails")
    q.pause()
    q.enqueue("noop")  # waits: paused with a backlog older than max_paused_age (0 here)
    consumer = RunningConsumer(huey)
    try:
        manager = huey.jobboard.alert_manager  # type: ignore[attr-defined]
        wait_for(lambda: receiver.of("paused_backlog:emails"), timeout=10)
        assert alerts.lease_holder(board) == manager.owner
    finally:
        consumer.stop()
    assert alerts.lease_holder(board) is None  # the consumer's stop gave the lease up
    sent = receiver.of("paused_backlog:emails")
    assert len(sent) == 1 and sent[0]["kind"] == "firing" and "paused" in sent[0]["text"]


def test_health_gates_every_reader_the_same(redis_url: str) -> None:
    """The overview badge, /health/detailed and the API agree, with the configured thresholds."""
    huey = make_huey(redis_url)
    app = make_app(huey, JOBBOARD_HEALTH_THRESHOLDS={"max_paused_age": 0})
    q = jobboard.Board([huey]).queue("emails")
    q.enqueue("add", [1])
    q.pause()
    time.sleep(0.01)
    client = app.test_client()
    login(client, "viewer")
    detailed = client.get(f"{PREFIX}/health/detailed").get_json()
    checks = {p["check"] for p in detailed["problems"]}
    assert {"paused_backlog", "no_consumer"} <= checks and detailed["healthy"] is False
    api = client.get(f"{PREFIX}/api/queues").get_json()
    listed = api["queues"][0]["health"]
    assert {p["check"] for p in listed["problems"]} == checks
    badge = soup(client.get(f"{PREFIX}/")).select_one("td.health .badge")
    assert badge is not None and "needs attention" in badge.get_text()
    assert "paused" in badge["title"]


def test_redis_near_maxmemory_is_a_problem_everywhere(redis_url: str, receiver: Receiver) -> None:
    huey = make_huey(redis_url)
    limits = {"redis_memory_ratio": 0.5}
    app = make_app(huey, JOBBOARD_ALERTS=settings_for(receiver.url, checks=["redis_memory", "redis_oom"]),
                   JOBBOARD_HEALTH_THRESHOLDS=limits)
    board = jobboard.Board([huey])
    r = board.redis
    try:
        used = int(r.info("memory")["used_memory"])
        r.config_set("maxmemory", str(int(used * 1.5)))  # 2/3 full, noeviction: writes still work
        health = board.health(limits)
        assert [p.check for p in health.problems] == ["redis_memory"]
        assert health.redis is not None and health.redis.memory_ratio > 0.5  # type: ignore[operator]
        assert not board.health().problems  # under the default 90%
        client = app.test_client()
        login(client, "viewer")
        detailed = client.get(f"{PREFIX}/health/detailed").get_json()
        assert detailed["redis"]["problems"][0]["check"] == "redis_memory"
        assert client.get(f"{PREFIX}/health/ready").status_code == 200  # not full yet
        wait_for(lambda: receiver.of("redis_memory:redis"), timeout=10)
    finally:
        r.config_set("maxmemory", "0")
    wait_for(lambda: len(receiver.of("redis_memory:redis")) == 2, timeout=10)
    stop_alerts(app)
    assert [b["kind"] for b in receiver.of("redis_memory:redis")] == ["firing", "resolved"]
    assert receiver.of("redis_memory:redis")[0]["queue"] is None


def test_stalled_jobs_send_one_notice(redis_url: str, receiver: Receiver) -> None:
    huey = make_core_huey(redis_url, max_stalls=5)
    board = jobboard.Board([huey])
    q = board.queue("core")
    manager = AlertManager(board, AlertSettings.from_config(settings_for(receiver.url, checks=[])))
    assert manager.tick() == []  # the first evaluation takes the baseline
    for n in range(3):
        huey.test_tasks["double"](n)  # type: ignore[attr-defined]
    now = now_ms()
    for _ in range(3):  # taken by a consumer that died: leases lapse at once
        q.board.script("DEQUEUE")(keys=[q.keys.base], args=[now, now - 1, "ghost:1/Worker-1"])
    huey.jobboard.beat()  # the heartbeat puts them back
    assert q.lifetime().stalled == 3
    sent = manager.tick()
    assert [d.condition for d in sent] == ["stalled:core"] and sent[0].status == "sent"
    assert receiver.bodies[0]["count"] == 3 and "lost their consumer" in receiver.bodies[0]["text"]
    assert manager.tick() == []  # nothing new: nothing sent
