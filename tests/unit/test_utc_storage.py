from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, select

from tidings.kit.tables import Timestamp


def test_timestamps_with_an_offset_are_stored_and_read_as_the_same_instant() -> None:
    table = Table("t", MetaData(), Column("id", String, primary_key=True), Column("at", Timestamp))
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    shanghai = datetime(2026, 11, 24, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": "a", "at": shanghai}])
        stored = conn.execute(select(table.c.at)).scalar_one()
        earlier = conn.execute(
            select(table.c.id).where(table.c.at < datetime(2026, 11, 24, 12, 30, tzinfo=UTC))
        ).scalar_one_or_none()
    assert stored == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert earlier == "a"
