"""API shapes of the custom kind registry."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from tidings.kit.schemas import RequestBody
from tidings.kit.text import JsonObject, LongText
from tidings.notify.templates.schemas import BodySource, LocaleTag, TitleSource
from tidings.notify.types import Category, ChannelName

KindType = Annotated[
    str,
    Field(
        min_length=3,
        max_length=80,
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$",
        examples=["card.statement.posted"],
    ),
]
FieldName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_][a-z0-9_]*$")]
KindCategory = Literal["transactional", "informational", "marketing"]
"""Not `critical`: critical notices ignore quiet hours and caps and go to every channel with
fallbacks; that is for security alerts our own code raises, not for a kind typed into an
operator console (a stolen operator key must not be able to page every user at 3 a.m.)."""


class KindStatus(StrEnum):
    ACTIVE = "active"
    """Events of the type become notices."""
    RETIRED = "retired"
    """Retired (`DELETE`): events of the type are accepted and produce nothing again."""


class KindTemplates(RequestBody):
    """One locale's text. `title` and `body` serve the inbox and push (and email unless
    `email_subject`/`email_body` say otherwise); `sms` defaults to `body`. Jinja2, sandboxed,
    the event's `data` fields as variables; SMS without the signature (added)."""

    title: TitleSource
    body: BodySource
    sms: BodySource | None = None
    push_title: TitleSource | None = None
    push_body: BodySource | None = None
    email_subject: TitleSource | None = None
    email_body: BodySource | None = None


class KindDefinition(RequestBody):
    """What a kind is: how it is treated, which data it needs, and what it says."""

    category: KindCategory
    channels: list[ChannelName] | None = Field(
        None,
        min_length=1,
        max_length=5,
        description="The kind's channels, in place of its category's for users who made no "
        "choice for this kind; none: the category's.",
    )
    required_fields: list[FieldName] = Field(
        default_factory=list,
        max_length=32,
        description="`data` fields every event of the kind must carry (422 naming "
        "`data.<field>` otherwise).",
    )
    templates: dict[LocaleTag, KindTemplates] = Field(
        description="Per locale; `zh-CN` required. A user whose locale has none gets zh-CN "
        "(`en-GB` → `en` → `zh-CN`).",
        min_length=1,
        max_length=8,
        json_schema_extra={"required": ["zh-CN"]},
    )
    description: LongText
    sample: JsonObject | None = Field(
        None,
        description="Example `data` the templates are checked against before they go live; "
        "default: each required field as the text `示例`.",
    )

    @field_validator("templates")
    @classmethod
    def _zh_cn_required(cls, value: dict[str, KindTemplates]) -> dict[str, KindTemplates]:
        if "zh-CN" not in value:
            raise ValueError("a zh-CN template is required (every user falls back to it)")
        return value

    @field_validator("channels")
    @classmethod
    def _distinct(cls, value: list[ChannelName] | None) -> list[ChannelName] | None:
        return list(dict.fromkeys(value)) if value is not None else None

    @field_validator("required_fields")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class KindCreate(KindDefinition):
    """A new kind; its type must not be one the built-in catalogue owns."""

    type: KindType


class KindOut(BaseModel):
    type: str
    category: Category
    channels: list[ChannelName] | None
    required_fields: list[str]
    templates: dict[str, KindTemplates]
    description: str
    status: KindStatus
    version: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


class KindList(BaseModel):
    items: list[KindOut]


class KindChangeOut(BaseModel):
    """One change of the registry, as audited: who, when, and the definition it left."""

    action: Literal["registered", "updated", "retired"]
    version: int
    actor: str
    at: datetime
    definition: dict[str, object]


class KindChangeList(BaseModel):
    items: list[KindChangeOut]
