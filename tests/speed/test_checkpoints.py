"""While the API serves SQLite, a background thread copies the WAL back into the database
file, so no payment's commit stalls on it; outside serving, SQLite's commits do it again."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine, text

from tidings.kit.db import (
    SQLITE_AUTOCHECKPOINT_PAGES,
    checkpoint_in_background,
    make_engine,
    write_transaction,
)

WAIT_S = 30.0
"""Generous: the test asserts that the checkpoint comes, never how fast."""

PAGE = 4096


def _autocheckpoint(engine: Engine) -> int:
    with write_transaction(engine) as conn:
        return int(conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())


def _write_pages(engine: Engine, pages: int) -> None:
    for _ in range(pages // 100):
        with write_transaction(engine) as conn:
            conn.execute(
                text("INSERT INTO blobs (body) VALUES (:body)"),
                [{"body": b"x" * PAGE} for _ in range(100)],
            )


def test_commits_leave_the_wal_to_the_checkpointer_while_serving(tmp_path: Path) -> None:
    database = tmp_path / "t.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        with write_transaction(engine) as conn:
            conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)"))
        assert _autocheckpoint(engine) == SQLITE_AUTOCHECKPOINT_PAGES

        with checkpoint_in_background(engine):
            assert _autocheckpoint(engine) == 0  # no commit copies the WAL back
            _write_pages(engine, 2 * SQLITE_AUTOCHECKPOINT_PAGES)
            deadline = time.monotonic() + WAIT_S
            while database.stat().st_size < 2 * SQLITE_AUTOCHECKPOINT_PAGES * PAGE:
                assert time.monotonic() < deadline, "the checkpointer never copied the WAL"
                time.sleep(0.05)

        assert _autocheckpoint(engine) == SQLITE_AUTOCHECKPOINT_PAGES
        with write_transaction(engine) as conn:
            rows = conn.execute(text("SELECT count(*) FROM blobs")).scalar_one()
        assert rows == 2 * SQLITE_AUTOCHECKPOINT_PAGES
    finally:
        engine.dispose()
