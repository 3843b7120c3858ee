"""contact changes confirmed by a code to the current contact, one-time codes sealed

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.String(length=32)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("phone_changed_at", TS, nullable=True))
    op.add_column("users", sa.Column("email_changed_at", TS, nullable=True))
    op.add_column("step_up_verifications", sa.Column("code_event_id", ID, nullable=True))
    op.create_table(
        "contact_changes",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("phone_enc", sa.Text()),
        sa.Column("email_enc", sa.Text()),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("attempts_left", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("code_event_id", ID),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("settled_at", TS),
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
    with op.batch_alter_table("step_up_verifications") as batch:
        batch.drop_column("code_event_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_changed_at")
        batch.drop_column("phone_changed_at")
