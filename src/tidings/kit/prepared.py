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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select
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


def _run(conn: Connection, sql: str, bound: Any, *, many: bool, fetch: bool) -> list[Any]:
    """Execute on the connection's DB-API cursor; the fetched rows when `fetch`."""
    if conn._has_events or conn.engine._has_events or conn._echo or not conn.in_transaction():
        result = conn.exec_driver_sql(sql, bound)
        return [tuple(row) for row in result] if fetch else []
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
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
