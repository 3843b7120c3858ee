"""privacy: per-user keys for free text (crypto-shredding) and the users' erased status

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import add_columns, drop_columns, ids, stamps, strings, texts

revision = "0023"
down_revision = "0022"


def upgrade() -> None:
    add_columns(
        "users",
        *strings(8, "status", default="active"),
        *stamps("erased_at", nullable=True),
    )
    op.create_table(
        "privacy_user_keys",
        *ids("user_id"),
        *texts("key_enc"),
        *stamps("created_at"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_privacy_user_keys")),
    )


def downgrade() -> None:
    op.drop_table("privacy_user_keys")
    drop_columns("users", "erased_at", "status")
