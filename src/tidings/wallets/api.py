"""Wallets, sub-wallets, transfers and transaction history over HTTP."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection

from tidings.api.auth import Context, CurrentPrincipal
from tidings.api.context import ApiContext
from tidings.api.writes import IdempotencyKey, Write, run_write
from tidings.kit.clock import UtcDateTime, as_utc
from tidings.kit.db import read_transaction, with_retry, write_transaction
from tidings.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from tidings.ledger.exceptions import InsufficientFunds
from tidings.risk.api import record_blocked_transfer
from tidings.risk.exceptions import TransferBlocked
from tidings.risk.learning import ModelCache
from tidings.risk.stepup import StepUpPolicy
from tidings.wallets import service, statements
from tidings.wallets.exceptions import WalletFrozen
from tidings.wallets.schemas import (
    StatementOut,
    SubWalletCreate,
    TransactionOut,
    TransferCreate,
    TransferKind,
    TransferOut,
    WalletOut,
)
from tidings.wallets.service import PENDING_VERIFICATION, PaymentFailure

router = APIRouter(prefix="/v1", tags=["wallets"])


@router.get("/users/{user_id}/wallets", response_model=list[WalletOut])
def list_wallets(user_id: str, context: Context, principal: CurrentPrincipal) -> list[WalletOut]:
    principal.require_self(user_id)
    with read_transaction(context.engine) as conn:
        return service.list_wallets(conn, user_id, at=context.clock.now())


@router.get("/wallets/{wallet_id}", response_model=WalletOut)
def get_wallet(wallet_id: str, context: Context, principal: CurrentPrincipal) -> WalletOut:
    with read_transaction(context.engine) as conn:
        return service.get_wallet(
            conn, wallet_id, acting_user_id=principal.user_id, at=context.clock.now()
        )


@router.post("/wallets/{wallet_id}/sub-wallets", status_code=201, response_model=WalletOut)
def open_sub_wallet(wallet_id: str, body: SubWalletCreate, write: Write) -> Response:
    """Open a purpose sub-wallet (travel, shopping, savings…) with an optional budget and goal."""
    return write.run(
        lambda conn: service.open_sub_wallet(
            conn,
            parent_wallet_id=wallet_id,
            data=body,
            acting_user_id=write.acting_user_id,
            at=write.now,
        ),
        body=body,
        status_code=201,
    )


@router.post("/wallets/{wallet_id}/close", response_model=WalletOut)
def close_sub_wallet(wallet_id: str, write: Write) -> Response:
    """Close a sub-wallet; its balance returns to the main wallet."""
    return write.run(
        lambda conn: service.close_sub_wallet(
            conn, wallet_id, acting_user_id=write.acting_user_id, at=write.now
        )
    )


@router.get("/wallets/{wallet_id}/transactions", response_model=Page[TransactionOut])
def list_transactions(
    wallet_id: str,
    context: Context,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[
        list[TransferKind] | None, Query(description="Repeat to allow several.")
    ] = None,
    since: Annotated[UtcDateTime | None, Query(description="From this moment (inclusive).")] = None,
    until: Annotated[UtcDateTime | None, Query(description="Before this moment.")] = None,
) -> Page[TransactionOut]:
    """The wallet's entries, newest first: amount in (+) or out (−) and the balance after."""
    with read_transaction(context.engine) as conn:
        return service.list_transactions(
            conn,
            wallet_id,
            acting_user_id=principal.user_id,
            limit=limit,
            cursor=cursor,
            kinds=kind,
            since=as_utc(since) if since else None,
            until=as_utc(until) if until else None,
        )


@router.get("/wallets/{wallet_id}/statements", response_model=Page[StatementOut])
def list_statements(
    wallet_id: str,
    context: Context,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[StatementOut]:
    """Monthly statements of a main wallet, newest first (the `wallet.statements` job)."""
    with read_transaction(context.engine) as conn:
        return statements.list_statements(
            conn,
            wallet_id,
            acting_user_id=principal.user_id,
            limit=limit,
            cursor=cursor,
            at=context.clock.now(),
        )


@router.post(
    "/transfers",
    status_code=201,
    response_model=TransferOut,
    responses={
        202: {
            "model": TransferOut,
            "description": "Held for step-up verification (`status: pending_verification`): "
            "the money is held and a one-time code was sent; post it to "
            "`/v1/transfers/{id}/verification`.",
        },
        422: {
            "description": "Not enough money, wrong currency, closed or frozen wallet, "
            "blocked by the risk rules (`transfer-blocked`)…"
        },
    },
)
def create_transfer(
    body: TransferCreate,
    request: Request,
    context: Context,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Move money: top_up, payment, p2p, allocation, refund (operator) or withdrawal.

    Outgoing transfers are scored, whoever makes them: a risky one (or any at or above
    `TIDINGS_STEP_UP_AMOUNT`) answers 202 and waits for the owner's one-time code; a
    fraudulent-looking one is refused (`transfer-blocked`).
    """
    held = False
    step_up = StepUpPolicy.from_settings(context.settings, model=context.component(ModelCache))

    def operation(conn: Connection) -> TransferOut:
        nonlocal held
        transfer = service.create_transfer(
            conn,
            context.keyring,
            body,
            acting_user_id=principal.user_id,
            at=context.clock.now(),
            step_up=step_up,
            max_amount=context.settings.max_amount,
        )
        held = transfer.status == PENDING_VERIFICATION
        return transfer

    try:
        response = run_write(
            context,
            principal,
            request,
            body=body,
            idempotency_key=idempotency_key,
            operation=operation,
            status_code=201,
        )
    except TransferBlocked as blocked:
        # The block's own alert (`security.transaction.suspicious`, critical) tells the owner;
        # a `wallet.payment.failed` as well would be two notices for one refusal.
        record_blocked_transfer(context, principal, blocked)
        raise
    except (InsufficientFunds, WalletFrozen) as refused:
        if body.kind is TransferKind.PAYMENT:
            reason = (
                PaymentFailure.WALLET_FROZEN
                if isinstance(refused, WalletFrozen)
                else PaymentFailure.INSUFFICIENT_FUNDS
            )
            _record_payment_failed(context, body, reason, acting_user_id=principal.user_id)
        raise
    if held or (
        "Idempotent-Replayed" in response.headers
        and json.loads(bytes(response.body)).get("status") == PENDING_VERIFICATION
    ):
        response.status_code = 202
    return response


def _record_payment_failed(
    context: ApiContext,
    body: TransferCreate,
    reason: PaymentFailure,
    *,
    acting_user_id: str | None,
) -> None:
    """After a refused payment's transaction rolled back (no money written, and no stored
    idempotent answer, so the same key may be retried after a top-up): its notice only, in a
    transaction of its own, like a risk block's audit row and alert."""

    def attempt() -> None:
        with write_transaction(context.engine) as conn:
            service.record_payment_failed(
                conn, body, reason=reason, acting_user_id=acting_user_id, at=context.clock.now()
            )

    with_retry(attempt)


@router.get("/transfers/{transfer_id}", response_model=TransferOut)
def get_transfer(transfer_id: str, context: Context, principal: CurrentPrincipal) -> TransferOut:
    with read_transaction(context.engine) as conn:
        return service.get_transfer(conn, transfer_id, acting_user_id=principal.user_id)
