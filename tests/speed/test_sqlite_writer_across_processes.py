"""On SQLite, writers of different processes take turns through `<database>.writer` before
SQLite's own lock: none of them ever waits in SQLite's busy handler (which sleeps in steps of
milliseconds) or fails with "database is locked"."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text

from tidings.kit.db import free_writer, make_engine, write_transaction

WRITES_PER_PROCESS = 300

_OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from sqlalchemy import event, text
    from tidings.kit.db import make_engine, write_transaction

    engine = make_engine(sys.argv[1])

    @event.listens_for(engine, "connect")
    def _no_busy_wait(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    if sys.argv[2] == "hold":
        with write_transaction(engine) as conn:
            conn.execute(text("INSERT INTO writes (writer) VALUES ('other')"))
            print("holding", flush=True)
            sys.stdin.readline()
    else:
        print("ready", flush=True)
        sys.stdin.readline()
        for _ in range(int(sys.argv[2])):
            with write_transaction(engine) as conn:
                conn.execute(text("INSERT INTO writes (writer) VALUES ('other')"))
    """
)


def _engine_that_never_waits_in_sqlite(database: Path) -> Engine:
    """An engine whose connections fail at once where SQLite would make them wait."""
    engine = make_engine(f"sqlite:///{database}")

    @event.listens_for(engine, "connect")
    def _no_busy_wait(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE writes (id INTEGER PRIMARY KEY, writer TEXT NOT NULL)"))
    return engine


def _other_process(database: Path, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS, f"sqlite:///{database}", mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _heard(other: subprocess.Popen[str]) -> str:
    assert other.stdout is not None
    return other.stdout.readline().strip()


def _tell(other: subprocess.Popen[str], line: str) -> None:
    assert other.stdin is not None
    other.stdin.write(line + "\n")
    other.stdin.flush()


def _writers(engine: Engine) -> list[str]:
    with write_transaction(engine) as conn:
        return list(conn.execute(text("SELECT writer FROM writes ORDER BY id")).scalars())


def test_two_processes_writing_at_once_never_find_the_database_locked(tmp_path: Path) -> None:
    database = tmp_path / "t.db"
    engine = _engine_that_never_waits_in_sqlite(database)
    other = _other_process(database, str(WRITES_PER_PROCESS))
    try:
        assert _heard(other) == "ready"
        _tell(other, "go")
        for _ in range(WRITES_PER_PROCESS):
            with write_transaction(engine) as conn:
                conn.execute(text("INSERT INTO writes (writer) VALUES ('this')"))
        assert other.wait(timeout=60) == 0
        assert sorted(set(_writers(engine))) == ["other", "this"]
        assert len(_writers(engine)) == 2 * WRITES_PER_PROCESS
    finally:
        other.kill()
        engine.dispose()


def test_a_write_waits_for_another_process_s_transaction_to_end(tmp_path: Path) -> None:
    database = tmp_path / "t.db"
    engine = _engine_that_never_waits_in_sqlite(database)
    other = _other_process(database, "hold")
    try:
        assert _heard(other) == "holding"
        with free_writer(engine) as free:
            # Free in this process: the API writes on its event loop, and only the
            # transaction itself waits for the other process's to end.
            assert free
            commit_soon = threading.Timer(0.2, _tell, args=(other, "commit"))
            commit_soon.start()
            with write_transaction(engine) as conn:
                conn.execute(text("INSERT INTO writes (writer) VALUES ('this')"))
            commit_soon.join()
        assert other.wait(timeout=60) == 0
        assert _writers(engine) == ["other", "this"]
    finally:
        other.kill()
        engine.dispose()
