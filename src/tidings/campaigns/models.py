"""Tables of campaigns: the campaign, its audit trail and its frozen audience."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, PrimaryKeyConstraint, String, Table

from tidings.kit.tables import (
    Id,
    Json,
    Timestamp,
    id_column,
    metadata,
    optional_columns,
    required_columns,
)

campaigns = Table(
    "campaigns",
    metadata,
    id_column(),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    *required_columns(Json, "segment", "variants"),
    Column("control_percent", Integer, nullable=False),
    Column("channels", Json, nullable=False),
    Column("send_at", Timestamp),
    Column("conversion", Json),
    Column("personalised", Boolean, nullable=False),
    Column("created_by", String(64), nullable=False),
    *required_columns(Timestamp, "created_at", "updated_at"),
    Column("launched_at", Timestamp),
    # Keyset cursor of the freeze: the last user id copied into the recipients (a crash
    # resumes after it); `frozen_at` set once the whole audience is in.
    Column("freeze_cursor", Id),
    Column("frozen_at", Timestamp),
    Column("recipients", Integer, nullable=False, server_default="0"),
    # Sends refused at planning for want of consent on a channel: counted, no row written.
    Column("suppressed_no_consent", Integer, nullable=False, server_default="0"),
    *optional_columns(Timestamp, "finished_at", "cancelled_at", "conversions_closed_at"),
    Index("ix_campaigns_status", "status"),
)

campaign_audit = Table(
    "campaign_audit",
    metadata,
    id_column(),
    Column("campaign_id", Id, nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("detail", Json, nullable=False),
    Column("at", Timestamp, nullable=False),
    Index("ix_campaign_audit_campaign_id_id", "campaign_id", "id"),
)
"""Every change of a campaign (created, edited, launched, cancelled, sent), append-only."""

campaign_recipients = Table(
    "campaign_recipients",
    metadata,
    *required_columns(Id, "campaign_id", "user_id"),
    # The variant's key; NULL: the control group (gets nothing, counts conversions).
    Column("variant", String(32)),
    Column("frozen_at", Timestamp, nullable=False),
    # What the planner needs of the member, as it stood at the freeze: one read of `users`.
    Column("locale", String(16), nullable=False),
    Column("timezone", String(64), nullable=False),
    *required_columns(Boolean, "has_phone", "has_email"),
    *optional_columns(Timestamp, "clicked_at", "converted_at"),
    Column("conversion_event_id", Id),
    PrimaryKeyConstraint("campaign_id", "user_id"),
    Index("ix_campaign_recipients_campaign_id_variant", "campaign_id", "variant"),
)
"""The audience as frozen at launch: one row per member, a re-run adds nobody twice."""
