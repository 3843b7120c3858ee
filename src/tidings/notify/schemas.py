"""API shapes of events, inbox, notifications, preferences and authenticity checks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tidings.kit.clock import UtcDateTime
from tidings.kit.pagination import Page
from tidings.kit.schemas import RequestBody
from tidings.kit.text import CONTROL_FREE_PATTERN, JsonObject, printable
from tidings.notify.cloudevents_http import is_json_media_type, split_media_type
from tidings.notify.types import Category, ChannelName

ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Bounded255 = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255),
    AfterValidator(printable),
    Field(json_schema_extra={"pattern": CONTROL_FREE_PATTERN}),
]


def json_media_type(value: str) -> str:
    """`datacontenttype` may carry parameters (`application/json; charset=utf-8`); the data
    must be JSON."""
    media_type, _ = split_media_type(value)
    if not is_json_media_type(media_type):
        raise ValueError("the data of an event must be JSON (application/json or a +json type)")
    return value


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


JSON_MEDIA_TYPE_PATTERN = (
    rf"^\s*({_any_case('application/json')}|[^;]*\+{_any_case('json')})\s*(;.*)?$"
)
"""What `json_media_type` accepts, as a JSON Schema pattern (media types ignore case)."""


class CloudEventIn(BaseModel):
    """A CloudEvents 1.0 event in structured JSON mode."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    id: Bounded255
    source: Bounded255
    type: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$", max_length=80)]
    subject: Bounded255 = Field(description="The user: our id (usr_…) or your external_id.")
    time: UtcDateTime | None = None
    datacontenttype: (
        Annotated[
            str,
            StringConstraints(max_length=255),
            AfterValidator(json_media_type),
            Field(json_schema_extra={"pattern": JSON_MEDIA_TYPE_PATTERN}),
        ]
        | None
    ) = Field(default=None, examples=["application/json; charset=utf-8"])
    data: JsonObject = Field(description="At most 64 KB as JSON.")


class EventBatchIn(BaseModel):
    """A batch-mode request (`application/cloudevents-batch+json`), as posted; what an
    `Idempotency-Key` is checked against."""

    events: list[Any]


class EventBatchItem(BaseModel):
    """One event of a batch: accepted (`event`) or refused (`problem`, RFC 9457)."""

    index: int
    status: int
    event: EventAccepted | None = None
    problem: dict[str, Any] | None = None


class EventBatchAccepted(BaseModel):
    """A result per event, in the batch's order; each event is stored once."""

    items: list[EventBatchItem]


class EventAccepted(BaseModel):
    id: str = Field(description="Our id of the stored event.")
    source: str
    event_id: str
    type: str
    user_id: str
    duplicate: bool
    known_type: bool
    dropped: bool = Field(
        default=False,
        description="The user's data was erased (PIPL): the event is accepted and dropped.",
    )


class InboxItemOut(BaseModel):
    id: str = Field(description="The notification's id (use it with /v1/notifications/{id}).")
    kind: str
    category: Category
    title: str
    body: str
    read: bool
    created_at: datetime


class InboxPage(Page[InboxItemOut]):
    unread_count: int


class MarkedRead(BaseModel):
    marked: int
    unread_count: int


class AttemptOut(BaseModel):
    provider: str | None
    device: str | None = Field(
        default=None,
        description="Push: the device this attempt went to (a keyed hash of its token).",
    )
    outcome: str
    status_code: int | None
    error: str | None
    duration_ms: int | None
    at: datetime


class DeliveryOut(BaseModel):
    id: str
    channel: ChannelName
    status: str
    reason: str | None
    due_at: datetime
    provider: str | None
    fallback_of: str | None
    attempts: list[AttemptOut]
    sent_at: datetime | None
    final_at: datetime | None


class NotificationOut(BaseModel):
    id: str
    user_id: str
    kind: str
    category: Category
    event_id: str
    created_at: datetime
    deliveries: list[DeliveryOut]


class DeliveryStatusOut(BaseModel):
    channel: ChannelName
    status: str = Field(
        description="pending, sending, sent, delivered, undeliverable, failed, digest, "
        "suppressed, cancelled or skipped (push to a user with no device: `no_device`)."
    )
    reason: str | None = Field(
        description="Why not (yet): no_consent, marketing_window, quiet_hours, cap, …"
    )


class NotificationSummaryOut(BaseModel):
    id: str = Field(description="The notification's id (use it with /v1/notifications/{id}).")
    kind: str
    category: Category
    created_at: datetime
    deliveries: list[DeliveryStatusOut]


class NotificationPage(BaseModel):
    items: list[NotificationSummaryOut]
    next_cursor: str | None


class QuietHoursIn(RequestBody):
    start: ClockTime = Field(examples=["22:00"])
    end: ClockTime = Field(examples=["08:00"])


class PreferencesIn(RequestBody):
    """Every field optional: only what is sent changes."""

    channels: dict[Category, list[ChannelName]] | None = None
    kind_channels: dict[str, list[ChannelName] | None] | None = Field(
        default=None,
        description="Channels for one kind (`credit.repayment.due`: sms), overriding its "
        "category; `null` for a kind removes its override.",
    )
    quiet_hours: QuietHoursIn | None = None
    clear_quiet_hours: bool = False
    digest: bool | None = None
    marketing_consent: dict[ChannelName, bool] | None = None
    personalised_marketing: bool | None = Field(
        default=None,
        description="Marketing chosen by the user's spending and behaviour (suggestions, "
        "spending segments); each change is a consent-ledger row (`purpose: personalisation`).",
    )
    push_tokens: list[Annotated[str, StringConstraints(min_length=8, max_length=4096)]] | None = (
        Field(default=None, max_length=5)
    )
    webhook_url: (
        Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=500)] | None
    ) = None


class PreferencesOut(BaseModel):
    user_id: str
    timezone: str
    channels: dict[Category, list[ChannelName]]
    kind_channels: dict[str, list[ChannelName]]
    quiet_hours: QuietHoursIn | None
    digest: bool
    marketing_consent: dict[ChannelName, bool]
    personalised_marketing: bool = Field(
        default=True, description="On unless the user turned it off (PIPL art. 24)."
    )
    push_tokens: list[str] = Field(description="Masked.")
    webhook_url: str | None
    webhook_secret: str | None = Field(
        default=None,
        description="The Standard Webhooks secret (`whsec_…`) of a newly saved `webhook_url`: "
        "shown once, in the answer of the PUT that saved it; null otherwise. Rotate it with "
        "`POST /v1/users/{user_id}/webhook-secret/rotate`.",
    )


class WebhookSecretOut(BaseModel):
    """A new signing secret for the user's webhook endpoint, shown once."""

    secret: str = Field(description="`whsec_` + base64; verify requests with it.")
    previous_valid_until: datetime | None = Field(
        description="Until when the replaced secret still signs too (each request then "
        "carries one signature per secret)."
    )


ALL_CHANNELS: Final = "all"
"""`consent_events.channel` of a consent that is not about one channel (personalisation)."""


class ConsentEventOut(BaseModel):
    id: str
    channel: ChannelName | Literal["all"] = Field(
        description="The channel the consent is about; `all` for personalisation."
    )
    purpose: str = Field(description="`marketing` per channel, `personalisation` for all.")
    granted: bool
    method: str
    actor: str
    evidence: str | None
    at: datetime


class VerifyIn(RequestBody):
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    code: Annotated[str, StringConstraints(min_length=4, max_length=16)] | None = None


class VerifyOut(BaseModel):
    genuine: bool
    kind: str | None = None
    sent_at: datetime | None = None
    channel: ChannelName | None = None
