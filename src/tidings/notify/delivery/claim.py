"""Taking work: due deliveries and digests under a lease, whom they go to, and the marketing
among them that must not go after all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy import Connection, Engine

from tidings.kit.clock import Clock, as_utc
from tidings.kit.db import read_transaction, with_retry, write_transaction
from tidings.kit.tables import AnyRow
from tidings.notify import devices, preferences, repository, webhook_secrets
from tidings.notify.delivery.outcome import ClaimedDelivery, DeliveryOutcome, held
from tidings.notify.planner import (
    PlannerPolicy,
    SendCheck,
    SendDecision,
    SentRecord,
    cap_lookback,
    recheck_marketing,
)
from tidings.notify.status import PLATFORM
from tidings.notify.types import Category, ChannelName, Intent, Recipient
from tidings.privacy.crypto import Keyring
from tidings.users import directory

log = structlog.get_logger(__name__)


def _claimed(row: AnyRow) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=row.id,
        notification_id=row.notification_id,
        user_id=row.user_id,
        channel=ChannelName(row.channel),
        kind=row.kind,
        category=Category(row.category),
        data=dict(row.data),
        event_id=row.event_id,
        notified_at=as_utc(row.notified_at),
        attempts=int(row.attempts),
        fallback=tuple(ChannelName(c) for c in row.fallback.split(",") if c),
    )


class _ClaimQuery(Protocol):
    def __call__(
        self, conn: Connection, *, now: datetime, limit: int, owner: str, lease_until: datetime
    ) -> list[AnyRow]: ...


def _claim(
    engine: Engine,
    query: _ClaimQuery,
    *,
    now: datetime,
    limit: int,
    owner: str,
    lease: timedelta,
) -> list[ClaimedDelivery]:
    def claim() -> list[AnyRow]:
        with write_transaction(engine) as conn:
            return query(conn, now=now, limit=limit, owner=owner, lease_until=now + lease)

    return [_claimed(row) for row in with_retry(claim)]


def claim_due(
    engine: Engine, *, now: datetime, limit: int, owner: str, lease: timedelta
) -> list[ClaimedDelivery]:
    """Due deliveries (and ones whose worker's lease ran out), at most one per user and
    channel, leased to `owner`."""
    query = repository.claim_due_deliveries
    return _claim(engine, query, now=now, limit=limit, owner=owner, lease=lease)


def claim_digests(
    engine: Engine, *, now: datetime, limit: int, owner: str, lease: timedelta
) -> list[ClaimedDelivery]:
    """Deliveries held for a digest whose time has come, leased to `owner`."""
    query = repository.claim_due_digests
    return _claim(engine, query, now=now, limit=limit, owner=owner, lease=lease)


def next_due(engine: Engine) -> datetime | None:
    """When the next delivery may be claimed, so an idle dispatcher sleeps until then."""
    with read_transaction(engine) as conn:
        return repository.next_due_at(conn)


@dataclass(frozen=True, slots=True)
class Addressed:
    """What a claimed batch needs read before it is sent."""

    held: dict[str, DeliveryOutcome]
    """Marketing that must not go now, by delivery id (`held_marketing`)."""
    recipients: dict[str, Recipient]
    """Whom the rest goes to, by user id."""
    has_it: dict[str, set[str]]
    """Push deliveries being retried → the devices an earlier try reached."""


def addressed(
    engine: Engine,
    keyring: Keyring,
    claimed: Sequence[ClaimedDelivery],
    *,
    policy: PlannerPolicy,
    now: datetime,
    clock: Clock,
    status_webhook_url: str | None,
) -> Addressed:
    """Everything a claimed batch needs read, in one read transaction (a round trip to
    begin and one to end it, not three of each)."""
    with read_transaction(engine) as conn:
        held = held_marketing(conn, keyring, claimed, policy=policy, now=now)
        sendable = [delivery for delivery in claimed if delivery.id not in held]
        found = recipients(
            conn,
            keyring,
            {delivery.user_id for delivery in sendable},
            now=clock.now(),
            status_webhook_url=status_webhook_url,
        )
        return Addressed(held, found, devices_that_have_it(conn, sendable))


def recipients(
    conn: Connection,
    keyring: Keyring,
    user_ids: set[str],
    *,
    now: datetime,
    status_webhook_url: str | None,
) -> dict[str, Recipient]:
    """Each user's addresses in clear, two queries for a batch. The platform (the status
    webhook's receiver) is signed with `TIDINGS_WEBHOOK_SECRET`, the adapter's own."""
    found: dict[str, Recipient] = {}
    if PLATFORM in user_ids:
        found[PLATFORM] = Recipient(PLATFORM, "en", "UTC", webhook_url=status_webhook_url)
    wanted = list(user_ids - {PLATFORM})
    stored = repository.get_preferences(conn, wanted)
    known = directory.contacts(conn, keyring, wanted)
    for user_id in wanted:
        contact, row = known[user_id], stored.get(user_id)
        found[user_id] = Recipient(
            user_id=user_id,
            locale=contact.locale,
            timezone=contact.timezone,
            phone=contact.phone,
            email=contact.email,
            push_tokens=tuple(devices.push_tokens(keyring, row.push_tokens_enc if row else None)),
            webhook_url=row.webhook_url if row else None,
            webhook_secrets=webhook_secrets.signing_secrets(keyring, row, now=now),
        )
    return found


def devices_that_have_it(
    conn: Connection, claimed: Sequence[ClaimedDelivery]
) -> dict[str, set[str]]:
    """Push deliveries being retried → the devices an earlier try reached (skipped now)."""
    retried = [d.id for d in claimed if d.channel is ChannelName.PUSH and d.attempts]
    if not retried:
        return {}
    return repository.sent_devices(conn, retried)


def held_marketing(
    conn: Connection,
    keyring: Keyring,
    claimed: Sequence[ClaimedDelivery],
    *,
    policy: PlannerPolicy,
    now: datetime,
) -> dict[str, DeliveryOutcome]:
    """Marketing in the batch that must not go now, by delivery id: consent withdrawn or
    personalised marketing turned off since it was planned (cancelled), the window or quiet
    hours closed (back to pending at the next opening), the cap full (suppressed). Two
    queries for the whole batch, none when it holds no marketing."""
    marketing = [d for d in claimed if d.category is Category.MARKETING]
    if not marketing:
        return {}
    user_ids = sorted({d.user_id for d in marketing})
    prefs = preferences.planning_preferences(conn, keyring, user_ids)
    sent = repository.sent_since(
        conn, user_ids, category=Category.MARKETING, since=now - cap_lookback(policy)
    )
    history: dict[str, list[SentRecord]] = {user_id: [] for user_id in user_ids}
    for record in sent:
        history[record.user_id].append(
            SentRecord(
                ChannelName(record.channel),
                record.kind,
                Category(record.category),
                as_utc(record.sent_at),
            )
        )
    found: dict[str, DeliveryOutcome] = {}
    for delivery in marketing:
        user_prefs = prefs.get(delivery.user_id)
        if user_prefs is None:  # the user is gone: nobody consents any more
            check = SendCheck(SendDecision.CANCELLED, "no_consent")
        else:
            intent = Intent(
                kind=delivery.kind,
                category=Category.MARKETING,
                user_id=delivery.user_id,
                event_id=delivery.event_id,
                data=dict(delivery.data),
                occurred_at=delivery.notified_at,
            )
            check = recheck_marketing(
                intent, delivery.channel, user_prefs, history[delivery.user_id], policy, now
            )
        if check.status is SendDecision.SEND:
            history[delivery.user_id].append(
                SentRecord(delivery.channel, delivery.kind, Category.MARKETING, now)
            )
            continue
        found[delivery.id] = held(delivery, check, now)
        log.info(
            "notify.delivery.held_at_send",
            delivery_id=delivery.id,
            channel=delivery.channel.value,
            status=check.status.value,
            reason=check.reason,
        )
    return found
