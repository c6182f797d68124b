"""The pages' language: English, Spanish or Brazilian Portuguese, per viewer.

The viewer's choice is the ``jb_lang`` cookie (set by the header's language picker,
static/localtime.js, kept a year, like the local/UTC choice of :mod:`.localtime`); without
one, the browser's ``Accept-Language`` decides; anything else is English.

Messages go through Flask-Babel's :class:`flask_babel.Domain` with a domain of jobboard's
own (``jobboard``, catalogs in ``jobboard/translations``), and the locale is this module's,
not the host app's: a host app with its own Flask-Babel keeps its catalogs and its locale
selector for its own pages, and ours work whether it has one or not. Numbers and times are
formatted with Babel for the same locale (:mod:`.filters`).

Only what a person reads on the pages is translated: the JSON API's messages, the data
(task and queue names, arguments) and the state identifiers of URLs and CSS classes stay
as they are.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timezone, tzinfo
from pathlib import Path
from typing import Any

from babel import Locale, support
from flask import g, has_request_context, request
from flask_babel import Domain
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from .localtime import viewer_zone

#: The catalogs: ``<dir>/<locale>/LC_MESSAGES/jobboard.mo`` (scripts/i18n.sh builds them).
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
DOMAIN_NAME = "jobboard"
#: The viewer's choice of language (a BCP 47 tag of LANGUAGES).
LANGUAGE_COOKIE = "jb_lang"
DEFAULT_LANGUAGE = "en"
#: Tag (``<html lang>``, the cookie) -> (Babel locale, the language's own name). Portuguese
#: is Brazil's: its catalog (``pt_BR``) also serves ``pt-PT`` browsers.
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("en", "English"),
    "es": ("es", "Español"),
    "pt-BR": ("pt_BR", "Português"),  # Brazilian (pt_BR formats), the picker keeps it short
}


def viewer_language() -> str:
    """This request's language tag: the cookie's, else the best of ``Accept-Language``."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    if chosen not in LANGUAGES:
        chosen = accepted() or DEFAULT_LANGUAGE
    return chosen


def accepted() -> str | None:
    """The browser's most wanted language that we have, in any variant: ``es-MX`` is
    ``es``, ``pt-PT`` is ``pt-BR``. (Werkzeug's ``best_match`` prefers any exact match to
    a better-liked variant: ``de, pt;q=0.4, es;q=0.3`` would be Spanish.)"""
    for value, _quality in request.accept_languages:  # werkzeug sorts them best first
        primary = value.replace("_", "-").split("-")[0].lower()
        tag = _TAGS.get(value.lower()) or _PRIMARY.get(primary)
        if tag:
            return tag
    return None


_TAGS = {tag.lower(): tag for tag in LANGUAGES}
#: Primary language -> our tag (``pt`` -> ``pt-BR``).
_PRIMARY = {tag.split("-")[0].lower(): tag for tag in LANGUAGES}


def viewer_locale() -> Locale:
    """The Babel locale of this request (``en``, ``es``, ``pt_BR``)."""
    return viewer().locale


@dataclass(frozen=True)
class Viewer:
    """How this request's pages write text, numbers and times: looked up once per request.

    Pages format hundreds of values; each lookup through Flask's request globals costs
    microseconds, so templates get this object in their context (``jb_viewer``) and the
    filters read it from there (:mod:`.filters`)."""

    language: str  # the tag: en, es, pt-BR
    locale: Locale
    locale_name: str  # en, es, pt_BR
    translations: support.NullTranslations
    zone: tzinfo  # the viewer's zone or UTC (localtime.py)


def viewer() -> Viewer:
    """This request's :class:`Viewer` (English and UTC outside a request)."""
    if not has_request_context():
        return _viewer(DEFAULT_LANGUAGE, timezone.utc)
    cached = g.get("_jobboard_viewer")
    if cached is None:
        cached = g._jobboard_viewer = _viewer(viewer_language(), viewer_zone())
    return cached  # type: ignore[no-any-return]


def _viewer(tag: str, zone: tzinfo) -> Viewer:
    name = LANGUAGES[tag][0]
    return Viewer(tag, _locale(name), name, _catalog(name), zone)


@functools.cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


@functools.cache
def _catalog(name: str) -> support.NullTranslations:
    """The compiled catalog of locale ``name`` (``pt_BR`` falls back to ``pt``), loaded
    once per process; English needs none (its messages are the msgids)."""
    return support.Translations.load(str(TRANSLATIONS_DIR), [name], DOMAIN_NAME)


class JobboardDomain(Domain):  # type: ignore[misc]  # flask_babel is untyped
    """Flask-Babel's domain, for jobboard's catalogs in the viewer's language (above)."""

    def get_translations(self) -> support.NullTranslations:
        return viewer().translations


domain = JobboardDomain(translation_directories=[str(TRANSLATIONS_DIR)], domain=DOMAIN_NAME)


def gettext(string: str, **variables: Any) -> str:
    """``string`` in the viewer's language, ``%(name)s`` placeholders filled in."""
    return str(domain.gettext(string, **variables))


def ngettext(singular: str, plural: str, num: float, **variables: Any) -> str:
    """The singular or plural form for ``num`` (``%(num)s`` is ``num``, formatted)."""
    from .filters import number  # the count as the locale writes it: 1.234 in Spanish
    variables.setdefault("num", number(num))
    # (Flask-Babel's Domain.ngettext would put the raw count in %(num)s)
    return str(domain.get_translations().ungettext(singular, plural, _count(num))) % variables


def _count(num: float) -> int:
    """The count a catalog's plural rule is given: gettext's rules take whole numbers; a
    fraction (``1.5 days``) takes the plural form, as it does in English."""
    return int(num) if float(num).is_integer() else 2


def lazy_gettext(string: str, **variables: Any) -> Any:
    """A message translated when it is shown (module-level labels), not when defined."""
    return domain.lazy_gettext(string, **variables)


_ = gettext


def N_(message: str) -> str:
    """Mark ``message`` for extraction only (gettext's ``N_``): it is translated later,
    where the viewer is known (``viewer().translations.ugettext(...)``)."""
    return message


# --- the templates' gettext -------------------------------------------------------------
# Jinja's i18n extension calls ``gettext``/``ngettext`` from the template's context; the
# pages pass these in their context (page_context), so jobboard's templates use jobboard's
# catalogs even when the app's Jinja environment has the host's Flask-Babel installed. As
# Jinja's own "newstyle" callables: the result is Markup when autoescaping, and the
# variables (escaped by that) are filled in here.

def _fill(context: Context, text: str, variables: dict[str, Any]) -> str:
    rv: str = Markup(text) if context.eval_ctx.autoescape else text
    if variables or context.environment.newstyle_gettext:  # type: ignore[attr-defined]
        rv = rv % variables
    return rv


def template_context() -> dict[str, Any]:
    """What every page template gets for its language (see views.page_context): gettext
    and ngettext bound to this request's catalog, the language tag, the picker's choices
    and the :class:`Viewer` the filters read."""
    from .filters import number
    v = viewer()
    catalog = v.translations

    @pass_context
    def template_gettext(context: Context, string: str, **variables: Any) -> str:
        return _fill(context, str(catalog.ugettext(string)), variables)

    @pass_context
    def template_ngettext(context: Context, singular: str, plural: str, num: float,
                          **variables: Any) -> str:
        variables.setdefault("num", number(num, v))
        return _fill(context, str(catalog.ungettext(singular, plural, _count(num))), variables)

    return {"gettext": template_gettext, "_": template_gettext, "ngettext": template_ngettext,
            "lang": v.language, "languages": LANGUAGES, "jb_viewer": v}
