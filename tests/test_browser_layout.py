"""The dashboard fits every screen (issue 16), in real headless Chromium.

Every page at 1280x800, 1440x900 and a 390x844 phone, light and dark: no horizontal
scroll of the document or of any table; on the phone, job rows are stacked cards with
their state, counts and actions on screen. Also: a failed row expands in place to its
trace, a 2 KB argument is shown whole as JSON, the scheduled tab lists the soonest first,
and an axe-core scan of every page finds no serious or critical violation.

Screenshots of every page and viewport go to test-artifacts/ (``fit-*.png``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from huey.exceptions import CancelExecution, RateLimitExceeded
from tests.support import (
    FLAKY, PREFIX, TOKENS, USERS, RunningConsumer, make_huey, wait_for,
)

from jobboard import JobBoard
from jobboard.redis_server import RedisServer
from tests.browser_support import Site, log_in, serve

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
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
                for d in range(1, 26)],
}


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
    with serve(app) as base:
        yield Site(base, board=board, ids=ids)


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


@pytest.fixture(scope="module")
def admin(browser: Any, site: Site) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    log_in(page, site)
    try:
        yield page
    finally:
        ctx.close()


def test_failed_row_expands_in_place_to_its_trace(admin: Any, site: Site,
                                                   artifacts_dir: Path) -> None:
    page = admin
    page.goto(site.url("/queues/emails?state=failed"))
    page.evaluate("window.__sameDocument = true")
    row = page.locator(f'tr[data-job-id="{site.ids["failed"]}"]')
    trace = page.locator(f'tr.trace[data-trace-for="{site.ids["failed"]}"]')
    assert trace.is_hidden()
    button = row.locator("button.expand")
    button.click()
    tb = trace.locator('pre[data-field="traceback"]')
    tb.wait_for(timeout=5000)
    assert "Traceback (most recent call last)" in tb.inner_text()
    assert "RuntimeError: disk full on volume 7" in tb.inner_text()
    assert button.get_attribute("aria-expanded") == "true"
    assert page.evaluate("window.__sameDocument") is True and "/jobs/" not in page.url
    page.screenshot(path=str(artifacts_dir / "fit-light-1280x800-failed-expanded.png"), full_page=True)
    # a live update keeps it open
    page.evaluate("document.querySelector('[data-poll]').dispatchEvent(new Event('jb-refresh'))")
    page.wait_for_timeout(600)
    assert trace.locator('pre[data-field="traceback"]').is_visible()
    button = page.locator(f'tr[data-job-id="{site.ids["failed"]}"] button.expand')
    button.click()
    assert trace.is_hidden() and button.get_attribute("aria-expanded") == "false"
    # canceled and rate-limited lists expand too, to their reason
    page.goto(site.url("/queues/emails?state=rate_limited"))
    page.locator("tr[data-job-id] button.expand").click()
    page.locator("tr.trace .tracebox").wait_for(timeout=5000)
    assert "rate limit of 10/min" in page.locator("tr.trace .tracebox").inner_text()


def test_a_2kb_argument_is_shown_whole_as_json(admin: Any, site: Site) -> None:
    page = admin
    page.goto(site.url(f"/queues/emails/jobs/{site.ids['reminder']}"))
    shown = page.locator('pre[data-field="args"]').inner_text()
    assert len(json.dumps([REMINDER])) > 2000
    assert json.loads(shown) == [REMINDER]  # whole, and JSON (not a cut Python repr)
    assert '\n  {\n    "patient": {' in shown  # pretty-printed
    result = json.loads(page.locator('pre[data-field="result"]').inner_text())
    assert result == {"sent": True, "to": "ann@example.org"}
    # collapsible, with a copy button
    details = page.locator('details[data-payload]').first
    assert details.get_attribute("open") is not None
    assert page.locator('button[data-copy="args"]').is_visible()
    details.locator("summary .plabel").click()
    assert details.get_attribute("open") is None
    # the list shows a short preview
    page.goto(site.url("/queues/emails?state=completed"))
    cell = page.locator(f'tr[data-job-id="{site.ids["reminder"]}"] td.args').inner_text()
    assert cell.startswith('{"patient": {"id": 88123') and len(cell) <= 130


def test_scheduled_tab_lists_the_soonest_first(admin: Any, site: Site) -> None:
    page = admin
    page.goto(site.url("/queues/emails?state=scheduled"))
    ids = page.eval_on_selector_all("tr[data-job-id]", "rows => rows.map(r => r.dataset.jobId)")
    assert ids == [site.ids[f"in{d}"] for d in (600, 3600, 86400, 86400 * 3)]
    assert page.locator("select[name=order] option:checked").inner_text() == "soonest first"
    # operators get bulk actions there: run now and revoke
    assert page.locator('button[name=action][value="promote"]').count() == 1
    assert page.locator('button[name=action][value="revoke"]').count() == 1


def test_waiting_tab_shows_priority_in_run_order(admin: Any, site: Site) -> None:
    page = admin
    page.goto(site.url("/queues/reports?state=waiting"))
    heads = page.eval_on_selector_all("table.jobs thead th", "t => t.map(x => x.textContent.trim())")
    col = heads.index("Pri.")
    pris = page.eval_on_selector_all(f"tr[data-job-id] td:nth-child({col + 1})",
                                     "t => t.map(x => Number(x.textContent))")
    assert pris == [9, 5, 0, 0, -3]


def test_queue_switcher_with_keyboard_shortcut(admin: Any, site: Site) -> None:
    page = admin
    page.goto(site.url("/queues/emails?state=failed"))
    page.keyboard.press("q")
    assert page.evaluate("document.activeElement.id") == "qswitch-select"
    page.select_option("#qswitch-select", "reports")
    page.wait_for_url(re.compile(r"/queues/reports\?state=failed"))


def test_remove_on_a_job_page_goes_back_to_the_list_page_it_came_from(
        admin: Any, site: Site) -> None:
    page = admin
    q = site.board.queue("sms")
    ids = [q.enqueue("add", [i, 1], delay=7200 + i)[0] for i in range(30)]
    page.on("dialog", lambda d: d.accept())
    page.goto(site.url("/queues/sms?state=scheduled&page=2"))
    page.locator("tr[data-job-id] td.jobid a").first.click()
    page.wait_for_url(re.compile(r"/jobs/"))
    job_id = page.url.split("/jobs/")[1].split("?")[0]
    page.locator(".headactions button", has_text="Remove").click()
    page.locator(".toast", has_text="removed").wait_for(timeout=5000)
    assert re.search(r"/queues/sms\?state=scheduled&page=2$", page.url), page.url
    assert job_id not in [r for r in page.eval_on_selector_all(
        "tr[data-job-id]", "rows => rows.map(r => r.dataset.jobId)")]
    page.reload()
    assert page.locator("main .errorbox").count() == 0
    # Back does not land on the removed job's URL (a 404): htmx replaced that history
    # entry with the list, so Back goes to the list page the job was opened from.
    page.go_back()
    page.wait_for_load_state()
    assert "/jobs/" not in page.url, page.url
    assert re.search(r"/queues/sms\?state=scheduled&page=2$", page.url), page.url
    assert page.locator("main .errorbox").count() == 0
    assert page.locator("tr[data-job-id]").count() > 0
    q.remove_many(ids)


def test_a_live_poll_after_a_change_swaps_in_only_what_changed(admin: Any, site: Site) -> None:
    """One job leaves the list and one arrives: the poll's answer carries just those rows
    and the counts (out-of-band swaps), and the page then shows what a reload shows."""
    page = admin
    q = site.board.queue("sms")
    ids = [q.enqueue("add", [i, 3], delay=5000 + i)[0] for i in range(6)]
    page.goto(site.url("/queues/sms?state=scheduled"))

    def next_poll(status: int) -> Any:
        """The next answer to the page's own live poll (every 2 s here) with ``status``."""
        with page.expect_response(lambda r: "/queues/sms?state=scheduled" in r.url
                                  and r.request.headers.get("x-jobboard-poll") == "1"
                                  and r.status == status, timeout=15000) as info:
            pass
        page.wait_for_timeout(200)  # the swap and settle
        return info.value

    next_poll(304)  # the tab holds its ETag: idle polls answer 304
    page.evaluate("window.__sameDocument = true")
    answers: list[Any] = []
    page.on("response", lambda r: answers.append(r) if r.status == 200 and
            r.request.headers.get("x-jobboard-poll") == "1" else None)
    q.revoke(ids[1])
    added = q.enqueue("add", [77, 3], delay=4000)[0]  # the soonest: the list's first row
    page.wait_for_function(
        f"""() => document.querySelector('tr[data-job-id="{added}"]')
                  && !document.querySelector('tr[data-job-id="{ids[1]}"]')""", timeout=15000)
    page.wait_for_timeout(200)  # settle
    assert answers
    for answer in answers:  # (the two changes may have straddled a poll)
        body = answer.body()
        assert answer.headers.get("hx-reswap") == "none"
        assert b"<main" not in body
        assert not any(i.encode() in body for i in ids if i != ids[1])

    def shown() -> tuple[list[str], str, str]:
        rows = page.eval_on_selector_all("tr[data-job-id]", "rs => rs.map(r => r.dataset.jobId)")
        return (rows, page.locator('.tabs a[data-state="scheduled"] .count').inner_text(),
                page.locator(".listbar .muted").first.inner_text())

    live = shown()
    assert page.evaluate("window.__sameDocument") is True
    assert ids[1] not in live[0] and added in live[0] and live[0].index(added) == 0
    # the new row is a job of its own <tbody> (so a later poll can replace or drop it),
    # labelled for the phone layout like the others
    assert page.locator(f'table.jobs > tbody > tr[data-job-id="{added}"] td[data-label="Task"]').count() == 1
    assert page.locator("table.jobs > tr").count() == 0
    page.reload()
    assert shown() == live
    q.remove_many([*ids, added])


def test_idle_poll_answers_304_and_html_is_gzipped(site: Site) -> None:
    import http.client
    from tests.support import TOKENS
    token = next(t for t, r in TOKENS.items() if r == "viewer")
    conn = http.client.HTTPConnection(site.base.split("//")[1])
    headers = {"HX-Request": "true", "X-Jobboard-Poll": "1", "Authorization": f"Bearer {token}",
               "Accept-Encoding": "gzip"}
    conn.request("GET", PREFIX + "/queues/emails?state=failed", headers=headers)
    first = conn.getresponse()
    body = first.read()
    assert first.status == 200 and first.getheader("Content-Encoding") == "gzip"
    etag = first.getheader("ETag")
    assert etag and len(body) < 8000
    conn.request("GET", PREFIX + "/queues/emails?state=failed",
                 headers={**headers, "If-None-Match": etag})
    second = conn.getresponse()
    assert second.status == 304 and second.read() == b""
    # a hashed asset is cached for good
    page = conn.request("GET", PREFIX + "/login") or conn.getresponse().read().decode()
    css = re.search(r'href="([^"]+/assets/jobboard\.[0-9a-f]{10}\.css)"', page)
    assert css
    conn.request("GET", css.group(1), headers={"Accept-Encoding": "gzip"})
    asset = conn.getresponse()
    asset.read()
    assert asset.status == 200 and "immutable" in asset.getheader("Cache-Control")
    assert asset.getheader("Content-Encoding") == "gzip"


AXE_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').slice(0, 160))}));
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violations_on_any_page(browser: Any, site: Site, scheme: str) -> None:
    # bypass_csp: the page's CSP (rightly) refuses the injected axe script
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=scheme,
                              bypass_csp=True)
    found: dict[str, Any] = {}
    try:
        page = ctx.new_page()
        page.goto(site.url("/login"))
        page.add_script_tag(path=str(AXE))
        if v := page.evaluate(AXE_RUN):
            found["login"] = v
        log_in(page, site)
        for label, path in pages(site).items():
            page.goto(site.url(path))
            page.add_script_tag(path=str(AXE))
            if v := page.evaluate(AXE_RUN):
                found[label] = v
    finally:
        ctx.close()
    assert not found, json.dumps({page: [(v["id"], v["nodes"][:2]) for v in vs]
                                  for page, vs in found.items()}, indent=1)[:6000]
