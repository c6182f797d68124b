"""Who may do what: the three roles and the role each action needs.

One definition for the pages, the JSON API, the CLI (``jobboard users add --role``) and the
users file. Roles are ordered: each one may do everything the ones before it may.
"""

from __future__ import annotations

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")

#: Which role each action needs (the pages, their templates and the JSON API read this).
ACTION_ROLES: dict[str, str] = {
    "retry": "operator", "promote": "operator", "revoke": "operator",
    "pause": "operator", "resume": "operator", "run": "operator",
    "pause_periodic": "operator", "resume_periodic": "operator", "submit": "operator",
    "remove": "admin", "clean": "admin", "empty": "admin", "test_alert": "admin",
}


def role_rank(role: str | None) -> int:
    """0 for viewer, 1 for operator, 2 for admin, -1 for anything else (no access)."""
    return ROLES.index(role) if role in ROLES else -1

