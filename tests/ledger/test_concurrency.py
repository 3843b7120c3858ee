"""Many writers at once never lose, duplicate or invent money, on SQLite and PostgreSQL.

Each operation is its own write transaction retried by `with_retry`, the way a request
runs. Refusals for lack of money are part of the game; any other exception is a failure.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Connection, select

from tests.helpers import create_user
from tests.ledger.builders import (
    assert_trial_balance_ok,
    balance_of,
    cny,
    new_user,
    pay,
    top_up,
    transfer,
)
from tidings.app.context import AppContext
from tidings.events import outbox
from tidings.kit.db import read_transaction
from tidings.ledger.exceptions import InsufficientFunds
from tidings.ledger.models import ledger_entries, postings
from tidings.wallets import events
from tidings.wallets import service as wallets
from tidings.wallets.models import transfers
from tidings.wallets.schemas import TransferOut

WRITERS = 8
OPERATIONS_PER_WRITER = 12


def run_together(writers: int, work: Callable[[int], None]) -> list[BaseException]:
    """Start `writers` threads at the same instant; the exceptions none of them handled."""
    barrier = threading.Barrier(writers)
    unhandled: list[BaseException] = []

    def run(writer: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(writer)
        except BaseException as exc:
            unhandled.append(exc)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return unhandled


def transfer_ids_of(conn: Connection, user_ids: list[str]) -> Counter[str]:
    stmt = select(transfers.c.id).where(transfers.c.user_id.in_(user_ids))
    return Counter(conn.execute(stmt).scalars())


def events_by_transfer(conn: Connection, user_ids: list[str], *types: str) -> Counter[str]:
    """How many outbox events of the given types name each transfer."""
    stmt = select(outbox.c.data).where(outbox.c.user_id.in_(user_ids), outbox.c.type.in_(types))
    return Counter(data["transfer_id"] for data in conn.execute(stmt).scalars())


def low_balance_events(conn: Connection, user_id: str) -> int:
    stmt = select(outbox.c.id).where(
        outbox.c.user_id == user_id, outbox.c.type == events.BALANCE_LOW
    )
    return len(conn.execute(stmt).all())


def payments_crossing(conn: Connection, wallet_id: str, threshold: int) -> int:
    """Payment postings on the wallet that took it from at/above the threshold to below it."""
    stmt = (
        select(postings.c.amount, postings.c.balance_after)
        .join(ledger_entries, ledger_entries.c.id == postings.c.entry_id)
        .join(transfers, transfers.c.entry_id == ledger_entries.c.id)
        .where(transfers.c.source_wallet_id == wallet_id, ledger_entries.c.kind == "payment")
        .where(postings.c.amount < 0)
    )
    return sum(
        1
        for amount, after in conn.execute(stmt)
        if after - amount >= threshold > after  # amount is negative: before = after - amount
    )


def test_eight_writers_on_one_hot_wallet_lose_no_update_and_never_overdraw(
    context: AppContext,
) -> None:
    user_id, wallet = new_user(context)
    opening = top_up(context, wallet, 20_000)
    top_ups: list[TransferOut] = []
    payments: list[TransferOut] = []
    refused: list[int] = []

    def writer(n: int) -> None:
        rng = random.Random(n)
        for _ in range(OPERATIONS_PER_WRITER):
            if rng.random() < 0.5:
                top_ups.append(top_up(context, wallet, rng.randint(200, 3_000)))
                continue
            amount = rng.randint(500, 4_000)
            try:
                payments.append(pay(context, wallet, amount))
            except InsufficientFunds:
                refused.append(amount)

    assert run_together(WRITERS, writer) == []

    assert len(top_ups) + len(payments) + len(refused) == WRITERS * OPERATIONS_PER_WRITER
    assert payments, "no payment got through; the test proves nothing"
    topped = sum(t.amount.value for t in top_ups)
    paid = sum(p.amount.value for p in payments)
    final = balance_of(context, wallet)
    assert final == 20_000 + topped - paid
    assert final >= 0
    succeeded = [opening, *top_ups, *payments]
    with read_transaction(context.engine) as conn:
        assert_trial_balance_ok(conn)
        assert transfer_ids_of(conn, [user_id]) == Counter(t.id for t in succeeded)
        notices = events_by_transfer(
            conn, [user_id], events.TOP_UP_SUCCEEDED, events.PAYMENT_SUCCEEDED
        )
        assert notices == Counter(t.id for t in succeeded)
        # One low-balance notice per payment that crossed the threshold, in commit order.
        threshold = context.settings.low_balance_threshold
        assert low_balance_events(conn, user_id) == payments_crossing(conn, wallet, threshold)


def test_p2p_in_both_directions_at_once_neither_deadlocks_nor_loses_money(
    context: AppContext,
) -> None:
    alice, alice_wallet = new_user(context)
    bob, bob_wallet = new_user(context)
    opening = [top_up(context, alice_wallet, 30_000), top_up(context, bob_wallet, 30_000)]
    sent: dict[str, list[TransferOut]] = {alice_wallet: [], bob_wallet: []}
    refused: list[int] = []

    def writer(n: int) -> None:
        rng = random.Random(100 + n)
        source, destination = (
            (alice_wallet, bob_wallet) if n % 2 == 0 else (bob_wallet, alice_wallet)
        )
        for _ in range(OPERATIONS_PER_WRITER):
            amount = rng.randint(100, 3_000)
            try:
                sent[source].append(
                    transfer(
                        context,
                        kind="p2p",
                        source=source,
                        destination=destination,
                        amount=cny(amount),
                    )
                )
            except InsufficientFunds:
                refused.append(amount)

    assert run_together(WRITERS, writer) == []

    by_alice = sum(t.amount.value for t in sent[alice_wallet])
    by_bob = sum(t.amount.value for t in sent[bob_wallet])
    assert len(sent[alice_wallet]) + len(sent[bob_wallet]) + len(refused) == (
        WRITERS * OPERATIONS_PER_WRITER
    )
    assert balance_of(context, alice_wallet) == 30_000 - by_alice + by_bob
    assert balance_of(context, bob_wallet) == 30_000 - by_bob + by_alice
    assert balance_of(context, alice_wallet) >= 0
    assert balance_of(context, bob_wallet) >= 0
    moves = [*sent[alice_wallet], *sent[bob_wallet]]
    with read_transaction(context.engine) as conn:
        assert_trial_balance_ok(conn)
        assert transfer_ids_of(conn, [alice, bob]) == Counter(t.id for t in [*opening, *moves])
        for event_type in (events.TRANSFER_SENT, events.TRANSFER_RECEIVED):
            assert events_by_transfer(conn, [alice, bob], event_type) == Counter(
                t.id for t in moves
            )


def post_twice_at_once(client: TestClient, body: dict[str, Any], key: str) -> list[Response]:
    responses: list[Response] = []

    def post(_: int) -> None:
        responses.append(client.post("/v1/transfers", json=body, headers={"Idempotency-Key": key}))

    assert run_together(2, post) == []
    return responses


def test_two_requests_racing_with_one_idempotency_key_move_the_money_once(
    client: TestClient, context: AppContext
) -> None:
    user = create_user(client)
    wallet = user["wallet_id"]
    amounts = [1_000, 1_001, 1_002, 1_003]  # one race per amount, each with its own key
    executed = []
    for n, value in enumerate(amounts):
        body = {
            "kind": "top_up",
            "destination": wallet,
            "amount": {"value": value, "currency": "CNY"},
        }
        first, second = post_twice_at_once(client, body, key=f"top-up-{n}")
        assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
        assert first.json()["id"] == second.json()["id"]
        replayed = {r.headers.get("Idempotent-Replayed", "false") for r in (first, second)}
        assert replayed == {"false", "true"}
        executed.append(first.json()["id"])

    with read_transaction(context.engine) as conn:
        assert transfer_ids_of(conn, [user["id"]]) == Counter(executed)
    assert balance_of(context, wallet) == sum(amounts)


def test_a_read_transaction_sees_the_books_at_one_moment(context: AppContext) -> None:
    """`read_transaction` promises a snapshot: a transfer committed meanwhile stays unseen."""
    _, wallet = new_user(context)
    top_up(context, wallet, 1_000)
    at = context.clock.now()
    with read_transaction(context.engine) as conn:
        first = wallets.get_wallet(conn, wallet, acting_user_id=None, at=at).balance.value
        top_up(context, wallet, 500)  # another transaction commits in between
        again = wallets.get_wallet(conn, wallet, acting_user_id=None, at=at).balance.value
    assert (first, again) == (1_000, 1_000)
    assert balance_of(context, wallet) == 1_500
