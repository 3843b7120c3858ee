"""Users and their tokens over HTTP (thin: parse, call the service, shape)."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Response
from sqlalchemy import Connection

from tidings.api.auth import Context, CurrentPrincipal
from tidings.api.ratelimit import limit_issuance
from tidings.api.reads import Read
from tidings.api.writes import PlainWrite, Write
from tidings.kit.db import write_transaction
from tidings.privacy.crypto import Keyring
from tidings.risk import audit, contact_changes
from tidings.users import directory, service
from tidings.users.exceptions import ContactChangeNeedsCode
from tidings.users.schemas import TokenOut, UserCreate, UserOut, UserUpdate
from tidings.wallets import service as wallets

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.post("", status_code=201, response_model=UserOut)
def create_user(body: UserCreate, write: Write) -> Response:
    """Operator: create a user and their main wallet. Personal fields come back masked."""
    write.principal.require_operator()
    keyring, defaults = write.context.keyring, service.user_defaults(write.context.settings)
    return write.run(
        lambda conn: wallets.create_user_with_wallet(conn, keyring, body, at=write.now, **defaults),
        body=body,
        status_code=201,
    )


@router.get("/{user_id}", response_model=UserOut)
def get_user(user_id: str, read: Read) -> UserOut:
    read.principal.require_self(user_id)
    return read.run(lambda conn: service.get_user(conn, read.context.keyring, user_id))


@router.patch("/{user_id}", response_model=UserOut)
def update_user(user_id: str, body: UserUpdate, write: PlainWrite) -> Response:
    """Change the name, locale, time zone or low-balance threshold; the phone and email only
    with the operator key (a user confirms a code instead: `POST .../contact-changes`)."""
    principal = write.principal
    principal.require_self(user_id)
    if principal.user_id is not None and (body.phone is not None or body.email is not None):
        raise ContactChangeNeedsCode(
            "a new phone or email needs a code sent to the current contact: "
            f"POST /v1/users/{user_id}/contact-changes",
            field="phone" if body.phone is not None else "email",
        )
    keyring, by_owner = write.context.keyring, principal.user_id is not None
    if body.phone is None and body.email is None:
        return write.run(
            lambda conn: service.update_user(
                conn, keyring, user_id, body, at=write.now, by_owner=by_owner
            )
        )
    return write.run(lambda conn: _change_contact(conn, keyring, user_id, body, at=write.now))


def _change_contact(
    conn: Connection, keyring: Keyring, user_id: str, body: UserUpdate, *, at: datetime
) -> UserOut:
    """An operator's new phone or email: no code to confirm, but audited like one."""
    before = directory.contact_of(conn, keyring, user_id)
    user = service.update_user(conn, keyring, user_id, body, at=at)
    contact_changes.record_contact_changed(
        conn, keyring, user_id, before=before, actor=audit.OPERATOR, at=at, via="operator"
    )
    return user


@router.post("/{user_id}/tokens", status_code=201, response_model=TokenOut)
def issue_token(user_id: str, write: PlainWrite) -> Response:
    """Operator: a bearer token that can reach only this user's data. Shown once.

    Rate-limited per user (429 with Retry-After; the caller is the operator's backend, one
    address for everyone, so not per client); every issuance is audited.
    """
    write.principal.require_operator()
    limit_issuance(write.context, scope="token", user_id=user_id)
    ttl = timedelta(days=write.context.settings.token_ttl_days)
    return write.run(
        lambda conn: _issue_audited_token(conn, user_id, at=write.now, ttl=ttl), status_code=201
    )


def _issue_audited_token(
    conn: Connection, user_id: str, *, at: datetime, ttl: timedelta
) -> TokenOut:
    token = service.issue_token(conn, user_id, at=at, ttl=ttl)
    audit.record_issued(
        conn,
        credential="token",
        credential_id=token.id,
        user_id=user_id,
        expires_at=token.expires_at,
        at=at,
    )
    return token


@router.delete("/{user_id}/tokens/{token_id}", status_code=204)
def revoke_token(
    user_id: str, token_id: str, context: Context, principal: CurrentPrincipal
) -> Response:
    """Revoke a token at once (the user themselves, or an operator)."""
    principal.require_self(user_id)
    with write_transaction(context.engine) as conn:
        service.revoke_token(conn, user_id=user_id, token_id=token_id, at=context.clock.now())
    return Response(status_code=204)
