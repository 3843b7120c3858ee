"""a signing secret per webhook endpoint, rotatable; every push device of a user

Each user's webhook gets its own Standard Webhooks secret, sealed like personal data, and
during a rotation the previous one (also sealed) until the overlap ends. A push attempt
names the device it went to by a keyed hash of the token, so a retry sends only to the
devices that do not have the notice yet.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("notify_preferences", sa.Column("webhook_secret_enc", sa.Text(), nullable=True))
    op.add_column(
        "notify_preferences", sa.Column("webhook_previous_secret_enc", sa.Text(), nullable=True)
    )
    op.add_column(
        "notify_preferences", sa.Column("webhook_previous_secret_until", TS, nullable=True)
    )
    op.add_column("delivery_attempts", sa.Column("device", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery_attempts") as batch:
        batch.drop_column("device")
    with op.batch_alter_table("notify_preferences") as batch:
        batch.drop_column("webhook_previous_secret_until")
        batch.drop_column("webhook_previous_secret_enc")
        batch.drop_column("webhook_secret_enc")
