"""The README's demo command, run on a copy of the repository in an empty folder.

This is what a newcomer does after cloning: ``./scripts/demo.sh``. The test then signs in
to the dashboard, checks the overview shows the seeded queues, books an appointment in the
host app and sees real consumers run its jobs, and finally presses Ctrl-C (SIGINT) and
checks that everything stopped.
"""

from __future__ import annotations

import http.cookiejar
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.support import csrf_from, soup

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _demo_command() -> str:
    """The demo command exactly as the README gives it (first line of its code block)."""
    text = README.read_text()
    match = re.search(r"```(?:bash|sh)\n(\./scripts/demo\.sh)\n```", text)
    assert match, "the README must show the demo command in a ```bash block"
    return match.group(1)


def _copy_repository(dest: Path) -> None:
    """The files a clone would have: tracked plus new, not ignored (no .git, .demo, venvs)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Browser:
    """A cookie-keeping HTTP client (what a person's browser does, minus JavaScript)."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, url: str) -> tuple[str, str]:
        with self.opener.open(url, timeout=15) as response:
            return response.geturl(), response.read().decode()

    def post(self, url: str, fields: dict[str, str]) -> tuple[str, str]:
        data = urllib.parse.urlencode(fields).encode()
        parts = urllib.parse.urlsplit(url)
        # Browsers send Origin with every form POST.
        request = urllib.request.Request(url, data=data,
                                         headers={"Origin": f"{parts.scheme}://{parts.netloc}"})
        with self.opener.open(request, timeout=15) as response:
            return response.geturl(), response.read().decode()


def _csrf(page: str) -> str:
    return csrf_from(page)


@pytest.mark.slow
def test_readme_demo_command_on_a_fresh_copy(tmp_path: Path) -> None:
    command = _demo_command()
    checkout = tmp_path / "clinic"
    _copy_repository(checkout)
    assert not (checkout / ".demo").exists() and not (checkout / ".git").exists()

    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDIS_", "DEMO_", "JOBBOARD_", "PYTHONPATH", "SMTP_"))}
    # Bounded, in case the test dies before its Ctrl-C: the demo then stops by itself.
    env.update(DEMO_PORT=str(port), DEMO_EXIT_AFTER="240", DEMO_GRACE_SECONDS="3")
    # Piped, as people run it to keep a log: Ctrl-C then reaches tee as well, and the demo
    # must still stop everything (it once died on the broken pipe, leaving Redis running).
    process = subprocess.Popen(
        ["bash", "-c", f"{command} 2>&1 | tee demo.log"], cwd=checkout, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace")
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + 90
        while not any("jobboard demo is running" in line for line in output):
            assert process.poll() is None, "".join(output)
            assert time.monotonic() < deadline, "demo not ready in 90 s:\n" + "".join(output)
            time.sleep(0.2)
        time.sleep(0.3)  # the rest of the banner
        banner = "".join(output)
        dashboard = re.search(r"dashboard:\s+(\S+)", banner).group(1)
        password = re.search(r"sign in:\s+admin / (\S+)", banner).group(1)
        redis_port = int(re.search(r"redis:\s+redis://127\.0\.0\.1:(\d+)", banner).group(1))
        base = f"http://127.0.0.1:{port}"
        assert dashboard == f"{base}/admin/queues/"
        assert (checkout / ".demo" / "redis").is_dir()  # the embedded Redis's data folder

        # The banner's CLI line, run exactly as printed, from the checkout: the demo's own
        # .venv has this jobboard installed, whatever else is on PATH.
        cli = re.search(r"cli:\s+(.+)", banner).group(1).strip()
        assert cli.startswith(".venv/bin/jobboard --redis-url redis://127.0.0.1:"), cli
        listed = subprocess.run(shlex.split(cli), cwd=checkout, env=env, capture_output=True,
                                text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert {"emails", "reports", "reminders", "notifications"} <= set(listed.stdout.split())

        # Anonymous: the dashboard answers with the host app's login page.
        browser = Browser()
        url, page = browser.get(dashboard)
        assert urllib.parse.urlsplit(url).path == "/login"
        assert soup(page).find("input", attrs={"type": "password"}) is not None

        # Sign in, land on the overview: the seeded queues are not empty.
        url, page = browser.post(url, {"username": "admin", "password": password,
                                       "csrf_token": _csrf(page)})
        assert url == dashboard
        rows = {tr["data-queue"]: tr for tr in soup(page).select("tr[data-queue]")}
        assert set(rows) >= {"emails", "reports", "reminders", "notifications"}
        for name, row in rows.items():
            numbers = [int(a.get_text(strip=True).replace(",", ""))
                       for a in row.select("td.num > a")]
            assert sum(numbers) > 0, f"queue {name} shows no jobs: {numbers}"

        # Book an appointment in the host app: its jobs are queued and real consumers run them.
        url, page = browser.get(f"{base}/appointments/new")
        url, page = browser.post(url, {
            "csrf_token": _csrf(page), "patient_name": "Noor Haddad",
            "client_email": "noor.haddad@example.org", "client_phone": "+15557654321",
            "date": time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400)), "time": "11:15",
            "doctor": "Dr. Okoye", "reason": "check-up"})
        assert "/appointments/apt-" in url and "Queued: email job" in page

        def in_app_notification_arrived() -> bool:
            return "Your appointment is confirmed for" in browser.get(url)[1]

        def confirmation_email() -> Path | None:
            for eml in (checkout / ".demo" / "outbox").glob("*.eml"):
                if b"noor.haddad@example.org" in eml.read_bytes():
                    return eml
            return None

        deadline = time.monotonic() + 30
        while not (in_app_notification_arrived() and confirmation_email()):
            assert time.monotonic() < deadline, "the booking's jobs did not run:\n" + "".join(output)
            time.sleep(0.3)
        message = message_from_bytes(confirmation_email().read_bytes(), policy=policy.default)
        assert message["Subject"] == "Appointment confirmed"
        assert "Noor Haddad" in message.get_body(("plain",)).get_content()
    finally:
        # Ctrl-C, as a terminal sends it: to the whole foreground group (bash, demo, tee).
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    # tee died with the Ctrl-C, so what the demo printed last went nowhere: look at what it
    # did instead. Every consumer got the graceful stop (SIGINT), none a SIGTERM.
    for log in (checkout / ".demo" / "logs").glob("consumer-*.log"):
        text = log.read_text(errors="replace")
        assert "SIGINT" in text and "SIGTERM" not in text, (log.name, text[-2000:])
    assert not _port_open(port), "gunicorn still listening"
    assert not _port_open(redis_port), "the embedded redis-server still running"
    leftovers = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if str(checkout) in os.readlink(proc / "cwd"):
                leftovers.append(proc.name)
        except OSError:
            continue
    assert not leftovers, f"processes left running in the checkout: {leftovers}"
