"""The clinic's background jobs: four Huey queues tracked by jobboard.

Run one consumer per queue (each queue has its own concurrency, as in the clinic's BullMQ
setup: emails 5, reports 2)::

    huey_consumer worker.huey -w 5 -k thread            # emails (``huey`` is the emails queue)
    huey_consumer worker.reports -w 2 -k thread
    huey_consumer worker.reminders -w 5 -k thread
    huey_consumer worker.notifications -w 5 -k thread

Web code queues work through the producer helpers at the bottom (``queue_email``,
``queue_report``, ``queue_reminder``, ``queue_bulk_reminders``, ``queue_notification``,
``queue_bulk_notifications``...):
they validate the payload and raise :class:`InvalidPayload` (a ``ValueError``) on a bad one,
so mistakes surface in the request that made them, not later on a consumer.

Every task takes one JSON-safe ``payload`` dict (like a BullMQ job's ``data``), so what the
dashboard shows and what a retry re-enqueues is exactly what the task received.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

import redis
from huey import crontab
from huey.api import Task
from huey.exceptions import CancelExecution

from jobboard import RedisHuey, log, progress

from demo import clinic, mail, payloads, sms
from demo import reports as report_files
from demo import settings as demo_settings
from demo.payloads import InvalidPayload

__all__ = [
    "HUEYS", "InvalidPayload", "emails", "huey", "notifications", "reminders", "reports",
    "queue_bulk_notifications", "queue_bulk_reminders", "queue_email", "queue_export", "queue_lab_sync",
    "queue_notification", "queue_reminder", "queue_report",
]

settings = demo_settings.load()

# One connection pool for the four queues: a consumer process needs one connection per
# worker thread plus the scheduler, not four pools of them.
_pool = redis.ConnectionPool.from_url(demo_settings.redis_url())

emails = RedisHuey("emails", connection_pool=_pool)
reports = RedisHuey("reports", connection_pool=_pool)
reminders = RedisHuey("reminders", connection_pool=_pool)
notifications = RedisHuey("notifications", connection_pool=_pool)
huey = emails  # ``huey_consumer worker.huey`` runs the busiest queue
HUEYS = [emails, reports, reminders, notifications]

_clinic_redis: redis.Redis | None = None


def clinic_db() -> redis.Redis:
    """The clinic's own data store (appointments, inbox), created on first use per process."""
    global _clinic_redis
    if _clinic_redis is None:
        _clinic_redis = demo_settings.redis_client()
    return _clinic_redis


def _once(job_id: str, step: str) -> bool:
    """True the first time a job reaches ``step``: retries must not text a patient twice."""
    return bool(clinic_db().set(f"clinic:done:{job_id}:{step}", 1, nx=True, ex=7 * 86400))


# --- Tasks -------------------------------------------------------------------------------

@emails.task(retries=3, retry_delay=2, retry_backoff=2)
def send_email(payload: dict[str, Any]) -> dict[str, str]:
    """Render a template and deliver it (SMTP when SMTP_URL is set, else the outbox)."""
    log(f"rendering {payload['template']} for {payload['to']}")
    message = mail.render(payload, settings.mail_from)
    where = mail.deliver(message, smtp_url=settings.smtp_url, outbox_dir=settings.outbox_dir)
    log(f"delivered {message['Message-ID']} via {where.split('://', 1)[0]}")
    return {"message_id": str(message["Message-ID"]), "delivered_to": where}


@reports.task(retries=1, retry_delay=10, context=True)
def generate_report(payload: dict[str, Any], task: Task | None = None) -> dict[str, Any]:
    """Write a financial or appointments CSV for a date range, then email its link."""
    job_id = task.id if task else "local"
    rng = payload["date_range"]
    log(f"{payload['report_type']} report {rng['start']}..{rng['end']} for {payload['requested_by']}")
    progress(0, "querying the ledger")
    name = f"{payload['report_type']}-{rng['start']}-{rng['end']}-{job_id[:8]}.csv"
    path, rows = report_files.write_report(
        payload, settings.reports_dir, name, seconds_per_day=settings.report_seconds_per_day,
        progress=lambda pct, msg: progress(min(pct, 99), msg))
    link = f"{settings.base_url}/reports/{path.name}"
    log(f"wrote {rows} rows to {path.name}")
    if payload.get("email"):
        email_id = queue_email({
            "to": payload["email"], "subject": f"Your {payload['report_type']} report is ready",
            "template": "report-ready", "priority": 6,
            "context": {"requested_by": payload["requested_by"], "report_type": payload["report_type"],
                        "start": rng["start"], "end": rng["end"], "rows": rows, "link": link},
        })
        log(f"queued the report-ready email as job {email_id}")
    progress(100, "done")
    return {"file": path.name, "rows": rows, "url": link}


@reminders.task(retries=3, retry_delay=2, retry_backoff=2, context=True)
def send_reminder(payload: dict[str, Any], task: Task | None = None) -> dict[str, Any]:
    """Remind a client of an appointment or a medication by email, SMS, or both."""
    job_id = task.id if task else f"local-{time.time_ns()}"
    appointment: dict[str, Any] = {}
    if payload.get("appointment_id"):
        appointment = clinic.get(clinic_db(), payload["appointment_id"]) or {}
        if appointment.get("status") == "canceled":
            # Not a failure: nothing to remind of. retry=False ends the job as canceled.
            raise CancelExecution(f"appointment {payload['appointment_id']} was canceled", retry=False)
    sent: dict[str, Any] = {}
    if payload["channel"] in ("email", "both") and _once(job_id, "email"):
        template = f"{payload['type']}-reminder"
        context = {"client_name": appointment.get("patient_name", "client"), "message": payload["message"]}
        if appointment:
            context.update(appointment_date=appointment["date"], appointment_time=appointment["time"])
        message = mail.render({"to": payload["recipient_email"], "template": template,
                               "subject": "Reminder from Riverside Clinic", "context": context},
                              settings.mail_from)
        sent["email"] = mail.deliver(message, smtp_url=settings.smtp_url,
                                     outbox_dir=settings.outbox_dir)
        log(f"emailed {payload['recipient_email']}")
    if payload["channel"] in ("sms", "both"):
        # The SMS provider allows SMS_RATE_LIMIT messages a second; past that Huey raises
        # RateLimitExceeded. retry=False makes that count against the job's own retries
        # (retried after retry_delay), and a job with none left ends as "rate_limited"
        # (Huey's retry=True would retry it forever, never consuming a retry).
        with reminders.rate_limit("sms-gateway", settings.sms_rate_limit, 1, retry=False):
            sent["sms"] = sms.send(settings.outbox_dir, payload["recipient_phone"], payload["message"])
        log(f"texted {payload['recipient_phone']}: {sent['sms']}")
    return {"recipient_id": payload["recipient_id"], "sent": sent}


@notifications.task(retries=2, retry_delay=5, context=True)
def send_notification(payload: dict[str, Any], task: Task | None = None) -> dict[str, Any]:
    """Deliver a notification on each of its channels: in_app inbox, push, email."""
    job_id = task.id if task else f"local-{time.time_ns()}"
    delivered = []
    item = {"id": job_id, "type": payload["type"], "title": payload["title"],
            "message": payload["message"], "action_url": payload.get("action_url"),
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    if "in_app" in payload["channels"] and _once(job_id, "in_app"):
        clinic.push_inbox(clinic_db(), payload["recipient_id"], item)
        delivered.append("in_app")
    if "push" in payload["channels"] and _once(job_id, "push"):
        # No real push provider in the demo: the outbox log is what a device would receive.
        settings.outbox_dir.mkdir(parents=True, exist_ok=True)
        with open(settings.outbox_dir / "push.log", "a", encoding="utf-8") as f:
            f.write(f"{item['created_at']} {payload['recipient_id']} {payload['title']}\n")
        delivered.append("push")
    if "email" in payload["channels"] and _once(job_id, "email"):
        queue_email({"to": payload["recipient_email"], "subject": payload["title"],
                     "template": "notification", "priority": payload["priority"],
                     "context": {"title": payload["title"], "message": payload["message"],
                                 "action_url": payload.get("action_url")}})
        delivered.append("email")
    log(f"delivered to {payload['recipient_id']} on {', '.join(delivered) or 'no new channel'}")
    return {"recipient_id": payload["recipient_id"], "channels": delivered}


@reports.task(retries=1, retry_delay=10, context=True)
def export_data(payload: dict[str, Any], task: Task | None = None) -> dict[str, Any]:
    """Export patients, appointments or invoices as CSV/JSON and email the link."""
    job_id = task.id if task else "local"
    name = f"export-{payload['export_type']}-{job_id[:8]}.{payload['format']}"
    path, count = report_files.write_export(payload, settings.reports_dir, name,
                                       progress=lambda pct, msg: progress(pct, msg))
    link = f"{settings.base_url}/reports/{path.name}"
    if payload.get("email"):
        queue_email({"to": payload["email"], "subject": f"Your {payload['export_type']} export",
                     "template": "export-ready",
                     "context": {"requested_by": payload["requested_by"], "rows": count, "link": link,
                                 "export_type": payload["export_type"], "format": payload["format"]}})
    progress(100, f"{count} records")
    return {"file": path.name, "records": count, "url": link}


@reports.task()
def cleanup(max_age_hours: float = 24.0, report_max_age_days: float = 7.0) -> dict[str, int]:
    """Delete temp files older than ``max_age_hours`` and reports older than the retention."""
    removed_tmp = report_files.remove_older_than(settings.tmp_dir, max_age_hours * 3600)
    removed_reports = report_files.remove_older_than(settings.reports_dir, report_max_age_days * 86400)
    log(f"removed {removed_tmp} temp files and {removed_reports} old reports")
    return {"temp_files": removed_tmp, "reports": removed_reports}


class LabApiUnavailable(ConnectionError):
    """The lab partner's API did not answer (it is known to be flaky)."""


@notifications.task(retries=3, retry_delay=2, retry_backoff=2)
def sync_lab_results(order: dict[str, Any]) -> dict[str, Any]:
    """Fetch a lab order's results from the partner API; retried 2 s, 4 s, 8 s apart.

    The partner API is simulated: it fails with probability ``LAB_API_FAILURE_RATE``.
    When it answers, the patient gets an in-app notification that results are in.
    """
    log(f"GET https://labs.example.net/v2/orders/{order['order_id']}/results")
    time.sleep(0.05)  # network round trip
    if random.random() < settings.lab_api_failure_rate:
        raise LabApiUnavailable(
            f"503 Service Unavailable from labs.example.net for order {order['order_id']}")
    queue_notification({"type": "lab_results_ready", "recipient_id": order["patient_id"],
                        "title": "Lab results are ready",
                        "message": "Your lab results are in. Your doctor will review them with you.",
                        "action_url": f"/lab-orders/{order['order_id']}", "channels": ["in_app"]})
    return {"order_id": order["order_id"], "results": "received"}


# --- Periodic tasks ----------------------------------------------------------------------

@reports.periodic_task(crontab(minute="0", hour="1"), context=True)
def daily_aggregation(task: Task | None = None) -> dict[str, Any]:
    """At 01:00, roll yesterday's appointments up into the clinic's daily statistics."""
    # Two runs at once would double-count; the second one ends as "locked".
    with reports.lock_task("daily-aggregation"):
        day = dt.date.today() - dt.timedelta(days=1)
        progress(0, f"reading the ledger of {day}")
        time.sleep(0.5)  # stands in for the ledger query of a real clinic database
        stats = {"visits": 0, "completed": 0, "canceled": 0, "no_show": 0, "revenue": 0.0}
        for i, appointment in enumerate(clinic.historical_appointments(day)):
            stats["visits"] += 1
            stats[appointment["status"]] += 1
            stats["revenue"] += appointment["fee"]
            progress(min(95, 5 * (i + 1)), f"{i + 1} appointments")
        clinic.save_daily_stats(clinic_db(), day, stats)
        log(f"{day}: {stats['visits']} visits, revenue {stats['revenue']:.2f}")
    cleanup()  # then sweep old temp files and expired reports
    return {"day": day.isoformat(), **stats}


@reminders.periodic_task(crontab(minute="0"))
def follow_up_monitor() -> dict[str, int]:
    """Hourly: email a follow-up to clients whose visit was completed in the last 24 hours."""
    r = clinic_db()
    now = dt.datetime.now(dt.timezone.utc)
    queued = 0
    for appointment in clinic.appointments_between(r, now - dt.timedelta(days=1), now):
        if appointment["status"] != "completed":
            continue
        if not r.sadd("clinic:followed_up", appointment["id"]):
            continue  # already followed up
        queue_email({"to": appointment["client_email"], "subject": "How are you doing?",
                     "template": "follow-up", "priority": 2,
                     "context": {"client_name": appointment["patient_name"],
                                 "patient_name": appointment["patient_name"],
                                 "visit_date": appointment["date"], "doctor": appointment["doctor"]}})
        queued += 1
    log(f"queued {queued} follow-up emails")
    return {"follow_ups": queued}


@reminders.periodic_task(crontab(minute="*/15"))
def appointment_status_check() -> dict[str, int]:
    """Every 15 minutes: close appointments that ended and tell the front desk about them."""
    r = clinic_db()
    now = dt.datetime.now(dt.timezone.utc)
    closed = 0
    # The demo has no check-in desk, so a booked appointment that started over 30 minutes
    # ago counts as attended; a real clinic would mark no-shows here instead.
    for appointment in clinic.appointments_between(r, now - dt.timedelta(days=2),
                                                   now - dt.timedelta(minutes=30)):
        if appointment["status"] == "booked":
            clinic.set_status(r, appointment["id"], "completed")
            closed += 1
    if closed:
        queue_notification({"type": "appointments_closed", "recipient_id": "front-desk",
                            "recipient_type": "staff", "title": f"{closed} appointments closed",
                            "message": f"{closed} appointments that ended were marked completed.",
                            "channels": ["in_app"], "priority": 3})
    return {"closed": closed}


# --- Producer helpers --------------------------------------------------------------------

def queue_email(payload: dict[str, Any], *, delay: float | None = None) -> str:
    """Validate and queue an email; returns the job id. Priority 1-10, 10 runs first."""
    data = payloads.email_payload(payload)
    task = send_email.s(data, priority=data["priority"], delay=delay)
    emails.enqueue(task)
    return task.id


def queue_report(payload: dict[str, Any]) -> str:
    """Validate and queue a CSV report (``report_type``, ``date_range``, ``requested_by``)."""
    task = generate_report.s(payloads.report_payload(payload))
    reports.enqueue(task)
    return task.id


def queue_reminder(payload: dict[str, Any]) -> str:
    """Validate and queue a reminder, at ``scheduled_for`` when given (else now)."""
    data = payloads.reminder_payload(payload)
    return _enqueue_reminder(data)


def _enqueue_reminder(data: dict[str, Any]) -> str:
    task = _reminder_task(data)
    reminders.enqueue(task)
    return task.id


def _reminder_task(data: dict[str, Any]) -> Task:
    eta = dt.datetime.fromisoformat(data["scheduled_for"]) if data["scheduled_for"] else None
    return send_reminder.s(data, eta=eta)


def queue_bulk_reminders(items: list[dict[str, Any]]) -> list[str]:
    """Validate every reminder first (a bad one queues none), then queue them all in one
    round trip (``enqueue_many``: one atomic batch of up to 1,000)."""
    tasks = [_reminder_task(data) for data in payloads.bulk_reminder_payloads(items)]
    reminders.enqueue_many(tasks)
    return [t.id for t in tasks]


def queue_notification(payload: dict[str, Any]) -> str:
    """Validate and queue a notification (channels: push, in_app, email)."""
    task = _notification_task(payloads.notification_payload(payload))
    notifications.enqueue(task)
    return task.id


def queue_bulk_notifications(items: list[dict[str, Any]]) -> list[str]:
    """Validate every notification first (a bad one queues none), then queue them all in
    one round trip (``enqueue_many``)."""
    tasks = [_notification_task(data) for data in payloads.bulk_notification_payloads(items)]
    notifications.enqueue_many(tasks)
    return [t.id for t in tasks]


def _notification_task(data: dict[str, Any]) -> Task:
    # A push-only notice ("your appointment starts in 15 minutes") is worthless an hour
    # late: let it expire rather than buzz a phone after the fact.
    expires = 600 if data["channels"] == ["push"] else None
    return send_notification.s(data, priority=data["priority"], expires=expires)


def queue_export(payload: dict[str, Any]) -> str:
    """Validate and queue a data export (patients, appointments or invoices)."""
    task = export_data.s(payloads.export_payload(payload))
    reports.enqueue(task)
    return task.id


def queue_lab_sync(order_id: str, patient_id: str) -> str:
    """Queue a fetch of a lab order's results from the (flaky) partner API."""
    checker = {"order_id": order_id, "patient_id": patient_id}
    for field, value in checker.items():
        if not isinstance(value, str) or not payloads._ID_RE.match(value):
            raise InvalidPayload("lab sync", field, f"{value!r} is not an id")
    task = sync_lab_results.s(checker)
    notifications.enqueue(task)
    return task.id
