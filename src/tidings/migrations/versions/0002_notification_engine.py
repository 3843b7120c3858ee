"""notification engine

Event receipts, notifications, deliveries and their attempts, the inbox, preferences,
the consent ledger and operator template versions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:53:08.408018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import flags, ids, integers, jsons, stamps, strings, texts

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "consent_events",
        *ids("id", "user_id"),
        *strings(16, "channel"),
        *strings(32, "purpose"),
        *flags("granted"),
        *strings(32, "method"),
        *strings(64, "actor"),
        *texts("evidence", nullable=True),
        *stamps("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_events_user_id_channel_at", ["user_id", "channel", "at"], unique=False
        )

    op.create_table(
        "event_receipts",
        *strings(255, "source", "event_id"),
        *ids("outbox_id"),
        *stamps("received_at"),
        sa.PrimaryKeyConstraint("source", "event_id", name=op.f("pk_event_receipts")),
    )
    op.create_table(
        "notifications",
        *ids("id", "user_id", "event_id"),
        *strings(80, "kind"),
        *strings(16, "category"),
        *jsons("data"),
        *strings(255, "dedup_key", nullable=True),
        *stamps("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("user_id", "dedup_key", name="uq_notifications_user_dedup_key"),
        sa.UniqueConstraint("user_id", "event_id", "kind", name="uq_notifications_user_event_kind"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_user_id_id", ["user_id", "id"], unique=False)

    op.create_table(
        "notify_preferences",
        *ids("user_id"),
        *jsons("channels"),
        *strings(5, "quiet_hours_start", "quiet_hours_end", nullable=True),
        *flags("digest", default="1"),
        *texts("push_tokens_enc", nullable=True),
        *strings(500, "webhook_url", nullable=True),
        *stamps("updated_at"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notify_preferences")),
    )
    op.create_table(
        "notify_templates",
        *ids("id"),
        *strings(80, "kind"),
        *strings(16, "channel", "locale"),
        *integers("version"),
        *texts("title", nullable=True),
        *texts("body"),
        *flags("active"),
        *strings(64, "created_by"),
        *stamps("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_templates")),
        sa.UniqueConstraint(
            "kind", "channel", "locale", "version", name="uq_notify_templates_version"
        ),
    )
    op.create_table(
        "deliveries",
        *ids("id", "notification_id", "user_id"),
        *strings(16, "channel", "status"),
        *stamps("due_at"),
        *integers("attempts", default="0"),
        *strings(80, "fallback", default=""),
        *ids("fallback_of", nullable=True),
        *strings(255, "reason", nullable=True),
        *strings(64, "provider", nullable=True),
        *strings(255, "provider_message_id", nullable=True),
        *strings(64, "lease_owner", nullable=True),
        *stamps("lease_expires_at", nullable=True),
        *strings(16, "auth_code", nullable=True),
        *texts("content", nullable=True),
        *stamps("created_at"),
        *stamps("sent_at", "final_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_deliveries_notification_id_notifications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_auth_code", ["auth_code"], unique=False)
        batch_op.create_index("ix_deliveries_notification_id", ["notification_id"], unique=False)
        batch_op.create_index(
            "ix_deliveries_provider_message_id", ["provider_message_id"], unique=False
        )
        batch_op.create_index("ix_deliveries_status_due_at", ["status", "due_at"], unique=False)
        batch_op.create_index(
            "ix_deliveries_user_id_channel_id", ["user_id", "channel", "id"], unique=False
        )

    op.create_table(
        "inbox_items",
        *ids("id", "user_id", "notification_id"),
        *strings(80, "kind"),
        *strings(16, "category"),
        *strings(200, "title"),
        *texts("body"),
        *stamps("read_at", nullable=True),
        *stamps("created_at"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_inbox_items_notification_id_notifications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_items")),
        sa.UniqueConstraint("notification_id", name=op.f("uq_inbox_items_notification_id")),
    )
    with op.batch_alter_table("inbox_items", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_items_user_id_id", ["user_id", "id"], unique=False)

    op.create_table(
        "delivery_attempts",
        *ids("id", "delivery_id"),
        *strings(64, "provider", nullable=True),
        *strings(16, "outcome"),
        *integers("status_code", nullable=True),
        *strings(500, "error", nullable=True),
        *integers("duration_ms", nullable=True),
        *stamps("at"),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_attempts_delivery_id_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_attempts_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_attempts_delivery_id"))

    op.drop_table("delivery_attempts")
    with op.batch_alter_table("inbox_items", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_items_user_id_id")

    op.drop_table("inbox_items")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_user_id_channel_id")
        batch_op.drop_index("ix_deliveries_status_due_at")
        batch_op.drop_index("ix_deliveries_provider_message_id")
        batch_op.drop_index("ix_deliveries_notification_id")
        batch_op.drop_index("ix_deliveries_auth_code")

    op.drop_table("deliveries")
    op.drop_table("notify_templates")
    op.drop_table("notify_preferences")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_id_id")

    op.drop_table("notifications")
    op.drop_table("event_receipts")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_events_user_id_channel_at")

    op.drop_table("consent_events")
