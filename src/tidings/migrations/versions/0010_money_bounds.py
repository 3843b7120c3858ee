"""amounts bounded, integers only on SQLite, a user's own step-up amount

Revision ID: 0010
Revises: 0009

SQLite stores whatever it is given and turns an integer that overflows into a REAL (a balance
of 9.24e18 that no longer adds up), so every money column of the ledger gets a CHECK that it
holds an integer. SQLite adds a CHECK only by rebuilding the table (`batch_alter_table` copies
the rows); the ledger's triggers go with the old `postings` table and are created again.
PostgreSQL's BIGINT already refuses both, so there only the new user column is added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import drop_columns

revision = "0010"
down_revision = "0009"

MONEY_COLUMNS = {
    "accounts": ("balance", "held"),
    "postings": ("amount", "balance_after"),
    "holds": ("amount",),
    "transfers": ("amount", "refunded_amount"),
}
"""The ledger's money columns, table by table."""

# As created by 0001: the rebuilt `postings` needs them again, and `ledger_entries_balanced`
# (which reads `postings`) must not exist while `postings` is briefly missing.
SQLITE_LEDGER_TRIGGERS = {
    "ledger_entries_balanced": """
    CREATE TRIGGER ledger_entries_balanced BEFORE INSERT ON ledger_entries
    WHEN (SELECT COUNT(*) FROM postings WHERE entry_id = NEW.id) < 2
      OR EXISTS (SELECT 1 FROM postings WHERE entry_id = NEW.id
                 GROUP BY currency HAVING SUM(amount) <> 0)
    BEGIN SELECT RAISE(ABORT, 'unbalanced ledger entry'); END
    """,
    "postings_entry_closed": """
    CREATE TRIGGER postings_entry_closed BEFORE INSERT ON postings
    WHEN EXISTS (SELECT 1 FROM ledger_entries WHERE id = NEW.entry_id)
    BEGIN SELECT RAISE(ABORT, 'ledger entry is already closed'); END
    """,
    "postings_no_update": """
    CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings
    BEGIN SELECT RAISE(ABORT, 'postings are append-only'); END
    """,
    "postings_no_delete": """
    CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings
    BEGIN SELECT RAISE(ABORT, 'postings are append-only'); END
    """,
}


def _integer_check_name(column: str) -> str:
    return f"{column}_is_integer"


def _rebuild_ledger_tables(*, add_checks: bool) -> None:
    for name in SQLITE_LEDGER_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table, columns in MONEY_COLUMNS.items():
        with op.batch_alter_table(table, recreate="always") as batch:
            for column in columns:
                name = batch.f(f"ck_{table}_{_integer_check_name(column)}")
                if add_checks:
                    batch.create_check_constraint(name, sa.text(f"typeof({column}) = 'integer'"))
                else:
                    batch.drop_constraint(name, type_="check")
    for statement in SQLITE_LEDGER_TRIGGERS.values():
        op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("step_up_amount", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_ledger_tables(add_checks=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_ledger_tables(add_checks=False)
    drop_columns("users", "step_up_amount")
