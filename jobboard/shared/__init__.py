"""The Flask layer shared by the adapters (pages, JSON API, CLI).

* :mod:`.state`: the ``JOBBOARD_*`` settings and the per-app state (``get_state()``,
  ``get_board()``);
* :mod:`.auth`: who is asking and their role (bearer tokens, the host app's login, the
  built-in login sessions kept in Redis);
* :mod:`.throttle`: growing delays after failed logins, in Redis;
* :mod:`.csrf`: the CSRF guard for every state-changing request;
* :mod:`.errors`: the one error envelope (JSON or HTML) and the Redis-outage answer;
* :mod:`.headers`: the security headers sent with every response.

Nothing here imports an adapter: see docs/architecture.md.
"""
