"""The user's registered devices (push tokens, sealed at rest, with when each was registered):
the one part of the notification engine other domains may read, so a one-time code goes
only to a device the user has had for a while."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from tidings.kit.clock import as_utc
from tidings.notify import repository
from tidings.privacy.crypto import Keyring


def _stored_tokens(keyring: Keyring, sealed: str | None) -> list[Any]:
    """The sealed list: token strings (before registration times were kept) or
    `{token, registered_at}` objects, in registration order."""
    if not sealed:
        return []
    items: list[Any] = json.loads(keyring.decrypt(sealed, context="prefs.push_tokens"))
    return items


def push_token_entries(
    keyring: Keyring, sealed: str | None, *, stored_at: datetime
) -> list[tuple[str, datetime]]:
    """Each token with when it was registered; a token stored before registration times were
    kept counts as registered at `stored_at` (the row's last change: the latest it can be)."""
    return [
        (item, stored_at)
        if isinstance(item, str)
        else (str(item["token"]), datetime.fromisoformat(item["registered_at"]))
        for item in _stored_tokens(keyring, sealed)
    ]


def push_tokens(keyring: Keyring, sealed: str | None) -> list[str]:
    """The tokens, the latest registered last."""
    return [
        item if isinstance(item, str) else str(item["token"])
        for item in _stored_tokens(keyring, sealed)
    ]


def seal_push_tokens(
    keyring: Keyring, tokens: list[str], *, previous: list[tuple[str, datetime]], at: datetime
) -> str | None:
    """A token already registered keeps its registration time; a new one is registered now."""
    if not tokens:
        return None
    registered = dict(previous)
    entries = [
        {"token": token, "registered_at": as_utc(registered.get(token, at)).isoformat()}
        for token in tokens
    ]
    return keyring.encrypt(json.dumps(entries), context="prefs.push_tokens")


def trusted_push_token(
    conn: Connection, keyring: Keyring, user_id: str, *, registered_before: datetime
) -> str | None:
    """The newest push token registered at or before `registered_before` (one-time codes go
    only to devices the user has had for a while, never to one a session just added)."""
    row = repository.get_preferences(conn, [user_id]).get(user_id)
    if row is None:
        return None
    entries = push_token_entries(keyring, row.push_tokens_enc, stored_at=as_utc(row.updated_at))
    eligible = [token for token, at in entries if as_utc(at) <= registered_before]
    return eligible[-1] if eligible else None
