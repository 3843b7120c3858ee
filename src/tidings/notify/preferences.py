"""Users' notification preferences and the marketing-consent ledger.

Consent is never a flag that is overwritten: every grant and withdrawal is a new row saying
when, how and by whom, and the latest row per channel is in force. Marketing consent is per
channel, the in-app inbox included, and off until the user grants it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection

from tidings.kit.clock import as_utc
from tidings.kit.errors import Unprocessable
from tidings.kit.ids import new_id
from tidings.notify import devices, repository, webhook_secrets
from tidings.notify.channels.destinations import PrivateDestinationError, check_literal_destination
from tidings.notify.planner import Reason
from tidings.notify.rules import RULES
from tidings.notify.schemas import (
    ALL_CHANNELS,
    ConsentEventOut,
    PreferencesIn,
    PreferencesOut,
    QuietHoursIn,
)
from tidings.notify.status import record_status_change
from tidings.notify.types import Category, ChannelName, DeliveryStatus, Preferences, QuietHours
from tidings.privacy.crypto import Keyring
from tidings.users import directory

MARKETING = "marketing"
PERSONALISATION = "personalisation"
"""`personalised_marketing`: rows of this purpose on channel `all`; the latest is in force,
none means on (channel `ALL_CHANNELS`). Other domains (insights, campaigns) read the same
convention in SQL."""

DEFAULT_CHANNELS: dict[Category, tuple[ChannelName, ...]] = {
    Category.CRITICAL: (ChannelName.INBOX, ChannelName.PUSH, ChannelName.SMS, ChannelName.EMAIL),
    Category.TRANSACTIONAL: (ChannelName.INBOX, ChannelName.PUSH),
    Category.INFORMATIONAL: (ChannelName.INBOX,),
    Category.MARKETING: (ChannelName.INBOX, ChannelName.PUSH),
}
"""What a user who never chose gets: the inbox always, push for what matters, every
channel for security alerts."""


def _effective_channels(
    stored: dict[str, list[str]] | None,
) -> dict[Category, tuple[ChannelName, ...]]:
    channels = dict(DEFAULT_CHANNELS)
    for category, names in (stored or {}).items():
        channels[Category(category)] = tuple(ChannelName(n) for n in names)
    return channels


def _kind_channels(stored: dict[str, list[str]] | None) -> dict[str, tuple[ChannelName, ...]]:
    return {kind: tuple(ChannelName(n) for n in names) for kind, names in (stored or {}).items()}


def _merge_kind_channels(
    stored: dict[str, list[str]] | None, changes: dict[str, list[ChannelName] | None]
) -> dict[str, list[str]]:
    """Apply a partial update; an unknown kind is refused naming it."""
    merged = dict(stored or {})
    for kind, names in changes.items():
        if kind not in RULES:
            raise Unprocessable(
                f"{kind!r} is not a notification kind (see docs/events.md)",
                field=f"kind_channels.{kind}",
            )
        if names is None:
            merged.pop(kind, None)
        else:
            merged[kind] = list(dict.fromkeys(n.value for n in names))
    return merged


def _quiet_hours(start: str | None, end: str | None) -> QuietHours | None:
    if not start or not end:
        return None
    return QuietHours(start=time.fromisoformat(start), end=time.fromisoformat(end))


@dataclass(frozen=True, slots=True)
class _Consents:
    """A user's consents in force: marketing per channel, and personalised marketing."""

    marketing: frozenset[ChannelName] = frozenset()
    personalised: bool = True
    """No `personalisation` row: on."""


def _consents(conn: Connection, user_ids: Sequence[str]) -> dict[str, _Consents]:
    """Both kinds of consent for these users, in one query."""
    found = repository.consents_in_force(conn, user_ids, (MARKETING, PERSONALISATION))
    return {
        user_id: _Consents(
            marketing=frozenset(
                ChannelName(channel)
                for (purpose, channel), granted in answers.items()
                if purpose == MARKETING and granted
            ),
            personalised=answers.get((PERSONALISATION, ALL_CHANNELS), True),
        )
        for user_id, answers in found.items()
    }


_NO_CONSENTS = _Consents()


def planning_preferences(
    conn: Connection, keyring: Keyring, user_ids: Sequence[str], *, with_consents: bool = True
) -> dict[str, Preferences]:
    """Everything the planner needs for these users, in three queries. Without
    `with_consents`, two: no marketing consent is read, so none is granted (`consented`
    adds them for the users a batch has marketing for)."""
    ids = list(user_ids)
    profiles = directory.planning_profiles(conn, ids)
    stored = {row.user_id: row for row in repository.planning_preferences(conn, ids)}
    consents = _consents(conn, ids) if with_consents else {}
    result: dict[str, Preferences] = {}
    for user_id, profile in profiles.items():
        if profile.erased:  # nothing more is said to an erased person
            continue
        row = stored.get(user_id)
        consent = consents.get(user_id, _NO_CONSENTS)
        if row is None:
            result[user_id] = Preferences(
                timezone=profile.timezone,
                channels=_stored_channels(None),
                kind_channels=_stored_kind_channels(None),
                quiet_hours=None,
                digest=True,
                marketing_consent=consent.marketing,
                personalised=consent.personalised,
                reachable=_reachable(profile.has_phone, profile.has_email, False, False),
            )
            continue
        result[user_id] = Preferences(
            timezone=profile.timezone,
            channels=_stored_channels(row.channels),
            kind_channels=_stored_kind_channels(row.kind_channels),
            quiet_hours=_stored_quiet_hours(row.quiet_hours_start, row.quiet_hours_end),
            digest=bool(row.digest),
            marketing_consent=consent.marketing,
            personalised=consent.personalised,
            reachable=_reachable(
                profile.has_phone,
                profile.has_email,
                bool(row.has_push_tokens),
                bool(row.has_webhook),
            ),
        )
    return result


# A batch's users mostly share a few stored choices: each document is parsed and converted
# once, and the result shared by every user who has it, read-only (`MappingProxyType`), so
# no caller can change another user's choices through it.


@lru_cache(maxsize=1024)
def _stored_channels(document: str | None) -> Mapping[Category, tuple[ChannelName, ...]]:
    return MappingProxyType(
        _effective_channels(json.loads(document) if document is not None else None)
    )


@lru_cache(maxsize=1024)
def _stored_kind_channels(document: str | None) -> Mapping[str, tuple[ChannelName, ...]]:
    return MappingProxyType(_kind_channels(json.loads(document) if document is not None else None))


@lru_cache(maxsize=1024)
def _stored_quiet_hours(start: str | None, end: str | None) -> QuietHours | None:
    return _quiet_hours(start, end)


@lru_cache(maxsize=16)
def _reachable(
    has_phone: bool, has_email: bool, has_push: bool, has_webhook: bool
) -> frozenset[ChannelName]:
    reachable = {ChannelName.INBOX}
    if has_phone:
        reachable.add(ChannelName.SMS)
    if has_email:
        reachable.add(ChannelName.EMAIL)
    if has_push:
        reachable.add(ChannelName.PUSH)
    if has_webhook:
        reachable.add(ChannelName.WEBHOOK)
    return frozenset(reachable)


def consented(
    conn: Connection, prefs: dict[str, Preferences], user_ids: Sequence[str]
) -> dict[str, Preferences]:
    """These users' `prefs` with the consents in force (read without `with_consents`)."""
    found = _consents(conn, user_ids)
    result: dict[str, Preferences] = {}
    for user_id in user_ids:
        consent = found.get(user_id, _Consents())
        result[user_id] = replace(
            prefs[user_id], marketing_consent=consent.marketing, personalised=consent.personalised
        )
    return result


def get_preferences(conn: Connection, keyring: Keyring, user_id: str) -> PreferencesOut:
    directory.require_user(conn, user_id)
    profile = directory.planning_profiles(conn, [user_id])[user_id]
    row = repository.get_preferences(conn, [user_id]).get(user_id)
    consent = _consents(conn, [user_id]).get(user_id, _Consents())
    quiet = (
        QuietHoursIn(start=row.quiet_hours_start, end=row.quiet_hours_end)
        if row is not None and row.quiet_hours_start and row.quiet_hours_end
        else None
    )
    tokens = devices.push_tokens(keyring, row.push_tokens_enc if row is not None else None)
    return PreferencesOut(
        user_id=user_id,
        timezone=profile.timezone,
        channels={
            c: list(names)
            for c, names in _effective_channels(row.channels if row else None).items()
        },
        kind_channels={
            kind: list(names)
            for kind, names in _kind_channels(row.kind_channels if row else None).items()
        },
        quiet_hours=quiet,
        digest=bool(row.digest) if row is not None else True,
        marketing_consent={channel: channel in consent.marketing for channel in ChannelName},
        personalised_marketing=consent.personalised,
        push_tokens=[t[:4] + "…" + t[-4:] for t in tokens],
        webhook_url=row.webhook_url if row is not None else None,
    )


def update_preferences(
    conn: Connection,
    keyring: Keyring,
    user_id: str,
    data: PreferencesIn,
    *,
    actor: str,
    at: datetime,
    allow_private_webhooks: bool = False,
    report_status: bool = False,
) -> PreferencesOut:
    directory.require_active_user(conn, user_id)
    if data.webhook_url is not None and not allow_private_webhooks:
        try:
            check_literal_destination(data.webhook_url)
        except PrivateDestinationError as exc:
            raise Unprocessable(
                f"webhooks go to public addresses only: {exc}", field="webhook_url"
            ) from exc
    row = repository.get_preferences(conn, [user_id]).get(user_id)
    channels = dict(row.channels) if row is not None else {}
    if data.channels is not None:
        for category, names in data.channels.items():
            channels[category.value] = list(dict.fromkeys(n.value for n in names))
    kind_channels = row.kind_channels if row is not None else None
    if data.kind_channels is not None:
        kind_channels = _merge_kind_channels(kind_channels, data.kind_channels)
    start = row.quiet_hours_start if row is not None else None
    end = row.quiet_hours_end if row is not None else None
    if data.quiet_hours is not None:
        start, end = data.quiet_hours.start, data.quiet_hours.end
    if data.clear_quiet_hours:
        start = end = None
    secret_columns: dict[str, Any] = {}
    new_secret = None
    if data.webhook_url is not None and (
        row is None or row.webhook_url != data.webhook_url or not row.webhook_secret_enc
    ):
        new_secret, secret_columns = webhook_secrets.new_secret_columns(keyring)
    sealed_tokens = row.push_tokens_enc if row is not None else None
    if data.push_tokens is not None:
        previous = devices.push_token_entries(
            keyring, sealed_tokens, stored_at=as_utc(row.updated_at) if row else at
        )
        sealed_tokens = devices.seal_push_tokens(
            keyring, data.push_tokens, previous=previous, at=at
        )
    repository.upsert_preferences(
        conn,
        {
            "user_id": user_id,
            "channels": channels,
            "kind_channels": kind_channels or None,
            "quiet_hours_start": start,
            "quiet_hours_end": end,
            "digest": data.digest if data.digest is not None else (row.digest if row else True),
            "push_tokens_enc": sealed_tokens,
            "webhook_url": data.webhook_url
            if data.webhook_url is not None
            else (row.webhook_url if row else None),
            **secret_columns,
            "updated_at": at,
        },
    )
    for channel, granted in (data.marketing_consent or {}).items():
        record_consent(
            conn,
            user_id=user_id,
            channel=channel,
            granted=granted,
            method="api",
            actor=actor,
            evidence="PUT /v1/users/{user_id}/preferences",
            at=at,
            report_status=report_status,
        )
    if data.personalised_marketing is not None:
        record_consent(
            conn,
            user_id=user_id,
            channel=ALL_CHANNELS,
            purpose=PERSONALISATION,
            granted=data.personalised_marketing,
            method="api",
            actor=actor,
            evidence="PUT /v1/users/{user_id}/preferences",
            at=at,
            report_status=report_status,
        )
    saved = get_preferences(conn, keyring, user_id)
    return saved.model_copy(update={"webhook_secret": new_secret}) if new_secret else saved


def remove_push_tokens(
    conn: Connection, keyring: Keyring, user_id: str, tokens: Sequence[str], *, at: datetime
) -> int:
    """Forget tokens a push provider reports as unregistered (the app was uninstalled);
    the others keep their registration times. The number removed."""
    row = repository.get_preferences(conn, [user_id]).get(user_id)
    if row is None or not row.push_tokens_enc:
        return 0
    entries = devices.push_token_entries(
        keyring, row.push_tokens_enc, stored_at=as_utc(row.updated_at)
    )
    gone = set(tokens)
    kept = [(token, registered) for token, registered in entries if token not in gone]
    if len(kept) == len(entries):
        return 0
    sealed = devices.seal_push_tokens(keyring, [token for token, _ in kept], previous=kept, at=at)
    repository.set_push_tokens(conn, user_id, sealed)
    return len(entries) - len(kept)


def record_consent(
    conn: Connection,
    *,
    user_id: str,
    channel: ChannelName | str,
    granted: bool,
    method: str,
    actor: str,
    evidence: str | None,
    at: datetime,
    purpose: str = MARKETING,
    report_status: bool = False,
) -> None:
    """Append to the consent ledger (grants and withdrawals alike). Withdrawing marketing
    consent cancels that channel's pending marketing deliveries in the same transaction
    (`no_consent`); turning personalised marketing off cancels the pending deliveries of
    marketing chosen by the user's spending or behaviour (suggestions, personalised
    promotions), every channel (`personalisation_off`), the reason the planner and the
    send-time check give."""
    repository.insert_consent_event(
        conn,
        {
            "id": new_id("cns"),
            "user_id": user_id,
            "channel": str(channel),
            "purpose": purpose,
            "granted": granted,
            "method": method,
            "actor": actor,
            "evidence": evidence,
            "at": at,
        },
    )
    if granted:
        return
    reason: Reason
    if purpose == MARKETING:
        reason = "no_consent"
        cancelled = repository.cancel_pending_marketing(
            conn, user_id=user_id, channel=str(channel), reason=reason, at=at
        )
    elif purpose == PERSONALISATION:
        reason = "personalisation_off"
        cancelled = repository.cancel_pending_personalised(
            conn, user_id=user_id, reason=reason, at=at
        )
    else:
        return
    for delivery in cancelled if report_status else ():
        record_status_change(
            conn,
            delivery_id=delivery.id,
            notification_id=delivery.notification_id,
            user_id=user_id,
            channel=ChannelName(delivery.channel),
            status=DeliveryStatus.CANCELLED,
            reason=reason,
            at=at,
        )


def consent_history(
    conn: Connection,
    user_id: str,
    *,
    before: tuple[datetime, str] | None = None,
    limit: int | None = None,
) -> list[ConsentEventOut]:
    """The consent ledger of the user, newest first (a page of it with `limit`)."""
    directory.require_user(conn, user_id)
    return [
        ConsentEventOut(
            id=row.id,
            channel=ALL_CHANNELS if row.channel == ALL_CHANNELS else ChannelName(row.channel),
            purpose=row.purpose,
            granted=bool(row.granted),
            method=row.method,
            actor=row.actor,
            evidence=row.evidence,
            at=as_utc(row.at),
        )
        for row in repository.consent_history(conn, user_id, before=before, limit=limit)
    ]
