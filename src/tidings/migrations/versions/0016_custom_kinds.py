"""event kinds operators register without a release; statements show moves to and from sub-wallets

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import drop_columns, ids, integers, jsons, stamps, strings, texts

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    op.create_table(
        "custom_kinds",
        *strings(80, "type"),
        *strings(16, "category"),
        *jsons("channels", nullable=True),
        *jsons("required_fields", "templates"),
        *jsons("sample", nullable=True),
        *texts("description"),
        *strings(16, "status"),
        *integers("version"),
        *strings(80, "created_by"),
        *stamps("created_at"),
        *strings(80, "updated_by"),
        *stamps("updated_at"),
        sa.PrimaryKeyConstraint("type", name=op.f("pk_custom_kinds")),
    )
    op.create_table(
        "custom_kind_changes",
        *ids("id"),
        *strings(80, "type"),
        *strings(16, "action"),
        *integers("version"),
        *strings(80, "actor"),
        *jsons("definition"),
        *stamps("at"),
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
    drop_columns("wallet_statements", "moved_from_sub_wallets", "moved_to_sub_wallets")
    op.drop_index("ix_custom_kind_changes_type_at", table_name="custom_kind_changes")
    op.drop_table("custom_kind_changes")
    op.drop_table("custom_kinds")
