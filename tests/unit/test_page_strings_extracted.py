"""Every string the pages mark for translation is in the catalogue (`make messages` was run
after the templates changed), so none is shown untranslated."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tidings.web.i18n import TRANSLATIONS

WEB = TRANSLATIONS.parent
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "gettext_noop": None}


def _marked() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(
        str(WEB), METHODS, keywords=KEYWORDS, options_map=OPTIONS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_marked_string_is_in_the_catalogue() -> None:
    with (TRANSLATIONS / "messages.pot").open("rb") as handle:
        catalogue = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    missing = sorted(_marked() - catalogue)
    assert not missing, f"run `make messages` and translate: {missing}"
