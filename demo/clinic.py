"""The clinic's own data: appointments and the in-app inbox (in Redis), plus synthetic history.

The demo has no SQL database; the host app and the tasks share these few Redis keys under
``clinic:``. Past days' appointments and invoices are generated deterministically from the
date, so a report for a date range always has the same rows.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Iterator
from typing import Any

import redis

PREFIX = "clinic:"
INBOX_LENGTH = 100  # in-app notifications kept per recipient

FIRST_NAMES = ("Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
               "Kemi", "Liam", "Maya", "Noor", "Oscar", "Priya", "Quinn", "Rosa", "Sami", "Tara")
LAST_NAMES = ("Alvarez", "Brown", "Chen", "Diallo", "Evans", "Fischer", "Garcia", "Haddad",
              "Ivanova", "Jensen", "Kowalski", "Lopez", "Mensah", "Nakamura", "Okafor", "Patel")
DOCTORS = ("Dr. Lee", "Dr. Moreau", "Dr. Okoye", "Dr. Santos")
VISIT_TYPES = (("check-up", 85.0), ("vaccination", 60.0), ("follow-up", 55.0),
               ("blood test", 120.0), ("consultation", 95.0), ("minor procedure", 240.0))
PAYMENT_METHODS = ("card", "cash", "insurance", "bank transfer")
STATUSES = ("booked", "completed", "canceled", "no_show")
OPENED = dt.date(2020, 3, 2)  # no ledger before the clinic opened


def _key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def book(r: redis.Redis, *, patient_name: str, client_email: str, client_phone: str | None,
         date: dt.date, time_of_day: str, reason: str, doctor: str) -> dict[str, Any]:
    """Store a new appointment and return it (id like ``apt-1042``)."""
    number = r.incr(_key("appointment_seq"))
    appointment = {
        "id": f"apt-{number}", "patient_name": patient_name, "client_id": f"client-{number}",
        "client_email": client_email, "client_phone": client_phone, "date": date.isoformat(),
        "time": time_of_day, "reason": reason, "doctor": doctor, "status": "booked",
        "booked_at": time.time(),
    }
    pipe = r.pipeline()
    pipe.hset(_key("appointments"), appointment["id"], json.dumps(appointment))
    pipe.zadd(_key("appointments_by_time"), {appointment["id"]: starts_at(appointment).timestamp()})
    pipe.execute()
    return appointment


def starts_at(appointment: dict[str, Any]) -> dt.datetime:
    """When the appointment starts, as an aware UTC datetime (the demo clinic runs on UTC)."""
    return dt.datetime.fromisoformat(f"{appointment['date']}T{appointment['time']}").replace(
        tzinfo=dt.timezone.utc)


def get(r: redis.Redis, appointment_id: str) -> dict[str, Any] | None:
    raw = r.hget(_key("appointments"), appointment_id)
    return json.loads(raw) if raw else None


def set_status(r: redis.Redis, appointment_id: str, status: str) -> dict[str, Any] | None:
    """Change an appointment's status; returns the updated appointment, or None if unknown."""
    if status not in STATUSES:
        raise ValueError(f"unknown appointment status {status!r}; use one of {STATUSES}")
    appointment = get(r, appointment_id)
    if appointment is None:
        return None
    appointment["status"] = status
    r.hset(_key("appointments"), appointment_id, json.dumps(appointment))
    return appointment


def appointments_between(r: redis.Redis, start: dt.datetime, end: dt.datetime,
                         limit: int = 200) -> list[dict[str, Any]]:
    """Booked appointments starting in [start, end), earliest first."""
    ids = r.zrangebyscore(_key("appointments_by_time"), start.timestamp(), f"({end.timestamp()}",
                          start=0, num=limit)
    if not ids:
        return []
    return [json.loads(raw) for raw in r.hmget(_key("appointments"), ids) if raw]


def recent_appointments(r: redis.Redis, limit: int = 20) -> list[dict[str, Any]]:
    """The appointments with the latest start times, latest first."""
    ids = r.zrevrange(_key("appointments_by_time"), 0, limit - 1)
    if not ids:
        return []
    return [json.loads(raw) for raw in r.hmget(_key("appointments"), ids) if raw]


def push_inbox(r: redis.Redis, recipient_id: str, item: dict[str, Any]) -> None:
    """Add an in-app notification to a recipient's inbox, keeping the newest 100."""
    pipe = r.pipeline()
    pipe.lpush(_key("inbox", recipient_id), json.dumps(item))
    pipe.ltrim(_key("inbox", recipient_id), 0, INBOX_LENGTH - 1)
    pipe.execute()


def inbox(r: redis.Redis, recipient_id: str, limit: int = 50) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in r.lrange(_key("inbox", recipient_id), 0, limit - 1)]


def save_daily_stats(r: redis.Redis, day: dt.date, stats: dict[str, Any]) -> None:
    r.hset(_key("daily_stats"), day.isoformat(), json.dumps(stats))


def daily_stats(r: redis.Redis, day: dt.date) -> dict[str, Any] | None:
    raw = r.hget(_key("daily_stats"), day.isoformat())
    return json.loads(raw) if raw else None


# --- Synthetic history: the same rows for the same day, every time ---------------------

def patient_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def historical_appointments(day: dt.date) -> Iterator[dict[str, Any]]:
    """The appointments of a past day (closed on Sundays), generated from the date."""
    if day.weekday() == 6 or day < OPENED:
        return
    rng = random.Random(day.toordinal())
    for n in range(rng.randint(18, 42)):
        visit, fee = rng.choice(VISIT_TYPES)
        status = rng.choices(STATUSES[1:], weights=(88, 7, 5))[0]
        yield {
            "id": f"apt-{day:%Y%m%d}-{n:03d}",
            "date": day.isoformat(),
            "time": f"{rng.randint(8, 17):02d}:{rng.choice((0, 15, 30, 45)):02d}",
            "patient": patient_name(rng),
            "doctor": rng.choice(DOCTORS),
            "visit_type": visit,
            "status": status,
            "fee": fee if status == "completed" else 0.0,
            "payment_method": rng.choice(PAYMENT_METHODS),
        }


def patients(count: int = 250) -> Iterator[dict[str, Any]]:
    """The clinic's patient list (for exports)."""
    rng = random.Random(42)
    for n in range(1, count + 1):
        name = patient_name(rng)
        yield {
            "id": f"pat-{n:05d}", "name": name,
            "email": f"{name.lower().replace(' ', '.')}{n}@example.org",
            "phone": f"+1555{rng.randint(1000000, 9999999)}",
            "registered": (OPENED + dt.timedelta(days=rng.randint(0, 1500))).isoformat(),
        }
