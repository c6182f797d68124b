"""Build the clinic's CSV reports and data exports.

``financial`` has one row per day (visits, revenue by payment method); ``appointments`` has
one row per appointment. Rows come from :func:`demo.clinic.historical_appointments`; the
``REPORT_SECONDS_PER_DAY`` pause stands in for the database query a real clinic would run
per day, so progress bars in the dashboard have something to show.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import clinic

Progress = Callable[[int, str], None]

FINANCIAL_COLUMNS = ("date", "visits", "completed", "canceled", "no_show", "revenue",
                     "card", "cash", "insurance", "bank_transfer")
APPOINTMENT_COLUMNS = ("id", "date", "time", "patient", "doctor", "visit_type", "status", "fee",
                       "payment_method")


class LedgerUnavailable(RuntimeError):
    """The ledger has no data for part of the range (before the clinic opened)."""


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def write_report(payload: dict[str, Any], dest_dir: Path, name: str, *,
                 seconds_per_day: float, progress: Progress) -> tuple[Path, int]:
    """Write the report CSV to ``dest_dir/name``; returns the path and the number of rows."""
    start = dt.date.fromisoformat(payload["date_range"]["start"])
    end = dt.date.fromisoformat(payload["date_range"]["end"])
    if payload["report_type"] == "financial" and start < clinic.OPENED:
        # A data-dependent failure the producer cannot check: the job fails with a traceback.
        raise LedgerUnavailable(
            f"no ledger before {clinic.OPENED.isoformat()} (the clinic opened that day); "
            f"asked for {start.isoformat()}..{end.isoformat()}")
    days = _days(start, end)
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / name
    tmp = path.with_suffix(".partial")
    rows = 0
    step = max(1, len(days) // 20)  # about 20 progress updates whatever the range
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        if payload["report_type"] == "financial":
            writer = csv.DictWriter(f, fieldnames=FINANCIAL_COLUMNS)
            writer.writeheader()
            for i, day in enumerate(days):
                writer.writerow(_financial_row(day))
                rows += 1
                if seconds_per_day:
                    time.sleep(seconds_per_day)
                if i % step == 0:
                    progress(int(100 * (i + 1) / len(days)), f"{day.isoformat()} done")
        else:
            writer = csv.DictWriter(f, fieldnames=APPOINTMENT_COLUMNS)
            writer.writeheader()
            for i, day in enumerate(days):
                for appointment in clinic.historical_appointments(day):
                    writer.writerow(appointment)
                    rows += 1
                if seconds_per_day:
                    time.sleep(seconds_per_day)
                if i % step == 0:
                    progress(int(100 * (i + 1) / len(days)), f"{day.isoformat()}: {rows} rows so far")
    os.replace(tmp, path)  # the download link never serves a half-written file
    return path, rows


def _financial_row(day: dt.date) -> dict[str, Any]:
    row: dict[str, Any] = {c: 0 for c in FINANCIAL_COLUMNS}
    row["date"] = day.isoformat()
    for appointment in clinic.historical_appointments(day):
        row["visits"] += 1
        row[appointment["status"]] += 1
        if appointment["status"] == "completed":
            row["revenue"] += appointment["fee"]
            row[appointment["payment_method"].replace(" ", "_")] += appointment["fee"]
    return row


def write_export(payload: dict[str, Any], dest_dir: Path, name: str,
                 progress: Progress) -> tuple[Path, int]:
    """Write a data export (patients, appointments of the last 90 days, or invoices)."""
    today = dt.date.today()
    if payload["export_type"] == "patients":
        records = list(clinic.patients())
    else:
        records = []
        for day in _days(today - dt.timedelta(days=90), today - dt.timedelta(days=1)):
            for appointment in clinic.historical_appointments(day):
                if payload["export_type"] == "appointments":
                    records.append(appointment)
                elif appointment["status"] == "completed":
                    records.append({"invoice": appointment["id"].replace("apt", "inv"),
                                    "date": appointment["date"], "patient": appointment["patient"],
                                    "amount": appointment["fee"],
                                    "payment_method": appointment["payment_method"]})
    progress(50, f"{len(records)} {payload['export_type']} records read")
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / name
    tmp = path.with_suffix(".partial")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        if payload["format"] == "json":
            json.dump(records, f, indent=1)
        elif records:
            writer = csv.DictWriter(f, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    os.replace(tmp, path)
    return path, len(records)


def remove_older_than(folder: Path, max_age_seconds: float, now: float | None = None) -> int:
    """Delete regular files in ``folder`` (not below it) older than the age; returns how many."""
    if not folder.is_dir():
        return 0
    now = time.time() if now is None else now
    removed = 0
    for entry in folder.iterdir():
        try:
            if entry.is_file() and now - entry.stat().st_mtime > max_age_seconds:
                entry.unlink()
                removed += 1
        except FileNotFoundError:  # another cleanup run got there first
            continue
    return removed
