"""Languages in real headless Chromium (issue 17 item 8): the header's picker switches the
pages to Spanish, the choice is remembered on the next page, the script's own words and
its live relative times follow, and a Portuguese browser gets Portuguese unasked.

The harness of tests/test_browser_dashboard.py: one app served by werkzeug on a free
port, a real Redis database, Huey's consumer in threads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from jobboard.redis_server import RedisServer
from tests.support import PASSWORD, RunningConsumer, make_app, make_huey, wait_for
from tests.browser_support import Site, log_in, serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(redis_server: RedisServer) -> Iterator[Site]:
    url = f"redis://127.0.0.1:{redis_server.port}/0"  # db 0: the per-test dbs are 1..63
    redis.Redis.from_url(url).flushdb()
    huey = make_huey(url)
    app = make_app(huey, JOBBOARD_POLL_SECONDS=2)
    queue = app.extensions["jobboard"].board.queue("emails")
    consumer = RunningConsumer(huey)
    for i in range(3):
        queue.enqueue("add", [i, 1])
    queue.enqueue("boom", ["disk full"], retries=0)
    wait_for(lambda: queue.counts()["completed"] == 3 and queue.counts()["failed"] == 1)
    try:
        with serve(app) as base:
            yield Site(base, queue=queue, huey=huey)
    finally:
        consumer.stop()


def nav(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("nav.nav a").all_inner_texts()]


def test_the_picker_switches_to_spanish_and_the_choice_stays(browser: Any, site: Site,
                                                            artifacts_dir: Path) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        page = ctx.new_page()
        log_in(page, site, "viewer")
        assert page.locator("html").get_attribute("lang") == "en"
        assert nav(page)[:2] == ["Queues", "Workers"]
        page.goto(site.url("/queues/emails?state=completed"))
        with page.expect_navigation():
            page.select_option("select[data-lang-select]", "es")  # the script reloads the page
        assert page.locator("html").get_attribute("lang") == "es"
        assert nav(page) == ["Colas", "Trabajadores", "Periódicas", "Métricas", "Alertas", "Actividad"]
        assert page.locator("#jb-tabs a[data-state=completed]").inner_text().startswith("completado")
        assert page.locator("select[data-lang-select]").input_value() == "es"
        # the script's own words are Spanish too: the theme's and the live switch's labels
        assert page.locator("[data-theme-label]").inner_text() == "Automático"
        page.locator("[data-toggle-poll]").click()
        assert page.locator("[data-toggle-poll] .lbl").inner_text() == "En pausa"
        page.locator("[data-toggle-poll]").click()
        assert page.locator("[data-toggle-poll] .lbl").inner_text() == "En vivo"
        # relative times, as the server wrote them and as the script keeps them current
        rel = page.locator("tr[data-job-id] time[data-rel]").first
        page.wait_for_timeout(1500)  # at least one refresh of the times by the script
        assert re.fullmatch(r"hace \d+ (s|min)|justo ahora", rel.inner_text()), rel.inner_text()
        page.screenshot(path=str(artifacts_dir / "i18n-es-queue.png"), full_page=True)
        # the next page, reached by a link: still Spanish (the cookie, not this page's state)
        page.locator("nav.nav a", has_text="Trabajadores").click()
        page.wait_for_url(re.compile(r"/workers$"))
        assert page.locator("main h1").inner_text() == "Trabajadores"
        page.goto(site.url("/stats"))
        assert page.locator("main h1").inner_text() == "Métricas"
        assert "Tasa de fallos" in page.locator(".statcards").text_content()  # (CSS capitalises it)
        # and back to English
        with page.expect_navigation():
            page.select_option("select[data-lang-select]", "en")
        assert page.locator("main h1").inner_text() == "Metrics"
    finally:
        ctx.close()


def test_a_portuguese_browser_gets_portuguese_unasked(browser: Any, site: Site,
                                                       artifacts_dir: Path) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="pt-BR")
    try:
        page = ctx.new_page()
        page.goto(site.url("/"))
        assert page.locator("html").get_attribute("lang") == "pt-BR"
        assert page.locator("button[type=submit]").inner_text() == "Entrar"
        log_in_pt(page, site)
        assert nav(page)[:2] == ["Filas", "Trabalhadores"]
        page.goto(site.url("/queues/emails?state=failed"))
        page.locator("button.expand").first.click()  # a fragment loaded by htmx: Portuguese too
        trace = page.locator("tr.trace .tracebox").first
        trace.wait_for()
        assert "Abrir o trabalho" in trace.inner_text()
        page.screenshot(path=str(artifacts_dir / "i18n-pt-BR-failed.png"), full_page=True)
    finally:
        ctx.close()


def log_in_pt(page: Any, site: Site) -> None:
    page.fill("input[name=username]", "viewer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(site.url("/")) + "$"))
