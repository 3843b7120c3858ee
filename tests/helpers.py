"""Builders that go through the public API, as an integrator would."""

from __future__ import annotations

import itertools
from typing import Any

from fastapi.testclient import TestClient

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


def balance(client: TestClient, wallet_id: str) -> int:
    response = client.get(f"/v1/wallets/{wallet_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["balance"]["value"])
