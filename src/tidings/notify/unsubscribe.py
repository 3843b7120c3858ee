"""The unsubscribe path of every marketing message that is not an SMS (`/u/{token}`).

A token names one (user, channel) and carries an HMAC-SHA256 (128 bits kept) under a key
derived from the server's look-up key, so nobody can make one for another user or channel,
and nothing needs storing. It does not expire: marketing is read late, and all a token can
do is withdraw that user's marketing consent on that channel, which is what its holder
asked for. It stops working only if the look-up key changes (which would also break every
look-up hash) or the user no longer exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import Connection

from tidings.notify import preferences, repository
from tidings.notify.types import ChannelName
from tidings.privacy import signed
from tidings.privacy.crypto import Keyring
from tidings.users import directory

METHOD = "unsubscribe_link"
"""How a withdrawal through the link is recorded in the consent ledger."""
LINK_CHANNELS = frozenset({ChannelName.INBOX, ChannelName.PUSH, ChannelName.EMAIL})
"""Channels whose marketing carries a `/u/` link (an SMS says 回T退订 instead)."""
_PURPOSE = "unsubscribe"
_LABEL = b"unsubscribe:v1:"


@dataclass(frozen=True, slots=True)
class UnsubscribeTarget:
    """Whose marketing consent on which channel a valid token withdraws."""

    user_id: str
    channel: ChannelName


def make_token(keyring: Keyring, *, user_id: str, channel: ChannelName) -> str:
    """`<base64url(user:channel)>.<base64url(mac)>`: URL-safe, unforgeable, no expiry."""
    payload = f"{user_id}:{ChannelName(channel).value}".encode()
    return signed.sign(keyring, purpose=_PURPOSE, label=_LABEL, payload=payload)


def read_token(keyring: Keyring, token: str) -> UnsubscribeTarget | None:
    """The (user, channel) a token names, or None for anything we did not make."""
    payload = signed.open_signed(keyring, purpose=_PURPOSE, label=_LABEL, token=token)
    if payload is None:
        return None
    user_id, _, channel = payload.decode("utf-8", "replace").rpartition(":")
    try:
        name = ChannelName(channel)
    except ValueError:
        return None
    return UnsubscribeTarget(user_id, name) if user_id else None


def unsubscribe_url(base_url: str, token: str) -> str:
    """The absolute link of the unsubscribe page (`TIDINGS_PUBLIC_URL` + `/u/<token>`)."""
    return f"{base_url.rstrip('/')}/u/{token}"


def mailto(address: str, token: str) -> str:
    """A `mailto:` for List-Unsubscribe; the token in the subject says who and which channel."""
    return f"mailto:{address}?subject={quote('unsubscribe ' + token)}"


def locale_of(conn: Connection, target: UnsubscribeTarget) -> str | None:
    """The user's locale, or None when the user does not exist (the link is then 404)."""
    profile = directory.planning_profiles(conn, [target.user_id]).get(target.user_id)
    return profile.locale if profile is not None else None


def withdraw(
    conn: Connection,
    target: UnsubscribeTarget,
    *,
    evidence: str,
    at: datetime,
    report_status: bool = False,
) -> bool:
    """Withdraw marketing consent on the token's channel through the consent ledger, which
    cancels that channel's pending marketing at once. False when it was not granted (a
    second click records nothing more)."""
    granted = repository.current_consents(conn, [target.user_id], preferences.MARKETING)
    if target.channel.value not in granted.get(target.user_id, set()):
        return False
    preferences.record_consent(
        conn,
        user_id=target.user_id,
        channel=target.channel,
        granted=False,
        method=METHOD,
        actor=f"user:{target.user_id}",
        evidence=evidence[:255],
        at=at,
        report_status=report_status,
    )
    return True
