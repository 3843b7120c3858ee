"""Languages of the pages: zh-CN by default, English on request; strings come from Babel
message catalogues (`translations/<locale>/LC_MESSAGES/messages.po`, compiled to `.mo`)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from babel.support import NullTranslations, Translations

from tidings.config import Settings

TRANSLATIONS = Path(__file__).with_name("translations")
LANG_COOKIE = "tidings_lang"


class Language(StrEnum):
    ZH_CN = "zh-CN"
    """Simplified Chinese, the default."""
    EN = "en"
    """English."""

    @property
    def babel(self) -> str:
        """The catalogue's and Babel's name for it (`zh_CN`)."""
        return self.value.replace("-", "_")


DEFAULT_LANGUAGE = Language.ZH_CN


def language_of(tag: str | None) -> Language | None:
    """The page language a locale tag asks for (`en-US` → en, `zh-Hans` → zh-CN), or None
    for one we have no pages in."""
    if not tag:
        return None
    primary = tag.replace("_", "-").split("-", 1)[0].lower()
    return {"zh": Language.ZH_CN, "en": Language.EN}.get(primary)


def choose_language(*, asked: str | None, remembered: str | None, locale: str | None) -> Language:
    """`?lang=` first, then the language remembered in the cookie, then the user's locale."""
    for tag in (asked, remembered, locale):
        found = language_of(tag)
        if found is not None:
            return found
    return DEFAULT_LANGUAGE


@lru_cache(maxsize=len(Language))
def translations(language: Language) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [language.babel], domain="messages")


def brand_for(settings: Settings, language: Language) -> str:
    return settings.brand if language is Language.ZH_CN else settings.brand_en


def gettext_noop(message: str) -> str:
    """Marks a string in Python code for the catalogue; the page translates it when shown."""
    return message
