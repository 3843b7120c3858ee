"""event bus: the publisher's mark on each outbox event (issue #20)

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # When the event bus acknowledged the event (JetStream's ack); null while unpublished.
    # Nothing is renamed: every domain writes the outbox through `record_event`.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("bus_published_at", sa.DateTime(timezone=True)))
    op.create_index("ix_outbox_bus_published_at_id", "outbox", ["bus_published_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_bus_published_at_id", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("bus_published_at")
