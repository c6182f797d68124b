"""The Flask extension: ``JobBoard(app, hueys=[...])`` or ``JobBoard()`` + ``init_app``.

State lives in ``app.extensions["jobboard"]`` (a :class:`JobBoardState`); the extension
object keeps no reference to the app, so one ``JobBoard()`` can serve several apps.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable

from flask import Flask, current_app

from ..errors import ConfigurationError

if TYPE_CHECKING:  # the core lands in jobboard.board; imported lazily at runtime
    from ..board import Board

DEFAULT_URL_PREFIX = "/admin/queues"
DEFAULT_POLL_SECONDS = 5.0
MIN_POLL_SECONDS = 2.0  # never poll faster than this, whatever the config says

#: Every config key the dashboard reads, with its default. Documented in docs/dashboard.md.
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
    "JOBBOARD_LOGIN_ATTEMPTS": 5,  # failed logins allowed per client per window
    "JOBBOARD_LOGIN_WINDOW": 300.0,  # seconds
    "JOBBOARD_REDIS_URL": None,  # with JOBBOARD_QUEUES: a board without task imports
    "JOBBOARD_QUEUES": None,
}

# Options read by the JSON API (jobboard/api, docs/api.md), which keeps their defaults:
# accepted here so that JobBoard(app, api_rate_limit=...) works like any other option.
API_OPTIONS = frozenset({
    "JOBBOARD_API_RATE_LIMIT", "JOBBOARD_API_RATE_LIMIT_STORAGE", "JOBBOARD_API_MAX_BODY",
    "JOBBOARD_API_MAX_BULK", "JOBBOARD_HEALTH_DETAILED_OPEN", "JOBBOARD_HEALTH_THRESHOLDS",
    "JOBBOARD_METRICS_PER_TASK", "JOBBOARD_CONFIG", "JOBBOARD_CONFIG_RELOAD_SECONDS",
})


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
        try:
            return self[key]
        except KeyError:
            return default

    @property
    def url_prefix(self) -> str:
        return normalize_prefix(self["JOBBOARD_URL_PREFIX"])

    @property
    def users(self) -> Mapping[str, Mapping[str, Any]]:
        return self["JOBBOARD_USERS"] or {}

    @property
    def authorize(self) -> Callable[[Any], str | None] | None:
        return self["JOBBOARD_AUTHORIZE"]

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
        return bool(self["JOBBOARD_READ_ONLY"])

    @property
    def health_open(self) -> bool:
        return bool(self["JOBBOARD_HEALTH_OPEN"])

    @property
    def metrics_open(self) -> bool:
        return bool(self["JOBBOARD_METRICS_OPEN"])

    @property
    def title(self) -> str:
        return str(self["JOBBOARD_TITLE"])


def normalize_prefix(prefix: str | None) -> str:
    """``"admin/queues/"`` -> ``"/admin/queues"``; ``""`` or ``"/"`` -> ``""`` (mount at root)."""
    prefix = (prefix or "").strip()
    if not prefix or prefix == "/":
        return ""
    return "/" + prefix.strip("/")


class JobBoardState:
    """What the extension stores in ``app.extensions["jobboard"]``.

    ``board`` is the core :class:`jobboard.board.Board`, built on first use from the Huey
    instances given to ``init_app`` (or given ready-made). ``config`` is a :class:`Settings`.
    ``live`` is the shared poll cache (see :mod:`jobboard.web.live`).
    """

    def __init__(self, app: Flask, hueys: list[Any] | None, board: Board | None) -> None:
        from .auth import LoginThrottle
        from .live import LiveCache

        self._hueys = hueys
        self._board = board
        self.config = Settings(app.config)
        self.url_prefix = self.config.url_prefix
        self.live = LiveCache()
        self.login_throttle = LoginThrottle()

    @property
    def board(self) -> Board:
        if self._board is None:
            self._board = self._build_board()
        return self._board

    def _build_board(self) -> Board:
        # Imported here so the web package imports (and its URL map can be tested) even in
        # a process that never touches Redis.
        from ..board import Board

        if self._hueys:
            return Board(list(self._hueys))
        url = self.config["JOBBOARD_REDIS_URL"]
        queues = self.config["JOBBOARD_QUEUES"]
        if url and queues:
            import redis

            return Board(redis=redis.Redis.from_url(url), queues=list(queues))
        raise ConfigurationError(
            "jobboard has no queues to show. Pass hueys=[huey, ...] or board=Board(...) to "
            "JobBoard()/init_app(), or set JOBBOARD_REDIS_URL and JOBBOARD_QUEUES."
        )


class JobBoard:
    """The jobboard Flask extension.

    ``JobBoard(app, hueys=[huey])`` mounts the dashboard at ``JOBBOARD_URL_PREFIX``
    (default ``/admin/queues``) and, when the ``jobboard.api`` package is present, the JSON
    API at ``<prefix>/api``. Keyword ``options`` are defaults for the ``JOBBOARD_*`` config
    keys (``JobBoard(url_prefix="/ops")`` is ``JOBBOARD_URL_PREFIX="/ops"``); a key already
    in ``app.config`` wins.
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
        """Register the dashboard (and API) blueprints on ``app`` and store the state."""
        if "jobboard" in app.extensions:
            raise ConfigurationError(
                "jobboard is already initialised on this app; call init_app() once per app."
            )
        for key, value in self._options.items():
            name = key.upper()
            if not name.startswith("JOBBOARD_"):
                name = "JOBBOARD_" + name
            if name not in DEFAULTS and name not in API_OPTIONS:
                raise ConfigurationError(
                    f"Unknown jobboard option {key!r}. Known options: "
                    + ", ".join(k.removeprefix("JOBBOARD_").lower() for k in [*DEFAULTS, *sorted(API_OPTIONS)])
                )
            app.config.setdefault(name, value)

        hueys = hueys if hueys is not None else self._hueys
        board = board if board is not None else self._board
        state = JobBoardState(app, _as_list(hueys), board)
        app.extensions["jobboard"] = state

        # Session cookie hardening. Flask already sets HttpOnly; SameSite defaults to None,
        # which would let other sites send the dashboard's session along with a POST.
        if app.config.get("SESSION_COOKIE_SAMESITE") is None:
            app.config["SESSION_COOKIE_SAMESITE"] = "Lax"

        from . import csrf, filters
        from .views import blueprint

        filters.register(app)
        app.register_blueprint(blueprint, url_prefix=state.url_prefix or None)
        # One CSRF guard for everything under the prefix (pages and JSON API alike), so no
        # POST route can forget it.
        app.before_request(csrf.guard_request)
        _register_api(app, state)


def _register_api(app: Flask, state: JobBoardState) -> None:
    """Mount ``jobboard.api`` if that package exists (it is built separately)."""
    try:
        from .. import api  # type: ignore[attr-defined]
    except ModuleNotFoundError as exc:
        if exc.name in ("jobboard.api",):
            return
        raise
    api_blueprint = getattr(api, "blueprint", None)
    register = getattr(api, "register", None)
    if api_blueprint is not None and api_blueprint.name not in app.blueprints:
        app.register_blueprint(api_blueprint, url_prefix=(state.url_prefix or "") + "/api")
    if callable(register):
        params = list(inspect.signature(register).parameters)
        second = params[1] if len(params) > 1 else ""
        if second == "state":
            register(app, state)
        elif second:
            register(app, state.url_prefix)
        else:
            register(app)


def _as_list(hueys: Iterable[Any] | Any | None) -> list[Any] | None:
    if hueys is None:
        return None
    if hasattr(hueys, "enqueue") and hasattr(hueys, "name"):  # one Huey instance
        return [hueys]
    return list(hueys)


def get_state() -> JobBoardState:
    """The :class:`JobBoardState` of the current app (inside a request or app context)."""
    try:
        return current_app.extensions["jobboard"]
    except KeyError:
        raise ConfigurationError(
            "jobboard is not initialised on this app. Call JobBoard(app, hueys=[...]) or "
            "JobBoard().init_app(app, hueys=[...]) when creating the app."
        ) from None


def get_board() -> Board:
    """The core Board of the current app."""
    return get_state().board
