"""The migrations build exactly the tables the code declares, on both databases.

The models (the metadata) and the migrations are written separately; a column added to one
and not the other would pass every test on a fresh metadata-built schema and fail in
production. Alembic's autogenerate comparison of a migrated database with the metadata must
find nothing to do.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, Table

from tidings.migrations.schema import metadata


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_migrated_database_matches_the_declared_tables(engine: Engine) -> None:
    assert _differences(engine) == []


def test_a_column_the_migrations_lack_is_found(engine: Engine) -> None:
    """The comparison does notice drift (so the test above can fail)."""
    extra = Table("tables_drift_probe", metadata, Column("id", Integer, primary_key=True))
    try:
        differences = _differences(engine)
    finally:
        metadata.remove(extra)
    assert [d[0] for d in differences if isinstance(d, tuple)] == ["add_table"]
