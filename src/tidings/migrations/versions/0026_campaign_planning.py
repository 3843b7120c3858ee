"""campaign planning: sends refused for want of consent are counted, not stored

Revision ID: 0026
Revises: 0025

`campaigns.suppressed_no_consent` counts the sends the bulk planner refused for want of
marketing consent on a channel (most of a campaign's SMS and email) instead of a
`suppressed` delivery row each. The deliveries' look-up indexes on `auth_code` and
`provider_message_id` become partial (only rows that have one): every planned row used to
add two NULL entries to them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_PARTIAL = ("auth_code", "provider_message_id")


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(
            sa.Column("suppressed_no_consent", sa.Integer(), nullable=False, server_default="0")
        )
    for column in _PARTIAL:
        op.drop_index(f"ix_deliveries_{column}", table_name="deliveries")
        op.create_index(
            f"ix_deliveries_{column}",
            "deliveries",
            [column],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
            sqlite_where=sa.text(f"{column} IS NOT NULL"),
        )


def downgrade() -> None:
    for column in _PARTIAL:
        op.drop_index(f"ix_deliveries_{column}", table_name="deliveries")
        op.create_index(f"ix_deliveries_{column}", "deliveries", [column])
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("suppressed_no_consent")
