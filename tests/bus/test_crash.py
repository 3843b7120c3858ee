"""A real `tidings worker` SIGKILLed between JetStream's ack and marking the events published:
the next worker publishes them again and JetStream keeps one copy of each (the same
`Nats-Msg-Id` within its one-hour duplicate window)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.e2e_notify.support import cluster, environment, wait_until
from tidings.bus.status import stream_state
from tidings.bus.streams import EVENTS_STREAM
from tidings.events import outbox
from tidings.kit.db import make_engine

from .support import NatsServer, bus_status, read_stream, stream_count
from .test_publish import record_many, unpublished

pytestmark = pytest.mark.e2e

EVENTS = 50


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_worker_killed_between_publish_and_mark_leaves_no_duplicate_on_the_stream(
    tmp_path: Path, bus_nats: NatsServer, database: str, request: pytest.FixtureRequest
) -> None:
    """On PostgreSQL the killed worker held its users' leases in an open transaction: the
    server ends it with the connection, and the next worker takes them over."""
    if database == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'tidings.db'}"
    else:
        database_url = request.getfixturevalue("pg_database").url
    env = environment(database_url, tmp_path / "var", TIDINGS_NATS_URL=bus_nats.url)
    slow_mark = {**env, "TIDINGS_BUS_PAUSE_BEFORE_MARK_SECONDS": "120"}
    with cluster(tmp_path, env) as running:
        engine = make_engine(database_url)
        record_many(engine, EVENTS, users=7)
        first = running.worker(env=slow_mark, name="first")
        wait_until(
            lambda: '"bus.publish.acked_not_marked"' in first.log_text(),
            timeout=30,
            what="the first worker to have every event acked, not yet marked",
            watch=running,
        )
        assert stream_count(bus_nats.url, EVENTS_STREAM) == EVENTS
        first.kill()
        assert unpublished(engine) == EVENTS  # acked by JetStream, never marked

        running.worker(name="second")
        wait_until(
            lambda: unpublished(engine) == 0, timeout=30, what="the second worker to publish"
        )
        messages = read_stream(bus_nats.url, EVENTS_STREAM)
        with engine.connect() as conn:
            ids = list(conn.execute(select(outbox.c.id).order_by(outbox.c.id)).scalars())
        assert sorted(m.msg_id for m in messages if m.msg_id) == ids
        assert (
            stream_state(bus_status(bus_nats.url), EVENTS_STREAM).last_seq == EVENTS
        )  # no copy was ever stored
        engine.dispose()
