"""campaigns: campaigns, their audit trail and the frozen audience (recipients)

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import flags, ids, integers, jsons, stamps, strings

revision = "0021"
down_revision = "0020"


def upgrade() -> None:
    op.create_table(
        "campaigns",
        *ids("id"),
        *strings(200, "name"),
        *strings(16, "status"),
        *jsons("segment", "variants"),
        *integers("control_percent"),
        *jsons("channels"),
        *stamps("send_at", nullable=True),
        *jsons("conversion", nullable=True),
        *flags("personalised"),
        *strings(64, "created_by"),
        *stamps("created_at", "updated_at"),
        *stamps("launched_at", nullable=True),
        *ids("freeze_cursor", nullable=True),
        *stamps("frozen_at", nullable=True),
        *integers("recipients", default="0"),
        *stamps("finished_at", "cancelled_at", "conversions_closed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    op.create_table(
        "campaign_audit",
        *ids("id", "campaign_id", "action"),
        *strings(64, "actor"),
        *jsons("detail"),
        *stamps("at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_audit")),
    )
    op.create_index("ix_campaign_audit_campaign_id_id", "campaign_audit", ["campaign_id", "id"])
    op.create_table(
        "campaign_recipients",
        *ids("campaign_id", "user_id"),
        *strings(32, "variant", nullable=True),
        *stamps("frozen_at"),
        *strings(16, "locale"),
        *strings(64, "timezone"),
        *flags("has_phone", "has_email"),
        *stamps("clicked_at", "converted_at", nullable=True),
        *ids("conversion_event_id", nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", "user_id", name=op.f("pk_campaign_recipients")),
    )
    op.create_index(
        "ix_campaign_recipients_campaign_id_variant",
        "campaign_recipients",
        ["campaign_id", "variant"],
    )
    # The bulk planner finds a campaign's notices by (event_id, user_id).
    op.create_index("ix_notifications_event_id_user_id", "notifications", ["event_id", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_event_id_user_id", table_name="notifications")
    op.drop_index("ix_campaign_recipients_campaign_id_variant", table_name="campaign_recipients")
    op.drop_table("campaign_recipients")
    op.drop_index("ix_campaign_audit_campaign_id_id", table_name="campaign_audit")
    op.drop_table("campaign_audit")
    op.drop_index("ix_campaigns_status", table_name="campaigns")
    op.drop_table("campaigns")
