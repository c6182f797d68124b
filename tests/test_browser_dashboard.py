"""The dashboard in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

One app served by werkzeug on a free loopback port, one real Redis database, one real Huey
consumer in threads. Screenshots of every page, light and dark, go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from tests.support import (
    FLAKY, PASSWORD, PREFIX, XSS_IMG, XSS_SCRIPT, RunningConsumer, make_app, make_huey, wait_for,
)

from jobboard.redis_server import RedisServer
from tests.browser_support import Site, accept_dialogs, log_in, serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(redis_server: RedisServer) -> Iterator[Site]:
    url = f"redis://127.0.0.1:{redis_server.port}/0"  # db 0: the per-test dbs are 1..63
    redis.Redis.from_url(url).flushdb()
    huey = make_huey(url)
    app = make_app(huey, JOBBOARD_POLL_SECONDS=2)
    board = app.extensions["jobboard"].board
    queue = board.queue("emails")
    FLAKY["fail"] = True
    consumer = RunningConsumer(huey)
    for i in range(6):
        queue.enqueue("add", [i, 10])
    for i in range(3):
        queue.enqueue("boom", [f"disk full on volume {i}"], retries=0)
    queue.enqueue("flaky", ["invoice-42"], retries=0)
    queue.enqueue("slow", [2, 0.05])
    wait_for(lambda: queue.counts()["failed"] == 4 and queue.counts()["completed"] == 7,
             timeout=20)
    queue.enqueue("add", [99, 1], delay=3600)
    try:
        with serve(app) as base:
            yield Site(base, queue=queue, huey=huey)
    finally:
        consumer.stop()
        FLAKY["fail"] = True


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield ctx
    finally:
        ctx.close()


def test_operator_finds_failed_job_and_retries_it_live(context: Any, site: Site) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    accept_dialogs(page)
    log_in(page, site, "operator")
    # overview shows the queue and its failed count
    row = page.locator('tr[data-queue="emails"]')
    assert row.is_visible()
    assert row.locator("td.num").nth(4).inner_text().strip() == "4"
    # open the failed tab
    row.locator("td.num").nth(4).locator("a").click()
    page.wait_for_url(re.compile(r"state=failed"))
    assert page.locator('a.tab[aria-current="page"]').inner_text().startswith("failed")
    flaky = page.locator("tr[data-job-id]", has_text="flaky")
    assert flaky.count() == 1
    flaky.locator("td a").first.click()
    page.wait_for_url(re.compile(r"/jobs/"))
    # the failed job with its traceback
    assert page.locator(".jobhead .badge").inner_text() == "failed"
    tb = page.locator('pre[data-field="traceback"]').first
    assert "Traceback (most recent call last)" in tb.inner_text()
    assert "ValueError: flaky failure for invoice-42" in tb.inner_text()
    # retry it: the page updates in place (no navigation), then follows the job to the end
    page.evaluate("window.__sameDocument = true")
    FLAKY["fail"] = False
    try:
        page.locator(".headactions button", has_text="Retry").click()
        page.locator(".toast", has_text="retried").wait_for(timeout=5000)
        page.locator('.jobhead .badge:text("completed")').wait_for(timeout=15000)
    finally:
        FLAKY["fail"] = True
    assert page.evaluate("window.__sameDocument") is True
    assert "ok invoice-42" in page.locator('pre[data-field="result"]').inner_text()
    # finished: the page stopped polling
    assert page.locator("main[data-poll]").count() == 0
    assert not errors, errors


def test_pause_and_resume_a_queue(context: Any, site: Site) -> None:
    page = context.new_page()
    accept_dialogs(page)
    log_in(page, site, "operator")
    page.goto(site.url("/queues/emails"))
    page.evaluate("window.__sameDocument = true")
    page.locator("button", has_text="Pause queue").click()
    page.locator("h1 .badge.paused").wait_for(timeout=5000)
    assert site.queue.is_paused()
    page.locator("button", has_text="Resume queue").click()
    page.locator("h1 .badge.paused").wait_for(state="detached", timeout=5000)
    assert not site.queue.is_paused()
    assert page.evaluate("window.__sameDocument") is True


def test_viewer_sees_no_actions_and_gets_403(context: Any, site: Site) -> None:
    page = context.new_page()
    log_in(page, site, "viewer")
    failed = site.queue.jobs("failed").jobs[0]
    for path in ("/", "/queues/emails?state=failed", f"/queues/emails/jobs/{failed.id}",
                 "/periodic"):
        page.goto(site.url(path))
        assert page.locator("main form[method=post]").count() == 0, path
        assert page.locator("main button[formaction]").count() == 0, path
        for label in ("Retry", "Remove", "Pause", "Resume", "Run now", "Empty", "Clean"):
            assert page.locator("main button", has_text=label).count() == 0, (path, label)
    status = page.evaluate("""async (url) => {
        const headers = JSON.parse(document.body.getAttribute('hx-headers'));
        const r = await fetch(url, {method: 'POST', headers: headers});
        return r.status;
    }""", site.url(f"/queues/emails/jobs/{failed.id}/retry"))
    assert status == 403
    assert site.queue.job(failed.id).state == "failed"


def test_job_data_renders_as_text_and_runs_nothing(context: Any, site: Site) -> None:
    payload = XSS_SCRIPT + XSS_IMG
    job_id, _ = site.queue.enqueue("boom", [payload], retries=0)
    wait_for(lambda: site.queue.job(job_id).state == "failed")
    page = context.new_page()
    dialogs = accept_dialogs(page)
    log_in(page, site, "admin")
    page.goto(site.url("/queues/emails?state=failed&q=__xss"))
    cell = page.locator(f'tr[data-job-id="{job_id}"] td.args')
    assert XSS_SCRIPT in cell.inner_text()
    page.goto(site.url(f"/queues/emails/jobs/{job_id}"))
    # shown as JSON text: the payload comes back exactly, as characters, not markup
    assert json.loads(page.locator('pre[data-field="args"]').inner_text()) == [payload]
    assert XSS_SCRIPT in page.locator('pre[data-field="traceback"]').first.inner_text()
    assert XSS_IMG in page.locator('[data-field="log"]').first.inner_text()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert not dialogs


def test_screenshots_of_every_page_light_and_dark(browser: Any, site: Site,
                                                  artifacts_dir: Path) -> None:
    running, _ = site.queue.enqueue("slow", [40, 0.25])
    wait_for(lambda: site.queue.job(running).progress is not None)
    failed = next(j for j in site.queue.jobs("failed", limit=50).jobs if "disk full" in j.args)
    pages = {
        "overview": "/",
        "queue-failed": "/queues/emails?state=failed",
        "queue-completed": "/queues/emails?state=completed",
        "queue-scheduled": "/queues/emails?state=scheduled",
        "job-failed": f"/queues/emails/jobs/{failed.id}",
        "job-running": f"/queues/emails/jobs/{running}",
        "workers": "/workers",
        "periodic": "/periodic",
        "metrics": "/stats?queue=emails",
        "bulk-confirm": "/queues/emails/bulk?action=retry&state=failed",
        "not-found": "/queues/nope",
    }
    for scheme in ("light", "dark"):
        for name, viewport in (("desktop", {"width": 1280, "height": 800}),
                               ("phone", {"width": 390, "height": 844})):
            ctx = browser.new_context(viewport=viewport, color_scheme=scheme)
            try:
                page = ctx.new_page()
                page.goto(site.url("/login"))
                page.screenshot(path=str(artifacts_dir / f"web-{scheme}-{name}-login.png"))
                log_in(page, site, "admin")
                for label, path in pages.items():
                    if name == "phone" and label not in ("overview", "queue-failed", "job-failed"):
                        continue
                    page.goto(site.url(path))
                    page.screenshot(path=str(artifacts_dir / f"web-{scheme}-{name}-{label}.png"),
                                    full_page=True)
            finally:
                ctx.close()
    # A running job cannot be removed (its consumer would go on): let it end first, however
    # fast the screenshots were.
    assert wait_for(lambda: site.queue.job(running).state == "completed", 30)
    site.queue.remove(running)


def test_live_updates_toggle_and_hidden_tab_pause_polling(context: Any, site: Site) -> None:
    page = context.new_page()
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url)
            if r.headers.get("x-jobboard-poll") == "1" else None)
    log_in(page, site, "viewer")
    page.wait_for_timeout(2600)  # poll interval is 2 s in this app
    assert polls, "the overview did not poll"
    # switched off: no polls
    page.click("[data-toggle-poll]")
    assert page.get_attribute("[data-toggle-poll]", "aria-pressed") == "false"
    polls.clear()
    page.wait_for_timeout(4500)
    assert polls == []
    # switched on again (remembered in localStorage): polls resume at once
    page.click("[data-toggle-poll]")
    page.wait_for_timeout(2600)
    assert polls
    # a hidden tab does not poll
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
        Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
    }""")
    polls.clear()
    page.wait_for_timeout(4500)
    assert polls == []


def test_bulk_remove_selection_confirms_count_and_updates_in_place(context: Any,
                                                                   site: Site) -> None:
    ids = [site.queue.enqueue("boom", [f"bulk {i}"], retries=0)[0] for i in range(3)]
    wait_for(lambda: all(site.queue.job(i).state == "failed" for i in ids))
    page = context.new_page()
    dialogs = accept_dialogs(page)
    log_in(page, site, "admin")
    page.goto(site.url("/queues/emails?state=failed&q=bulk"))
    page.evaluate("window.__sameDocument = true")
    for job_id in ids[:2]:
        page.check(f'tr[data-job-id="{job_id}"] input.sel')
    button = page.locator("button", has_text="Remove selected")
    assert "(2)" in button.inner_text()
    button.click()
    page.locator(".toast", has_text="Removed 2 of 2 selected jobs.").wait_for(timeout=5000)
    assert dialogs == ["Remove 2 selected jobs? This cannot be undone."]
    assert page.locator("tr[data-job-id]").count() == 1
    assert "q=bulk" in page.locator('#bulk input[name="next"]').get_attribute("value")
    assert page.evaluate("window.__sameDocument") is True
    assert site.queue.job(ids[2]).state == "failed"


def test_behind_a_proxy_prefix_paging_polling_and_login_keep_it(browser: Any, redis_url: str) -> None:
    """The app mounted at /ops (as a reverse proxy's SCRIPT_NAME does): the login redirect,
    the pager and the live poll all stay under /ops in a real browser."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.wrappers import Response

    huey = make_huey(redis_url)
    app = make_app(huey, JOBBOARD_POLL_SECONDS=2)
    queue = app.extensions["jobboard"].board.queue("emails")
    for n in range(30):  # no consumer: 30 waiting jobs, two pages
        queue.enqueue("add", [n, 1])
    outside = Response("not found outside /ops", status=404)
    with serve(DispatcherMiddleware(outside, {"/ops": app.wsgi_app})) as root:
        _under_ops(browser, queue, f"{root}/ops{PREFIX}")


def _under_ops(browser: Any, queue: Any, base: str) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = ctx.new_page()
        polls: list[str] = []
        page.on("request", lambda r: polls.append(r.url)
                if r.headers.get("x-jobboard-poll") == "1" else None)
        page.goto(base + "/queues/emails?state=waiting")
        assert page.url.startswith(base + "/login?next=")  # sent to the login under /ops
        page.fill("input[name=username]", "viewer")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/queues/emails?state=waiting")  # back where it started
        page.locator("a[rel=next]").click()
        page.wait_for_url(re.compile(re.escape(base + "/queues/emails?") + ".*page=2"))
        assert page.locator("tr[data-job-id]").count() == 5
        # More jobs arrive: the live poll (under /ops) shows the new total without a reload.
        for n in range(3):
            queue.enqueue("add", [n, 2])
        page.locator('a.tab[data-state="waiting"] .count', has_text="33").wait_for(timeout=10000)
        assert polls and all(url.startswith(base + "/queues/emails?") for url in polls), polls
    finally:
        ctx.close()
