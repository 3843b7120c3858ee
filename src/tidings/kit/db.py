"""Engines and transactions for SQLite (embedded default) and PostgreSQL (production).

Services never commit; the request or job that calls them owns one transaction, opened here.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy import URL, Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from tidings.kit.filelock import FileLock
from tidings.kit.prepared import hold_writes
from tidings.kit.wakeups import other_commits, ring, take_rings

log = structlog.get_logger(__name__)

T = TypeVar("T")

_WRITE = "tidings_write"


class WriterLock:
    """SQLite's one writer inside this process, handed over first come, first served.

    Waiting on it is immediate where SQLite's own busy handler sleeps in steps of up to
    100 ms; and it is fair: a worker that finishes a batch and asks again queues behind the
    API writes already waiting, instead of taking the writer back at once (a plain lock lets
    the thread that releases it win again, and a draining backlog starved the API).
    Re-entrant for the thread that holds it."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._queue: deque[threading.Lock] = deque()

    def acquire(self, *, blocking: bool = True) -> bool:
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._queue:
                self._owner, self._depth = me, 1
                return True
            if not blocking:
                return False
            turn = threading.Lock()
            turn.acquire()
            self._queue.append(turn)
        turn.acquire()  # released by the holder when it hands the writer to us
        with self._mutex:
            self._owner, self._depth = me, 1
        return True

    def release(self) -> None:
        with self._mutex:
            assert self._owner == threading.get_ident(), "released by a thread not holding it"
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            if self._queue:
                # Handed over: nobody else can take it between now and the next one's turn.
                self._owner = -1
                self._queue.popleft().release()

    @property
    def waiting(self) -> int:
        """Writers queued for their turn."""
        return len(self._queue)


# One writer at a time inside this process on SQLite.
_sqlite_write_locks: dict[int, WriterLock] = {}

# One write transaction at a time on SQLite across processes, for a database file, and how
# long a write waits for it (the engine's busy timeout).
_sqlite_writer_files: dict[int, _HeldWriterFile] = {}

WRITER_LOCK_SUFFIX = ".writer"
"""`<database>.writer`: the file every process writing the SQLite database locks first."""

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite write waits for another's before "database is locked": SQLite's busy
timeout, and the wait for `<database>.writer` (`TIDINGS_DATABASE_BUSY_TIMEOUT_SECONDS`)."""

SQLITE_AUTOCHECKPOINT_PAGES = 1000
"""SQLite's own default: the commit that grows the WAL past this many pages copies it back."""

# Engines whose WAL a background thread checkpoints (`checkpoint_in_background`).
_checkpointed_in_background: set[int] = set()


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` too, and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int | None = None,
    echo: bool = False,
    busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S,
) -> Engine:
    """An engine with `pool_size` connections kept open (and by default twice as many more
    opened for a burst: `max_overflow`). On SQLite a write waits at most `busy_timeout_s` for
    another to end, then fails with "database is locked" (`OperationalError`)."""
    url = normalise_url(url)
    overflow = 2 * pool_size if max_overflow is None else max_overflow
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=overflow,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
        )
        _configure_sqlite(engine, busy_timeout_s)
        return engine
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=overflow,
        # Not pool_pre_ping (a round trip per transaction): recycle instead, and a dropped
        # connection fails one transaction, which `with_retry` runs again.
        pool_recycle=300,
        insertmanyvalues_page_size=1000,
    )
    if engine.dialect.driver == "psycopg":
        hold_writes(engine.dialect)
    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def sqlite_sibling_path(url: URL, suffix: str) -> Path | None:
    """A file next to the SQLite database (`<database><suffix>`), where processes sharing it
    meet; None for an in-memory database, which no other process can open."""
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database).absolute().with_name(Path(database).name + suffix)


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    _sqlite_write_locks[id(engine)] = WriterLock()
    lock_path = sqlite_sibling_path(engine.url, WRITER_LOCK_SUFFIX)
    if lock_path is not None:
        _sqlite_writer_files[id(engine)] = _HeldWriterFile(FileLock(lock_path), busy_timeout_s)
    busy_timeout_ms = round(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's begin event decide how a transaction starts.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        # Freed space is zeroed: an erased person's values do not linger in free pages.
        cursor.execute("PRAGMA secure_delete=ON")
        pages = 0 if id(engine) in _checkpointed_in_background else SQLITE_AUTOCHECKPOINT_PAGES
        cursor.execute(f"PRAGMA wal_autocheckpoint={pages}")
        cursor.close()

    def begin(dbapi_connection: Any) -> None:
        # A writer takes the lock at BEGIN, so two writers never deadlock on an upgrade. Done
        # by the dialect, not an engine "begin" event: any engine event makes every
        # statement run SQLAlchemy's event machinery (a few per cent of a payment's CPU).
        mode = "IMMEDIATE" if dbapi_connection.info.pop(_WRITE, False) else "DEFERRED"
        dbapi_connection.execute(f"BEGIN {mode}")

    engine.dialect.do_begin = begin  # type: ignore[method-assign]


CHECKPOINT_EVERY_S = 0.5
"""How often, at most, the background checkpointer copies the WAL back into the database
file (only after commits have written it)."""


@contextmanager
def checkpoint_in_background(engine: Engine) -> Iterator[None]:
    """SQLite: while the block runs, a thread (not the commits) copies the WAL back into the
    database file.

    Left to SQLite, the commit that grows the WAL past 1,000 pages does it, with an fsync of
    the WAL and of the database: a payment stalls tens of milliseconds, and every request
    behind it on the event loop with it. A passive checkpoint never blocks a writer or a
    reader, and the driver lets go of the GIL while it runs. When the block ends, the
    commits take the work back. Nothing on PostgreSQL."""
    if not is_sqlite(engine):
        yield
        return
    _checkpointed_in_background.add(id(engine))
    engine.dispose()  # pooled connections still checkpoint on commit: open them anew
    stop = threading.Event()
    thread = threading.Thread(
        target=_checkpoint_until, args=(engine, stop), name="sqlite-checkpointer", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        _checkpointed_in_background.discard(id(engine))
        engine.dispose()


def _checkpoint_until(engine: Engine, stop: threading.Event) -> None:
    """Checkpoint after commits, at most every `CHECKPOINT_EVERY_S`; asleep while none come."""
    conn = engine.raw_connection()
    try:
        commits = other_commits(
            conn.cursor(),
            sqlite_sibling_path(engine.url, ""),
            stop,
            check_every_s=1.0,
            at_most_every_s=CHECKPOINT_EVERY_S,
        )
        for _ in commits:
            try:
                conn.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except Exception as exc:  # a full disk, say: the commits will say so too
                log.warning("db.checkpoint.failed", error=str(exc))
        conn.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        conn.close()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction that may write; commits on success, rolls back on any exception.

    On SQLite it first waits for this process's writer (`WriterLock`), then, from just before
    `BEGIN IMMEDIATE` to just after the commit or rollback, holds `<database>.writer`, so
    another process's writer waits on that lock file (woken the moment it is free) and never
    in SQLite's busy handler, which sleeps 1, 2, 5, 10… ms. Only the transaction holds it:
    what a request does before and after (parsing, rendering the answer) runs in every
    process at once. It waits for the file at most the engine's busy timeout, then fails as
    SQLite would: `OperationalError`, "database is locked"."""
    lock = _sqlite_write_locks.get(id(engine))
    across = _sqlite_writer_files.get(id(engine))
    if lock is not None:
        lock.acquire()
    try:
        with engine.connect() as conn:
            if lock is not None:
                conn.connection.info[_WRITE] = True  # read by the SQLite dialect's BEGIN
            try:
                with across or nullcontext(), conn.begin():
                    yield conn
            finally:
                rings = take_rings(conn)
            # Only reached once committed: the loops it wakes find what it wrote.
            ring(engine, rings)
    finally:
        if lock is not None:
            lock.release()


class _HeldWriterFile:
    """`<database>.writer` held for a `with` block, waiting at most the busy timeout."""

    __slots__ = ("lock", "timeout_s")

    def __init__(self, lock: FileLock, timeout_s: float) -> None:
        self.lock, self.timeout_s = lock, timeout_s

    def __enter__(self) -> None:
        if not self.lock.acquire(timeout=self.timeout_s):
            raise database_locked(self.lock.path, self.timeout_s)

    def __exit__(self, *_: object) -> None:
        self.lock.release()


def database_locked(path: Path, waited_s: float) -> OperationalError:
    """What SQLite raises when another writer kept the database past the busy timeout
    (retried by `with_retry`, answered 503 by the API), for `<database>.writer` held as long."""
    cause = sqlite3.OperationalError(
        f"database is locked (another process held {path.name} for more than {waited_s:g} s)"
    )
    return OperationalError("BEGIN IMMEDIATE", None, cause)


@contextmanager
def writer_held(engine: Engine) -> Iterator[None]:
    """SQLite: the database's writer for the whole block, taken as a write transaction takes
    it (this process's `WriterLock`, then `<database>.writer` for at most the busy timeout),
    for work that runs its own transactions, like a migration. Nothing on PostgreSQL."""
    lock = _sqlite_write_locks.get(id(engine))
    if lock is None:
        yield
        return
    lock.acquire()
    try:
        with _sqlite_writer_files.get(id(engine)) or nullcontext():
            yield
    finally:
        lock.release()


@contextmanager
def free_writer(engine: Engine) -> Iterator[bool]:
    """Yields True while holding this process's SQLite writer, when nobody held or awaited it:
    the caller may then write on its own thread without waiting (the API does, on the event
    loop, so a payment costs no thread hand-off). False on PostgreSQL, or when it is busy.

    Another process's write transaction is not waited out here: it is one transaction at
    most (each process sends one writer at a time), less than a thread hand-off costs."""
    lock = _sqlite_write_locks.get(id(engine))
    if lock is None or not lock.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def writers_waiting(engine: Engine) -> int:
    """SQLite: transactions of this process waiting for the writer (0 on PostgreSQL)."""
    lock = _sqlite_write_locks.get(id(engine))
    return lock.waiting if lock is not None else 0


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A consistent read: a snapshot on both databases (SQLite's read transaction; on
    PostgreSQL a read-only REPEATABLE READ transaction, never blocked and never blocking)."""
    with engine.connect() as raw:
        conn = raw
        if engine.dialect.name == "postgresql":
            conn = raw.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        with conn.begin():
            yield conn


def advisory_key(name: str) -> int:
    """A stable 32-bit key per name (crc32 fits PostgreSQL's bigint lock space)."""
    return zlib.crc32(f"tidings.{name}".encode())


def transaction_lock(conn: Connection, name: str) -> None:
    """Serialise writers of something no single row stands for, until this transaction ends.

    Only PostgreSQL needs it: a SQLite write transaction already holds the database's one
    write lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(name)})


_RETRYABLE_PG_CODES = {"40001", "40P01", "55P03"}


def without_jit(conn: Connection) -> None:
    """For this transaction, no JIT compilation on PostgreSQL: set-based statements over
    many rows built of many small sub-plans spend seconds compiling and gain nothing."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL jit = off"))


def is_database_locked(exc: BaseException) -> bool:
    """SQLite: another writer kept the database past the busy timeout."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def is_retryable(exc: BaseException) -> bool:
    """Serialization failures, deadlocks and lock time-outs are worth another go."""
    if is_database_locked(exc):
        return True
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None)
        return code in _RETRYABLE_PG_CODES
    return False


def with_retry(fn: Callable[[], T], *, attempts: int = 8) -> T:
    """Run a whole transaction again when the database asks us to."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except DBAPIError as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            log.info("db.transaction.retry", attempt=attempt, error=type(exc.orig).__name__)
            time.sleep(min(0.2, 0.005 * 2**attempt) * random.random())
    raise AssertionError("unreachable")


def retried_write(engine: Engine, work: Callable[[Connection], T]) -> T:
    """`work` in one write transaction, the whole transaction run again when the database asks
    (as `with_retry` does): how a job or a route that owns its write runs it, in one line.

    `work` may run more than once, each time in a fresh transaction (the failed one rolled
    back): it reads the clock, and anything else that may move, inside itself."""

    def attempt() -> T:
        with write_transaction(engine) as conn:
            return work(conn)

    return with_retry(attempt)
