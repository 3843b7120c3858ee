"""What the relay writes is exactly what the planner decided: every column of every notice
and delivery, read back on both databases (the rows go through the relay's own multi-row
statements, not SQLAlchemy's usual path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.helpers import create_user, top_up
from tidings.app.context import AppContext
from tidings.events import outbox
from tidings.kit.clock import as_utc
from tidings.kit.db import write_transaction
from tidings.notify import preferences, rules
from tidings.notify.models import deliveries, notifications
from tidings.notify.planner import PlannerPolicy, plan
from tidings.notify.relay import relay_batch
from tidings.notify.schemas import PreferencesIn
from tidings.notify.types import Category, ChannelName

NOW = datetime(2026, 3, 1, 23, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
"""Late evening in Shanghai, with microseconds and an offset: both must survive the write."""


def test_every_column_the_relay_writes_is_what_the_planner_decided(
    client: TestClient, context: AppContext
) -> None:
    by_sms = create_user(client)  # chooses inbox + SMS for payments and top-ups
    by_default = create_user(client)  # inbox + push, but no device: the push row is skipped
    with write_transaction(context.engine) as conn:
        preferences.update_preferences(
            conn,
            context.keyring,
            by_sms["id"],
            PreferencesIn(
                channels={Category.TRANSACTIONAL: [ChannelName.INBOX, ChannelName.SMS]},
            ),
            actor="test",
            at=NOW,
        )
    for user in (by_sms, by_default, by_sms):
        top_up(client, user["wallet_id"], 10_000)
    policy = PlannerPolicy()

    with write_transaction(context.engine) as conn:
        events = list(
            conn.execute(select(outbox).where(outbox.c.relayed_at.is_(None)).order_by(outbox.c.id))
        )
        users = sorted({event.user_id for event in events if event.user_id})
        prefs = preferences.planning_preferences(conn, context.keyring, users)
        relayed = relay_batch(conn, context.keyring, policy=policy, now=NOW, limit=100)

    # The same decisions, taken again from the same inputs, as the columns should hold them.
    expected_notices: dict[tuple[str, str, str], dict[str, Any]] = {}
    expected_deliveries: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    history: dict[str, list[Any]] = {user_id: [] for user_id in users}
    for event in events:
        for intent in rules.intents_for(
            event_type=event.type,
            event_id=event.id,
            user_id=event.user_id,
            data=dict(event.data),
            at=as_utc(event.time),
            timezone=prefs[event.user_id].timezone if event.user_id in prefs else None,
        ):
            key = (intent.user_id, intent.event_id, intent.kind)
            expected_notices[key] = {
                "user_id": intent.user_id,
                "event_id": intent.event_id,
                "kind": intent.kind,
                "category": intent.category.value,
                "data": intent.data,
                "dedup_key": intent.dedup_key,
                "created_at": NOW.astimezone(UTC),
            }
            planned = plan(intent, prefs[intent.user_id], history[intent.user_id], policy, NOW)
            expected_deliveries[key] = [
                {
                    "user_id": intent.user_id,
                    "channel": delivery.channel.value,
                    "status": delivery.status.value,
                    "due_at": delivery.due_at.astimezone(UTC),
                    "attempts": 0,
                    "fallback": ",".join(channel.value for channel in delivery.fallback),
                    "fallback_of": None,
                    "reason": delivery.reason,
                    "provider": None,
                    "provider_message_id": None,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "auth_code": None,
                    "content": None,
                    "created_at": NOW.astimezone(UTC),
                    "sent_at": None,
                    "final_at": None,
                }
                for delivery in planned
            ]

    with context.engine.connect() as conn:
        stored_notices = [row._asdict() for row in conn.execute(select(notifications))]
        stored_deliveries = [row._asdict() for row in conn.execute(select(deliveries))]
    key_of = {
        notice["id"]: (notice["user_id"], notice["event_id"], notice["kind"])
        for notice in stored_notices
    }
    assert {
        key: {k: v for k, v in notice.items() if k != "id"}
        for key, notice in ((key_of[notice["id"]], notice) for notice in stored_notices)
    } == expected_notices
    found: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for delivery in stored_deliveries:
        found.setdefault(key_of[delivery.pop("notification_id")], []).append(delivery)
        assert delivery.pop("id").startswith("dlv_")
    by_channel = {key: sorted(rows, key=lambda row: row["channel"]) for key, rows in found.items()}
    assert by_channel == {
        key: sorted(rows, key=lambda row: row["channel"])
        for key, rows in expected_deliveries.items()
    }
    assert relayed.notifications == len(expected_notices) == 3
    assert relayed.deliveries == len(stored_deliveries) == 6
    # Both kinds of row are there: sent by SMS, and a push skipped for want of a device.
    assert {(row["channel"], row["status"], row["reason"]) for row in stored_deliveries} == {
        ("inbox", "pending", None),
        ("sms", "pending", None),
        ("push", "skipped", "no_device"),
    }
