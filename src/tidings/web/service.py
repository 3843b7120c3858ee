"""Sign-in links and page sessions: who a page is for.

A link's token is derived (HMAC) from its id with a key of its own, so an idempotent retry
can show the same link again while the database keeps only hashes; a session's token is
random. Either is shown once and stored as its SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection

from tidings.kit.clock import as_utc
from tidings.kit.ids import new_id
from tidings.privacy.crypto import Keyring
from tidings.users import directory
from tidings.users.exceptions import UserErased
from tidings.web import repository
from tidings.web.schemas import WebLinkIssued

LINK_TTL = timedelta(minutes=10)
LINK_PREFIX = "twl_"
SESSION_PREFIX = "tws_"
MAX_TOKEN_CHARS = 100
"""Longer than any token we make: a longer one is refused before it is hashed."""


class SessionKind(StrEnum):
    USER = "user"
    """A user's own pages (`/app/`), opened with a one-time link."""
    OPERATOR = "operator"
    """The console (`/console/`), opened with the operator key."""


class LinkRefusal(StrEnum):
    """Why a sign-in link did not sign in."""

    UNKNOWN = "unknown"
    """Not a link we made (or mistyped)."""
    USED = "used"
    """Opened once already."""
    EXPIRED = "expired"
    """Older than ten minutes."""


@dataclass(frozen=True, slots=True)
class RefusedLink:
    reason: LinkRefusal
    user_id: str | None
    """The link's user, when it is ours (their language is used to say no)."""


@dataclass(frozen=True, slots=True)
class OpenedSession:
    """A new session; `token` goes into the cookie and nowhere else."""

    token: str
    user_id: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LiveSession:
    id: str
    kind: SessionKind
    user_id: str | None
    expires_at: datetime


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def link_token(keyring: Keyring, link_id: str) -> str:
    digest = hmac.new(keyring.derive_key("web-link"), link_id.encode(), hashlib.sha256).digest()
    return LINK_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def link_url(keyring: Keyring, base_url: str, link_id: str) -> str:
    return f"{base_url}/app/login?token={link_token(keyring, link_id)}"


def issue_link(conn: Connection, keyring: Keyring, user_id: str, *, at: datetime) -> WebLinkIssued:
    directory.require_user(conn, user_id)
    if directory.is_erased(conn, user_id):
        raise UserErased(f"user {user_id} was erased")
    link_id = new_id("wln")
    expires_at = at + LINK_TTL
    repository.insert_link(
        conn,
        {
            "id": link_id,
            "user_id": user_id,
            "token_hash": _hash(link_token(keyring, link_id)),
            "created_at": at,
            "expires_at": expires_at,
        },
    )
    return WebLinkIssued(id=link_id, expires_at=expires_at)


def open_session(
    conn: Connection, *, kind: SessionKind, user_id: str | None, at: datetime, ttl: timedelta
) -> OpenedSession:
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    expires_at = at + ttl
    repository.insert_session(
        conn,
        {
            "id": new_id("wss"),
            "kind": kind.value,
            "user_id": user_id,
            "session_hash": _hash(token),
            "created_at": at,
            "expires_at": expires_at,
        },
    )
    return OpenedSession(token=token, user_id=user_id, expires_at=expires_at)


def sign_in_with_link(
    conn: Connection, token: str, *, at: datetime, ttl: timedelta
) -> OpenedSession | RefusedLink:
    """Spend the link (once) and open the user's session; or say why not."""
    well_formed = token.startswith(LINK_PREFIX) and len(token) <= MAX_TOKEN_CHARS
    digest = _hash(token) if well_formed else None
    user_id = repository.use_link(conn, digest, at=at) if digest else None
    if user_id is not None:
        return open_session(conn, kind=SessionKind.USER, user_id=user_id, at=at, ttl=ttl)
    row = repository.get_link(conn, digest) if digest else None
    if row is None:
        return RefusedLink(LinkRefusal.UNKNOWN, None)
    reason = LinkRefusal.USED if row.used_at is not None else LinkRefusal.EXPIRED
    return RefusedLink(reason, row.user_id)


def live_session(
    conn: Connection, token: str, *, kind: SessionKind, at: datetime
) -> LiveSession | None:
    """The open session this cookie names, or None (unknown, ended, expired or revoked)."""
    if not token.startswith(SESSION_PREFIX) or len(token) > MAX_TOKEN_CHARS:
        return None
    row = repository.live_session(conn, _hash(token), kind=kind.value, at=at)
    if row is None:
        return None
    return LiveSession(id=row.id, kind=kind, user_id=row.user_id, expires_at=as_utc(row.expires_at))


def end_session(conn: Connection, token: str, *, at: datetime) -> None:
    """Sign out: the session no longer opens any page."""
    if token.startswith(SESSION_PREFIX) and len(token) <= MAX_TOKEN_CHARS:
        repository.end_session(conn, _hash(token), at=at)
