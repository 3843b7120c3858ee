"""operator templates approved by a second operator before they go live

A version is a draft until a second operator approves it, and goes live only when an
operator activates an approved version; who approved and who activated, and when, are kept
on the version. Versions written before this rule were live already: they count as approved
(and, if in force, activated) by their author at the time they were written.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("notify_templates", sa.Column("approved_by", sa.String(64), nullable=True))
    op.add_column("notify_templates", sa.Column("approved_at", TS, nullable=True))
    op.add_column("notify_templates", sa.Column("activated_by", sa.String(64), nullable=True))
    op.add_column("notify_templates", sa.Column("activated_at", TS, nullable=True))
    op.execute("UPDATE notify_templates SET approved_by = created_by, approved_at = created_at")
    op.execute(
        "UPDATE notify_templates SET activated_by = created_by, activated_at = created_at "
        "WHERE active"
    )


def downgrade() -> None:
    with op.batch_alter_table("notify_templates") as batch:
        batch.drop_column("activated_at")
        batch.drop_column("activated_by")
        batch.drop_column("approved_at")
        batch.drop_column("approved_by")
