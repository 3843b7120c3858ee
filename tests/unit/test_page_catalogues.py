"""The pages' message catalogues: every string of the pages has its Chinese, and the compiled
catalogue the pages load says what the .po says (`make messages` was run)."""

from __future__ import annotations

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tidings.web.i18n import TRANSLATIONS, Language, choose_language


def _read(path_in_translations: str) -> Catalog:
    path = TRANSLATIONS / path_in_translations
    with path.open("rb") as handle:
        return read_mo(handle) if path.suffix == ".mo" else read_po(handle)


def _translated(message: Message | None) -> bool:
    if message is None:
        return False
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings)


def test_every_string_of_the_pages_is_translated_to_chinese() -> None:
    chinese = _read("zh_CN/LC_MESSAGES/messages.po")
    missing = [m.id for m in _read("messages.pot") if m.id and not _translated(chinese.get(m.id))]
    assert not missing, "translate these in zh_CN/LC_MESSAGES/messages.po, then `make messages`"


def _entries(catalogue: Catalog) -> dict[object, object]:
    """id → translation, plural forms as tuples (the .mo reader gives lists)."""

    def plain(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {plain(m.id): plain(m.string) for m in catalogue if m.id and _translated(m)}


def test_the_compiled_catalogue_matches_its_source() -> None:
    po = _read("zh_CN/LC_MESSAGES/messages.po")
    mo = _read("zh_CN/LC_MESSAGES/messages.mo")
    assert _entries(po) == _entries(mo), "run `make messages`"
    assert (TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.mo").exists()


def test_the_language_asked_for_wins_then_the_remembered_then_the_locale() -> None:
    assert choose_language(asked=None, remembered=None, locale=None) is Language.ZH_CN
    assert choose_language(asked=None, remembered=None, locale="en-GB") is Language.EN
    assert choose_language(asked=None, remembered="zh-CN", locale="en-GB") is Language.ZH_CN
    assert choose_language(asked="en", remembered="zh-CN", locale=None) is Language.EN
    assert choose_language(asked="fr", remembered=None, locale="de") is Language.ZH_CN
