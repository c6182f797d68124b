#!/usr/bin/env bash
# The dashboard's message catalogs (jobboard/web/i18n.py, docs/dashboard.md "Languages").
#
#   scripts/i18n.sh extract   # jobboard/translations/jobboard.pot from the pages' sources (babel.cfg)
#   scripts/i18n.sh update    # extract, then merge new and changed messages into every .po
#   scripts/i18n.sh compile   # every .po into its .mo (committed: the package ships them)
#   scripts/i18n.sh init LANG # a new language's .po (then add it to i18n.LANGUAGES)
#
# tests/test_i18n.py fails while a message lacks a translation in a shipped language, or a
# committed .mo differs from its .po: run update, translate, compile, commit both.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=jobboard/translations
POT=$DIR/jobboard.pot
extract() {
    pybabel extract -F babel.cfg -k lazy_gettext -k N_ --no-location --sort-output \
        --project=jobboard --copyright-holder="jobboard contributors" -o "$POT" .
}
case "${1:-}" in
    extract) extract ;;
    update) extract; pybabel update -D jobboard -i "$POT" -d "$DIR" --no-fuzzy-matching --ignore-obsolete ;;
    compile) pybabel compile -D jobboard -d "$DIR" --statistics ;;
    init) pybabel init -D jobboard -i "$POT" -d "$DIR" -l "${2:?language, e.g. fr}" ;;
    *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
