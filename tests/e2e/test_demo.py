"""`tidings demo` data: created through the services, balanced, and usable over the API at once."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import func, select

from tidings.app.context import AppContext
from tidings.app.factory import create_app
from tidings.cli.demo import create_demo_data
from tidings.kit.clock import FixedClock
from tidings.kit.db import read_transaction
from tidings.ledger import service as ledger
from tidings.users.models import users as users_table
from tidings.wallets.models import transfers, wallets

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _run(context: AppContext, *, users: int, days: int) -> str:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False, color_system=None)
    create_demo_data(context, users=users, days=days, console=console)
    return out.getvalue()


def test_demo_data_is_realistic_balanced_and_usable(context: AppContext) -> None:
    fixed = dataclasses.replace(context, clock=FixedClock(NOW))
    output = _run(fixed, users=3, days=10)

    with read_transaction(context.engine) as conn:
        assert conn.scalar(select(func.count()).select_from(users_table)) == 3
        kinds = {
            (row.kind, row.purpose)
            for row in conn.execute(select(wallets.c.kind, wallets.c.purpose))
        }
        wallet_count = conn.scalar(select(func.count()).select_from(wallets))
        by_kind: dict[str, int] = dict(
            conn.execute(select(transfers.c.kind, func.count()).group_by(transfers.c.kind)).all()
        )
        span = conn.execute(
            select(func.min(transfers.c.created_at), func.max(transfers.c.created_at))
        ).one()
        mccs = set(conn.scalars(select(transfers.c.merchant_category).distinct()))
        result = ledger.trial_balance(conn)

    assert wallet_count == 9  # a main wallet, a travel and a savings sub-wallet each
    assert kinds == {("main", "main"), ("sub", "travel"), ("sub", "savings")}
    assert {"top_up", "payment", "allocation", "p2p", "refund"} <= set(by_kind), by_kind
    assert by_kind["payment"] >= 20
    assert {"5814", "5812", "4121", "5411"} <= mccs
    first, last = (value.replace(tzinfo=UTC) if value.tzinfo is None else value for value in span)
    assert (last - first).days >= 8  # spread over the period, not all at one moment
    assert last < NOW
    assert result.ok, result

    # The summary names each user's wallets and hands out a token that works at once.
    token = re.search(r"tdu_[A-Za-z0-9_-]+", output)
    wallet = re.search(r"wal_[0-9A-Z]{26}", output)
    assert token, output
    assert wallet, output
    with TestClient(create_app(fixed)) as client:
        auth = {"Authorization": f"Bearer {token.group()}"}
        response = client.get(f"/v1/wallets/{wallet.group()}/transactions", headers=auth)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert items
        stamps = [item["created_at"] for item in items]
        assert stamps == sorted(stamps, reverse=True)  # newest first
        me = client.get(f"/v1/wallets/{wallet.group()}", headers=auth).json()
        user = client.get(f"/v1/users/{me['user_id']}", headers=auth).json()
        assert re.fullmatch(r"1[3-9]\d\*{4}\d{4}", user["phone"]), user
        assert "*" in user["name"]


def test_demo_can_run_again_on_the_same_database(context: AppContext) -> None:
    _run(context, users=1, days=2)
    _run(context, users=2, days=1)
    with read_transaction(context.engine) as conn:
        assert conn.scalar(select(func.count()).select_from(users_table)) == 3
        assert ledger.trial_balance(conn).ok


def test_demo_refuses_empty_runs(context: AppContext) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        _run(context, users=0, days=30)
