"""Waking the worker's loops when there is work, instead of polling for it.

A transaction that writes work for a loop (an outbox event, a delivery) rings that loop's
channel once it has committed: in this process directly, and on PostgreSQL in every process
through `LISTEN/NOTIFY` (a statement trigger on the table notifies at commit, see migration
0025, and `listen` turns each notice into a ring here). On SQLite another process's commit
(`tidings serve --no-worker` beside `tidings worker`) writes the database's WAL file, which
`watch_sqlite` sleeps on (inotify) before it reads `PRAGMA data_version`: a read of a counter
in shared memory, not a query.
An idle worker then sleeps until woken, or until its idle poll (`TIDINGS_WORKER_IDLE_MS`)
picks up what came due by itself (a retry, the end of quiet hours).
"""

from __future__ import annotations

import select
import threading
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg
from inotify_simple import INotify, flags
from sqlalchemy import Connection, Engine

_RINGS = "tidings.rings"


class Channel(StrEnum):
    """What a loop waits for; the value is the PostgreSQL `NOTIFY` channel."""

    OUTBOX = "tidings_outbox"
    """New outbox events (the relay, and any loop that publishes events)."""
    DELIVERIES = "tidings_deliveries"
    """New deliveries (the dispatcher)."""


class Doorbell:
    """One channel of one process: every subscriber's event is set when it rings."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._subscribers: list[threading.Event] = []

    def subscribe(self) -> threading.Event:
        """An event of the caller's own, set on every ring (the caller clears it)."""
        event = threading.Event()
        with self._mutex:
            self._subscribers.append(event)
        return event

    def ring(self) -> None:
        with self._mutex:
            subscribers = list(self._subscribers)
        for event in subscribers:
            event.set()


_doorbells: dict[tuple[int, Channel], Doorbell] = {}
_doorbells_mutex = threading.Lock()


def doorbell(engine: Engine, channel: Channel) -> Doorbell:
    """The doorbell of `channel` for the database behind `engine`, in this process."""
    key = (id(engine), channel)
    with _doorbells_mutex:
        found = _doorbells.get(key)
        if found is None:
            found = _doorbells[key] = Doorbell()
        return found


def ring_after_commit(conn: Connection, channel: Channel) -> None:
    """Ring `channel` in this process once the caller's write transaction commits (nothing
    if it rolls back). Cheap: a set in the connection's info, read by `write_transaction`."""
    rings: set[Channel] = conn.info.setdefault(_RINGS, set())
    rings.add(channel)


def take_rings(conn: Connection) -> set[Channel]:
    """The channels the transaction just ended asked to ring (and forget them)."""
    rings: set[Channel] = conn.info.pop(_RINGS, set())
    return rings


def ring(engine: Engine, channels: Iterable[Channel]) -> None:
    for channel in channels:
        doorbell(engine, channel).ring()


SQLITE_WATCH_S = 0.05
"""While commits keep coming, `watch_sqlite` reads `PRAGMA data_version` at most this often
(and this often always where inotify is missing)."""


def watch_sqlite(
    engine: Engine, stop: threading.Event, *, database: Path | None, check_every_s: float = 1.0
) -> None:
    """SQLite: ring the outbox whenever another connection (another process) has committed
    since the last look, until `stop` is set (and every channel once at the start, as
    `listen` does). The outbox's own loops ring the rest.

    It sleeps until a commit writes the WAL file, or `check_every_s`: an idle watcher costs a
    wake-up a second, where reading the counter 20 times a second cost an idle server about
    half its CPU."""
    if database is None:  # in memory: no other process can commit to it
        stop.wait()
        return
    # The driver's own connection, outside any transaction: a transaction would keep
    # reading its snapshot's version and never see another commit.
    conn = engine.raw_connection()
    try:
        watching = other_commits(
            conn.cursor(),
            database,
            stop,
            check_every_s=check_every_s,
            at_most_every_s=SQLITE_WATCH_S,
        )
        next(watching, None)
        ring(engine, Channel)  # watching now: what came before is not left to the idle poll
        for _ in watching:
            doorbell(engine, Channel.OUTBOX).ring()
    finally:
        conn.close()


def other_commits(
    cursor: Any,
    database: Path | None,
    stop: threading.Event,
    *,
    check_every_s: float,
    at_most_every_s: float,
) -> Iterator[None]:
    """Yield once watching, then each time another connection has committed to the SQLite
    `database` since the last yield (its `PRAGMA data_version` moved), until `stop` is set.

    `cursor` is the driver's, outside any transaction, and its connection stays open (which
    keeps the WAL file in place). Between looks it sleeps until a commit writes the WAL file
    (inotify) or `check_every_s` passes, whichever comes first: were the WAL file replaced
    behind its back, it still looks every `check_every_s`. While commits keep coming it looks
    at most every `at_most_every_s`. Where inotify is missing (not Linux) it looks that
    often always."""
    seen = cursor.execute("PRAGMA data_version").fetchone()  # opens the WAL file too
    watcher = _wal_watcher(database)
    try:
        yield
        while not stop.is_set():
            if watcher is None:
                written = not stop.wait(at_most_every_s)
            else:
                written = bool(watcher.read(timeout=int(check_every_s * 1000)))
            version = cursor.execute("PRAGMA data_version").fetchone()
            if version != seen:
                seen = version
                yield
            if written and watcher is not None:
                stop.wait(at_most_every_s)
    finally:
        if watcher is not None:
            watcher.close()


def _wal_watcher(database: Path | None) -> INotify | None:
    """An inotify watch on writes to `database`'s WAL file; None where there can be none
    (not Linux, out of watches, an in-memory database)."""
    if database is None:
        return None
    try:
        watcher = INotify()
    except (OSError, AttributeError):  # AttributeError: a C library without inotify
        return None
    try:
        watcher.add_watch(database.with_name(database.name + "-wal"), flags.MODIFY)
    except OSError:
        watcher.close()
        return None
    return watcher


def listen(engine: Engine, stop: threading.Event, *, check_every_s: float = 1.0) -> None:
    """PostgreSQL: ring this process's doorbells for every `NOTIFY` on their channels until
    `stop` is set. Every channel rings once at the start (and after a reconnection), so work
    that arrived while nobody listened is not left waiting for the idle poll."""
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for channel in Channel:
            conn.execute(f"LISTEN {channel.value}")
        ring(engine, Channel)
        while not stop.is_set():
            # psycopg's own wait wakes every 0.1 s (to notice Ctrl-C): an idle listener
            # sleeps in `select` instead, until a notice arrives or it is time to look at
            # `stop`, and only then reads what the socket holds.
            readable, _, _ = select.select([conn.fileno()], [], [], check_every_s)
            if not readable:
                continue
            for notice in conn.notifies(timeout=0):
                doorbell(engine, Channel(notice.channel)).ring()
