"""The audit log of security-relevant actions: who, what, on whose account, when.

Rows carry ids, levels, reasons and amounts, never names, phones, device ids or addresses
(an IP is kept only as a keyed hash, enough to group requests from one client).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection

from tidings.kit.ids import new_id
from tidings.risk import repository

OPERATOR: Final = "operator"
SYSTEM: Final = "system"


def actor_of(acting_user_id: str | None) -> str:
    """`operator` for the operator key, `user:<id>` for a user's own token."""
    return OPERATOR if acting_user_id is None else f"user:{acting_user_id}"


def record(
    conn: Connection,
    *,
    action: str,
    actor: str,
    user_id: str | None,
    at: datetime,
    subject_id: str | None = None,
    ip_hash: str | None = None,
    detail: dict[str, Any] | None = None,
) -> str:
    """Append one audit row inside the caller's transaction; returns its id."""
    audit_id = new_id("aud")
    repository.insert_audit(
        conn,
        {
            "id": audit_id,
            "at": at,
            "actor": actor,
            "user_id": user_id,
            "action": action,
            "subject_id": subject_id,
            "ip_hash": ip_hash,
            "detail": detail or {},
        },
    )
    return audit_id


def record_issued(
    conn: Connection,
    *,
    credential: str,
    credential_id: str,
    user_id: str,
    expires_at: datetime,
    at: datetime,
) -> None:
    """The operator issued a credential that acts as the user (`token`, `web_link`): by
    whom, for whom and until when, as `<credential>.issued`."""
    record(
        conn,
        action=f"{credential}.issued",
        actor=OPERATOR,
        user_id=user_id,
        subject_id=credential_id,
        at=at,
        detail={"expires_at": expires_at.isoformat()},
    )
