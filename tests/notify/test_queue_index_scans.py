"""The relay's and the dispatcher's claims read PostgreSQL's indexes with plain index scans,
which mark the dead entries every claim leaves behind so later polls skip them (a bitmap scan
reads them all again on every poll, until VACUUM), and only inside their own transaction:
the pooled connection goes back to the API with the planner as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from tests.helpers import create_user, top_up
from tidings.app.context import AppContext
from tidings.app.notify import relay_once
from tidings.kit.db import read_transaction, write_transaction
from tidings.notify import repository
from tidings.notify.planner import PlannerPolicy

BITMAP_SCANS = text("SELECT current_setting('enable_bitmapscan')")


def _claim_events(conn: Connection, context: AppContext) -> object:
    return repository.claim_unrelayed_events(conn, 10, at=context.clock.now())


def _claim_deliveries(conn: Connection, context: AppContext) -> object:
    now = context.clock.now() + timedelta(seconds=1)
    return repository.claim_due_deliveries(
        conn, now=now, limit=10, owner="worker-a", lease_until=now + timedelta(seconds=60)
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("claim", [_claim_events, _claim_deliveries], ids=["relay", "dispatch"])
def test_a_claim_reads_with_plain_index_scans_inside_its_own_transaction_only(
    client: TestClient, context: AppContext, claim: Callable[[Connection, AppContext], object]
) -> None:
    user = create_user(client)
    top_up(client, user["wallet_id"], 10_000)
    if claim is _claim_deliveries:
        relay_once(context, PlannerPolicy())
    with write_transaction(context.engine) as conn:
        assert claim(conn, context)
        assert conn.execute(BITMAP_SCANS).scalar_one() == "off"
    with read_transaction(context.engine) as conn:
        assert conn.execute(BITMAP_SCANS).scalar_one() == "on"
