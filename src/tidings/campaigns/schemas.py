"""API shapes of campaigns (see `../shared/API.md`, "Campaigns")."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tidings.insights.categories import SpendingCategory
from tidings.insights.figures import FIGURES, placeholders
from tidings.kit.clock import UtcDateTime
from tidings.kit.money import NonNegativeMoney, PositiveMoney
from tidings.kit.schemas import IdRef
from tidings.kit.text import LongText, ShortText
from tidings.wallets.schemas import Purpose

UserRef = IdRef
VariantKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Locale = Literal["zh-CN", "en"]
Channel = Literal["inbox", "push", "sms", "email"]
Days = Annotated[int, Field(ge=1, le=3660)]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]{1,490}$")]


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    """Being written: the only state an operator may edit."""
    SCHEDULED = "scheduled"
    """Launched: the audience is frozen (or being frozen), the sends wait for `send_at`."""
    SENDING = "sending"
    """`send_at` has come: deliveries go out as each user's window opens."""
    SENT = "sent"
    """Nothing left to send."""
    CANCELLED = "cancelled"
    """Stopped by an operator: what had not gone was cancelled."""


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocaleIs(_Condition):
    locale: Locale


class JoinedWithin(_Condition):
    joined_within_days: Days


class BalanceAtLeast(_Condition):
    balance_at_least: NonNegativeMoney


class HasSubWallet(_Condition):
    has_sub_wallet: Purpose


class LacksSubWallet(_Condition):
    lacks_sub_wallet: Purpose


class SpentRule(_Condition):
    amount: PositiveMoney
    category: SpendingCategory | None = None
    within_days: Days


class SpentAtLeast(_Condition):
    spent_at_least: SpentRule


class PaymentsRule(_Condition):
    count: int = Field(ge=1, le=100_000)
    category: SpendingCategory | None = None
    within_days: Days


class PaymentsAtLeast(_Condition):
    payments_at_least: PaymentsRule


class UserIds(_Condition):
    user_ids: list[UserRef] = Field(min_length=1, max_length=10_000)


def _condition_name(value: Any) -> str | None:
    """A condition is told by its one key, so a mistake is reported for that condition only
    (not for every kind it failed to be)."""
    if isinstance(value, dict):
        return next(iter(value), None) if len(value) == 1 else None
    return next(iter(type(value).model_fields), None) if isinstance(value, _Condition) else None


Condition = Annotated[
    Annotated[LocaleIs, Tag("locale")]
    | Annotated[JoinedWithin, Tag("joined_within_days")]
    | Annotated[BalanceAtLeast, Tag("balance_at_least")]
    | Annotated[HasSubWallet, Tag("has_sub_wallet")]
    | Annotated[LacksSubWallet, Tag("lacks_sub_wallet")]
    | Annotated[SpentAtLeast, Tag("spent_at_least")]
    | Annotated[PaymentsAtLeast, Tag("payments_at_least")]
    | Annotated[UserIds, Tag("user_ids")],
    Discriminator(
        _condition_name,
        custom_error_type="segment_condition",
        custom_error_message="one of locale, joined_within_days, balance_at_least, "
        "has_sub_wallet, lacks_sub_wallet, spent_at_least, payments_at_least, user_ids",
    ),
]
PERSONAL_CONDITIONS = (HasSubWallet, LacksSubWallet, SpentAtLeast, PaymentsAtLeast)
"""Conditions on a user's spending or behaviour: they make a segment personalised (PIPL
art. 24), so users who turned personalised marketing off are left out."""


class Segment(_Condition):
    """Users matching every condition (an empty list: every user)."""

    all: list[Condition] = Field(max_length=20)

    @property
    def personal(self) -> bool:
        return any(isinstance(c, PERSONAL_CONDITIONS) for c in self.all)


class Content(_Condition):
    title: ShortText
    body: LongText
    url: Url | None = None


class Variant(_Condition):
    key: VariantKey
    weight: int = Field(ge=1, le=100)
    content: dict[Locale, Content] = Field(
        description="Per locale; zh-CN (the default locale) is required.",
        json_schema_extra={"required": ["zh-CN"]},
    )

    @model_validator(mode="after")
    def _has_default_locale(self) -> Variant:
        if "zh-CN" not in self.content:
            raise ValueError("content needs zh-CN (the default locale)")
        return self


class Conversion(_Condition):
    event_type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{2,79}$")]
    within_hours: int = Field(ge=1, le=24 * 90)
    category: SpendingCategory | None = None


class CampaignIn(_Condition):
    """A new campaign (or a draft's replacement): who, what, when, and what counts as working."""

    name: ShortText
    segment: Segment
    personalised: bool = Field(
        False,
        description="Content may use the recipient's own figures; a segment on spending, "
        "payments or sub-wallets is personalised whatever this says.",
    )
    variants: list[Variant] = Field(
        min_length=1,
        max_length=10,
        description="Title and body may use the recipient's own figures as placeholders "
        "(`{spent_last_month}`, `{spent_last_month.dining}`…, see docs/campaigns.md) only "
        "in a personalised campaign.",
    )
    control_percent: int = Field(0, ge=0, le=50)
    channels: list[Channel] = Field(
        min_length=1, max_length=4, json_schema_extra={"uniqueItems": True}
    )
    send_at: UtcDateTime | None = None
    conversion: Conversion | None = None

    @field_validator("variants")
    @classmethod
    def _each_key_once(cls, variants: list[Variant]) -> list[Variant]:
        keys = [v.key for v in variants]
        if len(set(keys)) != len(keys):
            raise ValueError("each variant key once")
        return variants

    @field_validator("variants")
    @classmethod
    def _figures_only_when_personalised(
        cls, variants: list[Variant], info: ValidationInfo
    ) -> list[Variant]:
        """The user's own figures only in a personalised campaign, and only those declared."""
        segment = info.data.get("segment")
        personalised = info.data.get("personalised") is True or (
            isinstance(segment, Segment) and segment.personal
        )
        for variant in variants:
            for locale, content in variant.content.items():
                for name in placeholders(content.title) + placeholders(content.body):
                    where = f"variant {variant.key}, {locale}"
                    if not personalised:
                        raise ValueError(
                            f"{where}: {{{name}}} is the user's own figure; only a "
                            "personalised campaign may use one"
                        )
                    if name not in FIGURES:
                        raise ValueError(
                            f"{where}: unknown placeholder {{{name}}}; known: "
                            "{spent_last_month}, {spent_last_month.<category>}, {balance}"
                        )
        return variants

    @field_validator("channels")
    @classmethod
    def _each_channel_once(cls, channels: list[Channel]) -> list[Channel]:
        if len(set(channels)) != len(channels):
            raise ValueError("each channel once")
        return channels


class CampaignOut(BaseModel):
    id: str
    name: str
    status: CampaignStatus
    segment: dict[str, Any]
    variants: list[dict[str, Any]]
    control_percent: int
    channels: list[str]
    send_at: datetime | None
    conversion: dict[str, Any] | None
    personalised: bool
    recipients: int
    created_at: datetime
    updated_at: datetime
    launched_at: datetime | None
    frozen_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None


class Excluded(BaseModel):
    no_consent: int
    personalisation_off: int


class AudienceOut(BaseModel):
    matched: int
    eligible: int
    excluded: Excluded


class VariantReport(BaseModel):
    key: str
    recipients: int
    sent: int
    delivered: int
    clicked: int
    converted: int
    conversion_rate: float
    uplift: float | None = None
    """Conversion rate minus the control group's (absolute); None without a control."""
    p_value: float | None = None
    """Two-proportion z-test against the control group (two-sided)."""


class ControlReport(BaseModel):
    recipients: int
    converted: int
    conversion_rate: float


class Suppressed(BaseModel):
    no_consent: int
    outside_window: int
    """Postponed to the opening of the user's sending window (still sent)."""
    capped: int


class SampleRatio(BaseModel):
    p_value: float | None
    mismatch: bool
    """True when the split is off (chi-square p < 0.001): do not trust the comparison."""


class ReportOut(BaseModel):
    status: CampaignStatus
    audience: int
    variants: list[VariantReport]
    control: ControlReport
    suppressed: Suppressed
    sample_ratio: SampleRatio
    conversions_closed: bool


class AuditEntry(BaseModel):
    action: str
    actor: str
    detail: dict[str, Any]
    at: datetime
