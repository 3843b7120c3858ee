"""Bring a database to the latest schema with the migrations shipped in the package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from tidings.kit.db import writer_held

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    _migrate(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    _migrate(engine, lambda config: command.downgrade(config, revision))


def _migrate(engine: Engine, run: Callable[[Config], None]) -> None:
    """One transaction. On SQLite it holds the database's writer as any write transaction
    does (`<database>.writer`, waiting at most the busy timeout for servers' transactions
    to end), so it neither meets "database is locked" nor interleaves with them; and foreign
    keys are not enforced while it runs: adding a constraint rebuilds a table (copy, drop,
    rename), and dropping a table others refer to would fail
    (sqlite.org/lang_altertable.html); they are checked before it commits."""
    with writer_held(engine), engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # a no-op inside a transaction, so set before it begins
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                config = alembic_config()
                config.attributes["connection"] = conn
                run(config)
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("the migration left rows pointing at missing rows")
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
