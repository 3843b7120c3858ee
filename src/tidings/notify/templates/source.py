"""The shipped default templates: one TOML file per locale under `defaults/`, and one per
locale for the engine's own messages (`engine.<locale>.toml`: the daily digest), which tell
of no event and so are neither listed nor overridden through `/v1/templates`.

Each file has a table per kind (the event type) with these keys; a missing key falls back
as listed, so most kinds need only `sms` and `inbox_title`:

    sms             the SMS text, without signature, code or unsubscribe (the renderer adds them)
    inbox_title     the in-app inbox title
    inbox_body      ← sms
    push_title      ← inbox_title
    push_body       ← sms
    email_subject   ← inbox_title
    email_body      ← inbox_body
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from tidings.notify.types import ChannelName

_PACKAGE = "tidings.notify.templates"
SHIPPED_LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
TEXT_CHANNELS = (ChannelName.SMS, ChannelName.PUSH, ChannelName.INBOX, ChannelName.EMAIL)
"""The channels whose messages are rendered text; webhooks carry event JSON instead."""

_FALLBACK = {
    "inbox_body": "sms",
    "push_title": "inbox_title",
    "push_body": "sms",
    "email_subject": "inbox_title",
    "email_body": "inbox_body",
}
_REQUIRED = ("sms", "inbox_title")
_KEYS = frozenset(_FALLBACK) | frozenset(_REQUIRED)
_FIELDS = {
    ChannelName.SMS: (None, "sms"),
    ChannelName.PUSH: ("push_title", "push_body"),
    ChannelName.INBOX: ("inbox_title", "inbox_body"),
    ChannelName.EMAIL: ("email_subject", "email_body"),
}


@dataclass(frozen=True, slots=True)
class TemplateSource:
    """The text of one template: a title (None for SMS) and a body, both Jinja2 sources."""

    title: str | None
    body: str


ShippedTemplates = dict[tuple[str, ChannelName, str], TemplateSource]


def _value(table: dict[str, str], key: str) -> str:
    while key not in table:
        key = _FALLBACK[key]
    return table[key]


def parse_locale_file(text: str, locale: str) -> ShippedTemplates:
    """One locale's TOML as (kind, channel, locale) → source; refuses unknown or missing keys."""
    shipped: ShippedTemplates = {}
    for kind, table in tomllib.loads(text).items():
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise ValueError(f"{locale}.toml: [{kind}] must be a table of strings")
        unknown = set(table) - _KEYS
        missing = [key for key in _REQUIRED if key not in table]
        if unknown or missing:
            raise ValueError(f"{locale}.toml: [{kind}] unknown {unknown or '-'}, missing {missing}")
        for channel, (title_key, body_key) in _FIELDS.items():
            title = _value(table, title_key).strip() if title_key else None
            shipped[(kind, channel, locale)] = TemplateSource(
                title, _value(table, body_key).strip()
            )
    return shipped


def _load(prefix: str) -> ShippedTemplates:
    folder = resources.files(_PACKAGE).joinpath("defaults")
    shipped: ShippedTemplates = {}
    for locale in SHIPPED_LOCALES:
        text = folder.joinpath(f"{prefix}{locale}.toml").read_text(encoding="utf-8")
        shipped.update(parse_locale_file(text, locale))
    return shipped


@cache
def load_shipped() -> ShippedTemplates:
    """Every shipped template, read once from the package (works from a wheel too)."""
    return _load("")


@cache
def load_engine_messages() -> ShippedTemplates:
    """The engine's own messages (the daily digest), in the same form as the shipped ones."""
    return _load("engine.")


@cache
def email_layout() -> str:
    """The one HTML layout every email is wrapped in."""
    return resources.files(_PACKAGE).joinpath("defaults", "email.html").read_text("utf-8")


@dataclass(frozen=True, slots=True)
class CustomKindTemplates:
    """An operator-registered kind's text (`/v1/kinds`): a source per (channel, locale), and
    the fields that read as None when an event leaves them out (its sample's optional ones)."""

    sources: dict[tuple[ChannelName, str], TemplateSource]
    optional: tuple[str, ...] = ()
