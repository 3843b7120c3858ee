"""Integers stay integers: one transfer moves at most `TIDINGS_MAX_AMOUNT`, no posting takes a
balance past the signed 64-bit range (SQLite would silently store a REAL, PostgreSQL would
raise), SQLite's money columns refuse anything but an integer, and a Money value too large for
64 bits is a 422 in every request, never a 500 (on SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from tests.helpers import assert_books_unchanged, balance, cny, create_user, top_up
from tests.ledger.builders import account_of, assert_trial_balance_ok
from tidings.app.context import AppContext
from tidings.kit.db import make_engine, read_transaction, write_transaction
from tidings.kit.migrate import downgrade, upgrade
from tidings.ledger import service as ledger
from tidings.ledger.exceptions import AmountOutOfRange
from tidings.ledger.models import accounts, holds, postings
from tidings.ledger.service import Leg, SystemAccount, system_account_id
from tidings.wallets.models import transfers

INT64_MAX = 2**63 - 1
STARBUCKS = {"name": "星巴克", "category": "5814"}


def problem_of(response: Any, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(f"/{type_}")
    return body


def test_amount_above_max_is_422_and_nothing_written(
    client: TestClient, context: AppContext
) -> None:
    wallet = create_user(client)["wallet_id"]
    body = {"kind": "top_up", "destination": wallet, "amount": cny(10**12 + 1)}
    with assert_books_unchanged(client, [wallet]):
        refused = client.post("/v1/transfers", json=body)
        problem = problem_of(refused, 422, "amount-above-maximum")
        assert [e["field"] for e in problem["errors"]] == ["amount.value"]
    top_up(client, wallet, 10**12)  # exactly the maximum is allowed
    assert balance(client, wallet) == 10**12
    # The setting moves it, for every kind of transfer.
    context.settings.max_amount = 50_000
    withdrawal = {"kind": "withdrawal", "source": wallet, "amount": cny(50_001)}
    with assert_books_unchanged(client, [wallet]):
        problem_of(client.post("/v1/transfers", json=withdrawal), 422, "amount-above-maximum")


def fill_to(context: AppContext, wallet_id: str, value: int) -> None:
    """Money in from the outside world in steps the ledger allows (each below 2^62)."""
    account = account_of(context.engine, wallet_id)
    step = 2**62
    with write_transaction(context.engine) as conn:
        while value:
            amount = min(value, step)
            clearing = system_account_id(SystemAccount.TOP_UP_CLEARING, "CNY", spread_by=str(value))
            ledger.post_entry(
                conn,
                kind="top_up",
                reference=None,
                currency="CNY",
                legs=[Leg(clearing, -amount), Leg(account, amount)],
                at=context.clock.now(),
            )
            value -= amount


def test_balance_cannot_pass_64_bit_range(client: TestClient, context: AppContext) -> None:
    wallet = create_user(client)["wallet_id"]
    fill_to(context, wallet, INT64_MAX - 10)
    with assert_books_unchanged(client, [wallet]):
        problem = problem_of(
            client.post(
                "/v1/transfers", json={"kind": "top_up", "destination": wallet, "amount": cny(11)}
            ),
            422,
            "amount-out-of-range",
        )
        assert [e["field"] for e in problem["errors"]] == ["amount"]
    top_up(client, wallet, 10)  # up to the last unit is fine
    assert balance(client, wallet) == INT64_MAX
    # The books still add up, over HTTP and in the operator's check.
    trial = client.get("/v1/ledger/trial-balance")
    assert trial.status_code == 200, trial.text
    assert trial.json()["ok"] is True
    with read_transaction(context.engine) as conn:
        assert_trial_balance_ok(conn)
        stored = conn.execute(
            select(accounts.c.balance).where(accounts.c.id == account_of(context.engine, wallet))
        ).scalar_one()
    assert stored == INT64_MAX
    assert isinstance(stored, int)
    # Spending from the very top still works.
    paid = client.post(
        "/v1/transfers",
        json={"kind": "payment", "source": wallet, "amount": cny(10**9), "merchant": STARBUCKS},
    )
    assert paid.status_code in (201, 202), paid.text


def test_outside_world_account_cannot_pass_64_bit_range_either(
    client: TestClient, context: AppContext
) -> None:
    """The other leg: a system account below -2^63 is refused just the same."""
    second = create_user(client)["wallet_id"]
    first_account = account_of(context.engine, create_user(client)["wallet_id"])
    second_account = account_of(context.engine, second)
    clearing = system_account_id(SystemAccount.TOP_UP_CLEARING, "CNY", spread_by="one shard")
    with write_transaction(context.engine) as conn:
        ledger.post_entry(
            conn,
            kind="top_up",
            reference=None,
            currency="CNY",
            legs=[Leg(clearing, -(2**62)), Leg(first_account, 2**62)],
            at=context.clock.now(),
        )
    with pytest.raises(AmountOutOfRange), write_transaction(context.engine) as conn:
        ledger.post_entry(
            conn,
            kind="top_up",
            reference=None,
            currency="CNY",
            legs=[
                Leg(clearing, -(2**62 + 1)),
                Leg(second_account, 2**62 + 1),
            ],
            at=context.clock.now(),
        )
    assert balance(client, second) == 0
    assert client.get("/v1/ledger/trial-balance").json()["ok"] is True


@pytest.mark.parametrize("value", [2**63, 2**64, 10**30])
def test_money_above_64_bits_is_422_in_every_request(client: TestClient, value: int) -> None:
    user = create_user(client)
    wallet = user["wallet_id"]
    huge = {"value": value, "currency": "CNY"}
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/transfers", {"kind": "top_up", "destination": wallet, "amount": huge}),
        (
            "POST",
            f"/v1/wallets/{wallet}/sub-wallets",
            {"name": "旅行", "purpose": "travel", "budget": {"limit": huge, "period": "month"}},
        ),
        ("PATCH", f"/v1/users/{user['id']}", {"low_balance_threshold": huge}),
        ("PATCH", f"/v1/users/{user['id']}", {"step_up_amount": huge}),
        ("POST", "/v1/credit/applications", {"user_id": user["id"], "requested_limit": huge}),
        (
            "POST",
            "/v1/events",
            {
                "specversion": "1.0",
                "id": f"evt-{value}",
                "source": "core",
                "type": "wallet.payment.succeeded",
                "subject": user["id"],
                "data": {"amount": huge, "merchant": {"name": "星巴克"}, "balance_after": huge},
            },
        ),
    ]
    with assert_books_unchanged(client, [wallet]):
        for method, path, body in requests:
            response = client.request(method, path, json=body)
            assert response.status_code == 422, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """SQLite only: PostgreSQL's BIGINT holds integers by itself (its tests are above)."""
    path = tmp_path / "money.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def test_sqlite_money_columns_refuse_non_integers(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    user_id = "usr_01JD0000000000000000000000"
    with engine.begin() as conn:
        conn.execute(
            insert(accounts),
            {
                "id": "acc_01JD0000000000000000000000",
                "user_id": user_id,
                "kind": "wallet",
                "currency": "CNY",
                "allow_negative": False,
                "created_at": datetime.now(UTC),
            },
        )
    for value in (9.24e18, 1.5, "12 fen", b"\x01"):
        with pytest.raises(IntegrityError, match="is_integer"), engine.begin() as conn:
            conn.execute(
                text("UPDATE accounts SET balance = :value WHERE id = :id"),
                {"value": value, "id": "acc_01JD0000000000000000000000"},
            )
    # What overflowed before: SQLite's integer arithmetic turns into a REAL past 2^63 - 1.
    with pytest.raises(IntegrityError, match="is_integer"), engine.begin() as conn:
        conn.execute(
            update(accounts)
            .where(accounts.c.id == "acc_01JD0000000000000000000000")
            .values(balance=accounts.c.balance + INT64_MAX + INT64_MAX)
        )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT typeof(balance) FROM accounts")).scalar_one() == "integer"
    for table, column in (
        (postings, "amount"),
        (postings, "balance_after"),
        (holds, "amount"),
        (transfers, "amount"),
        (transfers, "refunded_amount"),
        (accounts, "held"),
    ):
        with engine.connect() as conn:
            sql = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
                {"name": table.name},
            ).scalar_one()
        assert f"CHECK (typeof({column}) = 'integer')" in sql


def test_migration_0010_keeps_the_books(client: TestClient, engine: Engine) -> None:
    """Down to 0009 and up again with money on the books (SQLite rebuilds four tables that
    others refer to): every amount is still there, and the ledger's guards too."""
    wallet = create_user(client)["wallet_id"]
    top_up(client, wallet, 100_000)
    client.post(
        "/v1/transfers",
        json={"kind": "payment", "source": wallet, "amount": cny(2_000), "merchant": STARBUCKS},
    )
    downgrade(engine, "0009")
    upgrade(engine)
    assert balance(client, wallet) == 98_000
    with read_transaction(engine) as conn:
        assert_trial_balance_ok(conn)
    # The ledger's own guards came back with the rebuilt tables.
    with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:
        conn.execute(update(postings).values(amount=1))
    top_up(client, wallet, 1)
    assert balance(client, wallet) == 98_001
