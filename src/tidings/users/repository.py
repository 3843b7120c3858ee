"""Every query of the users domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from tidings.kit.prepared import PreparedRead, among
from tidings.kit.tables import AnyRow
from tidings.users.models import user_tokens, users


def insert_user(conn: Connection, values: dict[str, Any]) -> bool:
    """False when the external id is already taken (nothing written)."""
    try:
        with conn.begin_nested():
            conn.execute(insert(users), values)
    except IntegrityError:
        return False
    return True


def get_user(conn: Connection, user_id: str) -> AnyRow | None:
    return conn.execute(select(users).where(users.c.id == user_id)).first()


# Read for every dispatcher cycle (whom its messages go to): built once, with only the
# columns a message's address needs.
_CONTACTS = select(
    users.c.id,
    users.c.name_enc,
    users.c.phone_enc,
    users.c.email_enc,
    users.c.locale,
    users.c.timezone,
    users.c.phone_changed_at,
    users.c.email_changed_at,
    users.c.status,
).where(users.c.id.in_(bindparam("user_ids", expanding=True)))


def contacts(conn: Connection, user_ids: list[str]) -> list[AnyRow]:
    """These users' sealed contact data, locale, time zone and status."""
    return list(conn.execute(_CONTACTS, {"user_ids": user_ids}))


def user_exists(conn: Connection, user_id: str) -> bool:
    return conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is not None


def status_of(conn: Connection, user_id: str) -> str | None:
    return conn.execute(select(users.c.status).where(users.c.id == user_id)).scalar_one_or_none()


def statuses_by_id(conn: Connection, user_ids: list[str]) -> dict[str, str]:
    """Each existing user's status, by id (one query for a batch)."""
    stmt = select(users.c.id, users.c.status).where(users.c.id.in_(user_ids))
    return {row.id: row.status for row in conn.execute(stmt)} if user_ids else {}


def statuses_by_external_id_hash(conn: Connection, digests: list[str]) -> dict[str, AnyRow]:
    """The user (id, status) behind each known external-id hash (one query for a batch)."""
    if not digests:
        return {}
    stmt = select(users.c.external_id_hash, users.c.id, users.c.status).where(
        users.c.external_id_hash.in_(digests)
    )
    return {row.external_id_hash: row for row in conn.execute(stmt)}


def find_by_external_id_hash(conn: Connection, digest: str) -> str | None:
    stmt = select(users.c.id).where(users.c.external_id_hash == digest)
    return conn.execute(stmt).scalar_one_or_none()


def find_by_phone_hash(conn: Connection, digest: str) -> list[str]:
    return list(conn.execute(select(users.c.id).where(users.c.phone_hash == digest)).scalars())


def find_by_email_hash(conn: Connection, digest: str) -> list[str]:
    return list(conn.execute(select(users.c.id).where(users.c.email_hash == digest)).scalars())


def update_user(conn: Connection, user_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(values))


def main_wallet_id(conn: Connection, user_id: str) -> str:
    return str(
        conn.execute(select(users.c.main_wallet_id).where(users.c.id == user_id)).scalar_one()
    )


def timezone_of(conn: Connection, user_id: str) -> str:
    return str(conn.execute(select(users.c.timezone).where(users.c.id == user_id)).scalar_one())


# Read for every relay batch: built once (building it was a good part of its cost).
_PLANNING_PROFILES = PreparedRead(
    lambda dialect: select(
        users.c.id,
        users.c.timezone,
        users.c.locale,
        users.c.phone_hash.is_not(None).label("has_phone"),
        users.c.email_hash.is_not(None).label("has_email"),
        users.c.status,
    ).where(among(users.c.id, "user_ids", dialect))
)


def planning_profiles(conn: Connection, user_ids: list[str]) -> list[tuple[Any, ...]]:
    """(id, timezone, locale, has phone, has email, status) of each of these users."""
    return _PLANNING_PROFILES.rows(conn, {"user_ids": user_ids})


def insert_token(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(user_tokens), values)


def user_for_token_hash(conn: Connection, digest: str, at: datetime) -> str | None:
    stmt = select(user_tokens.c.user_id).where(
        user_tokens.c.token_hash == digest,
        user_tokens.c.revoked_at.is_(None),
        user_tokens.c.expires_at > at,
    )
    return conn.execute(stmt).scalar_one_or_none()


def revoke_token(conn: Connection, *, user_id: str, token_id: str, at: datetime) -> bool:
    stmt = (
        update(user_tokens)
        .where(
            user_tokens.c.id == token_id,
            user_tokens.c.user_id == user_id,
            user_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=at)
    )
    return conn.execute(stmt).rowcount == 1
