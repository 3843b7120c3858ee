"""campaigns: campaigns, their audit trail and the frozen audience (recipients)

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.String(length=32)
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("segment", _JSON, nullable=False),
        sa.Column("variants", _JSON, nullable=False),
        sa.Column("control_percent", sa.Integer(), nullable=False),
        sa.Column("channels", _JSON, nullable=False),
        sa.Column("send_at", _TS, nullable=True),
        sa.Column("conversion", _JSON, nullable=True),
        sa.Column("personalised", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("launched_at", _TS, nullable=True),
        sa.Column("freeze_cursor", _ID, nullable=True),
        sa.Column("frozen_at", _TS, nullable=True),
        sa.Column("recipients", sa.Integer(), server_default="0", nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("cancelled_at", _TS, nullable=True),
        sa.Column("conversions_closed_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    op.create_table(
        "campaign_audit",
        sa.Column("id", _ID, nullable=False),
        sa.Column("campaign_id", _ID, nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("detail", _JSON, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_audit")),
    )
    op.create_index("ix_campaign_audit_campaign_id_id", "campaign_audit", ["campaign_id", "id"])
    op.create_table(
        "campaign_recipients",
        sa.Column("campaign_id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("variant", sa.String(length=32), nullable=True),
        sa.Column("frozen_at", _TS, nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("has_phone", sa.Boolean(), nullable=False),
        sa.Column("has_email", sa.Boolean(), nullable=False),
        sa.Column("clicked_at", _TS, nullable=True),
        sa.Column("converted_at", _TS, nullable=True),
        sa.Column("conversion_event_id", _ID, nullable=True),
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
