"""Dashboard views (placeholder while the full pages are written)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

blueprint = Blueprint(
    "jobboard", __name__, template_folder="../templates", static_folder="../static",
    static_url_path="/static",
)


def render_page(template: str, **context: Any) -> str:
    return render_template(template, **context)
