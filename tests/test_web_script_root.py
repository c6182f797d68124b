"""Behind a reverse proxy that mounts the app at /ops (SCRIPT_NAME): every link, the poll's
hx-get, the login redirect and its ``next`` keep the /ops prefix."""

from __future__ import annotations

from typing import Any

from bs4 import BeautifulSoup
from flask import Flask
from tests.support import PASSWORD, PREFIX, make_app, make_huey

ROOT = "/ops"
BASE = "http://localhost" + ROOT  # the test client's script root


def soup(resp: Any) -> BeautifulSoup:
    return BeautifulSoup(resp.get_data(as_text=True), "html.parser")


def follow(url: str) -> str:
    """What the proxy forwards for a browser URL: the path with /ops stripped (it becomes
    SCRIPT_NAME, the client's base_url)."""
    assert url.startswith(ROOT + "/"), url
    return url[len(ROOT):]


def test_paging_polling_and_login_keep_the_script_root(redis_url: str) -> None:
    huey = make_huey(redis_url)
    app: Flask = make_app(huey)
    queue = app.extensions["jobboard"].board.queue("emails")
    for n in range(30):  # no consumer: 30 waiting jobs, two pages of 25
        queue.enqueue("add", args=(n,))
    client = app.test_client()

    # Anonymous: sent to the login page under /ops, with next = this page under /ops.
    resp = client.get(f"{PREFIX}/queues/emails?state=waiting", base_url=BASE)
    assert resp.status_code == 302
    assert resp.location.startswith(f"{ROOT}{PREFIX}/login?next=")
    assert "next=/ops/admin/queues/queues/emails" in resp.location.replace("%2F", "/")

    page = client.get(follow(resp.location), base_url=BASE)
    form = soup(page).find("form", attrs={"method": "post"})
    assert form is not None and form["action"].startswith(f"{ROOT}{PREFIX}/login")
    fields = {i["name"]: i.get("value", "") for i in form.find_all("input") if i.get("name")}
    fields.update(username="viewer", password=PASSWORD)
    signed_in = client.post(follow(form["action"]), data=fields, base_url=BASE)
    assert signed_in.status_code == 303
    assert signed_in.location == f"{ROOT}{PREFIX}/queues/emails?state=waiting"

    # Paging: the pager's links keep /ops.
    html = soup(client.get(f"{PREFIX}/queues/emails?state=waiting", base_url=BASE))
    nxt = html.find("a", rel="next")
    assert nxt is not None and nxt["href"].startswith(f"{ROOT}{PREFIX}/queues/emails?")
    assert "page=2" in nxt["href"]
    second = client.get(follow(nxt["href"]), base_url=BASE)
    assert second.status_code == 200
    assert soup(second).find("a", rel="prev")["href"].startswith(f"{ROOT}{PREFIX}/")

    # Polling: the main element polls its own URL under /ops, and the poll answers.
    main = soup(second).find("main", id="main")
    assert main is not None and main["hx-get"].startswith(f"{ROOT}{PREFIX}/queues/emails?")
    poll = client.get(follow(main["hx-get"]), base_url=BASE,
                      headers={"HX-Request": "true", "X-Jobboard-Poll": "1"})
    assert poll.status_code == 200
    # Every other link and form of the page stays under /ops too.
    for tag, attr in (("a", "href"), ("form", "action"), ("link", "href"), ("script", "src")):
        for el in soup(second).find_all(tag):
            if el.get(attr):
                assert el[attr].startswith((ROOT + "/", "#", "?")), (tag, el[attr])
    for hidden in soup(second).find_all("input", attrs={"name": "next"}):
        assert hidden["value"].startswith(ROOT + PREFIX), hidden
