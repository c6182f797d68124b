"""The demo's producer helpers refuse bad payloads with a clear error and queue nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import ModuleType

import pytest
import redis

from demo import payloads
from demo import settings as demo_settings
from demo.payloads import InvalidPayload
from tests.demo_support import forget_demo_modules, fresh_import

GOOD_EMAIL = {"to": "ana.chen@example.org", "subject": "Appointment confirmed",
              "template": "appointment-confirmation",
              "context": {"client_name": "Ana Chen", "appointment_date": dt.date(2031, 1, 15),
                          "appointment_time": "10:00"}}


@pytest.fixture
def worker(redis_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DEMO_DATA_DIR", str(tmp_path))
    yield fresh_import("worker")
    forget_demo_modules()


def test_valid_email_is_normalised_to_json_values() -> None:
    data = payloads.email_payload(GOOD_EMAIL)
    assert data["context"]["appointment_date"] == "2031-01-15"
    assert data["priority"] == 5


@pytest.mark.parametrize(("payload", "field", "words"), [
    ({**GOOD_EMAIL, "to": "not-an-address"}, "to", "not an email address"),
    ({k: v for k, v in GOOD_EMAIL.items() if k != "to"}, "to", "is required"),
    ({**GOOD_EMAIL, "template": "welcome"}, "template", "not one of"),
    ({**GOOD_EMAIL, "priority": 11}, "priority", "from 1 to 10"),
    ({**GOOD_EMAIL, "priority": True}, "priority", "from 1 to 10"),
    ({**GOOD_EMAIL, "context": {"when": object()}}, "context.when", "cannot be queued"),
    ("to: ana@example.org", "payload", "expected a dict"),
])
def test_bad_email_payloads(payload: object, field: str, words: str) -> None:
    with pytest.raises(InvalidPayload) as info:
        payloads.email_payload(payload)
    assert info.value.field == field
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_report_payload_checks_range_and_format() -> None:
    good = {"report_type": "financial", "date_range": {"start": "2024-01-01", "end": "2024-01-31"},
            "requested_by": "user-123"}
    assert payloads.report_payload(good)["date_range"] == {"start": "2024-01-01", "end": "2024-01-31"}
    with pytest.raises(InvalidPayload, match="ends .* before it starts"):
        payloads.report_payload({**good, "date_range": {"start": "2024-02-01", "end": "2024-01-01"}})
    with pytest.raises(InvalidPayload, match="the demo writes csv"):
        payloads.report_payload({**good, "format": "pdf"})
    with pytest.raises(InvalidPayload, match="limit is 366"):
        payloads.report_payload({**good, "date_range": {"start": "2020-01-01", "end": "2023-01-01"}})
    with pytest.raises(InvalidPayload, match="not a date"):
        payloads.report_payload({**good, "date_range": {"start": "last week", "end": "2024-01-01"}})


def test_reminder_channel_decides_required_contacts() -> None:
    base = {"type": "appointment", "recipient_id": "client-123", "message": "See you tomorrow."}
    with pytest.raises(InvalidPayload) as info:
        payloads.reminder_payload({**base, "channel": "sms", "recipient_email": "a@example.org"})
    assert info.value.field == "recipient_phone"
    with pytest.raises(InvalidPayload, match="E.164"):
        payloads.reminder_payload({**base, "channel": "both", "recipient_email": "a@example.org",
                                   "recipient_phone": "555-1234"})
    ok = payloads.reminder_payload({**base, "channel": "email", "recipient_email": "a@example.org",
                                    "scheduled_for": "2031-01-14T09:00:00Z"})
    assert ok["scheduled_for"] == "2031-01-14T09:00:00+00:00"
    with pytest.raises(InvalidPayload, match="in the past"):
        payloads.reminder_payload({**base, "channel": "email", "recipient_email": "a@example.org",
                                   "scheduled_for": "2001-01-01T09:00:00Z"})


def test_notification_channels_and_action_url() -> None:
    base = {"type": "appointment_confirmed", "recipient_id": "client-123", "title": "Confirmed",
            "message": "Your appointment is confirmed."}
    assert payloads.notification_payload({**base, "channels": ["push", "in_app", "push"]})["channels"] \
        == ["push", "in_app"]
    with pytest.raises(InvalidPayload, match="'fax' is not one of"):
        payloads.notification_payload({**base, "channels": ["fax"]})
    with pytest.raises(InvalidPayload, match="recipient_email: is required"):
        payloads.notification_payload({**base, "channels": ["email"]})
    with pytest.raises(InvalidPayload, match="action_url"):
        payloads.notification_payload({**base, "action_url": "javascript:alert(1)"})


def test_helpers_refuse_bad_input_and_queue_nothing(worker: ModuleType, redis_client: redis.Redis) -> None:
    reminder = {"type": "appointment", "recipient_id": "client-1", "channel": "email",
                "recipient_email": "a@example.org", "message": "Tomorrow 10:00."}
    with pytest.raises(InvalidPayload, match=r"\[2\]\.channel"):
        worker.queue_bulk_reminders([reminder, reminder, {**reminder, "channel": "pigeon"}])
    with pytest.raises(ValueError, match="Invalid email payload: to"):
        worker.queue_email({**GOOD_EMAIL, "to": ""})
    with pytest.raises(InvalidPayload):
        worker.queue_report({"report_type": "inventory", "requested_by": "x",
                             "date_range": {"start": "2024-01-01", "end": "2024-01-02"}})
    with pytest.raises(InvalidPayload):
        worker.queue_notification({"type": "x", "recipient_id": "c", "title": "t", "message": "m",
                                   "channels": []})
    with pytest.raises(InvalidPayload):
        worker.queue_lab_sync("lab 1", "client-1")
    assert all(h.pending_count() == 0 and h.scheduled_count() == 0 for h in worker.HUEYS)

    ids = worker.queue_bulk_reminders([reminder, reminder])
    assert len(set(ids)) == 2
    assert worker.reminders.pending_count() == 2


def test_bulk_notifications_are_checked_first_then_queued_in_one_batch(
        worker: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    notice = {"type": "appointment", "recipient_id": "client-1", "title": "Reminder",
              "message": "Tomorrow 10:00.", "channels": ["in_app"]}
    with pytest.raises(InvalidPayload, match=r"\[1\]\.channels"):
        worker.queue_bulk_notifications([notice, {**notice, "channels": ["fax"]}])
    assert worker.notifications.pending_count() == 0
    batches: list[int] = []
    storage = worker.notifications.storage
    send = storage.enqueue_batch
    monkeypatch.setattr(storage, "enqueue_batch", lambda argvs: batches.append(len(argvs)) or send(argvs))
    ids = worker.queue_bulk_notifications([notice] * 250 + [{**notice, "channels": ["push"]}])
    assert batches == [251] and len(set(ids)) == 251  # one round trip for the lot
    assert worker.notifications.pending_count() == 251


def test_redis_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB", "REDIS_TLS"):
        monkeypatch.delenv(name, raising=False)
    assert not demo_settings.external_redis_configured()
    assert demo_settings.redis_url() == "redis://localhost:6379/0"
    monkeypatch.setenv("REDIS_HOST", "queue.internal")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("REDIS_DB", "2")
    monkeypatch.setenv("REDIS_PASSWORD", "p@ss/word")
    monkeypatch.setenv("REDIS_TLS", "true")
    assert demo_settings.external_redis_configured()
    assert demo_settings.redis_url() == "rediss://:p%40ss%2Fword@queue.internal:6380/2"
    assert "p%40ss" not in demo_settings.redis_display_url()
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/5")
    assert demo_settings.redis_url() == "redis://cache:6379/5"
    monkeypatch.setenv("QUEUE_CONCURRENCY", "eight")
    with pytest.raises(ValueError, match="QUEUE_CONCURRENCY"):
        demo_settings.load()
