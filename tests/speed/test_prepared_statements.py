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
from sqlalchemy.exc import IntegrityError

from tidings.events import outbox, record_event
from tidings.kit.db import write_transaction
from tidings.kit.prepared import Prepared

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
