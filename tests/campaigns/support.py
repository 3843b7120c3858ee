"""Builders for campaign tests: users with consent, campaigns through the API, the jobs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.helpers import cny, create_user, transfer
from tests.helpers import deliver_everything as deliver_everything
from tests.notify.test_consent_at_send import withdraw_quietly
from tidings.app.context import AppContext
from tidings.app.jobs import run_job
from tidings.campaigns.models import campaign_recipients
from tidings.kit.db import read_transaction
from tidings.notify.models import deliveries, notifications

SHANGHAI = ZoneInfo("Asia/Shanghai")
_keys = itertools.count(1)


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def consenting_user(
    client: TestClient, channels: tuple[str, ...] = ("inbox",), **overrides: Any
) -> dict[str, Any]:
    """A user who granted marketing on these channels (and chose them for marketing)."""
    user = create_user(client, **overrides)
    response = client.put(
        f"/v1/users/{user['id']}/preferences",
        json={
            "channels": {"marketing": list(channels)},
            "marketing_consent": dict.fromkeys(channels, True),
        },
    )
    assert response.status_code == 200, response.text
    return user


def pay(client: TestClient, user: dict[str, Any], value: int, mcc: str) -> None:
    """A payment from the user's main wallet at a merchant of that category code."""
    transfer(
        client,
        kind="payment",
        source=user["wallet_id"],
        amount=cny(value),
        merchant={"name": "商户", "category": mcc},
    )


def turn_personalisation_off(context: AppContext, user_id: str, at: datetime) -> None:
    """The insights engineer's convention: a consent-ledger row, purpose personalisation,
    channel all; the latest row is in force (written directly: it cancels nothing)."""
    withdraw_quietly(context, user_id, purpose="personalisation", channel="all", at=at)


def campaign_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "话费充值满50减5",
        "segment": {"all": []},
        "variants": [
            {
                "key": "a",
                "weight": 1,
                "content": {
                    "zh-CN": {
                        "title": "话费充值满50减5",
                        "body": "本周话费充值满50元立减5元",
                        "url": "https://shop.example.com/topup",
                    },
                    "en": {
                        "title": "CNY 5 off top-ups",
                        "body": "Top up CNY 50 or more this week and save CNY 5",
                        "url": "https://shop.example.com/en/topup",
                    },
                },
            }
        ],
        "channels": ["inbox"],
        **overrides,
    }


def create_campaign(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/campaigns", json=campaign_body(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


def launch(client: TestClient, campaign_id: str, expect: int = 202) -> dict[str, Any]:
    response = client.post(
        f"/v1/campaigns/{campaign_id}/launch", headers={"Idempotency-Key": f"launch-{next(_keys)}"}
    )
    assert response.status_code == expect, response.text
    return dict(response.json())


def dispatch(context: AppContext, at: datetime | None = None) -> dict[str, Any]:
    return run_job(context, "campaigns.dispatch", at)


def campaign_deliveries(context: AppContext, campaign_id: str) -> list[Any]:
    """(user_id, channel, status, reason, due_at) of every delivery of the campaign."""
    with read_transaction(context.engine) as conn:
        return list(
            conn.execute(
                select(
                    deliveries.c.user_id,
                    deliveries.c.channel,
                    deliveries.c.status,
                    deliveries.c.reason,
                    deliveries.c.due_at,
                )
                .join(notifications, notifications.c.id == deliveries.c.notification_id)
                .where(notifications.c.event_id == campaign_id)
                .order_by(deliveries.c.user_id, deliveries.c.channel)
            )
        )


def recipients(context: AppContext, campaign_id: str) -> dict[str, str | None]:
    """user → variant (None: control)."""
    with read_transaction(context.engine) as conn:
        rows = conn.execute(
            select(campaign_recipients.c.user_id, campaign_recipients.c.variant).where(
                campaign_recipients.c.campaign_id == campaign_id
            )
        )
        return {row.user_id: row.variant for row in rows}


def count_notices(context: AppContext, campaign_id: str) -> int:
    with read_transaction(context.engine) as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(notifications)
                .where(notifications.c.event_id == campaign_id)
            ).scalar_one()
        )
