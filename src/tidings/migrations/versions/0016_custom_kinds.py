"""event kinds operators register without a release; statements show moves to and from sub-wallets

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "custom_kinds",
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("channels", _json(), nullable=True),
        sa.Column("required_fields", _json(), nullable=False),
        sa.Column("templates", _json(), nullable=False),
        sa.Column("sample", _json(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("type", name=op.f("pk_custom_kinds")),
    )
    op.create_table(
        "custom_kind_changes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_kind_changes")),
    )
    op.create_index("ix_custom_kind_changes_type_at", "custom_kind_changes", ["type", "at"])
    with op.batch_alter_table("wallet_statements") as batch:
        batch.add_column(
            sa.Column("moved_to_sub_wallets", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("moved_from_sub_wallets", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("wallet_statements") as batch:
        batch.drop_column("moved_from_sub_wallets")
        batch.drop_column("moved_to_sub_wallets")
    op.drop_index("ix_custom_kind_changes_type_at", table_name="custom_kind_changes")
    op.drop_table("custom_kind_changes")
    op.drop_table("custom_kinds")
