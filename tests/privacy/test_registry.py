"""Nothing personal escapes the registry: every text or JSON column is classified."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import JSON, Column, MetaData, String, Table, create_engine, text

from tidings.migrations.schema import metadata
from tidings.privacy import registry


def text_columns(meta: MetaData) -> set[str]:
    return {
        f"{table.name}.{column.name}"
        for table in meta.tables.values()
        if table.name != "alembic_version"
        for column in table.columns
        if isinstance(column.type, String | JSON)
    }


def missing_message(meta: MetaData) -> str:
    missing = registry.unclassified(text_columns(meta))
    return (
        "columns holding text or JSON that src/tidings/privacy/registry.py does not classify "
        f"(add each to PERSONAL with its treatment, or to NOT_PERSONAL): {', '.join(missing)}"
    )


def test_every_text_column_of_the_metadata_is_classified() -> None:
    assert registry.unclassified(text_columns(metadata)) == [], missing_message(metadata)


def test_the_registry_names_only_columns_that_exist() -> None:
    """A typo in the registry would protect nothing: every entry names a real column."""
    real = {f"{t.name}.{c.name}" for t in metadata.tables.values() for c in t.columns}
    assert sorted(registry.classified() - real) == []


def test_every_encrypted_column_is_text_and_has_a_context() -> None:
    for entry in registry.encrypted_columns():
        assert isinstance(metadata.tables[entry.table].c[entry.column].type, String)


def test_the_migrated_database_has_no_unclassified_column(sqlite_template: Path) -> None:
    engine = create_engine(f"sqlite:///{sqlite_template}")
    reflected = MetaData()
    reflected.reflect(engine)
    engine.dispose()
    assert registry.unclassified(text_columns(reflected)) == [], missing_message(reflected)


def test_a_migration_adding_users_nickname_without_an_entry_fails(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """A throwaway copy of the migrated database gets `users.nickname` and a new table: the
    check names exactly those columns."""
    path = tmp_path / "throwaway.db"
    shutil.copy(sqlite_template, path)
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE users ADD COLUMN nickname VARCHAR(40)"))
    reflected = MetaData()
    reflected.reflect(engine)
    engine.dispose()
    Table("pets", reflected, Column("id", String(32), primary_key=True), Column("name", String))
    assert registry.unclassified(text_columns(reflected)) == [
        "pets.id",
        "pets.name",
        "users.nickname",
    ]
    with pytest.raises(AssertionError, match=r"classify .*: pets\.id, pets\.name, users\.nickname"):
        assert not registry.unclassified(text_columns(reflected)), missing_message(reflected)
