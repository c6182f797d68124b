"""Flows, authoring and the Activity page in real headless Chromium (issue 17).

The harness of tests/test_browser_dashboard.py: one app served by werkzeug on a free port,
a real Redis database, Huey's consumer in threads. Screenshots of the flow view, the
editor and the Activity page, light and dark, go to test-artifacts/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from huey.api import group

from jobboard.errors import JobNotFound
from jobboard.redis_server import RedisServer
from tests.support import SHAKY, RunningConsumer, make_app, make_flow_huey, wait_for
from tests.browser_support import Site, accept_dialogs, log_in, serve

pytestmark = pytest.mark.browser

SECRET = "tok-s3cret-never-shown"


@pytest.fixture(scope="module")
def site(redis_server: RedisServer) -> Iterator[Site]:
    url = f"redis://127.0.0.1:{redis_server.port}/0"  # db 0: the per-test dbs are 1..63
    redis.Redis.from_url(url).flushdb()
    SHAKY["fail"] = True
    huey = make_flow_huey(url)
    app = make_app(huey, JOBBOARD_POLL_SECONDS=2)
    board = app.extensions["jobboard"].board
    consumer = RunningConsumer(huey)
    try:
        with serve(app) as base:
            huey.flow_tasks["step"](0)  # registers the queue
            wait_for(lambda: "emails" in board.queue_names())
            yield Site(base, queue=board.queue("emails"), huey=huey)
    finally:
        consumer.stop()
        SHAKY["fail"] = True


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield ctx
    finally:
        ctx.close()


def shots(browser: Any, site: Site, role: str, path: str, name: str, artifacts: Path,
          selector: str = "main") -> None:
    """Screenshots of one page, light and dark (what a person sees, full page)."""
    for scheme in ("light", "dark"):
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
        try:
            page = ctx.new_page()
            log_in(page, site, role)
            page.goto(site.url(path))
            page.locator(selector).first.wait_for()
            page.screenshot(path=str(artifacts / f"flows-{scheme}-{name}.png"), full_page=True)
        finally:
            ctx.close()


def state(site: Site, job_id: str) -> str | None:
    """A job's state, None while Huey has not enqueued it yet."""
    try:
        return site.queue.job(job_id).state
    except JobNotFound:
        return None


def statuses(page: Any) -> list[str]:
    return page.locator("#flow li.step").evaluate_all("els => els.map(e => e.dataset.status)")


def test_pipeline_tree_with_a_failed_middle_step_and_its_retry(
        context: Any, browser: Any, site: Site, artifacts_dir: Path) -> None:
    t = site.huey.flow_tasks
    ids = [r.id for r in site.huey.enqueue(t["step"].s(1).then(t["shaky"]).then(t["step"]))]
    wait_for(lambda: state(site, ids[1]) == "failed")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    accept_dialogs(page)
    log_in(page, site, "operator")
    page.goto(site.url(f"/queues/emails/jobs/{ids[1]}"))
    assert statuses(page) == ["completed", "failed", "skipped"]
    steps = page.locator("#flow li.step")
    assert steps.nth(1).get_attribute("aria-current") == "step"
    assert "will not run" in steps.nth(2).inner_text()
    assert steps.nth(2).locator("a.task").count() == 0  # no link to a job that does not exist
    # The first step's page shows the same flow (a link from any job in it).
    steps.nth(0).locator("a.task").click()
    page.wait_for_url(re.compile(re.escape(ids[0])))
    assert statuses(page) == ["completed", "failed", "skipped"]
    shots(browser, site, "operator", f"/queues/emails/jobs/{ids[1]}", "pipeline-failed", artifacts_dir)

    # Retrying the failed step continues the flow; the page follows it live to the end.
    SHAKY["fail"] = False
    try:
        page.locator("#flow li.step").nth(1).locator("button", has_text="Retry step").click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('#flow li.step')].every("
            "e => e.dataset.status === 'completed')", timeout=15000)
    finally:
        SHAKY["fail"] = True
    assert statuses(page) == ["completed", "completed", "completed"]
    assert site.queue.job(ids[2]).result == "21"
    shots(browser, site, "operator", f"/queues/emails/jobs/{ids[1]}", "pipeline-retried", artifacts_dir)
    assert not errors, errors


def test_chord_of_five_shows_its_members_and_callback(
        context: Any, browser: Any, site: Site, artifacts_dir: Path) -> None:
    t = site.huey.flow_tasks
    chord = site.huey.enqueue(group([t["step"].s(i) for i in range(5)]).then(t["total"]))
    members = [r.id for r in chord.results]
    wait_for(lambda: state(site, chord.callback.id) == "completed")
    page = context.new_page()
    log_in(page, site, "viewer")
    page.goto(site.url(f"/queues/emails/jobs/{members[2]}"))
    flow = page.locator("#flow")
    assert flow.get_attribute("data-flow") == "chord"
    assert "chord of 5" in flow.locator("h2").inner_text()
    member_nodes = flow.locator(".members > li.step")
    assert member_nodes.count() == 5
    assert member_nodes.evaluate_all("els => els.map(e => e.dataset.step)") == members
    callback = flow.locator(".callback > li.step")
    assert callback.get_attribute("data-status") == "completed"
    assert "total" in callback.inner_text()
    shots(browser, site, "viewer", f"/queues/emails/jobs/{chord.callback.id}", "chord", artifacts_dir)


def test_add_job_with_bad_json_shows_the_error_on_the_form(context: Any, site: Site) -> None:
    page = context.new_page()
    log_in(page, site, "operator")
    page.goto(site.url("/queues/emails"))
    page.locator("[data-control=add]").click()
    page.wait_for_url(re.compile(r"/new$"))
    page.select_option("select[name=task]", value="tests.support.step")
    page.fill("textarea[name=args]", "[1, ")
    page.locator("button", has_text="Add job").click()
    error = page.locator("[data-error=args]")
    error.wait_for(timeout=5000)
    assert "not valid JSON" in error.inner_text()
    assert page.locator("textarea[name=args]").get_attribute("aria-invalid") == "true"
    assert page.locator("textarea[name=args]").input_value() == "[1, "  # kept as typed
    page.fill("textarea[name=args]", "[41]")
    page.locator("button", has_text="Add job").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[-1]
    wait_for(lambda: site.queue.job(job_id).state == "completed")
    assert site.queue.job(job_id).result == "42"


def test_edit_and_retry_runs_the_edited_arguments_and_keeps_the_original(
        context: Any, browser: Any, site: Site, artifacts_dir: Path) -> None:
    t = site.huey.flow_tasks
    original = t["divide"].s(10, 0, api_token=SECRET)
    site.huey.enqueue(original)
    wait_for(lambda: site.queue.job(original.id).state == "failed")
    page = context.new_page()
    log_in(page, site, "operator")
    page.goto(site.url(f"/queues/emails/jobs/{original.id}"))
    page.locator("[data-control=edit]").click()
    page.wait_for_url(re.compile(r"/edit$"))
    assert SECRET not in page.content()
    assert "redacted" in page.locator("textarea[name=kwargs]").input_value()
    shots(browser, site, "operator", f"/queues/emails/jobs/{original.id}/edit", "editor", artifacts_dir)
    page.fill("textarea[name=args]", "[10, 4]")
    page.locator("button", has_text="Queue edited copy").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    new_id = page.url.rsplit("/", 1)[-1]
    assert new_id != original.id
    page.locator('.jobhead .badge:text("completed")').wait_for(timeout=15000)
    assert page.locator('pre[data-field="result"]').inner_text() == "2.5"
    assert page.locator("[data-link=copied-from]").inner_text() == original.id
    old = site.queue.job(original.id)
    assert old.state == "failed" and old.copies == new_id and old.error and "ZeroDivision" in old.error
    # the masked token reached the task unchanged: the new job's record redacts it again
    assert SECRET not in page.content()


def test_viewer_sees_no_authoring_control_and_gets_403(context: Any, site: Site) -> None:
    failing = site.huey.flow_tasks["divide"].s(1, 0)
    site.huey.enqueue(failing)
    wait_for(lambda: state(site, failing.id) == "failed")
    failed = site.queue.job(failing.id)
    page = context.new_page()
    log_in(page, site, "viewer")
    page.goto(site.url("/queues/emails"))
    assert page.locator("[data-control=add]").count() == 0
    page.goto(site.url(f"/queues/emails/jobs/{failed.id}"))
    for label in ("Edit and retry", "Duplicate", "Retry step", "Retry"):
        assert page.locator("main button, main a.btn", has_text=label).count() == 0, label
    for path, body in ((f"/queues/emails/jobs/{failed.id}/duplicate", ""),
                       (f"/queues/emails/jobs/{failed.id}/edit", "args=%5B%5D"),
                       ("/queues/emails/new", "task=tests.support.step&args=%5B1%5D")):
        status = page.evaluate("""async ([url, body]) => {
            const headers = JSON.parse(document.body.getAttribute('hx-headers'));
            headers['Content-Type'] = 'application/x-www-form-urlencoded';
            const r = await fetch(url, {method: 'POST', headers: headers, body: body});
            return r.status;
        }""", [site.url(path), body])
        assert status == 403, path
    assert site.queue.job(failed.id).copies is None


def test_activity_lists_what_a_person_did(context: Any, browser: Any, site: Site,
                                          artifacts_dir: Path) -> None:
    failing = site.huey.flow_tasks["divide"].s(3, 0)
    site.huey.enqueue(failing)
    wait_for(lambda: state(site, failing.id) == "failed")
    page = context.new_page()
    accept_dialogs(page)
    log_in(page, site, "operator")
    page.goto(site.url(f"/queues/emails/jobs/{failing.id}"))
    page.locator(".headactions button", has_text="Retry").click()
    page.locator(".toast", has_text="retried").wait_for(timeout=5000)
    page.goto(site.url("/queues/emails"))
    page.locator("button", has_text="Pause queue").click()
    page.locator("h1 .badge.paused").wait_for(timeout=5000)
    page.locator("button", has_text="Resume queue").click()
    page.locator("h1 .badge.paused").wait_for(state="detached", timeout=5000)

    admin = context.browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(admin, site, "admin")
    admin.goto(site.url("/activity"))
    rows = admin.locator("tr[data-entry]")
    seen = rows.evaluate_all("els => els.map(e => [e.dataset.user, e.dataset.action])")
    # newest first: the admin's sign-in, then what the operator did after signing in
    assert seen[:5] == [["admin", "login"], ["operator", "resume"], ["operator", "pause"],
                        ["operator", "retry"], ["operator", "login"]]
    # refused posts change nothing (a viewer's sign-in is all there is of them)
    assert {a for u, a in seen if u == "viewer"} <= {"login"}
    admin.select_option("select[name=action]", "retry")
    admin.locator("button", has_text="Filter").click()
    admin.wait_for_url(re.compile(r"action=retry"))
    assert set(rows.evaluate_all("els => els.map(e => e.dataset.action)")) == {"retry"}
    assert failing.id[:8] in rows.first.inner_text()
    shots(browser, site, "admin", "/activity", "activity", artifacts_dir)


def test_local_time_shows_the_browser_zone_and_the_choice_is_remembered(
        browser: Any, site: Site) -> None:
    job_id, _ = site.queue.enqueue("tests.support.step", [1])
    wait_for(lambda: state(site, job_id) == "completed")
    ctx = browser.new_context(viewport={"width": 1280, "height": 900},
                              timezone_id="America/Sao_Paulo")
    try:
        page = ctx.new_page()
        log_in(page, site, "viewer")
        page.goto(site.url(f"/queues/emails/jobs/{job_id}"))
        assert page.locator("h2 [data-zone]").inner_text() == "America/Sao_Paulo"
        stamp = page.locator("ol.timeline time.stamp").first
        assert stamp.get_attribute("title").endswith(" -03")  # São Paulo: UTC-3, no DST
        # what the browser itself says the time is, to the second
        shown = stamp.inner_text()[:8]
        local = page.evaluate("""(iso) => new Date(iso).toLocaleTimeString('en-GB',
            {hour12: false, timeZone: 'America/Sao_Paulo'})""",
                              stamp.get_attribute("datetime"))
        assert shown == local
        assert re.fullmatch(r"\+\d+(ms|\.\ds|s)", page.locator("ol.timeline .gap").first.inner_text())
        # Switch to UTC: the page shows UTC, and stays so on the next page.
        page.locator("[data-toggle-time]").click()
        page.wait_for_function("() => document.documentElement.dataset.zone === 'UTC'")
        assert page.locator("ol.timeline time.stamp").first.get_attribute("title").endswith(" UTC")
        page.goto(site.url("/activity"))
        page.goto(site.url(f"/queues/emails/jobs/{job_id}"))
        assert page.locator("h2 [data-zone]").inner_text() == "UTC"
        assert page.locator("[data-time-label]").inner_text() == "UTC"
    finally:
        ctx.close()


def test_latency_charts_beside_throughput(browser: Any, site: Site, artifacts_dir: Path) -> None:
    now_min = int(time.time() // 60)
    base, task = site.queue.keys.base, "tests.support.step"
    for i, bucket in enumerate((4, 5, 4, 9, 12, 21, 6, 5)):  # a regression a few minutes ago
        key = f"{base}mx:{now_min - 9 + i}"
        for prefix in ("r:", f"r|{task}|"):
            site.queue.redis.hincrby(key, f"{prefix}{bucket}", 20)
            site.queue.redis.hincrby(key, f"{prefix}{bucket + 3}", 1)
        for prefix in ("w:", f"w|{task}|"):
            site.queue.redis.hincrby(key, f"{prefix}{bucket - 2}", 20)
        site.queue.redis.hincrby(key, "done", 21)
        site.queue.redis.hincrby(key, f"done|{task}", 21)
    shots(browser, site, "viewer", f"/stats?queue=emails&window=1h&task={task}", "latency",
          artifacts_dir, selector="[data-latency=run] svg")
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        log_in(page, site, "viewer")
        page.goto(site.url("/stats?queue=emails&window=1h"))
        assert page.locator("[data-latency=run] circle.lat-p99").count() >= 8
        assert page.locator("[data-latency=wait] path.lat-line").count() == 3
    finally:
        ctx.close()
