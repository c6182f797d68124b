"""Languages (issue 17 item 8): the pages in English, Spanish and Brazilian Portuguese.

Every message of the pages' sources has a translation in each shipped catalog, the
committed .mo files are the .po files compiled, every page renders in the viewer's
language (Accept-Language, or the jb_lang cookie that beats it) with no English left,
numbers and times are written the locale's way, and a host app's own Flask-Babel neither
breaks ours nor gets our catalogs.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from bs4 import BeautifulSoup
from flask import Flask, render_template_string
from flask.testing import FlaskClient

from jobboard import JobBoard
from jobboard.web import filters, i18n
from tests.support import (
    PREFIX, TOKENS, USERS, RunningConsumer, csrf_from, login, make_app, make_huey, soup, wait_for,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = {"es": "es", "pt-BR": "pt_BR"}  # tag -> catalog directory
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "N_": None}


# --- catalogs -----------------------------------------------------------------------------

def source_messages() -> set[str | tuple[str, str]]:
    """Every message the pages' sources mark (babel.cfg), as the extractor sees them."""
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: set[str | tuple[str, str]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def catalog(tag: str) -> Any:
    path = ROOT / "jobboard/translations" / SHIPPED[tag] / "LC_MESSAGES/jobboard.po"
    with open(path, "rb") as f:
        return read_po(f, locale=SHIPPED[tag])


def untranslated(messages: Iterable[str | tuple[str, str]], cat: Any) -> list[Any]:
    """The messages without a usable translation in ``cat``: absent, fuzzy, or empty (a
    plural with any empty form counts as empty). Obsolete entries do not matter."""
    missing = []
    for msg in messages:
        entry = cat.get(msg if isinstance(msg, str) else msg[0])
        strings = () if entry is None else (
            entry.string if isinstance(entry.string, (tuple, list)) else (entry.string,))
        if entry is None or entry.fuzzy or not strings or not all(strings):
            missing.append(msg)
        elif isinstance(msg, tuple) and not isinstance(entry.string, (tuple, list)):
            missing.append(msg)  # a plural message translated as a singular one
    return missing


def test_the_sources_have_hundreds_of_messages_the_extractor_finds() -> None:
    found = source_messages()
    assert len(found) > 400  # the pages, their flashes and error messages
    for msg in ("Log out", "Queues", ("%(num)s queue", "%(num)s queues"), "Wrong username or password.",
                "waiting", "Not found", "just now"):
        assert msg in found, msg


@pytest.mark.parametrize("tag", sorted(SHIPPED))
def test_every_message_is_translated_in_every_shipped_language(tag: str) -> None:
    missing = untranslated(source_messages(), catalog(tag))
    assert not missing, (f"{len(missing)} messages lack a {tag} translation; run "
                         f"scripts/i18n.sh update, translate them, then compile: {missing[:10]}")


def test_the_check_fails_for_a_message_nobody_translated() -> None:
    """The check above can fail: a template string added without a translation is caught."""
    template = b"<p>{{ _('Queues') }} {{ _('A message nobody has translated yet') }}</p>\n" \
               b"{{ ngettext('%(num)s fish', '%(num)s fishes', n) }}"
    messages = {m[1] if isinstance(m[1], str) else (m[1][0], m[1][1])
                for m in extract("jinja2", io.BytesIO(template), keywords=KEYWORDS,
                                 options={"extensions": "jinja2.ext.i18n"})}
    assert "Queues" in messages
    for tag in SHIPPED:
        missing = untranslated(messages, catalog(tag))
        assert sorted(map(str, missing)) == sorted(map(str, messages - {"Queues"}))
        assert "A message nobody has translated yet" in missing
    # a fuzzy or emptied entry is caught too
    cat = catalog("es")
    cat["Queues"].flags.add("fuzzy")
    assert untranslated(["Queues"], cat) == ["Queues"]
    cat["Log out"].string = ""
    assert untranslated(["Log out"], cat) == ["Log out"]


@pytest.mark.parametrize("tag", sorted(SHIPPED))
def test_the_committed_mo_is_the_po_compiled(tag: str) -> None:
    """The package ships the .mo files; they cannot drift from the .po they come from."""
    compiled = io.BytesIO()
    write_mo(compiled, catalog(tag))
    mo = ROOT / "jobboard/translations" / SHIPPED[tag] / "LC_MESSAGES/jobboard.mo"
    assert mo.read_bytes() == compiled.getvalue(), "run scripts/i18n.sh compile and commit the .mo"


# --- pages --------------------------------------------------------------------------------

#: English words of the pages' chrome, none of which a Spanish or Portuguese page may show.
ENGLISH = ("Queues", "Queue", "Workers", "Periodic", "Metrics", "Alerts", "Activity", "Search",
           "Log out", "Log in", "Waiting", "waiting", "Scheduled", "scheduled", "Completed",
           "completed", "Failed", "failed", "Retry", "Remove", "Revoke", "Pause", "Resume",
           "Run now", "Enqueued", "Started", "Finished", "Details", "Timeline", "Arguments",
           "Options", "Attempts", "attempt", "Consumer", "consumers", "jobs", "job", "Job",
           "Task", "Username", "Password", "Not found", "Back to the queues", "ago", "just now",
           "Live", "Theme", "Language", "Throughput", "Timing", "Last seen", "Running now",
           "healthy", "needs attention", "last hour", "Clear", "Apply", "Order", "Per page",
           "When", "User", "Action", "Filter", "Since", "Schedule", "Next run", "Outcome")
#: Words of each language that its pages must show (the translations did arrive).
EXPECTED = {
    "es": ("Colas", "Trabajadores", "Métricas", "Actividad", "Cerrar sesión"),
    "pt-BR": ("Filas", "Trabalhadores", "Métricas", "Atividade", "Sair"),
}


def visible_text(html: str, data: Iterable[str] = ()) -> str:
    """What a person reads on the page, data (names, ids, payloads, core messages) left out."""
    page = BeautifulSoup(html, "html.parser")
    for el in page.select("script, style, pre, code, .mono, [data-field], td.task, td.args, "
                          "span.task, strong.task, td.qname, .reasons, ol.timeline span.muted, "
                          "select[data-lang-select], option, .errmsg"):
        el.decompose()
    text = page.get_text(" ", strip=True)
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    return text


def leftover_english(text: str) -> list[str]:
    return [w for w in ENGLISH if re.search(r"(?<![\w-])" + re.escape(w) + r"(?![\w-])", text)]


@pytest.fixture
def seeded(redis_url: str) -> Any:
    """An app with a completed and a failed job, an audit entry, a consumer alive."""
    huey = make_huey(redis_url)
    app = make_app(huey)
    q = app.extensions["jobboard"].board.queue("emails")
    running = RunningConsumer(huey)
    done, _ = q.enqueue("add", [1, 2])
    failed, _ = q.enqueue("boom", ["kaput"], retries=0)
    wait_for(lambda: q.counts()["completed"] == 1 and q.counts()["failed"] == 1)
    yield app, q, done, failed, running
    running.stop()


def signed_in(app: Flask, **headers: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
    login(client, "admin")
    return client


@pytest.mark.parametrize("tag", sorted(SHIPPED))
def test_every_page_is_in_the_viewers_language(seeded: Any, tag: str) -> None:
    app, q, done, failed, running = seeded
    client = signed_in(app, **{"Accept-Language": f"{tag},en;q=0.5"})
    # an action, so Activity has an entry and a toast is shown (in the language too)
    token = client.get(f"{PREFIX}/queues/emails/jobs/{failed}").get_data(as_text=True)
    resp = client.post(f"{PREFIX}/queues/emails/jobs/{failed}/retry",
                       data={"csrf_token": csrf_from(token), "next": f"{PREFIX}/activity"})
    assert resp.status_code == 303
    wait_for(lambda: q.counts()["failed"] == 1 and q.counts()["waiting"] == 0)
    data = ["emails", "add", "boom", "kaput", done, failed, "admin", "RuntimeError", "UTC"]
    pages = {
        "overview": "/", "queue": "/queues/emails?state=failed",
        "completed list": "/queues/emails?state=completed", "job": f"/queues/emails/jobs/{done}",
        "failed job": f"/queues/emails/jobs/{failed}", "workers": "/workers",
        "periodic": "/periodic", "metrics": "/stats", "activity": "/activity",
        "alerts": "/alerts", "search": "/search?q=kaput", "add job": "/queues/emails/new",
        "bulk confirm": "/queues/emails/bulk?action=remove&state=completed",
        "404": "/queues/emails/jobs/no-such-job-here", "404 page": "/no/such/page",
    }
    toast_seen = False
    for name, path in pages.items():
        resp = client.get(PREFIX + path)
        assert resp.status_code in (200, 404), (name, resp.status_code)
        html = resp.get_data(as_text=True)
        page = soup(html)
        assert page.select_one("html")["lang"] == tag, name
        consumers = [r.get("data-consumer", "") for r in page.select("tr[data-consumer]")]
        hosts = [td.get_text() for td in page.select("tr[data-consumer] td")]
        text = visible_text(html, data + consumers + hosts)
        assert leftover_english(text) == [], (name, leftover_english(text), text[:3000])
        for word in EXPECTED[tag]:
            assert word in text, (name, word)
        toast_seen = toast_seen or bool(page.select(".toast"))
    # the 404 page's title and message are the language's too
    error = soup(client.get(f"{PREFIX}/no/such/page"))
    assert error.select_one(".errorbox h1").get_text() == (
        "404 · No encontrado" if tag == "es" else "404 · Não encontrado")
    assert "address" not in error.select_one(".errmsg").get_text()
    # the retry's toast was shown in the language
    assert toast_seen


def test_the_login_page_and_its_errors_in_each_language(client: FlaskClient) -> None:
    for tag, (title, wrong) in {"es": ("Iniciar sesión", "Usuario o contraseña incorrectos."),
                                "pt-BR": ("Entrar", "Usuário ou senha incorretos."),
                                "en": ("Log in", "Wrong username or password.")}.items():
        headers = {"Accept-Language": tag}
        page = client.get(f"{PREFIX}/login", headers=headers)
        html = page.get_data(as_text=True)
        assert soup(html).select_one("button[type=submit]").get_text() == title
        if tag != "en":
            assert leftover_english(visible_text(html)) == []
        resp = client.post(f"{PREFIX}/login", headers=headers, data={
            "username": "admin", "password": "nope", "csrf_token": csrf_from(html)})
        assert resp.status_code == 401
        assert soup(resp).select_one(".alert-error").get_text() == wrong


def test_the_cookie_beats_accept_language_and_english_is_the_default(client: FlaskClient) -> None:
    def lang(**headers: str) -> str:
        return str(soup(client.get(f"{PREFIX}/login", headers=headers)).select_one("html")["lang"])

    assert lang() == "en"  # no Accept-Language: English, as every other test assumes
    assert "Accept-Language" in client.get(f"{PREFIX}/login").headers["Vary"]  # for caches
    assert lang(**{"Accept-Language": "fr,de;q=0.8"}) == "en"  # nothing we ship
    assert lang(**{"Accept-Language": "es-MX,es;q=0.9"}) == "es"
    assert lang(**{"Accept-Language": "pt-PT"}) == "pt-BR"  # the Portuguese we have
    assert lang(**{"Accept-Language": "de,pt;q=0.4,es;q=0.3"}) == "pt-BR"
    client.set_cookie("jb_lang", "pt-BR")
    assert lang(**{"Accept-Language": "es"}) == "pt-BR"  # the viewer's choice wins
    page = soup(client.get(f"{PREFIX}/login", headers={"Accept-Language": "es"}))
    assert page.select_one("select[data-lang-select] option[selected]")["value"] == "pt-BR"
    client.set_cookie("jb_lang", "en")
    assert lang(**{"Accept-Language": "es"}) == "en"
    client.set_cookie("jb_lang", "<script>")  # anything else: as if there were none
    assert lang(**{"Accept-Language": "es"}) == "es"


def test_numbers_and_times_are_written_the_locales_way(redis_url: str) -> None:
    huey = make_huey(redis_url)
    app = make_app(huey)
    q = app.extensions["jobboard"].board.queue("emails")
    for i in range(1234):  # no consumer: they stay waiting
        q.enqueue("add", [i, 1])
    expected = {"en": "1,234", "es": "1.234", "pt-BR": "1.234"}
    for tag, count in expected.items():
        client = signed_in(app, **{"Accept-Language": tag})
        page = soup(client.get(f"{PREFIX}/"))
        cells = [a.get_text(strip=True) for a in page.select("tr[data-queue=emails] td.num > a")]
        assert cells[0] == count, (tag, cells)
        listing = soup(client.get(f"{PREFIX}/queues/emails?state=waiting"))
        assert listing.select_one("#jb-tabs a[data-state=waiting] .count").get_text() == count
        when = listing.select_one("tr[data-job-id] time")
        rel, exact = when.get_text(), when["title"]
        if tag == "en":
            assert re.fullmatch(r"just now|\d+s ago|\d+m ago", rel), rel
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", exact), exact
        elif tag == "es":
            assert re.fullmatch(r"justo ahora|hace \d+ (s|min)", rel), rel
            assert re.fullmatch(r"\d{1,2} [a-z]{3,4}\.? \d{4},? \d\d:\d\d:\d\d UTC", exact), exact
        else:
            assert re.fullmatch(r"agora mesmo|há \d+ (seg\.|min\.)", rel), rel
            assert re.fullmatch(r"\d{1,2} de [a-z]{3,4}\.? de \d{4},? \d\d:\d\d:\d\d UTC", exact), exact
        # plurals: "1 queue", not "1 queues"
        head = page.select_one("#jb-head .muted").get_text(" ", strip=True)
        assert head.startswith({"en": "1 queue ·", "es": "1 cola ·", "pt-BR": "1 fila ·"}[tag]), head


def test_the_filters_follow_the_request_locale(app: Flask) -> None:
    cases = {"en": ("1,234,567", "12.5%", "1.5s", "3m ago", "in 2h"),
             "es": ("1.234.567", "12,5 %", "1,5s", "hace 3 min", "dentro de 2 h"),
             "pt-BR": ("1.234.567", "12,5%", "1,5s", "há 3 min.", "em 2 h")}
    for tag, (number, percent, secs, past, future) in cases.items():
        with app.test_request_context(headers={"Accept-Language": tag}):
            assert filters.number(1234567) == number
            assert filters.percent(0.125).replace("\xa0", " ") == percent
            assert filters.duration(1.5) == secs
            assert filters.reltime(1000.0 - 180, now=1000.0) == past
            assert filters.reltime(1000.0 + 7200, now=1000.0) == future
            # the script's patterns give the same words as the server for the same time
            units = dict((int(s), f) for s, f in filters.rel_patterns()["units"])
            assert units[60]["past_other"].replace("{n}", "3") == past
            assert units[3600]["future_other"].replace("{n}", "2") == future


def test_the_fast_paths_write_what_babel_writes(app: Flask) -> None:
    """number() and the relative times skip Babel's per-call work; they must not differ."""
    from datetime import timedelta
    from babel.dates import format_timedelta
    from babel.numbers import format_decimal
    values = [0, 7, 999, 1000, 1234, 99999, 1234567, 10**9 + 7, -4321, 2.5, 1234.5, 0.1]
    seconds = [1.2, 5, 44, 59.6, 61, 89, 91, 3599, 3601, 5400, 86399, 86401, 6 * 86400,
               8 * 86400, 40 * 86400, 400 * 86400]
    for tag, name in i18n.LANGUAGES.items():
        with app.test_request_context(headers={"Accept-Language": tag}):
            for v in values:
                pattern = "#,##0.0" if isinstance(v, float) else "#,##0"
                assert filters.number(v) == format_decimal(v, format=pattern, locale=name[0]), (tag, v)
            for s in seconds:
                for sign in (-1, 1):
                    expected = format_timedelta(timedelta(seconds=sign * s), format="narrow",
                                                threshold=1, add_direction=True, locale=name[0])
                    assert filters.reltime(1000.0 + sign * s, now=1000.0) == expected, (tag, sign * s)
                assert filters.since_text(s) == format_timedelta(
                    timedelta(seconds=s), format="narrow", threshold=1, locale=name[0]), (tag, s)


def test_a_host_app_with_its_own_flask_babel(redis_url: str, tmp_path: Path) -> None:
    """The host's locale selector and catalogs are its own; ours work beside them, in
    either order of initialisation."""
    flask_babel = pytest.importorskip("flask_babel")
    for babel_first in (True, False):
        app = Flask("host_with_babel")
        app.config.update(SECRET_KEY="s", TESTING=True)
        chosen: list[str] = []

        def host_locale(chosen: list[str] = chosen) -> str:
            chosen.append("de")
            return "de"

        if babel_first:
            flask_babel.Babel(app, locale_selector=host_locale)
        app.config.update(JOBBOARD_USERS=dict(USERS), JOBBOARD_API_TOKENS=dict(TOKENS),
                          JOBBOARD_API_RATE_LIMIT=None)
        JobBoard(app, hueys=[make_huey(redis_url)])
        if not babel_first:
            flask_babel.Babel(app, locale_selector=host_locale)

        @app.route("/host")
        def host_page() -> str:
            return render_template_string("{{ _('Queues') }}|{{ gettext('Log out') }}|"
                                          "{% trans %}Log in{% endtrans %}")

        client = app.test_client()
        # the host's page: its own (empty) catalogs, whatever our cookie and the header say
        client.set_cookie("jb_lang", "es")
        assert client.get("/host", headers={"Accept-Language": "es"}).get_data(as_text=True) \
            == "Queues|Log out|Log in"
        assert chosen  # the host's selector decided its page
        # ours: the viewer's language, not the host's "de"
        page = soup(client.get(f"{PREFIX}/login", headers={"Accept-Language": "en"}))
        assert page.select_one("html")["lang"] == "es"
        assert page.select_one("button[type=submit]").get_text() == "Iniciar sesión"


def test_english_is_the_msgids_and_needs_no_catalog(app: Flask) -> None:
    with app.test_request_context():
        assert i18n.viewer_language() == "en"
        assert i18n.gettext("Queues") == "Queues"
        assert i18n.ngettext("%(num)s queue", "%(num)s queues", 1234) == "1,234 queues"
    with app.test_request_context(headers={"Accept-Language": "es"}):
        assert i18n.ngettext("%(num)s queue", "%(num)s queues", 1) == "1 cola"
        assert i18n.ngettext("%(num)s queue", "%(num)s queues", 1234) == "1.234 colas"


def test_refusals_are_in_the_viewers_language(app: Flask) -> None:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "es"
    token = login(client, "viewer")
    resp = client.post(f"{PREFIX}/queues/emails/jobs/x1/retry", data={"csrf_token": token})
    assert resp.status_code == 403
    page = soup(resp)
    assert page.select_one(".errorbox h1").get_text() == "403 · No permitido"
    assert page.select_one(".errmsg").get_text() == (
        "Esto requiere el rol operador; tu rol es lector. Pide acceso a un administrador.")
    # the JSON API keeps its English, whatever the language asked for
    api = client.post(f"{PREFIX}/api/queues/emails/jobs/x1/retry",
                      headers={"Authorization": "Bearer view-token", "Accept-Language": "es"})
    assert api.status_code == 403 and "needs the operator role" in api.get_json()["error"]["message"]


def test_core_lookup_and_state_errors_are_in_the_viewers_language(seeded: Any) -> None:
    """The core's exceptions carry their fields; the pages word them (a 404 page, a toast
    after an action that no longer applies), the JSON API keeps the core's English."""
    app, q, done, failed, running = seeded
    client = signed_in(app, **{"Accept-Language": "es"})
    page = soup(client.get(f"{PREFIX}/queues/emails/jobs/no-such-job"))
    assert page.select_one(".errmsg").get_text().startswith(
        "No hay ningún trabajo 'no-such-job' en la cola 'emails'.")
    page = soup(client.get(f"{PREFIX}/queues/nope"))
    assert page.select_one(".errmsg").get_text() == "Cola desconocida 'nope': revise cómo está escrita."
    token = csrf_from(client.get(f"{PREFIX}/queues/emails/jobs/{done}").get_data(as_text=True))
    resp = client.post(f"{PREFIX}/queues/emails/jobs/{done}/promote", data={"csrf_token": token},
                       follow_redirects=True)
    text = visible_text(resp.get_data(as_text=True))
    assert f"No se puede aplicar «ejecutar ahora» al trabajo '{done}': está en estado completado" \
        in text, text[:600]
    api = client.get(f"{PREFIX}/api/queues/emails/jobs/no-such-job",
                     headers={"Authorization": "Bearer view-token"})
    assert api.status_code == 404 and api.get_json()["error"]["message"].startswith("No job ")


def test_the_add_job_forms_json_errors_are_in_the_viewers_language(seeded: Any) -> None:
    app, q, done, failed, running = seeded
    client = signed_in(app, **{"Accept-Language": "es"})
    token = csrf_from(client.get(f"{PREFIX}/queues/emails/new").get_data(as_text=True))
    resp = client.post(f"{PREFIX}/queues/emails/new", data={
        "csrf_token": token, "task": "tests.support.add", "args": "[1, 2", "kwargs": "[]"})
    assert resp.status_code == 422
    text = visible_text(resp.get_data(as_text=True))
    assert "args no es JSON válido: " in text and "kwargs debe ser un objeto" in text, text[:800]
    assert "is not valid JSON" not in text and q.counts()["waiting"] == 0
