"""API shapes of operator template management."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from pydantic import AfterValidator, BaseModel, Field

from tidings.kit.schemas import RequestBody
from tidings.kit.text import JsonObject
from tidings.notify.templates.render import canonical_locale
from tidings.notify.types import ChannelName

MAX_SOURCE_CHARS = 10_000


def normalise_locale(value: str) -> str:
    """A locale Babel knows, written as `zh-CN`, `en`, `en-GB`…"""
    tag = canonical_locale(value)
    try:
        Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValueError("is not a known locale (e.g. zh-CN, en)") from exc
    return tag


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("is not an IANA time zone (e.g. Asia/Shanghai)") from exc
    return value


LocaleTag = Annotated[
    str,
    Field(min_length=2, max_length=16, examples=["zh-CN"], json_schema_extra={"format": "locale"}),
    AfterValidator(normalise_locale),
]
"""A locale Babel knows; `format: locale` in the schema says so (as a user's locale does)."""
TimeZoneName = Annotated[
    str, Field(max_length=64, examples=["Asia/Shanghai"]), AfterValidator(check_timezone)
]
Kind = Annotated[str, Field(min_length=1, max_length=80, examples=["wallet.payment.succeeded"])]
TitleSource = Annotated[str, Field(min_length=1, max_length=1_000)]
BodySource = Annotated[str, Field(min_length=1, max_length=MAX_SOURCE_CHARS)]


class TemplateCreate(RequestBody):
    """A new version for one (kind, channel, locale): a draft until a second operator
    approves it, in force once activated."""

    kind: Kind
    channel: ChannelName
    locale: LocaleTag
    title: TitleSource | None = Field(
        None, description="Push/inbox title or email subject; none for SMS."
    )
    body: BodySource = Field(
        description="Jinja2 (sandboxed). SMS: without the 【signature】, code or 回T退订, "
        "which are added when sending."
    )


class TemplatePreview(RequestBody):
    """Render a draft (or, without `body`, the template in force) with sample or given data."""

    kind: Kind
    channel: ChannelName
    locale: LocaleTag = "zh-CN"
    title: TitleSource | None = None
    body: BodySource | None = None
    data: JsonObject | None = Field(
        None, description="Event data to render with; the kind's sample data when absent."
    )
    timezone: TimeZoneName = "Asia/Shanghai"


class TemplateStatus(StrEnum):
    """Where a version stands in the two-operator workflow."""

    DRAFT = "draft"
    """Written; not sent to anyone until a second operator approves it and it is activated."""
    APPROVED = "approved"
    """Approved by a second operator; may be activated (or rolled back to) at any time."""
    ACTIVE = "active"
    """In force: what is sent for its (kind, channel, locale)."""


class TemplateVersionOut(BaseModel):
    """One version; the shipped default is version 0 with id `default:<kind>:<channel>:<locale>`."""

    id: str
    status: TemplateStatus
    kind: str
    channel: ChannelName
    locale: str
    version: int
    title: str | None
    body: str
    active: bool
    shipped: bool
    created_by: str | None
    created_at: datetime | None
    approved_by: str | None = None
    approved_at: datetime | None = None
    activated_by: str | None = None
    """Who last put it in force, and when."""
    activated_at: datetime | None = None


class PreviewOut(BaseModel):
    """What would be sent, including a sample authenticity code; `html` for email only,
    `segments` for SMS only."""

    title: str | None
    body: str
    html: str | None
    segments: int | None
