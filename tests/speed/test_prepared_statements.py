"""The payment path's statements skip SQLAlchemy's per-execution machinery (`kit.prepared`),
and what they store, read, and how they fail, is what the usual path gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from tidings.events import outbox, record_event
from tidings.kit import prepared
from tidings.kit.db import write_transaction
from tidings.kit.prepared import Prepared, PreparedRows

AT = datetime(2026, 3, 1, 23, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))


def test_values_go_through_the_columns_processors_on_both_databases(engine: Engine) -> None:
    """A time with an offset and a JSON document come back as the usual path stores them."""
    with write_transaction(engine) as conn:
        event_id = record_event(
            conn, type="test.prepared", user_id=None, data={"名字": "张三", "n": [1, 2]}, at=AT
        )
    with engine.connect() as conn:
        row = conn.execute(select(outbox).where(outbox.c.id == event_id)).one()
    assert row.time == AT.astimezone(UTC)
    assert row.data == {"名字": "张三", "n": [1, 2]}
    assert row.subject is None


def test_many_rows_in_one_call_and_a_duplicate_is_the_drivers_error_wrapped(
    engine: Engine,
) -> None:
    events = Prepared(insert(outbox))
    rows = [
        {"id": f"evt_{n}", "source": "t", "type": "t", "time": AT, "data": {"n": n}} for n in "ab"
    ]
    with write_transaction(engine) as conn:
        events.execute(conn, rows)
    with engine.connect() as conn:
        stored = conn.execute(select(outbox.c.id, outbox.c.data).order_by(outbox.c.id)).all()
    assert [(row.id, row.data) for row in stored] == [("evt_a", {"n": "a"}), ("evt_b", {"n": "b"})]
    # Wrapped as SQLAlchemy wraps any statement's failure: `with_retry` and the error handlers
    # read these, whichever path the statement took.
    with pytest.raises(IntegrityError), write_transaction(engine) as conn:
        events.execute(conn, rows[0])


def test_a_statement_that_would_need_a_python_side_default_is_refused(engine: Engine) -> None:
    """Such a default is filled by SQLAlchemy's usual path only; silently leaving it out
    would store NULL."""
    with_default = Table(
        "prepared_with_default",
        MetaData(),
        Column("id", String, primary_key=True),
        Column("tries", Integer, default=0),
    )
    with engine.connect() as conn, pytest.raises(ValueError, match="tries"):
        Prepared(insert(with_default)).execute(conn, {"id": "x"})


def test_a_read_gives_the_values_the_usual_path_gives_on_both_databases(engine: Engine) -> None:
    """Times come back aware (SQLite stores text), JSON as objects, a literal the statement
    carries and a parameter named twice are bound, an aggregate keeps its column's type."""
    with write_transaction(engine) as conn:
        first = record_event(conn, type="test.read", user_id=None, data={"n": 1}, at=AT)
        record_event(conn, type="test.read", user_id=None, data={"n": 2}, at=AT)
    wanted = bindparam("wanted")
    statement = (
        select(
            outbox.c.id,
            outbox.c.time,
            outbox.c.data,
            literal(True),
            select(func.max(outbox.c.time)).where(outbox.c.id == wanted).scalar_subquery(),
        )
        .where(or_(outbox.c.id == wanted, outbox.c.type == "test.nothing"))
        .order_by(outbox.c.id)
    )
    with engine.connect() as conn:
        usual = [tuple(row) for row in conn.execute(statement, {"wanted": first})]
        prepared = Prepared(statement).rows(conn, {"wanted": first})
    # Inside a transaction it runs on the driver's cursor, and reads the same.
    with write_transaction(engine) as conn:
        on_the_cursor = Prepared(statement).rows(conn, {"wanted": first})
    expected = [(first, AT.astimezone(UTC), {"n": 1}, True, AT.astimezone(UTC))]
    assert on_the_cursor == prepared == usual == expected


def test_what_a_write_returns_comes_back_through_the_columns_processors(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        event_id = record_event(conn, type="test.returning", user_id=None, data={}, at=AT)
    retype = Prepared(
        update(outbox)
        .where(outbox.c.id == bindparam("wanted"))
        .values(type="test.retyped")
        .returning(outbox.c.id, outbox.c.time)
    )
    with write_transaction(engine) as conn:
        assert retype.rows(conn, {"wanted": event_id}) == [(event_id, AT.astimezone(UTC))]
        assert retype.rows(conn, {"wanted": "evt_none"}) == []


def test_a_statement_listener_sees_every_prepared_statement(engine: Engine) -> None:
    """With a listener on the engine (tests counting statements, tracing), statements take
    SQLAlchemy's execution path, where listeners are called."""
    seen: list[str] = []

    def watch(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", watch)
    try:
        with write_transaction(engine) as conn:
            record_event(conn, type="test.watched", user_id=None, data={}, at=AT)
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert any(statement.startswith("INSERT INTO outbox") for statement in seen)


def test_a_multi_row_insert_stores_every_row_across_statements_and_returns_what_it_wrote(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows split over several statements (three values a statement here) keep their own
    values, through the columns' processors; a row the conflict clause skips is not
    returned, on both databases."""
    monkeypatch.setattr(prepared, "PARAMETERS_PER_STATEMENT", 9)
    dialect_insert = {"postgresql": pg_insert(outbox), "sqlite": sqlite_insert(outbox)}
    events = PreparedRows(
        {
            name: statement.on_conflict_do_nothing().returning(outbox.c.id)
            for name, statement in dialect_insert.items()
        }
    )
    with write_transaction(engine) as conn:
        Prepared(insert(outbox)).execute(
            conn, {"id": "evt_c", "source": "t", "type": "t", "time": AT, "data": {}}
        )
    rows = [
        {"id": f"evt_{n}", "source": "t", "type": f"t.{n}", "time": AT, "data": {"名": n}}
        for n in "abcdefg"
    ]
    with write_transaction(engine) as conn:
        written = events.rows(conn, [{**row, "time": AT} for row in rows])
    assert sorted(written) == [(f"evt_{n}",) for n in "abdefg"]
    with engine.connect() as conn:
        stored = conn.execute(
            select(outbox.c.id, outbox.c.type, outbox.c.time, outbox.c.data).order_by(outbox.c.id)
        ).all()
    assert [tuple(row) for row in stored] == [
        (
            f"evt_{n}",
            "t" if n == "c" else f"t.{n}",
            AT.astimezone(UTC),
            {} if n == "c" else {"名": n},
        )
        for n in "abcdefg"
    ]
    with pytest.raises(ValueError, match="same columns"), write_transaction(engine) as conn:
        events.rows(conn, [rows[0], {k: v for k, v in rows[1].items() if k != "data"}])


def test_a_multi_row_insert_is_seen_by_a_statement_listener(engine: Engine) -> None:
    seen: list[str] = []

    def watch(*args: Any) -> None:
        seen.append(args[2])

    rows = [{"id": f"evt_{n}", "source": "t", "type": "t", "time": AT, "data": {}} for n in "ab"]
    event.listen(engine, "before_cursor_execute", watch)
    try:
        with write_transaction(engine) as conn:
            PreparedRows(insert(outbox)).rows(conn, rows)
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert any(statement.startswith("INSERT INTO outbox") for statement in seen)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 2
