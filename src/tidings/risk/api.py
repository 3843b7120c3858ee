"""Security and risk over HTTP: logins, security changes, contact changes, risk outcomes,
the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from tidings.api.ratelimit import TOO_MANY_ATTEMPTS
from tidings.api.reads import Read
from tidings.api.writes import Write
from tidings.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from tidings.risk import audit, contact_changes, learning, service
from tidings.risk.code_limits import limit_code_attempts
from tidings.risk.schemas import (
    AuditEntryOut,
    ContactChangeConfirm,
    ContactChangeCreate,
    ContactChangeOut,
    LoginCreate,
    LoginOut,
    RiskOutcomeIn,
    RiskOutcomeOut,
    SecurityChangeCreate,
    SecurityChangeOut,
)
from tidings.users.schemas import UserOut

router = APIRouter(prefix="/v1", tags=["security"])


@router.post("/users/{user_id}/logins", status_code=201, response_model=LoginOut)
def report_login(user_id: str, body: LoginCreate, write: Write) -> Response:
    """The company's backend (operator key) reports a login as it happens (`at` within minutes
    of now); a new device, new city or impossible travel alerts the owner. A user token may
    not: a stolen session would make its own device "known"."""
    write.principal.require_operator()
    return write.run(
        lambda conn: service.report_login(
            conn,
            write.context.keyring,
            user_id,
            body,
            actor=audit.actor_of(write.acting_user_id),
            at=write.now,
        ),
        body=body,
        status_code=201,
    )


@router.post("/users/{user_id}/security-changes", status_code=201, response_model=SecurityChangeOut)
def report_security_change(user_id: str, body: SecurityChangeCreate, write: Write) -> Response:
    """The company's backend (operator key) reports a password, phone or email change or a new
    payee as it happens; the owner is alerted at once (critical)."""
    write.principal.require_operator()
    return write.run(
        lambda conn: service.report_security_change(
            conn, user_id, body, actor=audit.actor_of(write.acting_user_id), at=write.now
        ),
        body=body,
        status_code=201,
    )


@router.post(
    "/users/{user_id}/contact-changes",
    status_code=202,
    response_model=ContactChangeOut,
    responses={
        422: {"description": "Nothing new, or no current contact old enough for a code"},
        **TOO_MANY_ATTEMPTS,
    },
)
def request_contact_change(user_id: str, body: ContactChangeCreate, write: Write) -> Response:
    """A new phone and/or email: a one-time code goes to the current contact (the phone by
    SMS for a phone change, the email for an email change); confirm it to apply the change."""
    write.principal.require_self(user_id)
    limit_code_attempts(write, scope="contact-change", subject=user_id)
    policy = contact_changes.ContactChangePolicy.from_settings(write.context.settings)
    return write.run(
        lambda conn: contact_changes.request_change(
            conn,
            write.context.keyring,
            user_id,
            body,
            actor=audit.actor_of(write.acting_user_id),
            at=write.now,
            policy=policy,
        ),
        body=body,
        status_code=202,
    )


@router.post(
    "/users/{user_id}/contact-changes/{change_id}/confirm",
    response_model=UserOut,
    responses={
        404: {"description": "No such contact change for the caller"},
        409: {"description": "Already confirmed, failed or expired"},
        410: {"description": "The code expired"},
        422: {"description": "Wrong code (`attempts_left`); the last wrong one ends the change"},
        **TOO_MANY_ATTEMPTS,
    },
)
def confirm_contact_change(
    user_id: str, change_id: str, body: ContactChangeConfirm, write: Write
) -> Response:
    """The code sent to the current contact: the right one applies the change (200, the user,
    masked), alerts the old phone and email and starts the cooling period."""
    write.principal.require_self(user_id)
    limit_code_attempts(write, scope="contact-change", subject=user_id)
    return write.run(
        lambda conn: contact_changes.confirm_change(
            conn,
            write.context.keyring,
            user_id,
            change_id,
            body.code,
            actor=audit.actor_of(write.acting_user_id),
            at=write.now,
        ),
        body=body,
    )


@router.put("/transfers/{transfer_id}/risk-outcome", response_model=RiskOutcomeOut)
def record_risk_outcome(
    transfer_id: str, body: Annotated[RiskOutcomeIn, Body()], write: Write
) -> Response:
    """Operator only: what an investigation or a chargeback established, for the online model
    to learn (`risk.learn_model`)."""
    write.principal.require_operator()
    return write.run(
        lambda conn: learning.record_outcome(
            conn, transfer_id, fraudulent=body.fraudulent, at=write.now
        ),
        body=body,
    )


@router.get("/audit", response_model=Page[AuditEntryOut])
def list_audit(
    read: Read,
    user_id: Annotated[str | None, Query(max_length=40)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[AuditEntryOut]:
    """Security-relevant actions, newest first: an operator sees all (or one user's with
    `user_id`), a user only their own."""
    if read.acting_user_id is not None:
        read.principal.require_self(user_id or read.acting_user_id)
        user_id = read.acting_user_id
    return read.run(
        lambda conn: service.list_audit(
            conn, user_id=user_id, action=action, limit=limit, cursor=cursor
        )
    )
