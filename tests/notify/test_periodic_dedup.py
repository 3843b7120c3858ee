"""Periodic notices: the same period twice is one notice, the next period's is a new one."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import cny, create_user, deliver_everything
from tidings.app.context import AppContext

_ids = itertools.count(1)


def budget_event(
    user: dict[str, Any], time: str, *, kind: str = "threshold_reached", **data: Any
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"budget-{next(_ids)}",
        "source": "urn:bank:core",
        "type": f"wallet.budget.{kind}",
        "subject": user["id"],
        "time": time,
        "data": {
            "wallet_id": "wal_travel_1",
            "wallet_name": "旅行",
            "period": "month",
            "used_percent": 85,
            "spent": cny(85_000),
            "limit": cny(100_000),
            **data,
        },
    }


def alerts(client: TestClient, user: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    items = client.get(f"/v1/users/{user['id']}/inbox").json()["items"]
    return [item for item in items if item["kind"] == f"wallet.budget.{kind}"]


@pytest.mark.parametrize("kind", ["threshold_reached", "exceeded"])
def test_budget_alert_fires_again_in_the_next_month(
    client: TestClient, context: AppContext, kind: str
) -> None:
    user = create_user(client)
    november = budget_event(user, "2026-11-20T04:00:00Z", kind=kind)
    assert client.post("/v1/events", json=november).status_code == 202
    deliver_everything(context)
    december = budget_event(user, "2026-12-05T04:00:00Z", kind=kind)
    assert client.post("/v1/events", json=december).status_code == 202
    deliver_everything(context)
    assert len(alerts(client, user, kind)) == 2


@pytest.mark.parametrize("kind", ["threshold_reached", "exceeded"])
def test_the_same_budget_period_twice_makes_one_alert(
    client: TestClient, context: AppContext, kind: str
) -> None:
    user = create_user(client)
    for time, percent in (("2026-11-20T04:00:00Z", 82), ("2026-11-27T04:00:00Z", 91)):
        event = budget_event(user, time, kind=kind, used_percent=percent)
        assert client.post("/v1/events", json=event).status_code == 202
        deliver_everything(context)
    assert len(alerts(client, user, kind)) == 1


def test_the_budget_month_is_the_users_month(client: TestClient, context: AppContext) -> None:
    """30 November 16:30 UTC is already 1 December in Shanghai: a new period there."""
    user = create_user(client, timezone="Asia/Shanghai")
    for time in ("2026-11-20T04:00:00Z", "2026-11-30T16:30:00Z"):
        assert client.post("/v1/events", json=budget_event(user, time)).status_code == 202
    deliver_everything(context)
    assert len(alerts(client, user, "threshold_reached")) == 2


def test_a_weekly_budget_alerts_once_a_week_by_its_period_start(
    client: TestClient, context: AppContext
) -> None:
    user = create_user(client)
    for time, start in (
        ("2026-11-24T04:00:00Z", "2026-11-23"),
        ("2026-11-26T04:00:00Z", "2026-11-23"),
        ("2026-12-01T04:00:00Z", "2026-11-30"),
    ):
        event = budget_event(user, time, period="week", period_start=start)
        assert client.post("/v1/events", json=event).status_code == 202
    deliver_everything(context)
    assert len(alerts(client, user, "threshold_reached")) == 2
