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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from psycopg import ClientCursor, RawCursor
from sqlalchemy import ColumnElement, Connection, Dialect, Select, Text, bindparam, func
from sqlalchemy.dialects.postgresql import ARRAY
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
        return _processed(compiled.results, fetched)

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
SIZES_KEPT: Final = 128
"""Multi-row statements' SQL kept per statement and set of columns (one per row count);
when full, they are made again as they come."""
_PYFORMAT = re.compile(r"%\(([^)]+)\)s")


@dataclass(frozen=True, slots=True)
class _RowTemplate:
    """A one-row INSERT compiled, and how to repeat its VALUES tuple for more rows."""

    before: str
    """The SQL up to and including `VALUES `."""
    parts: tuple[str, ...]
    """The row's tuple split around its parameters (one more part than parameters)."""
    after: str
    names: tuple[str, ...]
    """The parameters in the order the tuple takes them (a row's keys)."""
    numbered: bool
    """PostgreSQL: parameters are `$n`, numbered across the rows; else `?`."""
    processors: tuple[Processor | None, ...]
    """Per name, its column's bind processor."""
    results: tuple[Processor | None, ...]
    sizes: dict[int, str]
    """Row count → the statement's SQL."""

    def sql(self, count: int) -> str:
        found = self.sizes.get(count)
        if found is None:
            if len(self.sizes) >= SIZES_KEPT:
                self.sizes.clear()  # one call, safe beside another thread's look-up
            width = len(self.names)
            rows = []
            for row in range(count):
                if self.numbered:
                    marks = [f"${row * width + n + 1}" for n in range(width)]
                else:
                    marks = ["?"] * width
                pieces = [self.parts[0]]
                for mark, part in zip(marks, self.parts[1:], strict=True):
                    pieces += (mark, part)
                rows.append("".join(pieces))
            found = self.sizes[count] = self.before + ", ".join(rows) + self.after
        return found


class PreparedRows:
    """A multi-row INSERT (its ON CONFLICT and RETURNING clauses kept) of the rows a caller
    gives, run on the driver's cursor: compiled once per dialect and set of columns, and its
    VALUES tuple repeated for as many rows as come.

    SQLAlchemy's `executemany` of such a statement (insertmanyvalues) rebuilds the statement's
    parameters for every row and hands psycopg a statement too long for its query cache, which
    psycopg then parses again on every batch: that was the relay's biggest cost per notice.
    Here the values go through the same column processors, in the order the SQL takes them;
    on PostgreSQL the SQL is in the server's own `$n` style (psycopg's `RawCursor`: nothing to
    parse), and a statement of a row count that comes often is prepared by the server once.
    Where something watches statements or no transaction has begun, the rows take
    SQLAlchemy's usual path (as `Prepared` does)."""

    __slots__ = ("_by_dialect", "_templates")

    def __init__(self, statement: Insert | Mapping[str, Insert]) -> None:
        self._by_dialect = statement
        self._templates: dict[tuple[str, tuple[str, ...]], _RowTemplate] = {}

    def rows(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """Insert `rows` (every one with the same keys: the columns it sets), in order, in as
        few statements as `PARAMETERS_PER_STATEMENT` allows; what they return."""
        if not rows:
            return []
        first = rows[0].keys()
        if any(row.keys() != first for row in rows):
            raise ValueError("every row of a multi-row insert sets the same columns")
        base = self._by_dialect
        if isinstance(base, Mapping):
            base = base[conn.dialect.name]
        if conn._has_events or conn.engine._has_events or conn._echo or not conn.in_transaction():
            result = conn.execute(base, list(rows))
            return [tuple(row) for row in result] if base.exported_columns else []
        keys = tuple(first)
        template = self._templates.get((conn.dialect.name, keys))
        if template is None:
            template = _row_template(base, conn.dialect, keys)
            self._templates[(conn.dialect.name, keys)] = template
        per_statement = max(1, PARAMETERS_PER_STATEMENT // len(keys))
        returned: list[tuple[Any, ...]] = []
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            bound = [
                value if process is None or value is None else process(value)
                for row in chunk
                for name, process in zip(template.names, template.processors, strict=True)
                for value in (row[name],)
            ]
            returned += _run(
                conn,
                template.sql(len(chunk)),
                bound,
                many=False,
                fetch=bool(template.results),
                raw=True,
            )
        return _processed(template.results, returned)


def _processed(
    results: Sequence[Processor | None], rows: Iterable[Sequence[Any]]
) -> list[tuple[Any, ...]]:
    """The driver's rows with each value as the usual path gives it (its result processor
    applied, None left alone)."""
    if not any(results):
        return [tuple(row) for row in rows]
    return [
        tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(results, row, strict=True)
        )
        for row in rows
    ]


def _row_template(base: Insert, dialect: Dialect, keys: tuple[str, ...]) -> _RowTemplate:
    compiled = base.compile(dialect=dialect, column_keys=list(keys))
    if compiled.insert_prefetch:
        missing = sorted(column.key for column in compiled.insert_prefetch)
        raise ValueError(f"a prepared statement needs every parameter given: {missing}")
    sql = compiled.string
    opening = sql.index(" VALUES (") + len(" VALUES ")
    closing = _matching_parenthesis(sql, opening)
    row = sql[opening : closing + 1]
    if not compiled.positional and dialect.name != "postgresql":
        raise ValueError(f"no multi-row prepared inserts on {dialect.name}")
    if compiled.positional:
        parts = row.split("?")
        names = tuple(compiled.positiontup or ())
    else:
        parts = _PYFORMAT.split(row)[0::2]
        names = tuple(_PYFORMAT.findall(row))
    if len(parts) != len(names) + 1 or sorted(names) != sorted(compiled.binds):
        raise ValueError("a multi-row prepared insert takes parameters in its VALUES only")
    binds = compiled.binds
    # pyformat escapes a literal % as %%; the `$n` and `?` styles do not.
    unescape = (lambda text: text) if compiled.positional else _unescape_percent
    return _RowTemplate(
        before=unescape(sql[:opening]),
        parts=tuple(unescape(part) for part in parts),
        after=unescape(sql[closing + 1 :]),
        names=names,
        numbered=not compiled.positional,
        processors=tuple(
            binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        ),
        results=tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in base.exported_columns
        ),
        sizes={},
    )


def _unescape_percent(text: str) -> str:
    return text.replace("%%", "%")


def _matching_parenthesis(sql: str, opening: int) -> int:
    """Where the parenthesis opened at `opening` closes."""
    depth = 0
    for at in range(opening, len(sql)):
        if sql[at] == "(":
            depth += 1
        elif sql[at] == ")":
            depth -= 1
            if depth == 0:
                return at
    raise ValueError(f"unbalanced parentheses in {sql!r}")


def among(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """`column` is one of the list parameter `name`: on PostgreSQL one array parameter
    (`= ANY(…)`: the same text for any length, so psycopg keeps it converted and the server
    prepares it), elsewhere an expanding IN list."""
    if dialect == "postgresql":
        return column == func.any(bindparam(name, type_=ARRAY(Text)))
    return column.in_(bindparam(name, expanding=True))


class PreparedRead:
    """A read with list parameters (`among`), built for each database: on PostgreSQL a
    `Prepared` read, elsewhere SQLAlchemy's usual path (an IN list's text changes with its
    length: nothing to keep compiled)."""

    __slots__ = ("_other", "_postgresql")

    def __init__(self, build: Callable[[str], Select[Any]]) -> None:
        self._postgresql = Prepared(build("postgresql"))
        self._other = build("sqlite")

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows, each value as the usual path gives it, read by position."""
        if conn.dialect.name == "postgresql":
            return self._postgresql.rows(conn, params)
        return [tuple(row) for row in conn.execute(self._other, params)]


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
