"""A user's notices on one channel leave in order, whatever the number of workers."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tests.helpers import cny, create_user, top_up, transfer
from tidings.app.context import AppContext
from tidings.app.notify import relay_once
from tidings.kit.db import write_transaction
from tidings.notify import repository
from tidings.notify.planner import PlannerPolicy


def test_a_later_notice_waits_while_an_earlier_one_is_open(
    client: TestClient, context: AppContext
) -> None:
    user = create_user(client)
    top_up(client, user["wallet_id"], 10_000)
    transfer(client, kind="withdrawal", source=user["wallet_id"], amount=cny(1_000))
    relay_once(context, PlannerPolicy())
    now = context.clock.now() + timedelta(seconds=1)
    lease = now + timedelta(seconds=60)
    with write_transaction(context.engine) as conn:
        first = repository.claim_due_deliveries(
            conn, now=now, limit=10, owner="worker-a", lease_until=lease
        )
    assert [row.kind for row in first] == ["wallet.top_up.succeeded"]
    with write_transaction(context.engine) as conn:
        blocked = repository.claim_due_deliveries(
            conn, now=now, limit=10, owner="worker-b", lease_until=lease
        )
        assert blocked == []  # the withdrawal notice waits for the top-up's
        repository.finish_deliveries(conn, "worker-a", [(first[0].id, {"status": "sent"})])
    with write_transaction(context.engine) as conn:
        second = repository.claim_due_deliveries(
            conn, now=now, limit=10, owner="worker-b", lease_until=lease
        )
    assert [row.kind for row in second] == ["wallet.withdrawal.succeeded"]


def test_a_crashed_workers_claims_are_taken_again_after_the_lease(
    client: TestClient, context: AppContext
) -> None:
    user = create_user(client)
    top_up(client, user["wallet_id"], 10_000)
    relay_once(context, PlannerPolicy())
    now = context.clock.now() + timedelta(seconds=1)
    with write_transaction(context.engine) as conn:
        taken = repository.claim_due_deliveries(
            conn, now=now, limit=10, owner="crashed", lease_until=now + timedelta(seconds=30)
        )
    assert len(taken) == 1
    with write_transaction(context.engine) as conn:
        assert (
            repository.claim_due_deliveries(
                conn,
                now=now + timedelta(seconds=29),
                limit=10,
                owner="b",
                lease_until=now + timedelta(seconds=90),
            )
            == []
        )
    with write_transaction(context.engine) as conn:
        again = repository.claim_due_deliveries(
            conn,
            now=now + timedelta(seconds=31),
            limit=10,
            owner="b",
            lease_until=now + timedelta(seconds=91),
        )
    assert [row.id for row in again] == [taken[0].id]
    with write_transaction(context.engine) as conn:
        # the crashed worker's late answer is refused: it no longer holds the lease
        late = [(taken[0].id, {"status": "sent"})]
        assert repository.finish_deliveries(conn, "crashed", late) == set()
        assert repository.finish_deliveries(conn, "b", late) == {taken[0].id}
