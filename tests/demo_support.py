"""Helpers for the demo tests: the clinic worker bound to a test's Redis, consumers in threads.

``worker.py`` reads its Redis URL and folders from the environment when imported, so each
test imports a fresh copy after setting the environment (and drops it afterwards).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

DEMO_MODULES = ("worker", "wsgi")


def fresh_import(name: str) -> ModuleType:
    """Import ``worker`` / ``wsgi`` anew, so they read the current environment."""
    for module in DEMO_MODULES:
        sys.modules.pop(module, None)
    return importlib.import_module(name)


def forget_demo_modules() -> None:
    for module in DEMO_MODULES:
        mod = sys.modules.pop(module, None)
        pool = getattr(mod, "_pool", None)
        if pool is not None:
            pool.disconnect()
