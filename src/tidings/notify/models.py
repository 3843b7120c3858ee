"""Tables of the notification engine. Every table that grows with users carries `user_id`."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)

from tidings.kit.tables import (
    Id,
    Json,
    Timestamp,
    id_column,
    metadata,
    optional_columns,
    partial_index,
    required_columns,
)

event_receipts = Table(
    "event_receipts",
    metadata,
    *required_columns(String(255), "source", "event_id"),
    Column("outbox_id", Id, nullable=False),
    Column("received_at", Timestamp, nullable=False),
    PrimaryKeyConstraint("source", "event_id"),
)
"""CloudEvents posted from outside, by `source` + `id`: the same event twice changes nothing."""

notifications = Table(
    "notifications",
    metadata,
    id_column(),
    *required_columns(Id, "user_id", "event_id"),
    Column("kind", String(80), nullable=False),
    Column("category", String(16), nullable=False),
    Column("data", Json, nullable=False),
    Column("dedup_key", String(255)),
    Column("created_at", Timestamp, nullable=False),
    UniqueConstraint("user_id", "event_id", "kind", name="uq_notifications_user_event_kind"),
    UniqueConstraint("user_id", "dedup_key", name="uq_notifications_user_dedup_key"),
    Index("ix_notifications_user_id_id", "user_id", "id"),
    # A campaign's notices, found by the campaign (the bulk planner, the campaign report).
    Index("ix_notifications_event_id_user_id", "event_id", "user_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    id_column(),
    Column("notification_id", Id, ForeignKey("notifications.id"), nullable=False),
    Column("user_id", Id, nullable=False),
    *required_columns(String(16), "channel", "status"),
    Column("due_at", Timestamp, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Channels to try next, comma-separated, when this one fails for good.
    Column("fallback", String(80), nullable=False, server_default=""),
    Column("fallback_of", Id),
    Column("reason", String(255)),
    Column("provider", String(64)),
    Column("provider_message_id", String(255)),
    Column("lease_owner", String(64)),
    Column("lease_expires_at", Timestamp),
    Column("auth_code", String(16)),
    # The message exactly as sent (masked data only), for the authenticity check.
    Column("content", Text),
    Column("created_at", Timestamp, nullable=False),
    *optional_columns(Timestamp, "sent_at", "final_at"),
    Index("ix_deliveries_status_due_at", "status", "due_at"),
    Index("ix_deliveries_user_id_channel_id", "user_id", "channel", "id"),
    Index("ix_deliveries_notification_id", "notification_id"),
    # Partial: most rows never get one, and planning a campaign writes a million rows.
    partial_index("ix_deliveries_auth_code", "auth_code", where="auth_code IS NOT NULL"),
    partial_index(
        "ix_deliveries_provider_message_id",
        "provider_message_id",
        where="provider_message_id IS NOT NULL",
    ),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    id_column(),
    Column("delivery_id", Id, ForeignKey("deliveries.id"), nullable=False, index=True),
    Column("provider", String(64)),
    Column("outcome", String(16), nullable=False),
    Column("status_code", Integer),
    Column("error", String(500)),
    Column("duration_ms", Integer),
    Column("at", Timestamp, nullable=False),
    # Push: which of the user's devices (a keyed hash of its token, never the token).
    Column("device", String(64)),
)

inbox_items = Table(
    "inbox_items",
    metadata,
    id_column(),
    Column("user_id", Id, nullable=False),
    Column("notification_id", Id, ForeignKey("notifications.id"), nullable=False, unique=True),
    Column("kind", String(80), nullable=False),
    Column("category", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("read_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Index("ix_inbox_items_user_id_id", "user_id", "id"),
)

preferences = Table(
    "notify_preferences",
    metadata,
    Column("user_id", Id, primary_key=True),
    Column("channels", Json, nullable=False),  # category → list of channel names
    Column("kind_channels", Json),  # kind → list of channel names, overriding its category
    *optional_columns(String(5), "quiet_hours_start", "quiet_hours_end"),
    Column("digest", Boolean, nullable=False, server_default="1"),
    Column("push_tokens_enc", Text),
    Column("webhook_url", String(500)),
    # The webhook's Standard Webhooks secret, sealed; during a rotation the previous one
    # signs too, until `webhook_previous_secret_until`.
    *optional_columns(Text, "webhook_secret_enc", "webhook_previous_secret_enc"),
    Column("webhook_previous_secret_until", Timestamp),
    Column("updated_at", Timestamp, nullable=False),
)

consent_events = Table(
    "consent_events",
    metadata,
    id_column(),
    Column("user_id", Id, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("method", String(32), nullable=False),  # api, sms_reply, console, import
    Column("actor", String(64), nullable=False),  # the user, an operator, a provider
    Column("evidence", Text),
    Column("at", Timestamp, nullable=False),
    Index("ix_consent_events_user_id_channel_at", "user_id", "channel", "at"),
)
"""The consent ledger: append-only; the latest row per (user, channel, purpose) is in force."""


def consent_in_force(
    user_id: ColumnElement[str], *, purpose: str, channel: str, granted: bool
) -> ColumnElement[bool]:
    """SQL: the user's latest consent row for (purpose, channel) exists and says `granted`.
    The ledger's rule as one expression, for set-based reads over many users (the bulk
    planner; campaigns count consent through it, read-only): one backward index probe per
    user (`ix_consent_events_user_id_channel_at`), so a million users cost a million probes,
    never a hash of the whole ledger per page."""
    latest = (
        select(consent_events.c.granted)
        .where(
            consent_events.c.user_id == user_id,
            consent_events.c.channel == channel,
            consent_events.c.purpose == purpose,
        )
        .order_by(consent_events.c.at.desc(), consent_events.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return latest.is_(granted)


templates = Table(
    "notify_templates",
    metadata,
    id_column(),
    Column("kind", String(80), nullable=False),
    *required_columns(String(16), "channel", "locale"),
    Column("version", Integer, nullable=False),
    Column("title", Text),
    Column("body", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("approved_by", String(64)),  # a second operator; None: a draft
    Column("approved_at", Timestamp),
    Column("activated_by", String(64)),  # the last operator who put it in force
    Column("activated_at", Timestamp),
    UniqueConstraint("kind", "channel", "locale", "version", name="uq_notify_templates_version"),
    partial_index(
        "uq_notify_templates_active", "kind", "channel", "locale", where="active", unique=True
    ),
)
"""Operator versions of templates; the one active version overrides the shipped default."""
