"""operator templates approved by a second operator before they go live

A version is a draft until a second operator approves it, and goes live only when an
operator activates an approved version; who approved and who activated, and when, are kept
on the version. Versions written before this rule were live already: they count as approved
(and, if in force, activated) by their author at the time they were written.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

from tidings.migrations.columns import add_columns, drop_columns, stamps, strings

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    add_columns(
        "notify_templates",
        *strings(64, "approved_by", nullable=True),
        *stamps("approved_at", nullable=True),
        *strings(64, "activated_by", nullable=True),
        *stamps("activated_at", nullable=True),
    )
    op.execute("UPDATE notify_templates SET approved_by = created_by, approved_at = created_at")
    op.execute(
        "UPDATE notify_templates SET activated_by = created_by, activated_at = created_at "
        "WHERE active"
    )


def downgrade() -> None:
    drop_columns("notify_templates", "activated_at", "activated_by", "approved_at", "approved_by")
