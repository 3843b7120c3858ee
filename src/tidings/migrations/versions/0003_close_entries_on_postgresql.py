"""close written ledger entries on PostgreSQL

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:40:00

SQLite already refused a posting added to an entry that was written (postings come first,
then their entry); PostgreSQL only checked that each entry sums to zero, so a balanced pair
added later to an old entry slipped through. Now both refuse it.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION tidings_postings_entry_closed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM ledger_entries WHERE id = NEW.entry_id) THEN
            RAISE EXCEPTION 'ledger entry % is already closed', NEW.entry_id
              USING ERRCODE = '23514';
          END IF;
          RETURN NEW;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER postings_entry_closed BEFORE INSERT ON postings
        FOR EACH ROW EXECUTE FUNCTION tidings_postings_entry_closed()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS postings_entry_closed ON postings")
    op.execute("DROP FUNCTION IF EXISTS tidings_postings_entry_closed()")
