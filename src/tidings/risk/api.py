"""Security and risk over HTTP: logins, security changes, step-up codes, freezes, audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from sqlalchemy import Connection

from tidings.api.auth import Context, CurrentPrincipal, Principal
from tidings.api.context import ApiContext
from tidings.api.ratelimit import enforce_rate_limit
from tidings.api.writes import IdempotencyKey, run_write
from tidings.kit.db import read_transaction, with_retry, write_transaction
from tidings.kit.errors import AppError
from tidings.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from tidings.risk import audit, contact_changes, learning, service
from tidings.risk.exceptions import TransferBlocked
from tidings.risk.schemas import (
    AuditEntryOut,
    ContactChangeConfirm,
    ContactChangeCreate,
    ContactChangeOut,
    FreezeCreate,
    LoginCreate,
    LoginOut,
    RiskOutcomeIn,
    RiskOutcomeOut,
    SecurityChangeCreate,
    SecurityChangeOut,
    VerificationCreate,
)
from tidings.users.schemas import UserOut
from tidings.wallets.schemas import TransferOut, WalletOut

router = APIRouter(prefix="/v1", tags=["security"])


def client_key(context: ApiContext, request: Request) -> str:
    """The caller's address as a keyed hash: enough to count and group, not to identify."""
    host = request.client.host if request.client else "unknown"
    return context.keyring.lookup_hash(host, context="client-ip")[:32]


CLIENT_LIMIT_FACTOR = 10
"""A client address may make this many times a user's limit (several users behind one NAT)."""


def record_blocked_transfer(
    context: ApiContext, principal: Principal, blocked: TransferBlocked
) -> None:
    """After a blocked transfer's transaction rolled back: its audit row and alert only."""

    def attempt() -> None:
        with write_transaction(context.engine) as conn:
            service.record_block(
                conn, blocked, actor=audit.actor_of(principal.user_id), at=context.clock.now()
            )

    with_retry(attempt)


@router.post("/users/{user_id}/logins", status_code=201, response_model=LoginOut)
def report_login(
    user_id: str,
    body: LoginCreate,
    request: Request,
    context: Context,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The company's backend (operator key) reports a login as it happens (`at` within minutes
    of now); a new device, new city or impossible travel alerts the owner. A user token may
    not: a stolen session would make its own device "known"."""
    principal.require_operator()

    def operation(conn: Connection) -> LoginOut:
        return service.report_login(
            conn,
            context.keyring,
            user_id,
            body,
            actor=audit.actor_of(principal.user_id),
            at=context.clock.now(),
        )

    return run_write(
        context,
        principal,
        request,
        body=body,
        idempotency_key=idempotency_key,
        operation=operation,
        status_code=201,
    )


@router.post("/users/{user_id}/security-changes", status_code=201, response_model=SecurityChangeOut)
def report_security_change(
    user_id: str,
    body: SecurityChangeCreate,
    request: Request,
    context: Context,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The company's backend (operator key) reports a password, phone or email change or a new
    payee as it happens; the owner is alerted at once (critical)."""
    principal.require_operator()

    def operation(conn: Connection) -> SecurityChangeOut:
        return service.report_security_change(
            conn, user_id, body, actor=audit.actor_of(principal.user_id), at=context.clock.now()
        )

    return run_write(
        context,
        principal,
        request,
        body=body,
        idempotency_key=idempotency_key,
        operation=operation,
        status_code=201,
    )


def _limit_contact_change_attempts(
    context: ApiContext, request: Request, principal: Principal, user_id: str
) -> None:
    """Asking for codes and trying them count like step-up code attempts."""
    settings = context.settings
    enforce_rate_limit(
        context,
        scope="contact-change",
        limits={
            f"user:{principal.user_id or user_id[:40]}": settings.verification_rate_limit,
            f"ip:{client_key(context, request)}": settings.verification_rate_limit
            * CLIENT_LIMIT_FACTOR,
        },
        window_seconds=settings.verification_rate_window_seconds,
    )


@router.post(
    "/users/{user_id}/contact-changes",
    status_code=202,
    response_model=ContactChangeOut,
    responses={
        422: {"description": "Nothing new, or no current contact old enough for a code"},
        429: {"description": "Too many attempts; see Retry-After"},
    },
)
def request_contact_change(
    user_id: str,
    body: ContactChangeCreate,
    request: Request,
    context: Context,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A new phone and/or email: a one-time code goes to the current contact (the phone by
    SMS for a phone change, the email for an email change); confirm it to apply the change."""
    principal.require_self(user_id)
    _limit_contact_change_attempts(context, request, principal, user_id)
    policy = contact_changes.ContactChangePolicy.from_settings(context.settings)

    def operation(conn: Connection) -> ContactChangeOut:
        return contact_changes.request_change(
            conn,
            context.keyring,
            user_id,
            body,
            actor=audit.actor_of(principal.user_id),
            at=context.clock.now(),
            policy=policy,
        )

    return run_write(
        context,
        principal,
        request,
        body=body,
        idempotency_key=idempotency_key,
        operation=operation,
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
        429: {"description": "Too many attempts; see Retry-After"},
    },
)
def confirm_contact_change(
    user_id: str,
    change_id: str,
    body: ContactChangeConfirm,
    request: Request,
    context: Context,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The code sent to the current contact: the right one applies the change (200, the user,
    masked), alerts the old phone and email and starts the cooling period."""
    principal.require_self(user_id)
    _limit_contact_change_attempts(context, request, principal, user_id)

    def operation(conn: Connection) -> UserOut | AppError:
        return contact_changes.confirm_change(
            conn,
            context.keyring,
            user_id,
            change_id,
            body.code,
            actor=audit.actor_of(principal.user_id),
            at=context.clock.now(),
        )

    return run_write(
        context,
        principal,
        request,
        body=body,
        idempotency_key=idempotency_key,
        operation=operation,
        status_code=200,
    )


@router.post(
    "/transfers/{transfer_id}/verification",
    response_model=TransferOut,
    responses={
        404: {"description": "No held transfer with this id for the caller"},
        409: {"description": "Already verified, cancelled or expired"},
        410: {"description": "The code expired; the transfer was cancelled"},
        422: {"description": "Wrong code (`attempts_left`); the last wrong one cancels"},
        429: {"description": "Too many attempts; see Retry-After"},
    },
)
def verify_transfer(
    transfer_id: str,
    body: VerificationCreate,
    request: Request,
    context: Context,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The one-time code of a held transfer: the right one posts it (200, `succeeded`)."""
    settings = context.settings
    enforce_rate_limit(
        context,
        scope="verify",
        limits={
            f"user:{principal.user_id or transfer_id[:40]}": settings.verification_rate_limit,
            f"ip:{client_key(context, request)}": settings.verification_rate_limit
            * CLIENT_LIMIT_FACTOR,
        },
        window_seconds=settings.verification_rate_window_seconds,
    )

    def operation(conn: Connection) -> TransferOut | AppError:
        # A wrong code is committed (the attempt is spent) and then answered as the problem.
        return service.verify_transfer(
            conn,
            context.keyring,
            transfer_id,
            body.code,
            acting_user_id=principal.user_id,
            at=context.clock.now(),
        )

    return run_write(
        context,
        principal,
        request,
        body=body,
        idempotency_key=idempotency_key,
        operation=operation,
        status_code=200,
    )


@router.post("/wallets/{wallet_id}/freeze", response_model=WalletOut)
def freeze_wallet(
    wallet_id: str,
    request: Request,
    context: Context,
    principal: CurrentPrincipal,
    body: Annotated[FreezeCreate | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """ "Not me" (the owner) or an operator: no money leaves until an operator unfreezes.

    Freezing the main wallet covers the user's sub-wallets; held transfers are cancelled.
    """

    def operation(conn: Connection) -> WalletOut:
        return service.freeze_wallet(
            conn,
            context.keyring,
            wallet_id,
            acting_user_id=principal.user_id,
            reason=body.reason if body else None,
            at=context.clock.now(),
        )

    return run_write(
        context,
        principal,
        request,
        body=body,
        idempotency_key=idempotency_key,
        operation=operation,
        status_code=200,
    )


@router.post("/wallets/{wallet_id}/unfreeze", response_model=WalletOut)
def unfreeze_wallet(
    wallet_id: str,
    request: Request,
    context: Context,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Operator only, after checking who asks."""

    def operation(conn: Connection) -> WalletOut:
        return service.unfreeze_wallet(
            conn, wallet_id, acting_user_id=principal.user_id, at=context.clock.now()
        )

    return run_write(
        context,
        principal,
        request,
        body=None,
        idempotency_key=idempotency_key,
        operation=operation,
        status_code=200,
    )


@router.put("/transfers/{transfer_id}/risk-outcome", response_model=RiskOutcomeOut)
def record_risk_outcome(
    transfer_id: str,
    body: Annotated[RiskOutcomeIn, Body()],
    request: Request,
    context: Context,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Operator only: what an investigation or a chargeback established, for the online model
    to learn (`risk.learn_model`)."""
    principal.require_operator()

    def operation(conn: Connection) -> RiskOutcomeOut:
        return learning.record_outcome(
            conn, transfer_id, fraudulent=body.fraudulent, at=context.clock.now()
        )

    return run_write(
        context,
        principal,
        request,
        body=body,
        idempotency_key=idempotency_key,
        operation=operation,
        status_code=200,
    )


@router.get("/audit", response_model=Page[AuditEntryOut])
def list_audit(
    context: Context,
    principal: CurrentPrincipal,
    user_id: Annotated[str | None, Query(max_length=40)] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[AuditEntryOut]:
    """Security-relevant actions, newest first: an operator sees all (or one user's with
    `user_id`), a user only their own."""
    if principal.user_id is not None:
        principal.require_self(user_id or principal.user_id)
        user_id = principal.user_id
    with read_transaction(context.engine) as conn:
        return service.list_audit(conn, user_id=user_id, action=action, limit=limit, cursor=cursor)
