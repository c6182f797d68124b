"""Several Redis in one dashboard (docs/scaling.md, "Several Redis"): one Flask app and
Board per Redis, mounted side by side under one WSGI app with werkzeug's
DispatcherMiddleware, each with its own prefix and session cookie path."""

from __future__ import annotations

from typing import Any

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from tests.support import auth, make_app, make_huey


def test_two_redis_two_boards_one_wsgi_app(redis_url: str) -> None:
    east_url = redis_url
    west_url = redis_url.rsplit("/", 1)[0] + "/" + str((int(redis_url.rsplit("/", 1)[1]) + 1) % 16)
    east, west = make_huey(east_url, name="eastmail"), make_huey(west_url, name="westmail")
    east.storage.conn.flushdb()
    west.storage.conn.flushdb()
    apps: dict[str, Any] = {}
    for where, huey in (("east", east), ("west", west)):
        # Each app sees the prefix it is mounted at as its SCRIPT_NAME: the dashboard's
        # own prefix stays /admin/queues inside it.
        apps[f"/{where}"] = make_app(huey, SESSION_COOKIE_PATH=f"/{where}",
                                     SESSION_COOKIE_NAME=f"jobboard-{where}")
    root = apps.pop("/east")
    wsgi = DispatcherMiddleware(root, apps)
    client = Client(wsgi)
    # Actions go to the Redis of the board they were sent to.
    assert client.post("/admin/queues/api/queues/eastmail/jobs", json={"task": "add", "args": [1]},
                       headers=auth("operator")).status_code == 201
    for i in range(2):
        assert client.post("/west/admin/queues/api/queues/westmail/jobs",
                           json={"task": "add", "args": [i]}, headers=auth("operator")).status_code == 201
    assert client.post("/admin/queues/api/queues/westmail/jobs", json={"task": "add", "args": [1]},
                       headers=auth("operator")).status_code == 404  # not on the east board
    e = client.get("/admin/queues/api/queues", headers=auth("viewer"))
    w = client.get("/west/admin/queues/api/queues", headers=auth("viewer"))
    assert e.status_code == w.status_code == 200, (e.text[:300], w.text[:300])
    east_names = {q["name"]: q for q in e.json["queues"]}
    west_names = {q["name"]: q for q in w.json["queues"]}
    assert set(east_names) == {"eastmail"} and set(west_names) == {"westmail"}, east_names
    east_q = client.get("/admin/queues/api/queues/eastmail", headers=auth("viewer")).json
    west_q = client.get("/west/admin/queues/api/queues/westmail", headers=auth("viewer")).json
    assert east_q["states"]["waiting"] == 1 and west_q["states"]["waiting"] == 2
    assert east.storage.conn.connection_pool.connection_kwargs["db"] != \
        west.storage.conn.connection_pool.connection_kwargs["db"]
    # The pages too, each under its mount.
    assert client.get("/west/admin/queues/login").status_code == 200
    assert 'action="/west/admin/queues/login"' in client.get("/west/admin/queues/login").text
