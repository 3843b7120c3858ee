"""The relay: outbox events → rules → planner → notification and delivery rows.

One batch is one transaction: the events it claims are marked relayed in the same commit
that writes their deliveries, so a crash relays them again and the unique constraints on
notifications make that harmless.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from tidings.campaigns.events import CAMPAIGN_CANCELLED
from tidings.kit.clock import as_utc
from tidings.kit.ids import new_id
from tidings.notify import bulk, preferences, repository, rules
from tidings.notify.kinds import service as kinds
from tidings.notify.planner import PlannerPolicy, SentRecord, plan
from tidings.notify.status import DELIVERY_UPDATED, PLATFORM
from tidings.notify.types import Category, ChannelName, DeliveryStatus, Intent
from tidings.privacy.crypto import Keyring

HISTORY_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RelayResult:
    events: int
    notifications: int
    deliveries: int


def relay_batch(
    conn: Connection,
    keyring: Keyring,
    *,
    policy: PlannerPolicy,
    now: datetime,
    limit: int,
    platform_webhook: bool = False,
) -> RelayResult:
    events = repository.claim_unrelayed_events(conn, limit, at=now)
    if not events:
        return RelayResult(0, 0, 0)
    intents: list[Intent] = []
    delivery_rows: list[dict[str, Any]] = []
    # Types the built-in rules do not know may be registered kinds: read in this transaction
    # (one query, only for a batch that has such types), so a new kind works at once.
    registered = kinds.active_kinds(
        conn, [e.type for e in events if e.type not in rules.RULES and e.type != DELIVERY_UPDATED]
    )
    # Loaded first: periods in de-duplication keys (a budget's month) are on the user's calendar.
    user_ids = sorted(
        {e.user_id for e in events if e.user_id and (e.type in rules.RULES or e.type in registered)}
    )
    # Consents only count for marketing: read below for the users a batch has marketing for.
    prefs = (
        preferences.planning_preferences(conn, keyring, user_ids, with_consents=False)
        if user_ids
        else {}
    )
    for event in events:
        if event.type == CAMPAIGN_CANCELLED:
            bulk.cancel_unsent(conn, event_id=str(event.data["campaign_id"]), at=now)
            continue
        if event.type == DELIVERY_UPDATED:
            if platform_webhook:
                delivery_rows.extend(_platform_webhook(conn, event, now))
            continue
        known = prefs.get(event.user_id) if event.user_id else None
        intents.extend(
            rules.intents_for(
                event_type=event.type,
                event_id=event.id,
                user_id=event.user_id,
                data=dict(event.data),
                at=as_utc(event.time),
                timezone=known.timezone if known is not None else None,
                rule=registered[event.type].rule() if event.type in registered else None,
            )
        )
    user_ids = sorted({intent.user_id for intent in intents})
    marketed = sorted(
        {i.user_id for i in intents if i.category is Category.MARKETING and i.user_id in prefs}
    )
    if marketed:
        prefs |= preferences.consented(conn, prefs, marketed)
    history = _history(conn, user_ids, since=now - HISTORY_WINDOW)
    notice_rows: list[dict[str, Any]] = []
    planned_rows: dict[str, list[dict[str, Any]]] = {}
    for intent in _new_intents(conn, intents):
        user_prefs = prefs.get(intent.user_id)
        if user_prefs is None:  # the user is gone; nothing to say
            continue
        notification_id = new_id("ntf")
        notice_rows.append(
            {
                "id": notification_id,
                "user_id": intent.user_id,
                "event_id": intent.event_id,
                "kind": intent.kind,
                "category": intent.category.value,
                "data": intent.data,
                "dedup_key": intent.dedup_key,
                "created_at": now,
            }
        )
        rows = planned_rows[notification_id] = []
        for planned in plan(intent, user_prefs, history[intent.user_id], policy, now):
            rows.append(
                {
                    "id": new_id("dlv"),
                    "notification_id": notification_id,
                    "user_id": intent.user_id,
                    "channel": planned.channel.value,
                    "status": planned.status.value,
                    "due_at": planned.due_at,
                    "fallback": ",".join(c.value for c in planned.fallback),
                    "reason": planned.reason,
                    "created_at": now,
                }
            )
            if planned.status is DeliveryStatus.PENDING:
                history[intent.user_id].append(
                    SentRecord(
                        channel=planned.channel,
                        kind=intent.kind,
                        category=intent.category,
                        at=planned.due_at,
                        collection=intent.collection,
                    )
                )
    written = repository.insert_notifications(conn, notice_rows)
    for notice in notice_rows:
        if notice["id"] in written:
            delivery_rows.extend(planned_rows[notice["id"]])
    notices = len(written)
    repository.insert_deliveries(conn, delivery_rows)
    return RelayResult(events=len(events), notifications=notices, deliveries=len(delivery_rows))


def _new_intents(conn: Connection, intents: list[Intent]) -> list[Intent]:
    """Drop intents that repeat a notice: one already written (a relay re-run after a
    crash, a de-duplication key used before) or an earlier one in this batch. Checked up
    front so the planner counts only what will be sent; the unique constraints still
    settle a race with another relay."""
    if not intents:
        return []
    seen_events: set[tuple[str, str, str]] = set()
    seen_keys: set[tuple[str, str]] = set()
    dedup_keys = sorted({i.dedup_key for i in intents if i.dedup_key is not None})
    for user_id, event_id, kind, dedup_key in repository.existing_notices(
        conn,
        sorted({i.user_id for i in intents}),
        sorted({i.event_id for i in intents}),
        dedup_keys,
    ):
        seen_events.add((user_id, event_id, kind))
        if dedup_key is not None:
            seen_keys.add((user_id, dedup_key))
    fresh: list[Intent] = []
    for intent in intents:
        event_key = (intent.user_id, intent.event_id, intent.kind)
        dedup = (intent.user_id, intent.dedup_key) if intent.dedup_key is not None else None
        if event_key in seen_events or (dedup is not None and dedup in seen_keys):
            continue
        seen_events.add(event_key)
        if dedup is not None:
            seen_keys.add(dedup)
        fresh.append(intent)
    return fresh


def _platform_webhook(
    conn: Connection, event: repository.ClaimedEvent, now: datetime
) -> list[dict[str, Any]]:
    """A status change for the subscribed platform: one webhook delivery, no planning."""
    notification_id = new_id("ntf")
    if not repository.insert_notification(
        conn,
        {
            "id": notification_id,
            "user_id": PLATFORM,
            "event_id": event.id,
            "kind": event.type,
            "category": Category.INFORMATIONAL.value,
            "data": dict(event.data),
            "created_at": now,
        },
    ):
        return []
    return [
        {
            "id": new_id("dlv"),
            "notification_id": notification_id,
            "user_id": PLATFORM,
            "channel": ChannelName.WEBHOOK.value,
            "status": DeliveryStatus.PENDING.value,
            "due_at": now,
            "fallback": "",
            "created_at": now,
        }
    ]


def _history(
    conn: Connection, user_ids: list[str], *, since: datetime
) -> dict[str, list[SentRecord]]:
    history: dict[str, list[SentRecord]] = defaultdict(list)
    if not user_ids:
        return history
    for user_id, channel, due_at, kind, category in repository.recent_deliveries(
        conn, user_ids, since
    ):
        rule = rules.RULES.get(kind)
        history[user_id].append(
            SentRecord(
                _CHANNELS[channel],
                kind,
                _CATEGORIES[category],
                as_utc(due_at),
                rule.collection if rule is not None else False,
            )
        )
    return history


_CHANNELS = {channel.value: channel for channel in ChannelName}
_CATEGORIES = {category.value: category for category in Category}
