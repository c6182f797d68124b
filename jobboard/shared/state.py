"""Settings and per-app state of the jobboard extension.

State lives in ``app.extensions["jobboard"]`` (a :class:`JobBoardState`); the extension
object keeps no reference to the app, so one ``JobBoard()`` can serve several apps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, request

from ..errors import ConfigurationError

from .live import LiveCache

if TYPE_CHECKING:
    from flask import Response

    from ..alerts import AlertManager
    from ..board import Board

DEFAULT_URL_PREFIX = "/admin/queues"
DEFAULT_POLL_SECONDS = 5.0
MIN_POLL_SECONDS = 2.0  # never poll faster than this, whatever the config says

#: Every config key jobboard reads, with its default (docs/dashboard.md, docs/api.md).
DEFAULTS: dict[str, Any] = {
    "JOBBOARD_URL_PREFIX": DEFAULT_URL_PREFIX,
    "JOBBOARD_USERS": {},
    "JOBBOARD_AUTHORIZE": None,
    "JOBBOARD_API_TOKENS": {},
    "JOBBOARD_POLL_SECONDS": DEFAULT_POLL_SECONDS,
    "JOBBOARD_READ_ONLY": False,
    "JOBBOARD_HEALTH_OPEN": True,
    "JOBBOARD_METRICS_OPEN": False,
    "JOBBOARD_TITLE": "jobboard",
    "JOBBOARD_HOME_URL": None,  # a link back to the host app in the header (and after logout)
    "JOBBOARD_HOME_LABEL": "Back to app",
    # Built-in login: a session lasts this long from sign-in (seconds), whatever the
    # activity; failed logins of one (user, address) pair are slowed down, not locked out.
    "JOBBOARD_SESSION_LIFETIME": 8 * 3600.0,
    "JOBBOARD_LOGIN_FREE_FAILURES": 3,  # failures of one (user, address) before any delay
    "JOBBOARD_LOGIN_MAX_DELAY": 300.0,  # the delay doubles per failure up to this (seconds)
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host/-Prefix
    # (werkzeug's ProxyFix): the client's address and https come from them only then.
    "JOBBOARD_TRUSTED_PROXIES": 0,
    "JOBBOARD_REDIS_URL": None,  # with JOBBOARD_QUEUES: a board without task imports
    "JOBBOARD_QUEUES": None,
    # The JSON API (jobboard/api, docs/api.md).
    "JOBBOARD_API_RATE_LIMIT": "120/minute",
    "JOBBOARD_API_RATE_LIMIT_STORAGE": "redis",
    "JOBBOARD_API_MAX_BODY": 1024 * 1024,
    "JOBBOARD_API_MAX_BULK": 1000,
    "JOBBOARD_HEALTH_DETAILED_OPEN": False,
    "JOBBOARD_HEALTH_THRESHOLDS": None,
    "JOBBOARD_METRICS_PER_TASK": True,
    "JOBBOARD_METRICS_MAX_TASKS": 50,  # task labels per queue; the rest count as "_other"
    "JOBBOARD_CONFIG": None,
    # Webhook alerts sent by the dashboard's processes (jobboard.alerts; docs/monitoring.md).
    "JOBBOARD_ALERTS": None,
    "JOBBOARD_CONFIG_RELOAD_SECONDS": 1.0,
}


def flag(value: Any) -> bool:
    """A config flag: True, 1, or the strings "1", "true", "yes", "on" (any case)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class Settings:
    """Read-only view of the ``JOBBOARD_*`` config of one app, with defaults applied.

    Reads ``app.config`` at every access so a host app may change a key after ``init_app``
    (tests do). ``settings["JOBBOARD_X"]`` and ``settings.x`` both work.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = config

    def __getitem__(self, key: str) -> Any:
        if key in self._config:
            return self._config[key]
        return DEFAULTS[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, its default, or ``default`` for a key jobboard does not know."""
        try:
            return self[key]
        except KeyError:
            return default

    def flag(self, key: str) -> bool:
        """A boolean setting (accepts "1", "true", "yes", "on" from the environment)."""
        return flag(self[key])

    @property
    def url_prefix(self) -> str:
        return normalize_prefix(self["JOBBOARD_URL_PREFIX"])

    @property
    def users(self) -> Mapping[str, Mapping[str, Any]]:
        return self["JOBBOARD_USERS"] or {}

    @property
    def authorize(self) -> Callable[[Any], str | None] | None:
        return self["JOBBOARD_AUTHORIZE"]  # type: ignore[no-any-return]

    @property
    def api_tokens(self) -> Mapping[str, str]:
        return self["JOBBOARD_API_TOKENS"] or {}

    @property
    def poll_seconds(self) -> float:
        try:
            value = float(self["JOBBOARD_POLL_SECONDS"])
        except (TypeError, ValueError):
            value = DEFAULT_POLL_SECONDS
        return max(MIN_POLL_SECONDS, value)

    @property
    def read_only(self) -> bool:
        return self.flag("JOBBOARD_READ_ONLY")

    @property
    def title(self) -> str:
        return str(self["JOBBOARD_TITLE"])


def normalize_prefix(prefix: str | None) -> str:
    """``"admin/queues/"`` -> ``"/admin/queues"``; ``""`` or ``"/"`` -> ``""`` (mount at root)."""
    prefix = (prefix or "").strip()
    if not prefix or prefix == "/":
        return ""
    return "/" + prefix.strip("/")


#: Renders an HTML error page: (status, message, title) -> response. The pages adapter
#: provides it (the extension wires it in), so this layer never imports the pages.
HtmlErrorRenderer = Callable[[int, str, str], "Response"]


class JobBoardState:
    """What the extension stores in ``app.extensions["jobboard"]``.

    ``board`` is the core :class:`jobboard.board.Board`, built on first use from the Huey
    instances given to ``init_app`` (or given ready-made). ``config`` is a :class:`Settings`.
    ``live`` is the poll cache (:mod:`.live`); ``render_error`` the pages' HTML error page,
    set by the extension when it mounts the pages.
    """

    def __init__(self, app: Flask, hueys: list[Any] | None, board: Board | None) -> None:
        self._hueys = hueys
        self._board = board
        self.config = Settings(app.config)
        self.url_prefix = self.config.url_prefix
        self.live = LiveCache()
        self.render_error: HtmlErrorRenderer | None = None
        #: Blueprints whose errors are always JSON (the API, health, metrics).
        self.json_blueprints: frozenset[str] = frozenset()
        #: The alert sender of this app (``JOBBOARD_ALERTS``), or None.
        self.alerts: AlertManager | None = None

    @property
    def board(self) -> Board:
        """The core Board (built on first use, so importing the app touches no Redis)."""
        if self._board is None:
            self._board = self._build_board()
        return self._board

    def _build_board(self) -> Board:
        from ..board import Board

        if self._hueys:
            return Board(list(self._hueys))
        url = self.config["JOBBOARD_REDIS_URL"]
        queues = self.config["JOBBOARD_QUEUES"]
        if url and queues:

            return Board.from_url(url, queues=list(queues))
        raise ConfigurationError(
            "jobboard has no queues to show. Pass hueys=[huey, ...] or board=Board(...) to "
            "JobBoard()/init_app(), or set JOBBOARD_REDIS_URL and JOBBOARD_QUEUES."
        )

    def owns(self, path: str) -> bool:
        """Whether a request path (without the script root) is under jobboard's prefix."""
        prefix = self.url_prefix
        return not prefix or path == prefix or path.startswith(prefix + "/")

    def owns_request(self) -> bool:
        """Whether the current request is jobboard's: under its prefix or, mounted at the
        site root, routed to one of its blueprints (the host app's pages stay the host's:
        its own headers, its own 404 page)."""
        if self.url_prefix:
            return self.owns(request.path)
        path = request.path
        # At the root, the API, health and metrics paths are still ours (404s included).
        return ((request.blueprint or "").startswith("jobboard") or path in ("/api", "/metrics")
                or path.startswith(("/api/", "/health/")))


def get_state() -> JobBoardState:
    """The :class:`JobBoardState` of the current app (inside a request or app context)."""
    try:
        state: JobBoardState = current_app.extensions["jobboard"]
    except KeyError:
        raise ConfigurationError(
            "jobboard is not initialised on this app. Call JobBoard(app, hueys=[...]) or "
            "JobBoard().init_app(app, hueys=[...]) when creating the app."
        ) from None
    return state


def get_board() -> Board:
    """The core Board of the current app."""
    return get_state().board


def health_thresholds() -> Mapping[str, Any] | None:
    """``JOBBOARD_HEALTH_THRESHOLDS`` of the current app (checked by the extension at
    init; see ``jobboard.checks``): the one source of the pages', the API's, the health
    checks' and the metrics' thresholds."""
    value: Mapping[str, Any] | None = get_state().config["JOBBOARD_HEALTH_THRESHOLDS"] or None
    return value
