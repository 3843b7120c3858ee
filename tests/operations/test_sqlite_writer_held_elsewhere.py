"""SQLite: when another process keeps the database's writer (`<database>.writer`, then
SQLite's own lock), a write waits at most the busy timeout (`TIDINGS_DATABASE_BUSY_TIMEOUT_SECONDS`)
and then fails as SQLite does, "database is locked", which the API answers with a 503; a
migration waits for the writer like any write transaction instead of failing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError

from tests.conftest import ADMIN_KEY, DATA_KEY, LOOKUP_KEY
from tidings.app.context import build_context
from tidings.app.factory import create_app
from tidings.config import Settings
from tidings.kit.db import SQLITE_BUSY_TIMEOUT_S, write_transaction
from tidings.kit.migrate import upgrade

# Generous: only bounds how long a test waits for what must happen at once or within the limit.
SETTLE_S = 30.0
# A holder is killed after this long whatever happens, so that a write waiting without limit
# (the fault these tests guard against) fails the test instead of hanging it.
HOLD_AT_MOST_S = 20.0

_HOLDER = textwrap.dedent(
    """
    import sys
    from sqlalchemy import text
    from tidings.kit.db import make_engine, write_transaction

    engine = make_engine(sys.argv[1])
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS held (writer TEXT)"))
        conn.execute(text("INSERT INTO held (writer) VALUES ('other')"))
        print("holding", flush=True)
        sys.stdin.readline()  # hangs here until told to commit
    print("committed", flush=True)
    """
)


class Holder:
    """Another process inside a write transaction on the database, until told to commit."""

    def __init__(self, database: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, f"sqlite:///{database}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._heard() == "holding"
        self._safety = threading.Timer(HOLD_AT_MOST_S, self.process.kill)
        self._safety.start()

    def commit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("commit\n")
        self.process.stdin.flush()
        assert self._heard() == "committed"

    def _heard(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()


@pytest.fixture
def holders() -> Iterator[Callable[[Path], Holder]]:
    started: list[Holder] = []

    def start(database: Path) -> Holder:
        started.append(Holder(database))
        return started[-1]

    yield start
    for holder in started:
        holder._safety.cancel()
        holder.process.kill()
        holder.process.wait(timeout=SETTLE_S)


def _settings(database: Path, var_dir: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{database}",
        var_dir=var_dir,
        admin_key=SecretStr(ADMIN_KEY),
        data_key=SecretStr(DATA_KEY),
        lookup_key=SecretStr(LOOKUP_KEY),
    )


def _engine_waiting_at_most(
    seconds: float, database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Engine:
    """The engine a process gets with `TIDINGS_DATABASE_BUSY_TIMEOUT_SECONDS=<seconds>`."""
    monkeypatch.setenv("TIDINGS_DATABASE_BUSY_TIMEOUT_SECONDS", str(seconds))
    engine = build_context(_settings(database, tmp_path / "var")).engine
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE held (writer TEXT)"))
    return engine


def _write_in_background(engine: Engine) -> tuple[threading.Thread, list[object]]:
    """A write on a thread of its own (a write that never ends must not hang the test):
    its outcome ("written" or the exception) and how long it took, once it ends."""
    outcome: list[object] = []

    def write() -> None:
        started = time.monotonic()
        try:
            with write_transaction(engine) as conn:
                conn.execute(text("INSERT INTO held (writer) VALUES ('this')"))
            outcome.append("written")
        except Exception as exc:
            outcome.append(exc)
        outcome.append(time.monotonic() - started)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread, outcome


def _writers(engine: Engine) -> list[str]:
    with write_transaction(engine) as conn:
        return list(conn.execute(text("SELECT writer FROM held ORDER BY rowid")).scalars())


def test_a_write_gives_up_with_database_is_locked_after_the_busy_timeout_when_another_process_hangs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, holders: Callable[[Path], Holder]
) -> None:
    database = tmp_path / "t.db"
    engine = _engine_waiting_at_most(0.5, database, tmp_path, monkeypatch)
    holder = holders(database)

    thread, outcome = _write_in_background(engine)
    thread.join(timeout=SETTLE_S)

    assert not thread.is_alive(), "the write still waits for the hung process"
    error, took = outcome
    assert isinstance(error, OperationalError)
    assert "database is locked" in str(error)
    assert took >= 0.5
    # The process that hung lets go at last: the next write goes through at once.
    holder.commit()
    thread, outcome = _write_in_background(engine)
    thread.join(timeout=SETTLE_S)
    assert outcome[0] == "written"
    assert _writers(engine) == ["other", "this"]
    engine.dispose()


def test_a_write_waits_for_another_process_s_transaction_that_ends_within_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, holders: Callable[[Path], Holder]
) -> None:
    database = tmp_path / "t.db"
    engine = _engine_waiting_at_most(SETTLE_S, database, tmp_path, monkeypatch)
    holder = holders(database)

    thread, outcome = _write_in_background(engine)
    thread.join(timeout=0.3)
    assert thread.is_alive(), "the write did not wait for the other process's transaction"
    holder.commit()
    thread.join(timeout=SETTLE_S)

    assert outcome[0] == "written"
    assert _writers(engine) == ["other", "this"]
    engine.dispose()


def test_the_api_answers_503_database_busy_when_another_process_keeps_the_writer(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    holders: Callable[[Path], Holder],
    sqlite_template: Path,
) -> None:
    database = tmp_path / "tidings.db"
    shutil.copy(sqlite_template, database)
    monkeypatch.setenv("TIDINGS_DATABASE_BUSY_TIMEOUT_SECONDS", "0.1")
    context = build_context(_settings(database, tmp_path / "var"))
    holders(database)

    with TestClient(
        create_app(context), headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as client:
        answer = client.post(
            "/v1/users",
            json={"external_id": "busy-1", "name": "等待", "locale": "zh-CN"},
        )

    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["type"].endswith("/database-busy")
    assert "Traceback" not in answer.text


def test_migrate_waits_for_another_process_s_write_transaction_then_completes(
    tmp_path: Path, holders: Callable[[Path], Holder]
) -> None:
    database = tmp_path / "t.db"
    engine = build_context(_settings(database, tmp_path / "var")).engine
    holder = holders(database)
    failures: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(engine)
        except BaseException as exc:
            failures.append(exc)

    migration = threading.Thread(target=migrate, daemon=True)
    migration.start()
    migration.join(timeout=0.5)
    assert failures == []
    assert migration.is_alive(), "the migration did not wait for the other process"
    holder.commit()
    migration.join(timeout=SETTLE_S)

    assert not migration.is_alive()
    assert failures == []
    assert "alembic_version" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT writer FROM held")).scalars().all() == ["other"]
    engine.dispose()


def test_the_busy_timeout_setting_is_the_engine_s_by_default() -> None:
    assert Settings().database_busy_timeout_seconds == SQLITE_BUSY_TIMEOUT_S
