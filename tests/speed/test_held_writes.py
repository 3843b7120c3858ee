"""On PostgreSQL a payment's last writes (its transfer, its event, the idempotency answer) are
held back and sent with the COMMIT in one message (`kit.prepared.hold_writes`): the payment is
still all or nothing, and every statement still sees the writes before it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import IntegrityError

from tests.helpers import assert_books_unchanged, cny, create_user, top_up
from tidings.events import outbox, record_event
from tidings.kit.db import make_engine, write_transaction
from tidings.ledger.models import ledger_entries, postings

COFFEE = {"name": "星巴克", "category": "5814"}
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@contextmanager
def payment_events_refused(engine: Engine) -> Iterator[None]:
    """While the block runs, the database refuses to store a `wallet.payment.succeeded` event:
    the outbox write, the one after the money has moved, fails."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "ALTER TABLE outbox ADD CONSTRAINT no_payment_events"
                    " CHECK (type <> 'wallet.payment.succeeded') NOT VALID"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER no_payment_events BEFORE INSERT ON outbox"
                    " WHEN NEW.type = 'wallet.payment.succeeded'"
                    " BEGIN SELECT RAISE(ABORT, 'no payment events'); END"
                )
            )
    try:
        yield
    finally:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("ALTER TABLE outbox DROP CONSTRAINT no_payment_events"))
            else:
                conn.execute(text("DROP TRIGGER no_payment_events"))


def coffee(wallet_id: str, value: int) -> dict[str, Any]:
    """A payment's body: `value` minor units at a coffee shop."""
    return {"kind": "payment", "source": wallet_id, "amount": cny(value), "merchant": COFFEE}


def ledger_rows(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(ledger_entries)).scalar_one(),
            conn.execute(select(func.count()).select_from(postings)).scalar_one(),
        )


def test_a_payment_whose_event_cannot_be_stored_leaves_no_trace_and_its_key_unused(
    client: TestClient, engine: Engine
) -> None:
    user = create_user(client)
    wallet = user["wallet_id"]
    top_up(client, wallet, 10_000)
    body = coffee(wallet, 2_500)
    key = {"Idempotency-Key": "pay-held-1"}
    entries_before = ledger_rows(engine)
    with payment_events_refused(engine), assert_books_unchanged(client, [wallet]):
        refused = client.post("/v1/transfers", json=body, headers=key)
    assert refused.status_code == 409, refused.text
    assert ledger_rows(engine) == entries_before
    # The key was claimed in the same transaction: rolled back with it, it is free again.
    paid = client.post("/v1/transfers", json=body, headers=key)
    assert paid.status_code == 201, paid.text
    assert "Idempotent-Replayed" not in paid.headers
    assert client.get(f"/v1/wallets/{wallet}").json()["balance"] == cny(7_500)


def _record(conn: Connection, event_id: str) -> None:
    record_event(conn, type="test.held", user_id=None, data={}, at=AT, event_id=event_id)


def test_a_held_write_is_seen_by_the_next_statement_of_its_transaction(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        _record(conn, "evt_seen")
        seen = conn.execute(select(outbox.c.id).where(outbox.c.id == "evt_seen")).scalar()
    assert seen == "evt_seen"


def test_a_held_write_that_fails_at_commit_is_the_drivers_error_and_nothing_is_committed(
    engine: Engine,
) -> None:
    with write_transaction(engine) as conn:
        _record(conn, "evt_taken")

    def write_around_a_duplicate() -> None:
        with write_transaction(engine) as conn:
            _record(conn, "evt_before")
            _record(conn, "evt_taken")  # a duplicate: refused when it reaches the database
            _record(conn, "evt_after")

    with pytest.raises(IntegrityError):
        write_around_a_duplicate()
    with engine.connect() as conn:
        stored = conn.execute(select(outbox.c.id).where(outbox.c.type == "test.held")).scalars()
        assert list(stored) == ["evt_taken"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_payments_last_writes_reach_postgresql_in_one_message(
    client: TestClient, engine: Engine
) -> None:
    """PostgreSQL shows, as the last query of the connection that ran the payment, one text
    with the transfer's INSERT and its event's INSERT (and after them, past the first KB it
    keeps of a query, the idempotency answer and the COMMIT): one round trip where four were."""
    user = create_user(client)
    top_up(client, user["wallet_id"], 10_000)
    paid = client.post(
        "/v1/transfers",
        json=coffee(user["wallet_id"], 100),
        headers={"Idempotency-Key": "pay-one-message"},
    )
    assert paid.status_code == 201, paid.text
    onlooker = make_engine(engine.url.render_as_string(hide_password=False))
    with onlooker.connect() as conn:
        last_queries = conn.execute(
            text(
                "SELECT query FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalars()
        sent_together = [q for q in last_queries if paid.json()["id"] in q]
    onlooker.dispose()
    assert len(sent_together) == 1
    assert "INSERT INTO transfers" in sent_together[0]
    assert "INSERT INTO outbox" in sent_together[0]
