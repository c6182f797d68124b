"""The harness of the headless-Chromium tests (tests/test_browser_*.py), in one place.

Debian's /usr/bin/chromium driven by Playwright; the app served by werkzeug on a free
loopback port (``serve``). The ``browser`` fixture (tests/conftest.py, ``launch``) is one
browser per module (with ``--dist loadfile`` a module runs on one xdist worker); each
module builds its own ``site`` fixture: its data differs from module to module.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.support import PASSWORD, PREFIX

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

if not Path(CHROMIUM).exists():  # pragma: no cover - the test script installs it
    pytest.skip("needs Debian's chromium at /usr/bin/chromium", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


class Site:
    """The served app plus the handles a module's tests need (``queue``, ``huey``...)."""

    def __init__(self, base: str, **handles: Any) -> None:
        self.base = base
        for name, value in handles.items():
            setattr(self, name, value)

    def url(self, path: str) -> str:
        return self.base + PREFIX + path

    def __getattr__(self, name: str) -> Any:  # for the type checker: handles are dynamic
        raise AttributeError(name)


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@contextlib.contextmanager
def launch() -> Iterator[Any]:
    """A headless Chromium (the ``browser`` fixture of tests/conftest.py: one per module)."""
    pw = sync_api.sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


def log_in(page: Any, site: Site, role: str = "admin") -> None:
    """Sign in through the login page as the user named after ``role``."""
    page.goto(site.url("/login"))
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(site.url("/")) + "$"))


def accept_dialogs(page: Any) -> list[str]:
    """Accept every confirm() of ``page``; returns the messages seen, as they come."""
    seen: list[str] = []

    def on_dialog(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)
    return seen
