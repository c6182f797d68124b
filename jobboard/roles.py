"""Who may do what: the three roles and the role each action needs.

One definition for the pages, the JSON API, the CLI (``jobboard users add --role``) and the
users file. Roles are ordered: each one may do everything the ones before it may.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")

#: Which role each action needs (the pages, their templates and the JSON API read this).
ACTION_ROLES: dict[str, str] = {
    "retry": "operator", "promote": "operator", "revoke": "operator",
    "pause": "operator", "resume": "operator", "run": "operator",
    "pause_periodic": "operator", "resume_periodic": "operator", "submit": "operator",
    "duplicate": "operator", "edit_retry": "operator",
    "remove": "admin", "clean": "admin", "empty": "admin", "test_alert": "admin",
}


def role_rank(role: str | None) -> int:
    """0 for viewer, 1 for operator, 2 for admin, -1 for anything else (no access)."""
    return ROLES.index(role) if role in ROLES else -1



#: What a login, a token or ``JOBBOARD_AUTHORIZE`` grants: one role for every queue, or a
#: role per queue name or pattern (``{"clinic-a-*": "operator", "shared": "viewer"}``).
Grant = str | Mapping[str, str]


class Access:
    """Who may do what on which queue: a role for every queue, or one per queue.

    Per-queue grants map queue names or ``fnmatch`` patterns (``clinic-a-*``) to roles; a
    queue gets the role of the most specific entry that matches it (an exact name first,
    then the longest pattern), and no role at all (it is hidden) when none matches.
    """

    __slots__ = ("role", "scopes", "read_only")

    def __init__(self, grant: Grant | None, read_only: bool = False) -> None:
        self.read_only = read_only
        self.role: str | None = None
        self.scopes: dict[str, str] | None = None
        if isinstance(grant, str):
            self.role = grant if grant in ROLES else None
        elif isinstance(grant, Mapping):
            self.scopes = {str(k): str(v) for k, v in grant.items() if v in ROLES}

    @property
    def scoped(self) -> bool:
        """Whether the grant names queues (else it covers every queue alike)."""
        return self.scopes is not None

    def _cap(self, role: str | None) -> str | None:
        return "viewer" if role is not None and self.read_only else role

    def role_for(self, queue: str) -> str | None:
        """The role on ``queue`` (after read-only), or None when it is not visible."""
        if self.scopes is None:
            return self._cap(self.role)
        if queue in self.scopes:
            return self._cap(self.scopes[queue])
        matches = [p for p in self.scopes if fnmatch.fnmatchcase(queue, p)]
        if not matches:
            return None
        best = max(matches, key=lambda p: (len(p.replace("*", "")), role_rank(self.scopes[p])))  # type: ignore[index]
        return self._cap(self.scopes[best])

    def can_see(self, queue: str) -> bool:
        return self.role_for(queue) is not None

    @property
    def top_role(self) -> str | None:
        """The highest role on any queue (what pages without a queue go by)."""
        if self.scopes is None:
            return self._cap(self.role)
        if not self.scopes:
            return None
        return self._cap(max(self.scopes.values(), key=role_rank))

    def allows(self, needed: str, queue: str | None = None) -> bool:
        """Whether this access has at least ``needed`` on ``queue`` (on some queue when
        ``queue`` is None)."""
        role = self.role_for(queue) if queue is not None else self.top_role
        return role_rank(role) >= role_rank(needed)
