"""One real server per module (migrated SQLite in a temporary folder, API and worker in one
process) and one headless chromium; each test opens its own browser profile."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.e2e_notify.support import (
    cluster,
    cny,
    environment,
    inbox_items,
    ok,
    operator,
    wait_until,
)
from tests.e2e_web.browser import Site, chromium

NOTICE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Payer:
    """A user who topped up ¥3,000.00 and paid ¥128.00 at a café; both notices delivered."""

    id: str
    wallet_id: str
    sub_wallet_id: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("site")
    database = workdir / "tidings.db"
    env = environment(f"sqlite:///{database}", workdir / "var")
    with cluster(workdir, env) as running:
        server = running.serve()
        assert server.base_url is not None
        with operator(server.base_url) as client:
            yield Site(base_url=server.base_url, operator=client, database=database)


@pytest.fixture(scope="module")
def payer(site: Site) -> Payer:
    client = site.operator
    user = ok(
        client.post(
            "/v1/users",
            json={
                "external_id": f"web-{uuid.uuid4().hex[:8]}",
                "name": "王小明",
                "phone": "13912345678",
                "locale": "zh-CN",
                "timezone": "Asia/Shanghai",
            },
        ),
        201,
    )
    wallet = user["wallet_id"]
    sub = ok(
        client.post(
            f"/v1/wallets/{wallet}/sub-wallets",
            json={
                "name": "旅行基金",
                "purpose": "travel",
                "budget": {"limit": cny(200_000), "period": "month"},
                "goal": {"target": cny(500_000)},
            },
        ),
        201,
    )
    transfer: dict[str, Any] = {"kind": "top_up", "destination": wallet, "amount": cny(300_000)}
    ok(client.post("/v1/transfers", json=transfer), 201)
    ok(
        client.post(
            "/v1/transfers",
            json={
                "kind": "allocation",
                "source": wallet,
                "destination": sub["id"],
                "amount": cny(80_000),
            },
        ),
        201,
    )
    ok(
        client.post(
            "/v1/transfers",
            json={
                "kind": "payment",
                "source": wallet,
                "amount": cny(12_800),
                "merchant": {"name": "星巴克", "category": "5814"},
            },
        ),
        201,
    )
    wait_until(
        lambda: any("128.00" in item["body"] for item in inbox_items(client, user["id"])),
        timeout=NOTICE_TIMEOUT,
        what="the payment's notice in the inbox",
    )
    return Payer(id=user["id"], wallet_id=wallet, sub_wallet_id=sub["id"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running
