"""The Flask extension: ``JobBoard(app, hueys=[...])`` or ``JobBoard()`` + ``init_app``.

The top of the layers (docs/architecture.md): it wires the shared Flask layer's hooks
(config file, CSRF guard, security headers, routing errors), the pages, the JSON API with
health and metrics, and the ``flask jobboard`` CLI onto one app. Nothing imports it but
``jobboard/__init__.py``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

from . import alerts, api, checks, cli
from .config_file import ConfigSync
from .errors import ConfigurationError
from .shared import csrf
from .shared.errors import http_error
from .shared.headers import add_security_headers, compress
from .shared.state import DEFAULTS, JobBoardState, get_state
from .web import filters, views

if TYPE_CHECKING:
    from .board import Board

__all__ = ["JobBoard"]


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session, marked Secure whenever the request came over HTTPS.

    ``SESSION_COOKIE_SECURE`` is off by default (plain-http development must work); a
    request that arrived over HTTPS (directly, or per a trusted proxy's X-Forwarded-Proto)
    never gets its cookie back over plain http.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or request.is_secure)


class JobBoard:
    """The jobboard Flask extension.

    ``JobBoard(app, hueys=[huey])`` mounts the dashboard at ``JOBBOARD_URL_PREFIX``
    (default ``/admin/queues``), the JSON API at ``<prefix>/api``, the health checks and
    metrics, and ``flask jobboard ...``. Keyword ``options`` are defaults for the
    ``JOBBOARD_*`` config keys (``JobBoard(url_prefix="/ops")`` is
    ``JOBBOARD_URL_PREFIX="/ops"``); a key already in ``app.config`` wins.
    """

    def __init__(
        self,
        app: Flask | None = None,
        hueys: Iterable[Any] | Any | None = None,
        board: Board | None = None,
        **options: Any,
    ) -> None:
        self._hueys = hueys
        self._board = board
        self._options = options
        if app is not None:
            self.init_app(app)

    def init_app(
        self,
        app: Flask,
        hueys: Iterable[Any] | Any | None = None,
        board: Board | None = None,
    ) -> None:
        """Register the pages, the API, health, metrics and CLI on ``app``; store the state."""
        if "jobboard" in app.extensions:
            raise ConfigurationError(
                "jobboard is already initialised on this app; call init_app() once per app."
            )
        for key, value in self._options.items():
            name = key.upper()
            if not name.startswith("JOBBOARD_"):
                name = "JOBBOARD_" + name
            if name not in DEFAULTS:
                raise ConfigurationError(
                    f"Unknown jobboard option {key!r}. Known options: "
                    + ", ".join(k.removeprefix("JOBBOARD_").lower() for k in DEFAULTS))
            app.config.setdefault(name, value)

        hueys = hueys if hueys is not None else self._hueys
        board = board if board is not None else self._board
        state = JobBoardState(app, _as_list(hueys), board)
        app.extensions["jobboard"] = state
        state.render_error = views.render_error
        state.json_blueprints = api.JSON_BLUEPRINTS

        _harden_sessions(app)
        _trust_proxies(app, state)

        # Hooks that run before any view, in this order (each inserted at the front):
        # users file, then routing errors under the prefix, then (appended) the CSRF guard.
        app.before_request(csrf.guard_request)  # one guard for pages and API alike
        app.before_request_funcs.setdefault(None, []).insert(0, _routing_errors)
        api_prefix = state.url_prefix + "/api"
        app.before_request_funcs.setdefault(None, []).insert(0, api.preflight(api_prefix))
        _follow_config_file(app, state)

        @app.after_request
        def security_headers(response: Response) -> Response:
            if get_state().owns_request():
                add_security_headers(response)
                compress(response)
            return response

        checks.thresholds(state.config["JOBBOARD_HEALTH_THRESHOLDS"])  # a typo fails here
        _start_alerts(app, state)

        filters.register(app)
        app.register_blueprint(views.blueprint, url_prefix=state.url_prefix or None)
        api.register(app, state.url_prefix)
        if "jobboard" not in app.cli.commands:
            app.cli.add_command(cli.flask_group, "jobboard")


def _start_alerts(app: Flask, state: JobBoardState) -> None:
    """``JOBBOARD_ALERTS``: an alert sender in this process (restarted after a fork, on the
    next request). It sends only while it holds the deployment's lease in Redis."""
    settings = alerts.AlertSettings.from_config(state.config["JOBBOARD_ALERTS"])
    if settings is None:
        return
    if settings.thresholds is None and state.config["JOBBOARD_HEALTH_THRESHOLDS"]:
        settings = dataclasses.replace(settings, thresholds=state.config["JOBBOARD_HEALTH_THRESHOLDS"])
    manager = alerts.AlertManager(lambda: state.board, settings)
    state.alerts = manager
    manager.ensure_running()

    @app.before_request
    def keep_alerts_running() -> None:
        manager.ensure_running()  # one pid check, unless a fork left the thread behind


def _harden_sessions(app: Flask) -> None:
    # SameSite defaults to None in Flask, which would let other sites send the dashboard's
    # session along with a POST; Flask already sets HttpOnly.
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Secure under HTTPS, unless the host app brought its own session interface.
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = _SessionInterface()


def _trust_proxies(app: Flask, state: JobBoardState) -> None:
    """Honour X-Forwarded-* from ``JOBBOARD_TRUSTED_PROXIES`` proxies (werkzeug's ProxyFix).

    Only then do the client address (login throttle, rate limit), https (Secure cookies)
    and the path prefix (X-Forwarded-Prefix, the script root) come from the headers.
    """
    try:
        n = int(state.config["JOBBOARD_TRUSTED_PROXIES"] or 0)
    except (TypeError, ValueError):
        raise ConfigurationError(
            "JOBBOARD_TRUSTED_PROXIES is the number of reverse proxies in front of the app "
            "(0 when clients connect directly).") from None
    if n > 0 and not isinstance(app.wsgi_app, ProxyFix):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n,  # type: ignore[method-assign]
                                x_prefix=n)


def _routing_errors() -> Response | None:
    """Answer a 404/405 under the prefix (no view matched) in jobboard's envelope.

    Routing errors are raised before any blueprint's handlers apply, so without this an
    unknown page would get the host app's (or Flask's) bare 404, without our headers.
    """
    exc = request.routing_exception
    if isinstance(exc, (NotFound, MethodNotAllowed)) and get_state().owns_request():
        return http_error(exc)
    return None


def _follow_config_file(app: Flask, state: JobBoardState) -> None:
    """Users and tokens from ``jobboard users/tokens ...``: merged now, then followed while
    the app runs, so removing a token or a user takes effect without a restart."""
    path = app.config.get("JOBBOARD_CONFIG") or os.environ.get("JOBBOARD_CONFIG")
    if not path:
        return
    sync = ConfigSync(app.config, path, float(state.config["JOBBOARD_CONFIG_RELOAD_SECONDS"]))

    def follow_config_file() -> None:
        if get_state().owns_request():  # the host app's own pages need no reload
            sync.refresh()

    # Before the auth checks (and the API preflight) that read the merged config.
    app.before_request_funcs.setdefault(None, []).insert(0, follow_config_file)


def _as_list(hueys: Iterable[Any] | Any | None) -> list[Any] | None:
    if hueys is None:
        return None
    if hasattr(hueys, "enqueue") and hasattr(hueys, "name"):  # one Huey instance
        return [hueys]
    return list(hueys)
