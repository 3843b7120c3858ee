"""Statements on the path of every payment, compiled once and handed to the driver as SQL.

A Core statement executed the usual way costs SQLAlchemy a cache key (a walk of the whole
expression), a look-up in the compiled cache and a pass of every parameter through its
column's processor, on every execution: for a payment's writes and its risk read that was
about a fifth of its CPU, several times what SQLite itself spends on them. A `Prepared`
statement does the compiling once per dialect and set of parameters, and then only what the
driver needs: the values, through the same processors, in the order the SQL names them; a
read's values come back through the same result processors as well.

It still goes through `Connection.exec_driver_sql`, so the transaction, the connection's
events and the wrapping of driver errors (`with_retry` reads them) stay exactly as for
any other statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, Select
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
    ) -> CursorResult[Any]:
        """Run it with one row of parameters, or many (the driver's `executemany`)."""
        rows = [params] if isinstance(params, Mapping) else params
        compiled = self._compiled(conn, rows[0])
        bound = [self._bind(compiled, row) for row in rows]
        return conn.exec_driver_sql(
            compiled.sql, bound[0] if isinstance(params, Mapping) else bound
        )

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """A read's rows, each value as the usual path gives it (a time as an aware
        `datetime` on SQLite too), read by position."""
        compiled = self._compiled(conn, params)
        fetched = conn.exec_driver_sql(compiled.sql, self._bind(compiled, params)).all()
        results = compiled.results
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
    results: tuple[Processor | None, ...] = ()
    if isinstance(statement, Select):
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
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
