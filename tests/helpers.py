"""Builders that go through the public API, as an integrator would."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tidings.app.context import AppContext
from tidings.app.notify import build_dispatcher, relay_once
from tidings.events import outbox
from tidings.ledger.models import accounts
from tidings.notify.planner import PlannerPolicy
from tidings.wallets.models import transfers, wallets

_serial = itertools.count(1)


def cny(value: int) -> dict[str, Any]:
    return {"value": value, "currency": "CNY"}


def create_user(client: TestClient, **overrides: Any) -> dict[str, Any]:
    n = next(_serial)
    body = {
        "external_id": f"ext-{n}",
        "name": "张三丰",
        "phone": f"1381234{n:04d}",
        "email": f"zhang{n}@example.com",
        "locale": "zh-CN",
        "timezone": "Asia/Shanghai",
        **overrides,
    }
    response = client.post("/v1/users", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def transfer(client: TestClient, expect: int = 201, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/transfers", json=body)
    assert response.status_code == expect, response.text
    return dict(response.json())


def top_up(client: TestClient, wallet_id: str, value: int) -> dict[str, Any]:
    return transfer(client, kind="top_up", destination=wallet_id, amount=cny(value))


def payment_body(wallet_id: str, value: int) -> dict[str, Any]:
    """A card payment of `value` minor units at a coffee shop (MCC 5814)."""
    return {
        "kind": "payment",
        "source": wallet_id,
        "amount": cny(value),
        "merchant": {"name": "星巴克", "category": "5814"},
    }


def pay(client: TestClient, wallet_id: str, value: int) -> dict[str, Any]:
    return transfer(client, **payment_body(wallet_id, value))


def balance(client: TestClient, wallet_id: str) -> int:
    response = client.get(f"/v1/wallets/{wallet_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["balance"]["value"])


@dataclass(frozen=True)
class Books:
    """What a refused request must leave as it was: each wallet's balance and available, the
    number of transfers and the number of outbox rows (events, codes, alerts)."""

    wallets: dict[str, tuple[int, int]]
    transfers: int
    outbox: int


def read_books(source: TestClient | Engine, wallet_ids: Iterable[str]) -> Books:
    engine: Engine = source if isinstance(source, Engine) else source.app.state.context.engine  # type: ignore[attr-defined]
    ids = list(wallet_ids)
    with engine.connect() as conn:
        rows = conn.execute(
            select(wallets.c.id, accounts.c.balance, accounts.c.held)
            .join(accounts, accounts.c.id == wallets.c.account_id)
            .where(wallets.c.id.in_(ids))
        ).all()
        transfer_count = conn.execute(select(func.count()).select_from(transfers)).scalar_one()
        outbox_count = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
    found = {row.id: (int(row.balance), int(row.balance) - int(row.held)) for row in rows}
    assert set(found) == set(ids), f"unknown wallets: {set(ids) - set(found)}"
    return Books(wallets=found, transfers=int(transfer_count), outbox=int(outbox_count))


@contextmanager
def assert_books_unchanged(
    source: TestClient | Engine, wallet_ids: Iterable[str], *, notices: int = 0
) -> Iterator[None]:
    """Around a refused request: no balance, available, transfer or outbox row changed, but
    for `notices` events telling the owner of the refusal (`wallet.payment.failed`)."""
    ids = list(wallet_ids)
    before = read_books(source, ids)
    yield
    assert read_books(source, ids) == replace(before, outbox=before.outbox + notices)


def payment_event(subject: str, event_id: str = "core-1", **data: Any) -> dict[str, Any]:
    """A core's `wallet.payment.succeeded` as a structured CloudEvent (extra data kept)."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "urn:bank:core",
        "type": "wallet.payment.succeeded",
        "subject": subject,
        "time": "2026-11-24T07:30:00Z",
        "data": {
            "amount": cny(12_800),
            "merchant": {"name": "星巴克", "category": "5814"},
            "balance_after": cny(345_678),
            **data,
        },
    }


def deliver_everything(context: AppContext, policy: PlannerPolicy | None = None) -> None:
    """What the worker does, run until nothing is left to relay or send."""
    dispatcher = build_dispatcher(context)
    try:
        for _ in range(20):
            relayed = relay_once(context, policy or PlannerPolicy()).events
            if not relayed and not dispatcher.run_once():
                return
    finally:
        dispatcher.close()
    raise AssertionError("the pipeline did not settle")
