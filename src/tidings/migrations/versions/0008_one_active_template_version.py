"""at most one active operator version per (kind, channel, locale), kept by the database

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    # The highest active version was the one in force; any older one still marked active
    # (possible before this rule) steps down so the index can be built.
    op.execute(
        """
        UPDATE notify_templates SET active = false
        WHERE active AND EXISTS (
            SELECT 1 FROM notify_templates AS newer
            WHERE newer.kind = notify_templates.kind
              AND newer.channel = notify_templates.channel
              AND newer.locale = notify_templates.locale
              AND newer.active
              AND newer.version > notify_templates.version
        )
        """
    )
    op.create_index(
        "uq_notify_templates_active",
        "notify_templates",
        ["kind", "channel", "locale"],
        unique=True,
        postgresql_where=sa.text("active"),
        sqlite_where=sa.text("active"),
    )


def downgrade() -> None:
    op.drop_index("uq_notify_templates_active", table_name="notify_templates")
