"""End to end on a real server (`tidings serve`, API and worker in one process): payments
from a travel sub-wallet with a monthly budget give exactly one 80% notice and one 100%
notice in the inbox, with the right figures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_walkthrough import ADMIN_KEY, _ok, cny, postgres_url, running_server

pytestmark = pytest.mark.e2e

__all__ = ["postgres_url"]

BUDGET_KINDS = ("wallet.budget.threshold_reached", "wallet.budget.exceeded")


def _budget_notices(http: httpx.Client, user_id: str, *, expect: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        items = _ok(http.get(f"/v1/users/{user_id}/inbox"))["items"]
        found = [item for item in items if item["kind"] in BUDGET_KINDS]
        if len(found) >= expect or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def _travel_budget_run(database_url: str, workdir: Path) -> None:
    with (
        running_server(database_url, workdir) as server,
        httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        ) as http,
    ):
        user = _ok(
            http.post(
                "/v1/users",
                json={
                    "external_id": "e2e-budget",
                    "name": "王旅行",
                    "phone": "13800138000",
                    "email": "wang@example.com",
                    "locale": "zh-CN",
                    "timezone": "Asia/Shanghai",
                },
            ),
            201,
        )
        main = user["wallet_id"]
        _ok(http.put(f"/v1/users/{user['id']}/preferences", json={"digest": False}))
        travel = _ok(
            http.post(
                f"/v1/wallets/{main}/sub-wallets",
                json={
                    "name": "旅行",
                    "purpose": "travel",
                    "budget": {"limit": cny(200_000), "period": "month"},
                },
            ),
            201,
        )["id"]
        _ok(
            http.post(
                "/v1/transfers",
                json={"kind": "top_up", "destination": main, "amount": cny(500_000)},
            ),
            201,
        )
        _ok(
            http.post(
                "/v1/transfers",
                json={
                    "kind": "allocation",
                    "source": main,
                    "destination": travel,
                    "amount": cny(300_000),
                },
            ),
            201,
        )
        for value in (100_000, 64_000, 20_000, 20_000, 10_000):  # 50%, 82%, 92%, 102%, 107%
            payment = {
                "kind": "payment",
                "source": travel,
                "amount": cny(value),
                "merchant": {"name": "携程旅行", "category": "4722"},
            }
            _ok(http.post("/v1/transfers", json=payment), 201)

        _budget_notices(http, user["id"], expect=2)
        time.sleep(2)  # and nothing more comes
        notices = _budget_notices(http, user["id"], expect=0)
        assert sorted(n["kind"] for n in notices) == sorted(BUDGET_KINDS), notices
        by_kind = {n["kind"]: n["body"] for n in notices}
        assert "旅行子钱包本月预算已用82%（1,640.00/2,000.00元）" in by_kind[BUDGET_KINDS[0]]
        assert "旅行子钱包本月已支出2,040.00元，超出预算2,000.00元" in by_kind[BUDGET_KINDS[1]]


def test_budget_notices_on_a_real_server_on_sqlite(tmp_path: Path) -> None:
    _travel_budget_run(f"sqlite:///{tmp_path / 'tidings.db'}", tmp_path)


def test_budget_notices_on_a_real_server_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    _travel_budget_run(postgres_url, tmp_path)
