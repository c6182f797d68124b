"""An example host app: the clinic's own pages and login, with jobboard at /admin/queues.

Serve it with ``gunicorn wsgi:app`` (settings in ``gunicorn.conf.py``). The part a Flask
developer copies into their own app is three lines in :func:`create_app`::

    from jobboard import JobBoard
    app.config["JOBBOARD_AUTHORIZE"] = lambda user: user.jobboard_role   # or None: no access
    JobBoard(app, hueys=worker.HUEYS)

Everything else here is the clinic: booking an appointment queues the confirmation email,
an in-app notification and a reminder without waiting for any of them.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from flask import (Flask, abort, flash, jsonify, redirect, render_template, request,
                   send_from_directory, session, url_for)
from flask_login import (LoginManager, UserMixin, current_user, login_required, login_user,
                         logout_user)
from werkzeug.security import check_password_hash, generate_password_hash

from jobboard import JobBoard

import worker
from demo import clinic, payloads
from demo import settings as demo_settings
from demo.payloads import InvalidPayload

log = logging.getLogger("clinic")

TEMPLATES = Path(__file__).resolve().parent / "demo" / "templates" / "site"

# The clinic's staff: username -> (display name, email, jobboard role). Their jobboard
# role decides what they may do on the dashboard: viewer reads, operator retries and
# pauses, admin may also remove and empty.
STAFF: dict[str, tuple[str, str, str]] = {
    "admin": ("Alex Morgan (practice manager)", "alex.morgan@riverside-clinic.example", "admin"),
    "reception": ("Rita Diaz (front desk)", "rita.diaz@riverside-clinic.example", "operator"),
    "doctor": ("Dr. Lee", "dr.lee@riverside-clinic.example", "viewer"),
}
DEFAULT_PASSWORD = "riverside-demo"


class StaffUser(UserMixin):
    """A signed-in member of staff (flask-login user)."""

    def __init__(self, username: str) -> None:
        self.id = username
        self.name, self.email, self.jobboard_role = STAFF[username]


def _secret_key(data_dir: Path) -> str:
    """SECRET_KEY from the environment, else one kept in the demo's data folder.

    Every gunicorn worker must sign sessions with the same key, so a random key per process
    will not do; the first process to start creates the file, the others read it.
    """
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret_key"
    if not path.exists():
        tmp = data_dir / f"secret_key.{os.getpid()}"
        tmp.write_text(secrets.token_hex(32))
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # atomic "create if absent": exactly one process wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def _api_tokens(raw: str) -> dict[str, str]:
    """``JOBBOARD_API_TOKENS="token1:operator,token2:viewer"`` -> {token: role}."""
    tokens = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        token, sep, role = item.rpartition(":")
        if not sep or not token:
            raise ValueError("JOBBOARD_API_TOKENS must look like 'token:role,token:role'")
        tokens[token] = role
    return tokens


def jobboard_config_from_env() -> dict[str, Any]:
    """The ``JOBBOARD_*`` keys that are set in the environment, parsed."""
    config: dict[str, Any] = {}
    if os.environ.get("JOBBOARD_URL_PREFIX"):
        config["JOBBOARD_URL_PREFIX"] = os.environ["JOBBOARD_URL_PREFIX"]
    if os.environ.get("JOBBOARD_POLL_SECONDS"):
        config["JOBBOARD_POLL_SECONDS"] = float(os.environ["JOBBOARD_POLL_SECONDS"])
    if os.environ.get("JOBBOARD_READ_ONLY"):
        config["JOBBOARD_READ_ONLY"] = demo_settings.env_flag("JOBBOARD_READ_ONLY")
    if os.environ.get("JOBBOARD_API_TOKENS"):
        config["JOBBOARD_API_TOKENS"] = _api_tokens(os.environ["JOBBOARD_API_TOKENS"])
    return config


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the clinic app; ``config`` overrides settings (tests use it)."""
    settings = demo_settings.load()
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=None)
    app.config.update(
        SECRET_KEY=_secret_key(settings.data_dir),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=demo_settings.env_flag("SESSION_COOKIE_SECURE"),
        DEMO_PASSWORD=os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD,
    )
    app.config.update(jobboard_config_from_env())
    app.config.update(config or {})
    app.extensions["clinic.settings"] = settings
    app.extensions["clinic.redis"] = demo_settings.redis_client()
    # One hash per user, computed once: checking a password costs a hash, so should storing.
    app.extensions["clinic.passwords"] = {
        name: generate_password_hash(app.config["DEMO_PASSWORD"]) for name in STAFF}

    login_manager = LoginManager(app)
    login_manager.login_view = "login"
    login_manager.login_message = "Please sign in to continue."

    @login_manager.user_loader
    def load_user(user_id: str) -> StaffUser | None:
        return StaffUser(user_id) if user_id in STAFF else None

    _mount_jobboard(app)
    _register_routes(app)
    return app


def _mount_jobboard(app: Flask) -> None:
    """Mount the dashboard; the clinic's own login decides who gets in, and as what."""
    # jobboard asks the host app which role the signed-in user has (None: no access).
    app.config.setdefault("JOBBOARD_AUTHORIZE",
                          lambda user: getattr(user, "jobboard_role", None))
    JobBoard(app, hueys=worker.HUEYS)


def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _is_local(target: str | None) -> bool:
    """Only same-site paths are valid ``next`` targets (no open redirect)."""
    if not target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and target.startswith("/") \
        and not target.startswith("//")


def _register_routes(app: Flask) -> None:
    app.jinja_env.globals["csrf_token"] = _csrf_token

    @app.context_processor
    def inject() -> dict[str, Any]:
        # url_for keeps a reverse proxy's path prefix (SCRIPT_NAME) in the link.
        return {"jobboard_url": url_for("jobboard.overview"),
                "now": dt.datetime.now(dt.timezone.utc)}

    @app.before_request
    def check_csrf() -> None:
        # The clinic's own forms; jobboard checks its own POSTs.
        if request.method == "POST" and not request.path.startswith(
                app.config.get("JOBBOARD_URL_PREFIX", "/admin/queues")):
            sent = request.form.get("csrf_token", "")
            if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
                abort(400, "The form expired or came from another site; reload the page and retry.")

    def r() -> redis.Redis:
        return app.extensions["clinic.redis"]

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        error = None
        if request.method == "POST":
            username = request.form.get("username", "").strip().lower()
            password = request.form.get("password", "")
            hashed = app.extensions["clinic.passwords"].get(username)
            if hashed and check_password_hash(hashed, password):
                session.pop("csrf", None)  # new session, new token
                login_user(StaffUser(username))
                target = request.args.get("next")
                return redirect(target if _is_local(target) else url_for("home"))
            error = "Unknown user or wrong password."
        return render_template("login.html", error=error, users=STAFF), 401 if error else 200

    @app.post("/logout")
    def logout() -> Any:
        logout_user()
        return redirect(url_for("login"))

    @app.get("/")
    @login_required
    def home() -> Any:
        upcoming = clinic.appointments_between(
            r(), dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2),
            dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30), limit=20)
        return render_template("home.html", upcoming=upcoming,
                               inbox=clinic.inbox(r(), "front-desk", limit=10))

    @app.route("/appointments/new", methods=["GET", "POST"])
    @login_required
    def book() -> Any:
        form = request.form
        if request.method == "GET":
            tomorrow = dt.date.today() + dt.timedelta(days=1)
            return render_template("book.html", form={"date": tomorrow.isoformat(), "time": "10:00"},
                                   doctors=clinic.DOCTORS, errors=None)
        try:
            appointment, jobs = book_appointment(r(), form)
        except InvalidPayload as exc:
            return render_template("book.html", form=form, doctors=clinic.DOCTORS,
                                   errors=[str(exc)]), 400
        flash(f"Booked {appointment['patient_name']} on {appointment['date']} at "
              f"{appointment['time']}. Queued: " + ", ".join(f"{k} job {v}" for k, v in jobs.items()))
        return redirect(url_for("appointment", appointment_id=appointment["id"]))

    @app.get("/appointments/<appointment_id>")
    @login_required
    def appointment(appointment_id: str) -> Any:
        found = clinic.get(r(), appointment_id)
        if found is None:
            abort(404)
        return render_template("appointment.html", appointment=found,
                               inbox=clinic.inbox(r(), found["client_id"]))

    @app.post("/appointments/<appointment_id>/cancel")
    @login_required
    def cancel(appointment_id: str) -> Any:
        if clinic.set_status(r(), appointment_id, "canceled") is None:
            abort(404)
        # The reminder stays queued: when it comes due it sees the cancellation and ends
        # as "canceled" in jobboard instead of texting the client.
        flash(f"Appointment {appointment_id} canceled; its reminder will not be sent.")
        return redirect(url_for("appointment", appointment_id=appointment_id))

    @app.route("/reports", methods=["GET", "POST"])
    @login_required
    def reports_page() -> Any:
        settings = app.extensions["clinic.settings"]
        errors = []
        if request.method == "POST":
            try:
                if request.form.get("kind") == "export":
                    job = worker.queue_export({"export_type": request.form.get("export_type"),
                                               "format": request.form.get("format", "csv"),
                                               "requested_by": current_user.id,
                                               "email": current_user.email})
                else:
                    job = worker.queue_report({
                        "report_type": request.form.get("report_type"),
                        "date_range": {"start": request.form.get("start"),
                                       "end": request.form.get("end")},
                        "requested_by": current_user.id,
                        "email": current_user.email if request.form.get("email_me") else None})
                flash(f"Queued job {job}; the file appears below when it is done.")
                return redirect(url_for("reports_page"))
            except InvalidPayload as exc:
                errors.append(str(exc))
        files = sorted((p for p in settings.reports_dir.glob("*") if p.suffix in (".csv", ".json")),
                       key=lambda p: p.stat().st_mtime, reverse=True)[:30] \
            if settings.reports_dir.is_dir() else []
        today = dt.date.today()
        return render_template("reports.html", files=files, errors=errors,
                               start=(today.replace(day=1) - dt.timedelta(days=1)).replace(day=1),
                               end=today.replace(day=1) - dt.timedelta(days=1)), 400 if errors else 200

    @app.get("/reports/<path:name>")
    @login_required
    def download_report(name: str) -> Any:
        return send_from_directory(app.extensions["clinic.settings"].reports_dir, name,
                                   as_attachment=True)

    @app.post("/integrations/lab-sync")
    @login_required
    def lab_sync() -> Any:
        job = worker.queue_lab_sync(f"lab-{secrets.randbelow(90000) + 10000}", "front-desk")
        flash(f"Queued lab results sync as job {job}; the partner API is flaky, so watch it "
              "retry after 2 s, 4 s and 8 s in jobboard.")
        return redirect(url_for("home"))

    @app.get("/notifications")
    @login_required
    def notifications_page() -> Any:
        return render_template("notifications.html", inbox=clinic.inbox(r(), "front-desk"),
                               recent=clinic.recent_appointments(r(), limit=10))

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            r().ping()
        except redis.exceptions.RedisError as exc:
            return jsonify(status="unavailable", redis=str(exc)), 503
        return jsonify(status="ok", redis="ok")


def book_appointment(r: redis.Redis, form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate the booking form, store the appointment, queue its jobs (without waiting).

    Returns the appointment and ``{kind: job id}`` for what was queued. Invalid input raises
    :class:`InvalidPayload` before anything is stored.
    """
    try:
        date = dt.date.fromisoformat(form.get("date", ""))
        time_of_day = dt.time.fromisoformat(form.get("time", "")).strftime("%H:%M")
    except ValueError:
        raise InvalidPayload("booking", "date/time", "give a date (YYYY-MM-DD) and a time (HH:MM)") from None
    patient = (form.get("patient_name") or "").strip()
    email = (form.get("client_email") or "").strip()
    phone = (form.get("client_phone") or "").strip() or None
    doctor = form.get("doctor") or clinic.DOCTORS[0]
    if not patient:
        raise InvalidPayload("booking", "patient_name", "is required")
    if doctor not in clinic.DOCTORS:
        raise InvalidPayload("booking", "doctor", f"{doctor!r} does not work here")
    context = {"client_name": patient, "patient_name": patient, "appointment_date": date.isoformat(),
               "appointment_time": time_of_day, "doctor": doctor}
    email_payload = {"to": email, "subject": "Appointment confirmed",
                     "template": "appointment-confirmation", "context": context, "priority": 8}
    payloads.email_payload(email_payload)  # refuse a bad address before storing anything
    if phone:
        payloads.reminder_payload({"type": "appointment", "recipient_id": "check",
                                   "recipient_phone": phone, "channel": "sms", "message": "check"})

    appointment = clinic.book(r, patient_name=patient, client_email=email, client_phone=phone,
                              date=date, time_of_day=time_of_day,
                              reason=(form.get("reason") or "check-up").strip()[:200], doctor=doctor)
    jobs: dict[str, str] = {}
    # As in the seeds' PatientService: queueing must not fail the booking. If Redis is
    # down the appointment stands and the error is logged for someone to follow up.
    try:
        jobs["email"] = worker.queue_email(email_payload)
        jobs["notification"] = worker.queue_notification({
            "type": "appointment_confirmed", "recipient_id": appointment["client_id"],
            "title": "Appointment confirmed",
            "message": f"Your appointment is confirmed for {date:%b %d} at {time_of_day}.",
            "action_url": f"/appointments/{appointment['id']}", "channels": ["in_app", "push"],
            "priority": 5})
        starts = clinic.starts_at(appointment)
        now = dt.datetime.now(dt.timezone.utc)
        remind_at = starts - dt.timedelta(hours=24)
        if remind_at < now:
            remind_at = starts - dt.timedelta(hours=1)
        if remind_at > now:
            jobs["reminder"] = worker.queue_reminder({
                "type": "appointment", "recipient_id": appointment["client_id"],
                "recipient_email": email, "recipient_phone": phone,
                "channel": "both" if phone else "email", "appointment_id": appointment["id"],
                "message": f"Reminder: {patient} has an appointment with {doctor} on "
                           f"{date:%b %d} at {time_of_day}.",
                "scheduled_for": remind_at})
    except redis.exceptions.RedisError:
        log.exception("could not queue the jobs of appointment %s", appointment["id"])
    return appointment, jobs


app = create_app()
