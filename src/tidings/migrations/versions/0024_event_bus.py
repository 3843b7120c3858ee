"""event bus: the publisher's mark on each outbox event (issue #20)

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import drop_columns

revision = "0024"
down_revision = "0023"


def upgrade() -> None:
    # When the event bus acknowledged the event (JetStream's ack); null while unpublished.
    # Nothing is renamed: every domain writes the outbox through `record_event`.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("bus_published_at", sa.DateTime(timezone=True)))
    op.create_index("ix_outbox_bus_published_at_id", "outbox", ["bus_published_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_bus_published_at_id", table_name="outbox")
    drop_columns("outbox", "bus_published_at")
