"""The embeddable Flask dashboard: ``JobBoard(app, hueys=[...])``.

See docs/dashboard.md for the configuration keys.
"""

from .auth import ROLES, authenticated_by_token, current_role, has_role, require_role
from .csrf import check_csrf, csrf_token
from .extension import JobBoard, JobBoardState, get_board, get_state

__all__ = [
    "ROLES", "JobBoard", "JobBoardState", "authenticated_by_token", "check_csrf",
    "csrf_token", "current_role", "get_board", "get_state", "has_role", "require_role",
]
