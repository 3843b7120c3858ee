"""privacy: per-user keys for free text (crypto-shredding) and the users' erased status

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("status", sa.String(length=8), server_default="active", nullable=False)
    )
    op.add_column("users", sa.Column("erased_at", TS, nullable=True))
    op.create_table(
        "privacy_user_keys",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("key_enc", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_privacy_user_keys")),
    )


def downgrade() -> None:
    op.drop_table("privacy_user_keys")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("status")
