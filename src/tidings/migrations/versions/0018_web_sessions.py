"""web sessions: one-time sign-in links and page sessions (user and console), secrets hashed

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import ids, stamps, strings

revision = "0018"
down_revision = "0017"


def upgrade() -> None:
    op.create_table(
        "web_links",
        *ids("id", "user_id"),
        *strings(64, "token_hash"),
        *stamps("created_at", "expires_at"),
        *stamps("used_at", nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_web_links_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_links_token_hash")),
    )
    op.create_index("ix_web_links_user_id", "web_links", ["user_id"])
    op.create_table(
        "web_sessions",
        *ids("id"),
        *strings(16, "kind"),
        *ids("user_id", nullable=True),
        *strings(64, "session_hash"),
        *stamps("created_at", "expires_at"),
        *stamps("ended_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_web_sessions_session_hash")),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_web_links_user_id", table_name="web_links")
    op.drop_table("web_links")
