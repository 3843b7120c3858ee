"""security and risk: logins, security changes, step-up verifications, freezes, audit log

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import (
    add_columns,
    amounts,
    drop_columns,
    flags,
    ids,
    integers,
    jsons,
    stamps,
    strings,
)

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    add_columns("wallets", *stamps("frozen_at", nullable=True))
    op.create_table(
        "security_logins",
        *ids("id", "user_id"),
        *strings(64, "device_hash", "ip_hash"),
        *strings(100, "city", "country", nullable=True),
        *strings(200, "user_agent", nullable=True),
        *flags("new_device", "new_location"),
        *strings(8, "risk_level"),
        *jsons("reasons"),
        *stamps("at", "created_at"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_security_logins_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_security_logins"),
    )
    op.create_index("ix_security_logins_user_id_at", "security_logins", ["user_id", "at"])
    op.create_index(
        "ix_security_logins_user_id_device_hash", "security_logins", ["user_id", "device_hash"]
    )
    op.create_table(
        "security_changes",
        *ids("id", "user_id"),
        *strings(16, "kind"),
        *stamps("at", "created_at"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_security_changes_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_security_changes"),
    )
    op.create_index("ix_security_changes_user_id_at", "security_changes", ["user_id", "at"])
    op.create_table(
        "step_up_verifications",
        *ids("id", "transfer_id", "user_id", "hold_id"),
        *strings(64, "code_hash"),
        *integers("attempts_left"),
        *strings(16, "status"),
        *integers("score"),
        *jsons("reasons"),
        *amounts("amount"),
        *strings(3, "currency"),
        *stamps("code_expires_at", "expires_at", "created_at"),
        *stamps("settled_at", nullable=True),
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
        *ids("id"),
        *stamps("at"),
        *strings(40, "actor"),
        *ids("user_id", nullable=True),
        *strings(40, "action"),
        *strings(40, "subject_id", nullable=True),
        *strings(64, "ip_hash", nullable=True),
        *jsons("detail"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_user_id_id", "audit_log", ["user_id", "id"])
    op.create_table(
        "rate_limit_counters",
        *strings(120, "key"),
        *stamps("window_start"),
        *integers("count"),
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
    drop_columns("wallets", "frozen_at")
