"""A commit that writes work wakes the loops waiting for it; a rollback wakes nobody; another
process's commit wakes this one: through LISTEN/NOTIFY on PostgreSQL, through the database's
files changing on SQLite."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from inotify_simple import INotify
from sqlalchemy import Engine

from tidings.events import record_event
from tidings.kit import wakeups
from tidings.kit.db import make_engine, sqlite_sibling_path, write_transaction
from tidings.kit.wakeups import Channel, doorbell, listen, watch_sqlite

WAIT_S = 30.0
"""Generous: the test asserts that the ring comes, never how fast."""
SELDOM_S = 6.0
"""A listener that looks at `stop` this seldom must still ring before it next looks."""


def _record(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        record_event(conn, type="test.wakeup", user_id=None, data={}, at=datetime.now(UTC))


def test_a_committed_outbox_event_rings_the_outbox_in_this_process(engine: Engine) -> None:
    woken = doorbell(engine, Channel.OUTBOX).subscribe()
    _record(engine)
    assert woken.is_set()


def test_a_rolled_back_event_rings_nobody(engine: Engine) -> None:
    woken = doorbell(engine, Channel.OUTBOX).subscribe()

    def change_mind() -> None:
        with write_transaction(engine) as conn:
            record_event(conn, type="test.wakeup", user_id=None, data={}, at=datetime.now(UTC))
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError):
        change_mind()
    assert not woken.is_set()
    _record(engine)  # the connection forgot the rolled-back ring: only this one counts
    assert woken.is_set()


@pytest.mark.parametrize("check_every_s", [0.1, SELDOM_S], ids=["often", "seldom"])
def test_another_engines_commit_wakes_a_listener_on_postgresql(
    engine: Engine, database_url: str, check_every_s: float
) -> None:
    """However seldom the listener looks at `stop`, a notice wakes it at once, each time."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's other processes are seen through its WAL file (below)")
    _assert_another_engines_commits_ring(
        engine,
        database_url,
        watch=lambda stop: listen(engine, stop, check_every_s=check_every_s),
        seldom=check_every_s == SELDOM_S,
    )


@pytest.mark.parametrize("check_every_s", [0.1, SELDOM_S], ids=["often", "seldom"])
def test_another_engines_commit_wakes_a_watcher_on_sqlite(
    engine: Engine, database_url: str, check_every_s: float
) -> None:
    """However seldom the watcher looks at `stop`, the commit's write to the database's
    files wakes it at once, each time."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's other processes are heard through LISTEN/NOTIFY (above)")
    _assert_another_engines_commits_ring(
        engine,
        database_url,
        watch=_watch_sqlite(engine, check_every_s=check_every_s),
        seldom=check_every_s == SELDOM_S,
    )


def test_without_inotify_the_sqlite_watcher_still_sees_another_engines_commit(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where inotify is missing (not Linux), the watcher looks at the counter instead."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")

    def no_inotify() -> None:
        raise OSError("inotify is not available here")

    monkeypatch.setattr(wakeups, "INotify", no_inotify)
    _assert_another_engines_commits_ring(
        engine, database_url, watch=_watch_sqlite(engine, check_every_s=SELDOM_S), seldom=True
    )


def test_a_watcher_whose_inotify_watch_went_deaf_still_looks_every_check(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the WAL file replaced behind the watch, the watcher still reads the counter at
    every check."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    deaf: list[INotify] = []

    def deaf_watcher(database: object) -> INotify:
        deaf.append(INotify())  # watching nothing: never fires
        return deaf[-1]

    monkeypatch.setattr(wakeups, "_wal_watcher", deaf_watcher)
    _assert_another_engines_commits_ring(
        engine, database_url, watch=_watch_sqlite(engine, check_every_s=0.1), seldom=False
    )
    assert deaf
    assert deaf[0].closed  # the watch is let go when the watcher stops


def _watch_sqlite(engine: Engine, *, check_every_s: float) -> Callable[[threading.Event], None]:
    database = sqlite_sibling_path(engine.url, "")
    return lambda stop: watch_sqlite(engine, stop, database=database, check_every_s=check_every_s)


def _assert_another_engines_commits_ring(
    engine: Engine,
    database_url: str,
    *,
    watch: Callable[[threading.Event], None],
    seldom: bool,
) -> None:
    """`watch` (until its stop is set) rings once it starts, then at each commit another
    engine makes; a `seldom` watcher looks at `stop` only every SELDOM_S, so its rings must
    come from the commits."""
    stop = threading.Event()
    woken = doorbell(engine, Channel.OUTBOX).subscribe()
    watcher = threading.Thread(target=watch, args=(stop,))
    watcher.start()
    try:
        assert woken.wait(WAIT_S)  # watching: it rings every channel once at the start
        other = make_engine(database_url)  # another process's engine: no in-process ring
        try:
            for _ in range(2):
                woken.clear()
                _record(other)
                # the commit, not the watcher's periodic look at `stop`, wakes it
                assert woken.wait(SELDOM_S / 2 if seldom else WAIT_S)
        finally:
            other.dispose()
    finally:
        stop.set()
        watcher.join()
