"""JSON API, health checks and Prometheus metrics of jobboard.

Mounted by the extension (``jobboard.web.JobBoard``), which calls :func:`register`:

* ``<prefix>/api/...``: the JSON API (see docs/api.md and ``<prefix>/api/openapi.json``);
* ``<prefix>/health/ready`` and ``<prefix>/health/detailed``;
* ``<prefix>/metrics``: Prometheus text format, read from Redis at scrape time;
* ``flask jobboard ...``: the CLI of :mod:`jobboard.cli`, inside the app's context.
"""

from __future__ import annotations

import os

from flask import Flask, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter
from werkzeug.wrappers import Response

from .errors import ApiError, to_response

__all__ = ["register"]


class JobIdConverter(BaseConverter):
    """A job id in a URL: one path segment, never the word ``bulk``."""

    regex = r"(?!bulk(?:/|$))[^/]+"


def register(app: Flask, url_prefix: str) -> None:
    """Register the API, health and metrics blueprints of jobboard under ``url_prefix``."""
    from .health import health_blueprint
    from .prometheus import metrics_blueprint
    from .views import api_blueprint

    # Job ids are any path segment except "bulk", which is POST .../jobs/bulk: without this
    # the two rules overlap and a wrong method on /jobs/bulk would list GET/DELETE as allowed.
    app.url_map.converters.setdefault("jobboard_job_id", JobIdConverter)
    prefix = (url_prefix or "").rstrip("/")
    api_prefix = prefix + "/api"
    # Blueprints are module-level objects: Flask lets several apps each register them once.
    app.register_blueprint(api_blueprint, url_prefix=api_prefix)
    app.register_blueprint(health_blueprint, url_prefix=prefix or None)
    app.register_blueprint(metrics_blueprint, url_prefix=prefix or None)

    def api_preflight() -> Response | None:
        """Answer API requests that never reach a view, before the CSRF guard sees them.

        * Unknown paths and wrong methods under ``/api`` get the API's JSON 404/405 (routing
          errors are raised before blueprint error handlers apply).
        * A request with no valid credentials gets a 401 rather than the CSRF guard's
          "no token in this session", which would send an API client looking for a
          session it was never meant to have.
        """
        path = request.path
        if not (path == api_prefix or path.startswith(api_prefix + "/")):
            return None
        exc = request.routing_exception
        if isinstance(exc, (NotFound, MethodNotAllowed)):
            return to_response(exc)
        if exc is not None:
            return None
        from . import access

        if access.role_of_endpoint(request.endpoint) is not None and access.current_role() is None:
            try:
                access.check("viewer")
            except ApiError as e:
                return to_response(e)
        return None

    # First in line: before the dashboard's app-wide CSRF guard (see docstring above).
    app.before_request_funcs.setdefault(None, []).insert(0, api_preflight)

    # Users and tokens created with `jobboard users/tokens ...`: merged now, and followed
    # while the app runs so that removing a token or a user takes effect without a restart.
    config_path = app.config.get("JOBBOARD_CONFIG") or os.environ.get("JOBBOARD_CONFIG")
    if config_path:
        from .config_file import ConfigSync

        sync = ConfigSync(app.config, config_path,
                          float(app.config.get("JOBBOARD_CONFIG_RELOAD_SECONDS", 1.0)))

        def follow_config_file() -> None:
            if prefix and not (request.path == prefix or request.path.startswith(prefix + "/")):
                return  # the host app's own pages do not need jobboard's users
            sync.refresh()

        # Before the auth checks (and the API preflight) that read the merged config.
        app.before_request_funcs.setdefault(None, []).insert(0, follow_config_file)

    from ..cli import flask_group

    if "jobboard" not in app.cli.commands:
        app.cli.add_command(flask_group, "jobboard")
