"""Builders for credit tests, through the public API as an integrator would."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import cny


def open_line(client: TestClient, user: dict[str, Any], limit: int = 2_000_000) -> dict[str, Any]:
    """Apply, and approve as the operator when the rule did not approve by itself."""
    response = client.post(
        "/v1/credit/applications", json={"user_id": user["id"], "requested_limit": cny(limit)}
    )
    assert response.status_code == 201, response.text
    application = response.json()
    if application["status"] != "approved":
        decided = client.post(
            f"/v1/credit/applications/{application['id']}/decision",
            json={"decision": "approve", "limit": cny(limit), "reason": "test"},
        )
        assert decided.status_code == 200, decided.text
    line = client.get(f"/v1/users/{user['id']}/credit-line")
    assert line.status_code == 200, line.text
    return dict(line.json())


def draw(
    client: TestClient, line_id: str, amount: int, term: int = 3, expect: int = 201, **extra: Any
) -> dict[str, Any]:
    response = client.post(
        "/v1/credit/drawdowns",
        json={"line_id": line_id, "amount": cny(amount), "term_months": term, **extra},
    )
    assert response.status_code == expect, response.text
    return dict(response.json())


def repay(client: TestClient, drawdown_id: str, amount: int, expect: int = 201) -> dict[str, Any]:
    response = client.post(
        "/v1/credit/repayments", json={"drawdown_id": drawdown_id, "amount": cny(amount)}
    )
    assert response.status_code == expect, response.text
    return dict(response.json())
