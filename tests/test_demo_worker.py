"""The clinic's tasks, run by real Huey consumers against the test's real Redis."""

from __future__ import annotations

import csv
import datetime as dt
import re
import socketserver
import threading
from collections.abc import Iterator
from email import message_from_bytes as _parse
from email import policy
from pathlib import Path
from types import ModuleType

import pytest

import jobboard
from demo import clinic
from tests.demo_support import forget_demo_modules, fresh_import
from tests.support import running_consumers, wait_for


@pytest.fixture
def demo_env(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DEMO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REPORT_SECONDS_PER_DAY", "0")
    monkeypatch.setenv("LAB_API_FAILURE_RATE", "0")
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    monkeypatch.delenv("SMTP_URL", raising=False)
    return tmp_path


@pytest.fixture
def worker(demo_env: Path) -> Iterator[ModuleType]:
    yield fresh_import("worker")
    forget_demo_modules()


def _read_email(raw: bytes):  # noqa: ANN202 - an EmailMessage
    return _parse(raw, policy=policy.default)


def _token(client: object, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)  # type: ignore[attr-defined]
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _login(client: object, username: str) -> str:
    """Sign in through the clinic's own login form; returns the new session's CSRF token."""
    response = client.post("/login", data={"username": username, "password": "riverside-demo",  # type: ignore[attr-defined]
                                           "csrf_token": _token(client)})
    assert response.status_code == 302
    return _token(client, "/appointments/new")


def _state(board: jobboard.Board, queue: str, job_id: str) -> str | None:
    try:
        return board.queue(queue).job(job_id).state
    except jobboard.JobNotFound:
        return None


def test_booking_queues_email_notification_and_reminder_that_consumers_run(demo_env: Path) -> None:
    wsgi = fresh_import("wsgi")
    try:
        worker = wsgi.worker
        app = wsgi.create_app({"TESTING": True})
        client = app.test_client()
        token = _login(client, "reception")
        day = dt.date.today() + dt.timedelta(days=3)
        response = client.post("/appointments/new", data={
            "csrf_token": token, "patient_name": "Maya Patel", "client_email": "maya.patel@example.org",
            "client_phone": "+15551234567", "date": day.isoformat(), "time": "10:30",
            "doctor": "Dr. Lee", "reason": "vaccination"})
        # The request returns at once: nothing has run yet, the jobs are queued.
        assert response.status_code == 302
        assert worker.emails.pending_count() == 1
        assert worker.notifications.pending_count() == 1
        # the day-before reminder: in the queue until a consumer schedules it, as in Huey
        assert worker.reminders.pending_count() == 1
        flashed = client.get(response.headers["Location"]).get_data(as_text=True)
        email_job = re.search(r"email job ([0-9a-f-]{36})", flashed).group(1)

        board = jobboard.Board(worker.HUEYS)
        with running_consumers(worker.HUEYS):
            assert wait_for(lambda: _state(board, "emails", email_job) == "completed"), \
                board.queue("emails").job(email_job)
            appointment = clinic.recent_appointments(worker.clinic_db(), 1)[0]
            assert wait_for(lambda: clinic.inbox(worker.clinic_db(), appointment["client_id"]))
            assert wait_for(lambda: board.queue("reminders").counts()["scheduled"] == 1)
        [eml] = (demo_env / "outbox").glob("*.eml")
        message = _read_email(eml.read_bytes())
        assert message["To"] == "maya.patel@example.org"
        assert message["Subject"] == "Appointment confirmed"
        body = message.get_body(("plain",)).get_content()
        assert "Maya Patel" in body and "10:30" in body and "Dr. Lee" in body
        html = message.get_body(("html",)).get_content()
        assert "<strong>Maya Patel</strong>" in html
        page = client.get(f"/appointments/{appointment['id']}").get_data(as_text=True)
        assert "Appointment confirmed" in page
        assert board.queue("reminders").counts()["scheduled"] == 1

        # Canceling the appointment: the reminder, when due, ends as canceled, not sent.
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post(f"/appointments/{appointment['id']}/cancel", data={"csrf_token": token})
        reminder_id = board.queue("reminders").jobs("scheduled").jobs[0].id
        board.queue("reminders").promote(reminder_id)
        with running_consumers([worker.reminders]):
            assert wait_for(lambda: _state(board, "reminders", reminder_id) == "canceled")
        assert not (demo_env / "outbox" / "sms.log").exists()
    finally:
        forget_demo_modules()


def test_booking_form_refuses_a_bad_address_before_storing_anything(demo_env: Path) -> None:
    wsgi = fresh_import("wsgi")
    try:
        client = wsgi.create_app({"TESTING": True}).test_client()
        token = _login(client, "admin")
        response = client.post("/appointments/new", data={
            "csrf_token": token, "patient_name": "Liam Brown", "client_email": "liam at example",
            "date": "2031-05-01", "time": "09:00", "doctor": "Dr. Lee"})
        assert response.status_code == 400
        assert "not an email address" in response.get_data(as_text=True)
        assert clinic.recent_appointments(wsgi.worker.clinic_db()) == []
        assert wsgi.worker.emails.pending_count() == 0
        # and a POST without the form's CSRF token changes nothing
        assert client.post("/appointments/new", data={"patient_name": "X"}).status_code == 400
    finally:
        forget_demo_modules()


def test_report_writes_csv_with_progress_and_logs_then_emails_link(worker: ModuleType, demo_env: Path) -> None:
    job_id = worker.queue_report({"report_type": "financial", "requested_by": "admin",
                                  "email": "alex@example.org",
                                  "date_range": {"start": "2024-03-01", "end": "2024-03-31"}})
    board = jobboard.Board(worker.HUEYS)
    with running_consumers([worker.reports, worker.emails]):
        assert wait_for(lambda: _state(board, "reports", job_id) == "completed")
        assert wait_for(lambda: list((demo_env / "outbox").glob("*.eml")))
    job = board.queue("reports").job(job_id)
    assert job.progress == 100
    assert any("wrote 31 rows" in line.message for line in job.logs)
    [report] = (demo_env / "reports").glob("financial-2024-03-01-2024-03-31-*.csv")
    rows = list(csv.DictReader(report.open()))
    assert len(rows) == 31 and rows[0]["date"] == "2024-03-01"
    sunday = next(r for r in rows if dt.date.fromisoformat(r["date"]).weekday() == 6)
    assert sunday["visits"] == "0"  # closed on Sundays
    assert float(rows[1]["revenue"]) > 0
    [eml] = (demo_env / "outbox").glob("*.eml")
    assert f"/reports/{report.name}" in _read_email(eml.read_bytes()).get_body(("plain",)).get_content()


def test_failures_keep_tracebacks_and_flaky_api_backs_off(worker: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    bounce = worker.queue_email({"to": "kemi@clinic-mail.invalid", "subject": "Hi", "template": "notification",
                                 "context": {"title": "Hi", "message": "Hello", "action_url": None}})
    # The flaky partner API, failing every time for this test.
    object.__setattr__(worker.settings, "lab_api_failure_rate", 1.0)
    lab = worker.queue_lab_sync("lab-4242", "client-7")
    assert worker.sync_lab_results.retries == 3  # task defaults: 2 s, 4 s, 8 s
    board = jobboard.Board(worker.HUEYS)
    with running_consumers([worker.emails, worker.notifications]):
        # First failure of the lab call: rescheduled for 2 s later, then 4 s after that.
        assert wait_for(lambda: len(board.queue("notifications").job(lab).attempts) >= 2, timeout=10)
        job = board.queue("notifications").job(lab)
        assert job.state == "scheduled"
        first, second = job.attempts[:2]
        assert first.error_class.endswith("LabApiUnavailable") and "503" in first.message
        assert 1.8 <= second.at - first.at <= 3.5
        assert job.scheduled_for - second.at == pytest.approx(4, abs=0.6)
    email = board.queue("emails").job(bounce)
    assert email.attempts and "Recipient address rejected" in email.attempts[0].message
    assert "MailDeliveryError" in email.attempts[0].traceback


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough of an SMTP server (RFC 5321) to receive a message: a real socket peer."""

    def handle(self) -> None:
        def say(line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        say("220 mail.test ESMTP")
        while raw := self.rfile.readline():
            verb = raw.decode().strip().split(" ", 1)[0].upper()
            if verb == "EHLO":
                say("250-mail.test")
                say("250 8BITMIME")
            elif verb == "RCPT":
                if b".invalid" in raw:
                    say("550 5.1.2 Domain not found")
                else:
                    say("250 OK")
            elif verb == "DATA":
                say("354 go ahead")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line)
                self.server.received.append(b"".join(lines))  # type: ignore[attr-defined]
                say("250 queued")
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say("250 OK")


def test_smtp_delivery_when_smtp_url_is_set() -> None:
    from demo import mail

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.received = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"smtp://127.0.0.1:{server.server_address[1]}"
        payload = {"to": "ines@example.org", "subject": "Your results", "template": "notification",
                   "context": {"title": "Lab results", "message": "They are in.", "action_url": None}}
        assert mail.deliver(mail.render(payload, "clinic@example.org"), smtp_url=url,
                            outbox_dir=Path("/nonexistent")) == url
        assert b"Subject: Your results" in server.received[0]
        with pytest.raises(mail.MailDeliveryError, match="recipient refused"):
            mail.deliver(mail.render({**payload, "to": "x@y.invalid"}, "clinic@example.org"),
                         smtp_url=url, outbox_dir=Path("/nonexistent"))
    finally:
        server.shutdown()
        server.server_close()


def test_jobboard_settings_from_the_environment(demo_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBBOARD_URL_PREFIX", "/ops/queues")
    monkeypatch.setenv("JOBBOARD_READ_ONLY", "true")
    monkeypatch.setenv("JOBBOARD_API_TOKENS", "s3cret-token:viewer")
    wsgi = fresh_import("wsgi")
    try:
        app = wsgi.create_app({"TESTING": True})
        assert app.config["JOBBOARD_READ_ONLY"] is True
        assert app.config["JOBBOARD_API_TOKENS"] == {"s3cret-token": "viewer"}
        client = app.test_client()
        anonymous = client.get("/ops/queues/")
        assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
        _login(client, "doctor")
        overview = client.get("/ops/queues/").get_data(as_text=True)
        assert 'data-queue="emails"' in overview
        api = client.get("/ops/queues/api/queues", headers={"Authorization": "Bearer s3cret-token"})
        assert api.status_code == 200
        assert {q["name"] for q in api.get_json()["queues"]} >= {"emails", "reports"}
    finally:
        forget_demo_modules()
