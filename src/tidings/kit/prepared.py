"""Statements on the path of every payment, compiled once and handed to the driver as SQL.

A Core statement executed the usual way costs SQLAlchemy a cache key (a walk of the whole
expression), a look-up in the compiled cache and a pass of every parameter through its
column's processor, on every execution: for a payment's writes and its risk read that was
about a fifth of its CPU, several times what SQLite itself spends on them. A `Prepared`
statement does the compiling once per dialect and set of parameters, and then only what the
driver needs: the values, through the same processors, in the order the SQL names them; a
read's values come back through the same result processors as well.

It runs on the connection's own DB-API cursor, inside the transaction the `Connection` began:
even `exec_driver_sql` costs more than the statement itself on SQLite (an execution context,
a result with its column metadata built anew for every read: 25 µs against SQLite's 6 µs
for the wallets' lock read). A driver error goes through the connection's own handling, so
it is wrapped (`with_retry` reads it) and a lost connection invalidated exactly as for any
other statement. Where something watches statements (an engine or connection event
listener, `echo`) or no transaction has begun yet, it runs through `exec_driver_sql`
instead, so listeners see it and autobegin applies.

On PostgreSQL a single write run with `execute` is held back (nothing reads its result) until
something else goes to the database: then all the held writes go in one message, with the
COMMIT in that same message when the commit is what comes (`hold_writes` puts the hooks on
the engine's dialect). A payment's transfer row, its event, the idempotency answer and the
COMMIT are one round trip where they were four. Any other statement on the connection sends
the held writes first and raises their error, so it still sees every earlier write. A held
write's error (a unique violation, a lost connection) is raised by that statement or by the
commit, wrapped by SQLAlchemy as any other, and PostgreSQL runs nothing of the message after
it, the COMMIT included: the whole transaction rolls back. Not inside a savepoint: there an
error must surface where the savepoint can catch it. psycopg's pipeline mode did the same in
as many round trips, but with one send per statement, more polls, and no less CPU.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from psycopg import ClientCursor, RawCursor
from sqlalchemy import Connection, Dialect, Select, bindparam
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.dml import Insert, Update

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    """Parameter names in the order the SQL takes them (positional drivers, SQLite)."""
    fixed: tuple[tuple[str, Any], ...]
    """Values the statement carries itself (`literal(…)`, `one_of`), as the driver takes them."""
    processors: tuple[tuple[str, Processor], ...]
    positional: bool
    results: tuple[Processor | None, ...]
    """A read's result processor per column (None: the driver's value as it is)."""


class Prepared:
    """An INSERT, UPDATE or SELECT whose every parameter the caller gives, or the statement
    carries (no Python-side column default to fill in: compiling refuses a statement that
    would need one)."""

    __slots__ = ("_by_shape", "_statement")

    def __init__(self, statement: Insert | Update | Select[Any]) -> None:
        self._statement = statement
        self._by_shape: dict[tuple[str, frozenset[str]], _Compiled] = {}

    def execute(
        self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> None:
        """Run a write with one row of parameters, or many (the driver's `executemany`)."""
        rows = [params] if isinstance(params, Mapping) else params
        compiled = self._compiled(conn, rows[0])
        if isinstance(params, Mapping):
            _run(conn, compiled.sql, self._bind(compiled, params), many=False, fetch=False)
        else:
            bound = [self._bind(compiled, row) for row in rows]
            _run(conn, compiled.sql, bound, many=True, fetch=False)

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """A read's rows (or what a write `RETURNING`), each value as the usual path gives it
        (a time as an aware `datetime` on SQLite too), read by position."""
        compiled = self._compiled(conn, params)
        fetched = _run(conn, compiled.sql, self._bind(compiled, params), many=False, fetch=True)
        results = compiled.results
        if not any(results):
            return [tuple(row) for row in fetched]
        return [
            tuple(
                value if process is None or value is None else process(value)
                for process, value in zip(results, row, strict=True)
            )
            for row in fetched
        ]

    def _compiled(self, conn: Connection, row: Mapping[str, Any]) -> _Compiled:
        shape = (conn.dialect.name, frozenset(row))
        compiled = self._by_shape.get(shape)
        if compiled is None:
            compiled = self._by_shape[shape] = _compile(self._statement, conn, sorted(row))
        return compiled

    @staticmethod
    def _bind(compiled: _Compiled, row: Mapping[str, Any]) -> Any:
        values = dict(compiled.fixed)
        values.update(row)
        for name, process in compiled.processors:
            value = values[name]
            if value is not None:
                values[name] = process(value)
        if compiled.positional:
            return tuple(values[name] for name in compiled.names)
        return values


PARAMETERS_PER_STATEMENT: Final = 4_000
"""How many values one multi-row INSERT carries at most (SQLite takes 32,766, PostgreSQL
65,535): a longer batch is split into statements of this many values."""
SHAPES_KEPT: Final = 128
"""Compiled multi-row INSERTs kept per statement (one per dialect, columns and row count)."""
_PYFORMAT = re.compile(r"%\(([^)]+)\)s")


@dataclass(frozen=True, slots=True)
class _CompiledRows:
    statement: Insert
    """The statement for this many rows, its parameters named `<column>_<row>` (what the
    fallback through SQLAlchemy's usual path executes)."""
    sql: str
    """In the driver's positional style: `?` on SQLite, `$n` on PostgreSQL."""
    names: tuple[str, ...]
    processors: tuple[tuple[str, Processor], ...]
    results: tuple[Processor | None, ...]


class PreparedRows:
    """A multi-row INSERT (its ON CONFLICT and RETURNING clauses kept) of the rows a caller
    gives, compiled once per dialect, columns and row count, run on the driver's cursor.

    SQLAlchemy's `executemany` of such a statement (insertmanyvalues) rebuilds the statement's
    parameters for every row and hands psycopg a statement too long for its query cache, which
    psycopg then parses again on every batch: that was the relay's biggest cost per notice.
    Here the values go through the same column processors, in the order the SQL takes them;
    on PostgreSQL the SQL is in the server's own `$n` style (psycopg's `RawCursor`: nothing to
    parse), and a statement run often is prepared by the server once."""

    __slots__ = ("_by_dialect", "_by_shape")

    def __init__(self, statement: Insert | Mapping[str, Insert]) -> None:
        self._by_dialect = statement
        self._by_shape: dict[tuple[str, tuple[str, ...], int], _CompiledRows] = {}

    def rows(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """Insert `rows` (every one with the same keys, the columns it sets), as few statements
        as `PARAMETERS_PER_STATEMENT` allows, in order; what they return, in order."""
        if not rows:
            return []
        keys = tuple(rows[0])
        if any(row.keys() != rows[0].keys() for row in rows):
            raise ValueError("every row of a multi-row insert sets the same columns")
        per_statement = max(1, PARAMETERS_PER_STATEMENT // len(keys))
        returned: list[tuple[Any, ...]] = []
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            compiled = self._compiled(conn, keys, len(chunk))
            returned += self._run(conn, compiled, chunk)
        return returned

    def _compiled(self, conn: Connection, keys: tuple[str, ...], count: int) -> _CompiledRows:
        shape = (conn.dialect.name, keys, count)
        compiled = self._by_shape.get(shape)
        if compiled is None:
            if len(self._by_shape) >= SHAPES_KEPT:
                del self._by_shape[next(iter(self._by_shape))]
            base = self._by_dialect
            if isinstance(base, Mapping):
                base = base[conn.dialect.name]
            compiled = self._by_shape[shape] = _compile_rows(base, conn.dialect, keys, count)
        return compiled

    @staticmethod
    def _run(
        conn: Connection, compiled: _CompiledRows, rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        named = {f"{key}_{n}": value for n, row in enumerate(rows) for key, value in row.items()}
        if conn._has_events or conn.engine._has_events or conn._echo or not conn.in_transaction():
            # SQLAlchemy's usual path, so listeners see it and autobegin applies.
            result = conn.execute(compiled.statement, named)
            return [tuple(row) for row in result] if compiled.results else []
        for name, process in compiled.processors:
            value = named[name]
            if value is not None:
                named[name] = process(value)
        bound = [named[name] for name in compiled.names]
        fetched = _run(
            conn, compiled.sql, bound, many=False, fetch=bool(compiled.results), raw=True
        )
        results = compiled.results
        if not any(results):
            return [tuple(row) for row in fetched]
        return [
            tuple(
                value if process is None or value is None else process(value)
                for process, value in zip(results, row, strict=True)
            )
            for row in fetched
        ]


def _compile_rows(
    base: Insert, dialect: Dialect, keys: tuple[str, ...], count: int
) -> _CompiledRows:
    table = base.table
    columns = [table.c[key] for key in keys]
    statement = base.values(
        [
            {column.key: bindparam(f"{column.key}_{n}", type_=column.type) for column in columns}
            for n in range(count)
        ]
    )
    compiled = statement.compile(dialect=dialect)
    defaulted = [*compiled.insert_prefetch]
    if defaulted:
        missing = sorted({column.key for column in defaulted})
        raise ValueError(f"a prepared statement needs every parameter given: {missing}")
    if dialect.name == "postgresql":
        # pyformat (`%(name)s`) to the server's `$n`, each name numbered where it first appears.
        numbers: dict[str, int] = {}

        def number(match: re.Match[str]) -> str:
            return f"${numbers.setdefault(match.group(1), len(numbers) + 1)}"

        sql = _PYFORMAT.sub(number, compiled.string).replace("%%", "%")
        names = tuple(numbers)
    elif compiled.positional:
        sql, names = compiled.string, tuple(compiled.positiontup or ())
    else:
        raise ValueError(f"no multi-row prepared inserts on {dialect.name}")
    processors = []
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((name, process))
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in statement.exported_columns
    )
    return _CompiledRows(
        statement=statement,
        sql=sql,
        names=names,
        processors=tuple(processors),
        results=results,
    )


def driver_rows(conn: Connection, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """A hand-written statement's rows, each value as the driver gives it, on the same short
    path as a `Prepared` read (its SQL in the driver's own parameter style)."""
    return [tuple(row) for row in _run(conn, sql, params, many=False, fetch=True)]


def _compile(
    statement: Insert | Update | Select[Any], conn: Connection, keys: list[str]
) -> _Compiled:
    dialect = conn.dialect
    compiled = statement.compile(
        dialect=dialect, column_keys=None if isinstance(statement, Select) else keys
    )
    defaulted = [*compiled.insert_prefetch, *compiled.update_prefetch]
    if defaulted:
        names = sorted(column.key for column in defaulted)
        raise ValueError(f"a prepared statement needs every parameter given: {names}")
    fixed = {
        name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
    }
    missing = set(compiled.binds) - set(keys) - set(fixed)
    if missing:
        raise ValueError(f"a prepared statement needs every parameter given: {sorted(missing)}")
    processors = []
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((name, process))
    returned = (
        statement.selected_columns if isinstance(statement, Select) else statement.exported_columns
    )
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in returned
    )
    positional = bool(compiled.positional)
    return _Compiled(
        sql=compiled.string,
        names=tuple(compiled.positiontup or ()) if positional else (),
        fixed=tuple(fixed.items()),
        processors=tuple(processors),
        positional=positional,
        results=results,
    )


def _run(
    conn: Connection, sql: str, bound: Any, *, many: bool, fetch: bool, raw: bool = False
) -> list[Any]:
    """Execute on the connection's DB-API cursor; the fetched rows when `fetch`. A single write
    on a connection that holds writes is only queued (`hold_writes`). `raw`: `sql` is in the
    driver's positional style (`$n` on PostgreSQL) and the caller runs it in a transaction
    with nothing watching."""
    if not raw and (
        conn._has_events or conn.engine._has_events or conn._echo or not conn.in_transaction()
    ):
        result = conn.exec_driver_sql(sql, bound)
        return [tuple(row) for row in result] if fetch else []
    dbapi_connection = conn.connection.dbapi_connection
    if not (raw or many or fetch) and _holds_writes(conn):
        _hold(dbapi_connection, sql, bound)
        return []
    if raw and conn.dialect.name == "postgresql":
        cursor: Any = RawCursor(dbapi_connection)  # type: ignore[call-overload]
    else:
        cursor = dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if _held:
            _send_held(dbapi_connection)
        if many:
            cursor.executemany(sql, bound)
        else:
            cursor.execute(sql, bound)
        return list(cursor.fetchall()) if fetch else []
    except conn.dialect.loaded_dbapi.Error as error:
        # SQLAlchemy's own handling: wrapped as `DBAPIError`, a lost connection invalidated.
        conn._handle_dbapi_exception(error, sql, bound, cursor, None)
        raise  # not reached: the line above raises the wrapped error
    finally:
        cursor.close()


_HOLDS_WRITES = "tidings_holds_writes"
"""Set on a dialect that `hold_writes` put its hooks on (on the object itself: an id could be
reused by another engine's dialect once this one is gone)."""

_held: weakref.WeakKeyDictionary[Any, list[tuple[str, Any]]] = weakref.WeakKeyDictionary()
"""psycopg connection → the writes (SQL, parameters) it holds, not yet sent."""


def hold_writes(dialect: Dialect) -> None:
    """PostgreSQL (psycopg 3): let the engine of `dialect` hold its prepared writes until the
    next statement or the commit, which sends them in one round trip.

    Hooks on the dialect itself, not engine events: an event listener would make every
    statement run SQLAlchemy's event machinery (and `Prepared` fall back to `exec_driver_sql`)."""
    execute, execute_many, execute_plain = (
        dialect.do_execute,
        dialect.do_executemany,
        dialect.do_execute_no_params,
    )
    commit, rollback, close = dialect.do_commit, dialect.do_rollback, dialect.do_close

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        if _held:
            _send_held(cursor.connection)
        execute(cursor, statement, parameters, context)

    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        if _held:
            _send_held(cursor.connection)
        execute_many(cursor, statement, parameters, context)

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        if _held:
            _send_held(cursor.connection)
        execute_plain(cursor, statement, context)

    def do_commit(connection: PoolProxiedConnection) -> None:
        driver_connection = connection.dbapi_connection
        if not (_held and driver_connection in _held):
            commit(connection)
            return
        # The COMMIT goes in the same message: if a held write fails, PostgreSQL runs nothing
        # after it, COMMIT included, and the error is raised here, as a failed commit's is.
        _send_held(driver_connection, then="COMMIT")

    def do_rollback(connection: PoolProxiedConnection) -> None:
        if _held:
            _held.pop(connection.dbapi_connection, None)  # never sent: nothing to undo
        rollback(connection)

    def do_close(connection: DBAPIConnection) -> None:
        if _held:
            _held.pop(connection, None)
        close(connection)

    dialect.do_execute = do_execute  # type: ignore[method-assign]
    dialect.do_executemany = do_executemany  # type: ignore[method-assign]
    dialect.do_execute_no_params = do_execute_no_params  # type: ignore[method-assign]
    dialect.do_commit = do_commit  # type: ignore[method-assign,assignment]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign,assignment]
    dialect.do_close = do_close  # type: ignore[method-assign,assignment]
    setattr(dialect, _HOLDS_WRITES, True)


def _holds_writes(conn: Connection) -> bool:
    return getattr(conn.dialect, _HOLDS_WRITES, False) and not conn.in_nested_transaction()


def _hold(dbapi_connection: Any, sql: str, bound: Any) -> None:
    held = _held.get(dbapi_connection)
    if held is None:
        _held[dbapi_connection] = [(sql, bound)]
    else:
        held.append((sql, bound))


def _send_held(dbapi_connection: Any, *, then: str | None = None) -> None:
    """Send the connection's held writes (and `then`, a plain command) as one message, in the
    simple query protocol, each value bound client-side by psycopg (`ClientCursor`); raises
    the first error. The text differs with every value: never prepared."""
    held = _held.pop(dbapi_connection, None)
    if held is None:
        return
    with ClientCursor(dbapi_connection) as cursor:
        statements = [cursor.mogrify(sql, bound) for sql, bound in held]
        if then is not None:
            statements.append(then)
        cursor.execute(";\n".join(statements), prepare=False)
