"""Each user's webhook endpoint signs with its own Standard Webhooks secret.

The secret is made when the endpoint's URL is saved and shown once, in that answer; it is
stored sealed (AES-GCM, like push tokens) and never shown again. Rotating makes a new one
(shown once) while the previous ones keep signing for `ROTATION_OVERLAP`, so a receiver
can switch without losing a message: during the overlap every request carries one
signature per secret, and a receiver accepts any that matches its own.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection

from tidings.kit.clock import as_utc
from tidings.kit.errors import Conflict
from tidings.kit.tables import AnyRow
from tidings.notify import repository
from tidings.notify.channels.webhook import generate_secret
from tidings.notify.schemas import WebhookSecretOut
from tidings.privacy.crypto import Keyring
from tidings.users import directory

ROTATION_OVERLAP: Final = timedelta(hours=24)
"""How long a replaced secret still signs."""
MAX_PREVIOUS: Final = 3
"""Previous secrets kept signing at once (rotating again within the overlap keeps the
older ones too, up to this many), so a lost rotation answer locks nobody out."""

_CURRENT: Final = "prefs.webhook_secret"
_PREVIOUS: Final = "prefs.webhook_previous_secrets"


class NoWebhook(Conflict):
    """A rotation asked for where no webhook URL is set."""

    code = "no-webhook"
    title = "No webhook"


def new_secret_columns(keyring: Keyring) -> tuple[str, dict[str, Any]]:
    """A fresh secret, and the preference columns that make it the only one in force (a new
    URL is a new endpoint: the old one's secrets do not follow it)."""
    secret = generate_secret()
    return secret, {
        "webhook_secret_enc": keyring.encrypt(secret, context=_CURRENT),
        "webhook_previous_secret_enc": None,
        "webhook_previous_secret_until": None,
    }


def _previous(keyring: Keyring, row: AnyRow, *, now: datetime) -> list[dict[str, str]]:
    """Previous secrets still inside their overlap at `now`, newest first."""
    sealed = row.webhook_previous_secret_enc
    if not sealed:
        return []
    items: list[dict[str, str]] = json.loads(keyring.decrypt(sealed, context=_PREVIOUS))
    return [item for item in items if datetime.fromisoformat(item["until"]) > now]


def signing_secrets(keyring: Keyring, row: AnyRow | None, *, now: datetime) -> tuple[str, ...]:
    """The secrets that sign a request to this user's endpoint at `now`: the current one
    first, then any previous one still in its overlap. Empty when none was ever made."""
    if row is None or not row.webhook_secret_enc:
        return ()
    current = keyring.decrypt(row.webhook_secret_enc, context=_CURRENT)
    return (current, *(item["secret"] for item in _previous(keyring, row, now=now)))


def rotate(
    conn: Connection,
    keyring: Keyring,
    user_id: str,
    *,
    at: datetime,
    overlap: timedelta = ROTATION_OVERLAP,
) -> WebhookSecretOut:
    """A new secret for the user's endpoint; the one it replaces signs too until `at +
    overlap`. 409 `no-webhook` when the user has no webhook URL."""
    directory.require_user(conn, user_id)
    row = repository.get_preferences(conn, [user_id]).get(user_id)
    if row is None or not row.webhook_url:
        raise NoWebhook("set a webhook_url in the preferences first")
    until = as_utc(at) + overlap
    kept = _previous(keyring, row, now=as_utc(at))
    if row.webhook_secret_enc:
        replaced = keyring.decrypt(row.webhook_secret_enc, context=_CURRENT)
        kept.insert(0, {"secret": replaced, "until": until.isoformat()})
    kept = kept[:MAX_PREVIOUS]
    secret = generate_secret()
    repository.set_webhook_secrets(
        conn,
        user_id,
        current=keyring.encrypt(secret, context=_CURRENT),
        previous=keyring.encrypt(json.dumps(kept), context=_PREVIOUS) if kept else None,
        previous_until=max((datetime.fromisoformat(i["until"]) for i in kept), default=None),
    )
    return WebhookSecretOut(
        secret=secret,
        previous_valid_until=until if row.webhook_secret_enc else None,
    )
