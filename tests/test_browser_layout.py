"""The dashboard fits every screen (issue 16), in real headless Chromium.

Every page at 1280x800, 1440x900 and a 390x844 phone, light and dark: no horizontal
scroll of the document or of any table; on the phone, job rows are stacked cards with
their state, counts and actions on screen. Also: a failed row expands in place to its
trace, a 2 KB argument is shown whole as JSON, the scheduled tab lists the soonest first,
and an axe-core scan of every page finds no serious or critical violation.

Screenshots of every page and viewport go to test-artifacts/ (``fit-*.png``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from huey.exceptions import CancelExecution, RateLimitExceeded
from tests.support import (
    FLAKY, PASSWORD, PREFIX, TOKENS, USERS, RunningConsumer, make_huey, wait_for,
)
from werkzeug.serving import make_server

from jobboard import JobBoard
from jobboard.board import Board
from jobboard.redis_server import RedisServer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"

if not Path(CHROMIUM).exists():  # pragma: no cover - the test script installs it
    pytest.skip("needs Debian's chromium at /usr/bin/chromium", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")

VIEWPORTS = {"1280x800": (1280, 800), "1440x900": (1440, 900), "390x844": (390, 844)}
LONG_ERROR = ("Payment gateway rejected the charge for invoice INV-2024-000417 of customer "
              "Northwind Dental Clinic (card ending 4242): do_not_honor, retry after contacting "
              "the issuer; upstream said " + "x" * 120)
#: A normal reminder's payload, about 2 KB of JSON: the issue's "ends 'scheduled_fo…'".
REMINDER = {
    "patient": {"id": 88123, "name": "Ann Example", "phone": "+44 20 7946 0000",
                "email": "ann@example.org", "language": "en-GB"},
    "appointment": {"clinic": "Northwind Dental Clinic, 14 High Street, Springfield",
                    "practitioner": "Dr. Ada Lovelace", "room": "3B",
                    "scheduled_for": "2024-06-03T09:30:00+01:00", "duration_minutes": 45},
    "template": "reminder-24h", "channels": ["sms", "email"],
    "notes": ["Bring your insurance card", "Arrive 10 minutes early"] * 8,
    "history": [{"at": f"2024-05-{d:02d}T10:00:00Z", "kind": "visit", "ok": True}
                for d in range(1, 16)],
}


class Site:
    def __init__(self, base: str, board: Board, ids: dict[str, str]) -> None:
        self.base = base
        self.board = board
        self.ids = ids

    def url(self, path: str) -> str:
        return self.base + PREFIX + path


def _extra_tasks(huey: Any) -> None:
    @huey.task(name="cancel_me")
    def cancel_me(reason: str = "") -> None:
        raise CancelExecution()

    @huey.task(name="limited")
    def limited(key: str = "") -> None:
        raise RateLimitExceeded(f"rate limit of 10/min reached for {key}", 60, retry=False)

    @huey.task(name="charge_invoice")
    def charge_invoice(customer: dict, invoice: str, amount: float) -> None:
        raise RuntimeError(LONG_ERROR)

    @huey.task(name="send_reminder")
    def send_reminder(payload: dict) -> dict:
        return {"sent": True, "to": payload["patient"]["email"]}


@pytest.fixture(scope="module")
def site(redis_server: RedisServer) -> Iterator[Site]:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    redis.Redis.from_url(url).flushdb()
    huey = make_huey(url)
    _extra_tasks(huey)
    idle = [make_huey(url, name) for name in ("reports", "billing-and-invoicing-long-name", "sms")]
    for h in idle:
        _extra_tasks(h)
    app = Flask("jobboard_layout_tests")
    app.config.update(SECRET_KEY="test-secret", TESTING=True, JOBBOARD_USERS=dict(USERS),
                      JOBBOARD_API_TOKENS=dict(TOKENS), JOBBOARD_API_RATE_LIMIT=None,
                      JOBBOARD_POLL_SECONDS=2)
    JobBoard(app, hueys=[huey, *idle])
    board = app.extensions["jobboard"].board
    q = board.queue("emails")
    FLAKY["fail"] = True
    ids: dict[str, str] = {}
    consumer = RunningConsumer(huey)
    try:
        for i in range(4):
            q.enqueue("add", [i, 10])
        ids["reminder"] = q.enqueue("send_reminder", [REMINDER])[0]
        for i in range(3):
            q.enqueue("charge_invoice", [{"id": 1000 + i, "name": "Northwind Dental Clinic",
                                          "plan": "monthly"}, f"INV-2024-{i:06d}", 129.5],
                      retries=0)
        ids["failed"] = q.enqueue("boom", ["disk full on volume 7"], retries=0)[0]
        q.enqueue("flaky", ["invoice-42"], retries=0)
        ids["canceled"] = q.enqueue("cancel_me", ["patient asked"], retries=0)[0]
        ids["rate_limited"] = q.enqueue("limited", ["sms-gateway"], retries=0)[0]
        wait_for(lambda: q.counts()["failed"] == 5 and q.counts()["completed"] == 5
                 and q.counts()["canceled"] == 1 and q.counts()["rate_limited"] == 1, timeout=30)
    finally:
        consumer.stop()
    # scheduled, enqueued furthest-first so that "newest first" would show the last to run
    for delay in (86400 * 3, 86400, 3600, 600):
        ids[f"in{delay}"] = q.enqueue("add", [delay, 1], delay=delay)[0]
    reports = board.queue("reports")
    for pri in (0, 5, -3, 9, 0):
        reports.enqueue("add", [pri, 2], priority=pri)
    ids["running"] = q.enqueue("slow", [500, 0.2])[0]  # waiting (no consumer now)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", board, ids)
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    pw = sync_api.sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


def log_in(page: Any, site: Site, role: str = "admin") -> None:
    page.goto(site.url("/login"))
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(site.url("/")) + "$"))


def pages(site: Site) -> dict[str, str]:
    ids = site.ids
    out = {"overview": "/"}
    for state in ("waiting", "scheduled", "active", "completed", "failed", "canceled",
                  "rate_limited"):
        out[f"queue-{state}"] = f"/queues/emails?state={state}"
    out.update({
        "queue-reports-waiting": "/queues/reports?state=waiting",
        "job-failed": f"/queues/emails/jobs/{ids['failed']}",
        "job-reminder": f"/queues/emails/jobs/{ids['reminder']}",
        "job-canceled": f"/queues/emails/jobs/{ids['canceled']}",
        "workers": "/workers",
        "periodic": "/periodic",
        "metrics": "/stats?queue=emails",
        "metrics-24h": "/stats?queue=emails&window=24h",
        "bulk-confirm": "/queues/emails/bulk?action=retry&state=failed",
        "not-found": "/queues/nope",
        "unknown-path": "/no/such/page",
    })
    return out


OVERFLOW_JS = """() => {
  const out = [];
  const de = document.documentElement;
  if (de.scrollWidth > de.clientWidth + 1) out.push(`document ${de.scrollWidth} > ${de.clientWidth}`);
  document.querySelectorAll('table').forEach((t) => {
    const box = t.parentElement;
    const name = t.className || 'table';
    if (t.getBoundingClientRect().right > de.clientWidth + 1)
      out.push(`${name} ends at ${Math.round(t.getBoundingClientRect().right)} > ${de.clientWidth}`);
    if (box && box.scrollWidth > box.clientWidth + 1)
      out.push(`${name} ${box.scrollWidth} wide in a ${box.clientWidth} box`);
  });
  document.querySelectorAll('.tabs, .nav').forEach((s) => {
    const cur = s.querySelector('[aria-current="page"]');
    if (cur) {
      const r = cur.getBoundingClientRect(), b = s.getBoundingClientRect();
      if (r.left < b.left - 1 || r.right > b.right + 1) out.push(`current ${cur.textContent.trim()} off screen in ${s.className}`);
    }
  });
  return out;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_every_page_fits_without_horizontal_scroll(browser: Any, site: Site, scheme: str,
                                                   size: str, artifacts_dir: Path) -> None:
    width, height = VIEWPORTS[size]
    ctx = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
    problems: dict[str, list[str]] = {}
    try:
        page = ctx.new_page()
        page.goto(site.url("/login"))
        page.screenshot(path=str(artifacts_dir / f"fit-{scheme}-{size}-login.png"))
        log_in(page, site)
        for label, path in pages(site).items():
            page.goto(site.url(path))
            found = page.evaluate(OVERFLOW_JS)
            if found:
                problems[label] = found
            page.screenshot(path=str(artifacts_dir / f"fit-{scheme}-{size}-{label}.png"),
                            full_page=True)
    finally:
        ctx.close()
    assert not problems, problems
