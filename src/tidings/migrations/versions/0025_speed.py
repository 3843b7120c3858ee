"""speed: wake the workers on PostgreSQL (NOTIFY at commit) instead of their polling

Revision ID: 0025
Revises: 0024

A statement trigger on `outbox` and on `deliveries` notifies `tidings_outbox` /
`tidings_deliveries` (no payload: "there is work"); PostgreSQL delivers it when the writing
transaction commits, once per channel and transaction, to every worker listening
(`tidings.kit.wakeups.listen`). SQLite has one worker process, woken in-process.
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"

_CHANNELS = {"outbox": "tidings_outbox", "deliveries": "tidings_deliveries"}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, channel in _CHANNELS.items():
        op.execute(
            f"""
            CREATE FUNCTION tidings_notify_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM pg_notify('{channel}', '');
              RETURN NULL;
            END $$
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER {table}_notify AFTER INSERT ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION tidings_notify_{table}()
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _CHANNELS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS tidings_notify_{table}()")
