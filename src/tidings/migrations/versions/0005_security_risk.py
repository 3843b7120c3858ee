"""security and risk: logins, security changes, step-up verifications, freezes, audit log

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.String(length=32)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("wallets", sa.Column("frozen_at", TS, nullable=True))
    op.create_table(
        "security_logins",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("device_hash", sa.String(length=64), nullable=False),
        sa.Column("ip_hash", sa.String(length=64), nullable=False),
        sa.Column("city", sa.String(length=100)),
        sa.Column("country", sa.String(length=100)),
        sa.Column("user_agent", sa.String(length=200)),
        sa.Column("new_device", sa.Boolean(), nullable=False),
        sa.Column("new_location", sa.Boolean(), nullable=False),
        sa.Column("risk_level", sa.String(length=8), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_security_logins_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_security_logins"),
    )
    op.create_index("ix_security_logins_user_id_at", "security_logins", ["user_id", "at"])
    op.create_index(
        "ix_security_logins_user_id_device_hash", "security_logins", ["user_id", "device_hash"]
    )
    op.create_table(
        "security_changes",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_security_changes_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_security_changes"),
    )
    op.create_index("ix_security_changes_user_id_at", "security_changes", ["user_id", "at"])
    op.create_table(
        "step_up_verifications",
        sa.Column("id", ID, nullable=False),
        sa.Column("transfer_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("hold_id", ID, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts_left", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("code_expires_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("settled_at", TS),
        sa.CheckConstraint(
            "attempts_left >= 0", name="ck_step_up_verifications_attempts_non_negative"
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.id"],
            name="fk_step_up_verifications_transfer_id_transfers",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_step_up_verifications_user_id_users"
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["holds.id"], name="fk_step_up_verifications_hold_id_holds"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_step_up_verifications"),
        sa.UniqueConstraint("transfer_id", name="uq_step_up_verifications_transfer_id"),
    )
    op.create_index(
        "ix_step_up_verifications_status_expires_at",
        "step_up_verifications",
        ["status", "expires_at"],
    )
    op.create_table(
        "audit_log",
        sa.Column("id", ID, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("user_id", ID),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=40)),
        sa.Column("ip_hash", sa.String(length=64)),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_user_id_id", "audit_log", ["user_id", "id"])
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name="pk_rate_limit_counters"),
    )
    op.create_index("ix_rate_limit_counters_window_start", "rate_limit_counters", ["window_start"])


def downgrade() -> None:
    for table in (
        "rate_limit_counters",
        "audit_log",
        "step_up_verifications",
        "security_changes",
        "security_logins",
    ):
        op.drop_table(table)
    with op.batch_alter_table("wallets") as batch:
        batch.drop_column("frozen_at")
