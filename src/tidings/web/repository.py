"""Every query of the pages' own tables (sign-in links and sessions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, exists, insert, select, update

from tidings.kit.tables import AnyRow
from tidings.users.models import user_tokens
from tidings.web.models import web_links, web_sessions


def insert_link(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(web_links), values)


def use_link(conn: Connection, token_hash: str, *, at: datetime) -> str | None:
    """Mark an unused, unexpired link used and return its user (None: nothing marked).
    One statement, so two tabs opening the same link cannot both sign in."""
    stmt = (
        update(web_links)
        .where(
            web_links.c.token_hash == token_hash,
            web_links.c.used_at.is_(None),
            web_links.c.expires_at > at,
        )
        .values(used_at=at)
        .returning(web_links.c.user_id)
    )
    return conn.execute(stmt).scalar_one_or_none()


def get_link(conn: Connection, token_hash: str) -> AnyRow | None:
    return conn.execute(select(web_links).where(web_links.c.token_hash == token_hash)).first()


def insert_session(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(web_sessions), values)


def live_session(conn: Connection, session_hash: str, *, kind: str, at: datetime) -> AnyRow | None:
    """The session if it is open, unexpired and (a user's) opened after the user's last token
    revocation: revoking a user's token signs their pages out too."""
    revoked_since = exists().where(
        user_tokens.c.user_id == web_sessions.c.user_id,
        user_tokens.c.revoked_at >= web_sessions.c.created_at,
    )
    stmt = select(web_sessions).where(
        web_sessions.c.session_hash == session_hash,
        web_sessions.c.kind == kind,
        web_sessions.c.ended_at.is_(None),
        web_sessions.c.expires_at > at,
        ~revoked_since,
    )
    return conn.execute(stmt).first()


def end_session(conn: Connection, session_hash: str, *, at: datetime) -> None:
    conn.execute(
        update(web_sessions)
        .where(web_sessions.c.session_hash == session_hash, web_sessions.c.ended_at.is_(None))
        .values(ended_at=at)
    )
