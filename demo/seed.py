"""Fill the demo with a realistic job history by really running a clinic's day of work.

Nothing is written into jobboard's keys directly: the seeder only *produces* jobs through
the same Huey instances and helpers the clinic app uses, before the consumers start, and
the consumers then run them. So every record, attempt, traceback and metric in the
dashboard is what jobboard really recorded. The mix is chosen so every state shows up:

- completed: most emails, notifications, reminders, reports;
- failed with tracebacks: bounced emails (``.invalid`` domains), SMS to invalid numbers,
  financial reports before the clinic opened, the flaky lab API running out of retries;
- scheduled: reminders for the coming days, and retries waiting out their backoff;
- waiting / active: a batch of year-long reports the 2-worker reports queue chews through;
- revoked, expired, canceled, locked, rate_limited: a revoked reminder, push notices that
  expired before a consumer got to them, reminders of canceled appointments, a second
  daily aggregation while the first holds the lock, SMS bursts with no retry left;
- periodic runs: each periodic task queued a few times, as if their schedules had fired.

Because it all really runs when the demo starts, these timestamps are the last few
minutes; :mod:`demo.history` runs the days before (on a clock set back in time) first.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

import redis

from . import clinic

SEEDED_KEY = "clinic:seeded"
SEED_TTL = 6 * 3600  # re-seed a demo left idle for longer than this (retention trims jobs)


def already_seeded(r: redis.Redis) -> bool:
    return bool(r.exists(SEEDED_KEY))


def seed(total: int = 3000, *, rng_seed: int = 7, verbose: bool = True) -> dict[str, int]:
    """Queue about ``total`` jobs across the four queues; returns how many of each kind.

    Call before the consumers start: expiring push notices must age in the queue first.
    """
    import worker  # imported late: REDIS_URL must be set before worker connects

    rng = random.Random(rng_seed)
    r = worker.clinic_db()
    started = time.monotonic()
    counts: dict[str, int] = {}

    def bump(kind: str, n: int = 1) -> None:
        counts[kind] = counts.get(kind, 0) + n

    now = dt.datetime.now(dt.timezone.utc)

    # Push notices with a one-second expiry, queued first so they are stale by the time
    # the notifications consumer starts: they end as "expired", never buzzing a phone late.
    for i in range(max(3, total // 200)):
        task = worker.send_notification.s(
            _notification(rng, f"client-{rng.randint(1, 400)}", ["push"]), expires=1)
        worker.notifications.enqueue(task)
        bump("notification (expires)")

    # Appointments: past ones (the status check and follow-up monitor find them) and
    # upcoming ones (with reminders scheduled for the day before).
    appointments = []
    for i in range(max(10, total // 60)):
        day_offset = rng.randint(-1, 6)
        start = (now + dt.timedelta(days=day_offset)).replace(
            hour=rng.randint(8, 17), minute=rng.choice((0, 15, 30, 45)), second=0, microsecond=0)
        patient = clinic.patient_name(rng)
        appointments.append(clinic.book(
            r, patient_name=patient, client_email=_email(patient, i),
            client_phone=f"+1555{rng.randint(1000000, 9999999)}", date=start.date(),
            time_of_day=start.strftime("%H:%M"), reason=rng.choice(clinic.VISIT_TYPES)[0],
            doctor=rng.choice(clinic.DOCTORS)))
    canceled = set()
    for appointment in rng.sample(appointments, k=max(2, len(appointments) // 8)):
        clinic.set_status(r, appointment["id"], "canceled")
        canceled.add(appointment["id"])

    n_emails = int(total * 0.45)
    n_reminders = int(total * 0.25)
    n_notifications = int(total * 0.18)

    for i in range(n_emails):
        appointment = rng.choice(appointments)
        kind = rng.choices(("confirmation", "reminder", "follow-up", "bounce"), weights=(50, 25, 22, 3))[0]
        to = appointment["client_email"]
        if kind == "bounce":
            # A typo'd domain: the relay refuses it on every attempt. One quick retry here so
            # the failure is final within seconds (the task's own default is 3: 2 s, 4 s, 8 s).
            to = to.split("@")[0] + "@riverside-mail.invalid"
        payload = _email_payload(kind, appointment, to, priority=rng.choice((2, 5, 5, 5, 8, 10)))
        if kind == "bounce" and i % 4:
            worker.emails.enqueue(worker.send_email.s(
                worker.payloads.email_payload(payload), retries=1, retry_delay=1,
                priority=payload["priority"]))
        else:
            worker.queue_email(payload)
        bump(f"email ({kind})")

    # An SMS campaign sent with no retries, queued ahead of the other reminders so it goes
    # out in the consumer's first second: whatever exceeds the gateway's per-second rate
    # limit (SMS_RATE_LIMIT) ends as "rate_limited" instead of being retried.
    for i in range(max(30, total // 75)):
        appointment = rng.choice(appointments)
        data = worker.payloads.reminder_payload({
            "type": "medication", "recipient_id": appointment["client_id"], "channel": "sms",
            "recipient_phone": appointment["client_phone"],
            "message": "Flu season: your vaccination is due. Reply BOOK to schedule."})
        worker.reminders.enqueue(worker.send_reminder.s(data, retries=0))
        bump("reminder (sms campaign, no retry)")

    bulk: list[dict[str, Any]] = []
    for i in range(n_reminders):
        appointment = rng.choice(appointments)
        channel = rng.choices(("email", "sms", "both"), weights=(50, 30, 20))[0]
        phone = appointment["client_phone"]
        if channel != "email" and rng.random() < 0.04:
            phone = "+999" + phone[4:]  # no such country code: the gateway refuses it
        starts = clinic.starts_at(appointment)
        scheduled_for = None
        if starts - dt.timedelta(hours=24) > now and rng.random() < 0.6:
            scheduled_for = (starts - dt.timedelta(hours=24)).isoformat()
        item = {
            "type": rng.choices(("appointment", "medication"), weights=(80, 20))[0],
            "recipient_type": "client", "recipient_id": appointment["client_id"],
            "recipient_email": appointment["client_email"], "recipient_phone": phone,
            "channel": channel, "appointment_id": appointment["id"],
            "message": _reminder_message(rng, appointment), "scheduled_for": scheduled_for,
        }
        if appointment["id"] in canceled and scheduled_for is None:
            bump("reminder (appointment canceled)")
        bulk.append(item)
        if len(bulk) == 100:
            worker.queue_bulk_reminders(bulk)
            bulk = []
        bump("reminder")
    if bulk:
        worker.queue_bulk_reminders(bulk)

    # Reminders revoked by staff before they ran (the appointment was moved by phone).
    for i in range(max(3, total // 300)):
        appointment = rng.choice(appointments)
        data = worker.payloads.reminder_payload({
            "type": "appointment", "recipient_id": appointment["client_id"], "channel": "email",
            "recipient_email": appointment["client_email"], "appointment_id": appointment["id"],
            "message": _reminder_message(rng, appointment)})
        task = worker.send_reminder.s(data, delay=2)
        worker.reminders.enqueue(task)
        worker.reminders.revoke_by_id(task.id)
        bump("reminder (revoked)")

    notices: list[dict[str, Any]] = []
    for i in range(n_notifications):
        appointment = rng.choice(appointments)
        channels = rng.choice((["in_app"], ["in_app", "push"], ["in_app", "push"], ["push"], ["in_app", "email"]))
        payload = _notification(rng, appointment["client_id"], channels)
        if "email" in channels:
            payload["recipient_email"] = appointment["client_email"]
        notices.append(payload)
        if len(notices) == 100:
            worker.queue_bulk_notifications(notices)
            notices = []
        bump("notification")
    if notices:
        worker.queue_bulk_notifications(notices)

    # The flaky lab partner API: about half of the calls fail; retries at 2 s, 4 s, 8 s.
    for i in range(max(10, total // 60)):
        worker.queue_lab_sync(f"lab-{20000 + i}", rng.choice(appointments)["client_id"])
        bump("lab sync")

    # Two daily aggregations at once, ahead of every report (priority 10): both reports
    # workers take one, and the second finds the lock held and ends as "locked".
    for i in range(2):
        worker.reports.enqueue(worker.daily_aggregation.s(priority=10))
    bump("daily aggregation", 2)

    # Reports: many small ones (done quickly), a few before the clinic opened (they fail),
    # and a month-end batch of year-long ones that keeps the reports queue busy a while.
    today = dt.date.today()
    for i in range(max(20, total // 50)):
        start = today - dt.timedelta(days=rng.randint(7, 700))
        worker.queue_report({"report_type": rng.choice(("financial", "appointments")),
                             "date_range": {"start": start, "end": start + dt.timedelta(days=rng.randint(0, 6))},
                             "requested_by": rng.choice(("admin", "reception", "doctor")),
                             "email": "alex.morgan@riverside-clinic.example" if i % 3 == 0 else None})
        bump("report")
    for i in range(3):
        worker.queue_report({"report_type": "financial",
                             "date_range": {"start": dt.date(2019, 10, 1), "end": dt.date(2020, 3, 31)},
                             "requested_by": "admin"})
        bump("report (before the clinic opened)")
    for i in range(max(4, total // 400)):
        year = today.year - 1 - (i % 3)
        worker.queue_report({"report_type": ("financial", "appointments")[i % 2],
                             "date_range": {"start": dt.date(year, 1, 1), "end": dt.date(year, 12, 31)},
                             "requested_by": "admin", "email": "alex.morgan@riverside-clinic.example"})
        bump("report (year-long)")
    for export_type in ("patients", "appointments", "invoices"):
        worker.queue_export({"export_type": export_type, "format": rng.choice(("csv", "json")),
                             "requested_by": "admin", "email": "alex.morgan@riverside-clinic.example"})
        bump("export")
    worker.cleanup()
    bump("cleanup")

    # Periodic tasks, queued as their schedules would have fired, and several of them.
    for i in range(3):
        worker.follow_up_monitor()
        worker.appointment_status_check()
        bump("follow-up monitor")
        bump("appointment status check")

    # Let the push notices expire before the consumers start.
    elapsed = time.monotonic() - started
    if elapsed < 1.5:
        time.sleep(1.5 - elapsed)
    r.set(SEEDED_KEY, dt.datetime.now(dt.timezone.utc).isoformat(), ex=SEED_TTL)
    if verbose:
        print(f"seeded {sum(counts.values())} jobs in {time.monotonic() - started:.1f}s", flush=True)
    return counts


def _email(patient: str, n: int) -> str:
    return f"{patient.lower().replace(' ', '.')}.{n}@example.org"


def _email_payload(kind: str, appointment: dict[str, Any], to: str, priority: int) -> dict[str, Any]:
    base = {"client_name": appointment["patient_name"], "patient_name": appointment["patient_name"],
            "doctor": appointment["doctor"]}
    if kind == "follow-up":
        return {"to": to, "subject": "How are you doing?", "template": "follow-up", "priority": priority,
                "context": {**base, "visit_date": appointment["date"]}}
    if kind == "reminder":
        return {"to": to, "subject": "Reminder from Riverside Clinic", "template": "appointment-reminder",
                "priority": priority,
                "context": {**base, "message": f"See you on {appointment['date']} at {appointment['time']}.",
                            "appointment_date": appointment["date"], "appointment_time": appointment["time"]}}
    return {"to": to, "subject": "Appointment confirmed", "template": "appointment-confirmation",
            "priority": priority,
            "context": {**base, "appointment_date": appointment["date"], "appointment_time": appointment["time"]}}


def _reminder_message(rng: random.Random, appointment: dict[str, Any]) -> str:
    return rng.choice((
        f"Your appointment with {appointment['doctor']} is on {appointment['date']} at {appointment['time']}.",
        f"Reminder: {appointment['patient_name']} is due at Riverside Clinic on {appointment['date']}.",
        "Time for your evening dose of amoxicillin (500 mg).",
    ))


def _notification(rng: random.Random, recipient_id: str, channels: list[str]) -> dict[str, Any]:
    kind, title, message = rng.choice((
        ("appointment_confirmed", "Appointment confirmed", "Your appointment is confirmed."),
        ("appointment_soon", "Starting soon", "Your appointment starts in 15 minutes."),
        ("invoice_ready", "Invoice available", "Your invoice for the last visit is ready."),
        ("prescription_ready", "Prescription ready", "Your prescription can be collected."),
    ))
    return {"type": kind, "recipient_id": recipient_id, "recipient_type": "client", "title": title,
            "message": message, "channels": channels, "priority": rng.choice((3, 5, 5, 8))}
