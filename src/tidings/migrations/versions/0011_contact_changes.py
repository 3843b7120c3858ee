"""contact changes confirmed by a code to the current contact, one-time codes sealed

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import (
    add_columns,
    drop_columns,
    ids,
    integers,
    stamps,
    strings,
    texts,
)

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    add_columns("users", *stamps("phone_changed_at", "email_changed_at", nullable=True))
    add_columns("step_up_verifications", *ids("code_event_id", nullable=True))
    op.create_table(
        "contact_changes",
        *ids("id", "user_id"),
        *texts("phone_enc", "email_enc", nullable=True),
        *strings(64, "code_hash"),
        *strings(16, "channel"),
        *integers("attempts_left"),
        *strings(16, "status"),
        *ids("code_event_id", nullable=True),
        *strings(40, "actor"),
        *stamps("expires_at", "created_at"),
        *stamps("settled_at", nullable=True),
        sa.CheckConstraint("attempts_left >= 0", name="ck_contact_changes_attempts_non_negative"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_contact_changes_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_contact_changes"),
    )
    op.create_index(
        "ix_contact_changes_user_id_created_at", "contact_changes", ["user_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_contact_changes_user_id_created_at", table_name="contact_changes")
    op.drop_table("contact_changes")
    drop_columns("step_up_verifications", "code_event_id")
    drop_columns("users", "email_changed_at", "phone_changed_at")
