"""The pages' Jinja2 environment (autoescaped, translated per request) and the one way a
page is answered: `render(visitor, "app/inbox.html", ...)`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_percent
from babel.support import NullTranslations
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.responses import HTMLResponse

from tidings.kit.money import Money, format_money
from tidings.web.i18n import Language, translations
from tidings.web.labels import (
    CATEGORIES,
    CHANNELS,
    PRIORITIES,
    PURPOSES,
    TICKET_CHANNELS,
    TICKET_STATUSES,
    TRANSFER_KINDS,
    kind_label,
)
from tidings.web.static import static_url


def localized(texts: dict[str, str], lang: str) -> str:
    """Text given per language (`{"zh-CN": ..., "en": ...}`) in the page's language, else
    in zh-CN (always present)."""
    return texts.get(lang) or texts.get("zh-CN") or next(iter(texts.values()), "")


ENVIRONMENT = Environment(
    loader=PackageLoader("tidings.web", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
ENVIRONMENT.newstyle_gettext = True  # type: ignore[attr-defined]
ENVIRONMENT.globals.update(
    static_url=static_url,
    kind_label=kind_label,
    localized=localized,
    categories=CATEGORIES,
    channels=CHANNELS,
    transfer_kinds=TRANSFER_KINDS,
    purposes=PURPOSES,
    ticket_statuses=TICKET_STATUSES,
    priorities=PRIORITIES,
    ticket_channels=TICKET_CHANNELS,
)


def _translated(text: str, ctx: Context, variables: dict[str, Any]) -> str:
    """As Jinja's own new-style gettext: escaped when autoescaping, then `%(name)s` filled."""
    if ctx.eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704 - our catalogue's text; `%` escapes the values
    return text % variables if variables else text


def _gettext_callables(catalogue: NullTranslations) -> dict[str, Any]:
    @pass_context
    def gettext(ctx: Context, message: str, **variables: Any) -> str:
        return _translated(catalogue.gettext(message), ctx, variables)

    @pass_context
    def ngettext(ctx: Context, singular: str, plural: str, n: int, **variables: Any) -> str:
        variables.setdefault("num", n)
        return _translated(catalogue.ngettext(singular, plural, n), ctx, variables)

    return {"gettext": gettext, "_": gettext, "ngettext": ngettext}


@dataclass(frozen=True, slots=True)
class Formatter:
    """Money, times and numbers as the page's language writes them, in the reader's zone."""

    language: Language
    timezone: ZoneInfo

    def money(self, amount: Money) -> str:
        return format_money(amount.value, amount.currency, locale=self.language.babel)

    def when(self, moment: datetime) -> str:
        """The day as people write it and the minute (`2026年11月24日 10:00`)."""
        local = moment.astimezone(self.timezone)
        day = format_date(local.date(), "long", locale=self.language.babel)
        return f"{day} {format_time(local.time(), 'short', locale=self.language.babel)}"

    def day(self, day: date) -> str:
        return format_date(day, "long", locale=self.language.babel)

    def percent(self, value: int) -> str:
        return format_percent(value / 100, locale=self.language.babel)


def render_html(
    template: str,
    *,
    brand: str,
    language: Language,
    timezone: ZoneInfo,
    status_code: int,
    headers: dict[str, str],
    values: dict[str, Any],
) -> HTMLResponse:
    page = ENVIRONMENT.get_template(template).render(
        lang=language.value,
        language=language,
        brand=brand,
        fmt=Formatter(language, timezone),
        **_gettext_callables(translations(language)),
        **values,
    )
    return HTMLResponse(page, status_code=status_code, headers=headers)
