"""channels per notification kind, overriding the kind's category

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tidings.migrations.columns import drop_columns

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("notify_preferences") as batch:
        batch.add_column(
            sa.Column(
                "kind_channels",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    drop_columns("notify_preferences", "kind_channels")
