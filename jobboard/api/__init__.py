"""JSON API, health checks and Prometheus metrics of jobboard.

An adapter: mounted by the extension (:mod:`jobboard.extension`), which calls
:func:`register` and installs :func:`preflight`; built on the shared Flask layer
(:mod:`jobboard.shared`) and never importing the pages or the CLI.

* ``<prefix>/api/...``: the JSON API (see docs/api.md and ``<prefix>/api/openapi.json``);
* ``<prefix>/health/ready`` and ``<prefix>/health/detailed``;
* ``<prefix>/metrics``: Prometheus text format, read from Redis at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, request
from werkzeug.routing import BaseConverter
from werkzeug.wrappers import Response

from . import access
from .errors import ApiError, to_response
from .health import health_blueprint
from .prometheus import metrics_blueprint
from .views import api_blueprint

__all__ = ["JSON_BLUEPRINTS", "preflight", "register"]

#: The blueprints of this package: their errors are JSON whatever the client accepts.
JSON_BLUEPRINTS = frozenset({api_blueprint.name, health_blueprint.name, metrics_blueprint.name})


class JobIdConverter(BaseConverter):
    """A job id in a URL: one path segment, never the word ``bulk``."""

    regex = r"(?!bulk(?:/|$))[^/]+"


def register(app: Flask, url_prefix: str) -> None:
    """Register the API, health and metrics blueprints of jobboard under ``url_prefix``."""
    # Job ids are any path segment except "bulk", which is POST .../jobs/bulk: without this
    # the two rules overlap and a wrong method on /jobs/bulk would list GET/DELETE as allowed.
    app.url_map.converters.setdefault("jobboard_job_id", JobIdConverter)
    prefix = (url_prefix or "").rstrip("/")
    # Blueprints are module-level objects: Flask lets several apps each register them once.
    app.register_blueprint(api_blueprint, url_prefix=prefix + "/api")
    app.register_blueprint(health_blueprint, url_prefix=prefix or None)
    app.register_blueprint(metrics_blueprint, url_prefix=prefix or None)


def preflight(api_prefix: str) -> Callable[[], Response | None]:
    """A ``before_request`` hook answering API requests without valid credentials.

    It runs before the CSRF guard: a request with no credentials gets the API's 401 rather
    than the guard's "no token in this session", which would send an API client looking
    for a session it was never meant to have.
    """

    def api_preflight() -> Response | None:
        path = request.path
        if not (path == api_prefix or path.startswith(api_prefix + "/")):
            return None
        if request.routing_exception is not None:
            return None  # answered by the extension's routing-error hook
        if access.role_of_endpoint(request.endpoint) is not None and access.current_role() is None:
            try:
                access.check("viewer")
            except ApiError as e:
                return to_response(e)
        return None

    return api_preflight
