"""The users-and-tokens file written by ``jobboard users ...`` / ``jobboard tokens ...``.

A JSON file (path from ``--config`` or ``JOBBOARD_CONFIG``), created with mode 0600::

    {
      "users":  {"alice": {"password_hash": "scrypt:...", "role": "admin"}},
      "tokens": {"<token>": {"role": "operator", "name": "ci", "created_at": 1732380000.0}}
    }

``users`` has exactly the shape of ``JOBBOARD_USERS`` and the token keys map onto
``JOBBOARD_API_TOKENS`` (token -> role), so an app merges it into its config with
:class:`ConfigSync` (done by the extension, ``jobboard.extension``, when ``JOBBOARD_CONFIG`` is set), and
follows later changes of the file without a restart. Passwords are stored as
Werkzeug hashes only; tokens are stored as given because bearer lookup needs them, hence the
file's 0600 mode. Writes go to a temporary file renamed over the old one, so a crash never
leaves half a file.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .roles import ROLES

log = logging.getLogger("jobboard.api")

ENV = "JOBBOARD_CONFIG"


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """The config file path: the argument, else ``$JOBBOARD_CONFIG``."""
    chosen = path or os.environ.get(ENV)
    if not chosen:
        raise ConfigurationError(
            "No users/tokens file given: pass --config PATH or set JOBBOARD_CONFIG=PATH "
            "(the same path the web app reads).")
    return Path(chosen)


def load(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The file's content ({"users": {}, "tokens": {}} when it does not exist yet)."""
    p = resolve_path(path)
    if not p.exists():
        return {"users": {}, "tokens": {}}
    try:
        data = json.loads(p.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError) as e:
        raise ConfigurationError(f"Cannot read {p}: {e}. Fix or remove the file.") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{p} must hold a JSON object with 'users' and 'tokens'.")
    data.setdefault("users", {})
    data.setdefault("tokens", {})
    return data


def save(path: str | os.PathLike[str] | None, data: dict[str, Any]) -> Path:
    """Write atomically with mode 0600 (it holds tokens)."""
    p = resolve_path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".jobboard-", dir=str(p.parent))
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ConfigurationError(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    return role


def add_user(data: dict[str, Any], name: str, password: str, role: str) -> None:
    from werkzeug.security import generate_password_hash

    if not name or len(name) > 100:
        raise ConfigurationError("A username is 1 to 100 characters.")
    if name in data["users"]:
        raise ConfigurationError(f"User {name!r} exists; use `jobboard users passwd {name}`.")
    if len(password) < 8:
        raise ConfigurationError("Passwords need at least 8 characters.")
    data["users"][name] = {"password_hash": generate_password_hash(password),
                           "role": check_role(role)}


def set_password(data: dict[str, Any], name: str, password: str) -> None:
    from werkzeug.security import generate_password_hash

    if name not in data["users"]:
        raise ConfigurationError(f"No user {name!r}; add it with `jobboard users add {name}`.")
    if len(password) < 8:
        raise ConfigurationError("Passwords need at least 8 characters.")
    # A new hash also changes the session stamp, which logs out that user's sessions.
    data["users"][name]["password_hash"] = generate_password_hash(password)


def remove_user(data: dict[str, Any], name: str) -> None:
    if data["users"].pop(name, None) is None:
        raise ConfigurationError(f"No user {name!r}.")


def add_token(data: dict[str, Any], role: str, name: str | None = None,
              queues: Sequence[str] = ()) -> str:
    """A new token with ``role``; with ``queues`` (names or patterns such as ``clinic-a-*``)
    the role holds on those queues only and the others are hidden from it."""
    token = "jb_" + secrets.token_urlsafe(32)
    entry: dict[str, Any] = {"role": check_role(role), "name": name or "", "created_at": time.time()}
    scoped = [q.strip() for q in queues if q.strip()]
    if any(len(q) > 200 for q in scoped):
        raise ConfigurationError("A queue name or pattern is at most 200 characters.")
    if scoped:
        entry["queues"] = scoped
    data["tokens"][token] = entry
    return token


def token_grant(info: Any) -> Any:
    """What a token of the file grants: its role, or {queue or pattern: role} when it is
    scoped to queues (see jobboard.roles.Access)."""
    if not isinstance(info, dict):
        return str(info)
    if info.get("queues"):
        return {str(q): info["role"] for q in info["queues"]}
    return info["role"]


def remove_token(data: dict[str, Any], token_or_name: str) -> int:
    """Remove a token by its value, its name, or a unique prefix of at least 8 characters."""
    tokens: dict[str, Any] = data["tokens"]
    matches = [t for t, info in tokens.items()
               if t == token_or_name or info.get("name") == token_or_name]
    if not matches and len(token_or_name) >= 8:
        matches = [t for t in tokens if t.startswith(token_or_name)]
        if len(matches) > 1:
            raise ConfigurationError(f"{token_or_name!r} matches {len(matches)} tokens; give more.")
    if not matches:
        raise ConfigurationError(f"No token with that value or name ({token_or_name!r}).")
    for t in matches:
        del tokens[t]
    return len(matches)


class ConfigSync:
    """Keeps ``JOBBOARD_USERS`` / ``JOBBOARD_API_TOKENS`` in step with the file.

    The app's own entries (set before the API was registered) always win and are never
    removed; the file's entries are replaced whenever the file changes, so
    ``jobboard tokens remove`` revokes a token in running web processes too (checked at most
    every ``interval`` seconds, by one ``stat``). A file that becomes unreadable while running
    keeps the last good entries and is logged, rather than locking everyone out.
    """

    def __init__(self, config: MutableMapping[str, Any], path: str | os.PathLike[str] | None,
                 interval: float = 1.0) -> None:
        self.config = config
        self.path = resolve_path(path)
        self.interval = interval
        self.base_users = dict(config.get("JOBBOARD_USERS") or {})
        self.base_tokens = dict(config.get("JOBBOARD_API_TOKENS") or {})
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._apply(load(self.path), self._file_stamp())  # at start-up a bad file is an error

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _apply(self, data: dict[str, Any], stamp: tuple[int, int, int] | None) -> None:
        users = {**data["users"], **self.base_users}
        tokens = {t: token_grant(info) for t, info in data["tokens"].items()}
        tokens.update(self.base_tokens)
        self.config["JOBBOARD_USERS"] = users
        self.config["JOBBOARD_API_TOKENS"] = tokens
        self._stamp = stamp

    def refresh(self) -> None:
        """Reload the file if it changed since the last look (cheap; call per request)."""
        now = time.monotonic()
        if now - self._checked < self.interval:
            return
        with self._lock:
            self._checked = now
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return
            try:
                data = load(self.path)
            except ConfigurationError as e:
                log.error("jobboard: keeping the previous users and tokens: %s", e)
                return
            self._apply(data, stamp)
