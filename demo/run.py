"""``python -m demo``: Redis, one consumer per queue, gunicorn, a seeded history; Ctrl-C stops all.

What it starts, in order:

1. a private ``redis-server`` with its data in ``.demo/redis`` -- unless ``REDIS_URL`` or
   ``REDIS_HOST`` points at a Redis of your own;
2. the history: 90 days of small batches run on a clock set back in time
   (:mod:`demo.history`, so the charts have days to show), then a clinic's day of work
   (:mod:`demo.seed`) queued before any consumer runs; both skipped when the data folder
   already holds a recent history;
3. ``huey_consumer`` for each queue (emails, reminders and notifications with
   ``QUEUE_CONCURRENCY`` threads, reports with ``REPORTS_CONCURRENCY``);
4. gunicorn serving ``wsgi:app`` (the clinic app with jobboard at ``/admin/queues``);
5. a trickle of new bookings every few seconds so the dashboard stays alive.

On Ctrl-C (SIGINT) or SIGTERM it stops the web server and the consumers together (running
jobs get ``DEMO_GRACE_SECONDS``, default 5, to finish), then Redis, which saves its data.
Child processes run in sessions of their own so that the terminal's Ctrl-C reaches only
this launcher, which then stops them in that order.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

import redis

from jobboard.redis_server import RedisServer

from . import settings as demo_settings

ROOT = demo_settings.ROOT
QUEUES: tuple[tuple[str, str], ...] = (
    # (queue name, attribute of worker.py holding its Huey)
    ("emails", "emails"), ("reports", "reports"), ("reminders", "reminders"),
    ("notifications", "notifications"),
)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: have the kernel SIGTERM this child if the launcher itself is killed -9."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Child:
    """One process the launcher started, with its log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "ab")
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, first_signal: int, grace: float) -> None:
        """Send ``first_signal``, wait ``grace`` seconds, then SIGTERM, then SIGKILL."""
        for sig, wait in ((first_signal, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if not self.alive():
                break
            try:
                self.process.send_signal(sig)
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        self._log.close()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_http(url: str, timeout: float, children: list[Child]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited at start:\n{child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def _cli() -> str:
    """The `jobboard` command of the Python running the demo, as a person would type it."""
    script = Path(sys.executable).parent / "jobboard"
    if script.exists():
        try:
            return str(script.relative_to(Path.cwd()))
        except ValueError:
            return str(script)
    return "jobboard"


def _traffic(stop: threading.Event, interval: float) -> None:
    """New bookings, reminders and lab syncs every few seconds, as a clinic would produce."""
    import worker
    from demo import clinic

    rng = random.Random()
    r = worker.clinic_db()
    while not stop.wait(interval * rng.uniform(0.5, 1.5)):
        try:
            patient = clinic.patient_name(rng)
            email = f"{patient.lower().replace(' ', '.')}@example.org"
            if rng.random() < 0.03:
                email = email.replace("example.org", "exmaple.invalid")  # a typo: it bounces
            start = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=rng.randint(1, 14))
            appointment = clinic.book(
                r, patient_name=patient, client_email=email, client_phone=None,
                date=start.date(), time_of_day=f"{rng.randint(8, 17):02d}:30",
                reason="check-up", doctor=rng.choice(clinic.DOCTORS))
            worker.queue_email({"to": email, "subject": "Appointment confirmed",
                                "template": "appointment-confirmation", "priority": 8,
                                "context": {"client_name": patient, "patient_name": patient,
                                            "appointment_date": appointment["date"],
                                            "appointment_time": appointment["time"]}})
            worker.queue_notification({"type": "appointment_confirmed",
                                       "recipient_id": appointment["client_id"],
                                       "title": "Appointment confirmed",
                                       "message": f"See you on {appointment['date']}.",
                                       "channels": ["in_app", "push"]})
            if rng.random() < 0.2:
                worker.queue_lab_sync(f"lab-{rng.randint(30000, 99999)}", appointment["client_id"])
            if rng.random() < 0.1:
                today = dt.date.today()
                worker.queue_report({"report_type": "appointments", "requested_by": "reception",
                                     "date_range": {"start": today - dt.timedelta(days=30),
                                                    "end": today - dt.timedelta(days=1)}})
        except redis.exceptions.RedisError:
            continue  # Redis restarting or stopping: try again on the next tick


#: Where the embedded Redis listens unless DEMO_REDIS_PORT says otherwise: a fixed port,
#: so the README's `jobboard --redis-url ...` lines work as printed (not 6379: that may be
#: a Redis of your own).
DEFAULT_REDIS_PORT = 6390


def _redis_port() -> int | None:
    """DEMO_REDIS_PORT, else DEFAULT_REDIS_PORT when free, else None (any free port)."""
    if os.environ.get("DEMO_REDIS_PORT"):
        return int(os.environ["DEMO_REDIS_PORT"])
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", DEFAULT_REDIS_PORT))
        except OSError:
            say(f"port {DEFAULT_REDIS_PORT} is taken: the embedded Redis picks a free one "
                "(see the banner, or set DEMO_REDIS_PORT)")
            return None
    return DEFAULT_REDIS_PORT


def say(*parts: object) -> None:
    """print(), flushed, that survives a closed output: with `demo.sh | tee log`, Ctrl-C
    kills tee too, and a BrokenPipeError here must not cut the shutdown short."""
    try:
        print(*parts, flush=True)
    except (BrokenPipeError, OSError):
        # Nobody reads any more: send the rest (and the interpreter's final flush) nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=env.get("DEMO_HOST", "127.0.0.1"),
                        help="address gunicorn listens on (DEMO_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(env.get("DEMO_PORT") or 8000),
                        help="port of the web app (DEMO_PORT, default 8000)")
    parser.add_argument("--seed-jobs", type=int, default=int(env.get("DEMO_SEED_JOBS") or 3000),
                        help="size of the seeded history (DEMO_SEED_JOBS, default 3000; 0: none)")
    parser.add_argument("--reseed", action="store_true",
                        help="seed even if the data folder already holds a recent history")
    parser.add_argument("--no-traffic", action="store_true",
                        default=demo_settings.env_flag("DEMO_NO_TRAFFIC"),
                        help="do not generate new bookings every few seconds (DEMO_NO_TRAFFIC=1)")
    parser.add_argument("--exit-after", type=float, default=float(env.get("DEMO_EXIT_AFTER") or 0),
                        help="stop by itself after this many seconds (DEMO_EXIT_AFTER; 0: run "
                             "until Ctrl-C)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["DEMO_PORT"] = str(args.port)
    os.environ["DEMO_HOST"] = args.host
    settings = demo_settings.load()
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    server: RedisServer | None = None
    children: list[Child] = []
    traffic: threading.Thread | None = None
    exit_code = 0
    try:
        if not demo_settings.external_redis_configured():
            server = RedisServer(data_dir=settings.data_dir / "redis", port=_redis_port(),
                                 persist=True).start()
            os.environ["REDIS_URL"] = server.url
            redis_note = f"{server.url} (embedded, data in {settings.data_dir / 'redis'})"
        else:
            redis_note = demo_settings.redis_display_url()
        demo_settings.redis_client().ping()

        if args.seed_jobs > 0 and not stop.is_set():
            from demo import seed

            if args.reseed or not seed.already_seeded(demo_settings.redis_client()):
                from demo import history

                say("running 90 days of history (for the 24h / 7d / 90d charts)...")
                history.backfill()
                say(f"seeding about {args.seed_jobs} jobs...")
                seed.seed(args.seed_jobs)
            else:
                say("history already seeded in this data folder (use --reseed to add more)")

        env = dict(os.environ)
        # The checkout's own code first, whatever is installed in site-packages.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        for queue, attr in QUEUES:
            children.append(Child(
                f"consumer {queue}",
                [sys.executable, "-m", "huey.bin.huey_consumer", f"worker.{attr}",
                 "-k", "thread", "-w", str(settings.concurrency(queue)), "--flush-locks"],
                env, logs / f"consumer-{queue}.log"))
        children.append(Child("web", [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
                              env, logs / "web.log"))
        base = f"http://{args.host}:{args.port}"
        _wait_http(f"{base}/healthz", 60, children)

        if not args.no_traffic:
            traffic = threading.Thread(target=_traffic, args=(stop, 3.0), daemon=True, name="traffic")
            traffic.start()

        password = os.environ.get("DEMO_PASSWORD") or "riverside-demo"
        prefix = os.environ.get("JOBBOARD_URL_PREFIX", "/admin/queues").rstrip("/")
        say(
            "\njobboard demo is running\n"
            f"  dashboard:  {base}{prefix}/\n"
            f"  clinic app: {base}/   (book an appointment to queue jobs)\n"
            f"  sign in:    admin / {password}   (reception = operator, doctor = viewer)\n"
            f"  redis:      {redis_note}\n"
            f"  cli:        {_cli()} --redis-url {os.environ['REDIS_URL'] if server else demo_settings.redis_display_url()} stats\n"
            f"  emails:     {settings.outbox_dir}/*.eml\n"
            f"  logs:       {logs}/\n"
            "Press Ctrl-C to stop.\n")

        deadline = time.monotonic() + args.exit_after if args.exit_after else None
        while not stop.wait(0.5):
            if deadline and time.monotonic() > deadline:
                break
            dead = [c for c in children if not c.alive()]
            if dead:
                for child in dead:
                    say(f"{child.name} exited unexpectedly:\n{child.tail()}")
                exit_code = 1
                break
    except Exception as exc:  # noqa: BLE001 - report any start-up failure, then clean up
        try:
            print(f"demo failed: {exc}", file=sys.stderr, flush=True)
        except OSError:
            pass
        exit_code = 1
    finally:
        # A second Ctrl-C while stopping must not leave orphans behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        say("stopping...")
        stop.set()
        if traffic is not None:
            traffic.join(5)
        grace = float(os.environ.get("DEMO_GRACE_SECONDS", "5"))
        # All at once, Redis last. gunicorn: SIGTERM is its graceful stop. Huey: SIGINT is
        # the graceful one (running jobs get `grace` seconds to finish), SIGTERM immediate.
        threads = [threading.Thread(target=c.stop, args=(signal.SIGTERM, 10) if c.name == "web"
                                    else (signal.SIGINT, grace)) for c in children]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if server is not None:
            server.stop()
        say("stopped cleanly" if exit_code == 0 else "stopped")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
