"""The plain data the engine's parts hand each other: rules → planner → dispatcher → channels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum
from typing import Any, Protocol


class Category(StrEnum):
    """How a notice is treated; set by its kind."""

    CRITICAL = "critical"
    """Security and fraud: ignores quiet hours and caps, several channels, falls back."""
    TRANSACTIONAL = "transactional"
    """Money movements and loan milestones: the user's channel choice, sent at once."""
    INFORMATIONAL = "informational"
    """Nice to know: respects quiet hours and caps, may be digested."""
    MARKETING = "marketing"
    """Needs consent per channel, a sending window, caps, and an unsubscribe path."""


class ChannelName(StrEnum):
    """Where a message goes."""

    INBOX = "inbox"
    """The in-app inbox; written exactly once."""
    PUSH = "push"
    """App push (FCM HTTP v1-shaped providers)."""
    SMS = "sms"
    """Text messages through SMS providers."""
    EMAIL = "email"
    """Email over SMTP."""
    WEBHOOK = "webhook"
    """Signed HTTP callbacks to another platform (Standard Webhooks)."""


class DeliveryStatus(StrEnum):
    """Where one delivery stands (`deliveries.status`); the API and the status webhook show
    these values."""

    PENDING = "pending"
    """Waits for `due_at`: now, or later (a window, quiet hours, a retry's backoff)."""
    SENDING = "sending"
    """Claimed by a worker; another takes it once the lease has run out."""
    SENT = "sent"
    """Handed to the provider (the inbox: stored)."""
    DELIVERED = "delivered"
    """The provider reported that it reached the recipient."""
    UNDELIVERABLE = "undeliverable"
    """The provider reported that it could not reach the recipient."""
    FAILED = "failed"
    """Given up for good: a permanent error, retries spent, nothing left to send."""
    DIGEST = "digest"
    """Held for the user's daily digest."""
    DIGESTING = "digesting"
    """Claimed by a worker sending the digest it belongs to."""
    SUPPRESSED = "suppressed"
    """Stopped by a rule (consent, quiet hours, a cap, a limit); `reason` says which."""
    CANCELLED = "cancelled"
    """Stopped before it went: marketing consent was withdrawn."""
    SKIPPED = "skipped"
    """Push to a user without a device (`no_device`): nothing to send to."""


OPEN_STATUSES: tuple[DeliveryStatus, ...] = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
"""Not yet handled: a later delivery to the same user on the same channel waits for these."""


class AttemptOutcome(StrEnum):
    """How one try at a provider ended (`delivery_attempts.outcome`)."""

    SENT = "sent"
    """The provider took the message."""
    RETRYABLE = "retryable"
    """A time-out, a 5xx or a 429: trying again later may work."""
    PERMANENT = "permanent"
    """Refused for good (invalid number, unregistered device): trying again cannot help."""


@dataclass(frozen=True, slots=True)
class Intent:
    """What a rule decided should be said to one user about one event."""

    kind: str
    category: Category
    user_id: str
    event_id: str
    data: dict[str, Any]
    occurred_at: datetime
    dedup_key: str | None = None
    collection: bool = False
    """A debt-collection notice: 08:00-21:00 local, at most one a day."""
    channels: tuple[ChannelName, ...] | None = None
    """Channels forced by the rule (e.g. a verification code goes by SMS); None: preferences."""
    default_channels: tuple[ChannelName, ...] | None = None
    """A registered kind's channels, used in place of the category's when the user made no
    choice for the kind."""


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Preferences:
    """A user's choices, as the planner needs them."""

    timezone: str
    channels: Mapping[Category, tuple[ChannelName, ...]]
    quiet_hours: QuietHours | None
    digest: bool
    marketing_consent: frozenset[ChannelName]
    """Channels the user has (currently) consented to marketing on."""
    reachable: frozenset[ChannelName] = field(
        default_factory=lambda: frozenset({ChannelName.INBOX})
    )
    """Channels the user has an address for (phone, email, push token, webhook)."""
    kind_channels: Mapping[str, tuple[ChannelName, ...]] = field(default_factory=dict)
    """Per-kind choices (repayment reminders by SMS, payments by push only) that override
    the kind's category."""
    personalised: bool = True
    """`personalised_marketing`: off, no marketing chosen by the user's spending or behaviour
    (a suggestion, a personalised promotion) goes, on any channel."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """Whom a delivery goes to, with their addresses in clear: it lives only inside the
    dispatcher, for the time of one batch."""

    user_id: str
    locale: str
    timezone: str
    phone: str | None = None
    email: str | None = None
    push_tokens: tuple[str, ...] = ()
    """The user's devices, the latest registered last."""
    webhook_url: str | None = None
    webhook_secrets: tuple[str, ...] = ()
    """The webhook endpoint's own signing secrets, the current first; empty: the adapter's."""

    def address(self, channel: ChannelName) -> str | None:
        """Where a message on `channel` goes: the inbox is the user's own; push goes to the
        latest device; None when the user has no address there."""
        match channel:
            case ChannelName.INBOX:
                return self.user_id
            case ChannelName.PUSH:
                return self.push_tokens[-1] if self.push_tokens else None
            case ChannelName.SMS:
                return self.phone
            case ChannelName.EMAIL:
                return self.email
            case ChannelName.WEBHOOK:
                return self.webhook_url


@dataclass(frozen=True, slots=True)
class ProviderTemplate:
    """A provider-side template (Aliyun `TemplateCode`) and its variables, rendered."""

    code: str
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One rendered message for one channel; `delivery_id` is the provider idempotency key."""

    delivery_id: str
    channel: ChannelName
    kind: str
    category: Category
    to: str
    """E.164 phone, email address, push token, webhook URL, or the user id (inbox)."""
    body: str
    title: str | None = None
    html: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    template_code: str | None = None
    """Provider-side template id (Aliyun SMS TemplateCode), when the provider wants one."""
    template_params: dict[str, str] = field(default_factory=dict)
    provider_templates: Mapping[str, ProviderTemplate] = field(default_factory=dict)
    """Provider name → its approved template for this message's kind with the variables
    rendered (Aliyun SMS); a provider without an entry sends the body."""
    unsubscribe_url: str | None = None
    """Marketing: the absolute `/u/` link (email: List-Unsubscribe with one-click)."""
    unsubscribe_mailto: str | None = None
    """Marketing email: a `mailto:` also offered in List-Unsubscribe."""
    confidential: tuple[str, ...] = ()
    """Parts of the body (a one-time code) that a log or a kept copy must never show."""
    signing_secrets: tuple[str, ...] = ()
    """Webhooks: the endpoint's own secrets (the current first); empty: the adapter's."""
    device: str | None = None
    """Push: which of the user's devices (a keyed hash of `to`); with `delivery_id`, what a
    sender de-duplicates on, as one delivery goes to each of the user's devices."""
    notification_id: str | None = None
    """The notice this message tells (the inbox keeps one item per notice)."""
    at: datetime | None = None
    """When the dispatcher composed it (the inbox item's time)."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message kept in our own database rather than handed to a provider: an inbox item."""

    id: str
    user_id: str
    notification_id: str
    kind: str
    category: Category
    title: str
    body: str
    created_at: datetime

    def row(self) -> dict[str, Any]:
        """Its `inbox_items` row (a shallow copy: `dataclasses.asdict` deep-copies every
        value, which cost more than the insert)."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "notification_id": self.notification_id,
            "kind": self.kind,
            "category": self.category,
            "title": self.title,
            "body": self.body,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class SendResult:
    """A message taken: by a provider, or (`stored`) by our own database."""

    provider: str
    provider_message_id: str | None = None
    stored: StoredMessage | None = None
    """The inbox's item: written in the transaction that records its delivery as sent (one
    statement a batch, once per notice by the unique constraint). No provider was tried, so
    no attempt is recorded and no receipt will follow: the delivery is final at once."""


class ChannelError(Exception):
    """A send that did not go through; subclasses say whether trying again can help."""

    def __init__(self, detail: str, *, provider: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.provider = provider
        self.status = status


class TransientChannelError(ChannelError):
    """Time-outs, 5xx, 429: retry later (after `retry_after` seconds when the provider said)."""

    def __init__(
        self,
        detail: str,
        *,
        provider: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail, provider=provider, status=status)
        self.retry_after = retry_after


class PermanentChannelError(ChannelError):
    """Invalid number, unsubscribed, rejected content: retrying cannot help; fall back."""


class UnregisteredRecipient(PermanentChannelError):
    """The address is gone for good at the provider (a push token FCM reports
    `UNREGISTERED`: the app was uninstalled): forget it, never send there again."""


class PersonalFigures(Protocol):
    """Fills the user's own figures (`{spent_last_month.dining}`) into a personalised
    message's texts, formatted in their locale, as of the moment of sending. The
    composition root wires it to the domain that owns the figures; the engine imports none."""

    def __call__(
        self, *, user_id: str, locale: str, texts: Mapping[str, str], at: datetime
    ) -> dict[str, str]: ...
