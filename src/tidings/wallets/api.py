"""Wallets (frozen, unfrozen), sub-wallets, transfers (held for a code, verified) and history
over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from sqlalchemy import Connection

from tidings.api.ratelimit import TOO_MANY_ATTEMPTS
from tidings.api.reads import Read
from tidings.api.writes import Write, WriteRequest
from tidings.insights.budgets import RewardPolicy
from tidings.kit.clock import UtcDateTime, as_utc
from tidings.kit.db import retried_write
from tidings.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from tidings.ledger.exceptions import InsufficientFunds
from tidings.risk import audit
from tidings.risk import service as risk
from tidings.risk.code_limits import limit_code_attempts
from tidings.risk.exceptions import TransferBlocked
from tidings.risk.learning import ModelCache
from tidings.risk.schemas import VerificationCreate
from tidings.risk.stepup import StepUpPolicy
from tidings.wallets import freeze, holds, service, statements
from tidings.wallets.exceptions import WalletFrozen
from tidings.wallets.schemas import (
    FreezeCreate,
    StatementOut,
    SubWalletCreate,
    TransactionOut,
    TransferCreate,
    TransferKind,
    TransferOut,
    TransferStatus,
    WalletOut,
)
from tidings.wallets.service import PaymentFailure

router = APIRouter(prefix="/v1", tags=["wallets"])


@router.get("/users/{user_id}/wallets", response_model=list[WalletOut])
def list_wallets(user_id: str, read: Read) -> list[WalletOut]:
    read.principal.require_self(user_id)
    return read.run(lambda conn: service.list_wallets(conn, user_id, at=read.now))


@router.get("/wallets/{wallet_id}", response_model=WalletOut)
def get_wallet(wallet_id: str, read: Read) -> WalletOut:
    return read.run(lambda conn: service.get_wallet(conn, wallet_id, **read.acting))


@router.post("/wallets/{wallet_id}/sub-wallets", status_code=201, response_model=WalletOut)
def open_sub_wallet(wallet_id: str, body: SubWalletCreate, write: Write) -> Response:
    """Open a purpose sub-wallet (travel, shopping, savings…) with an optional budget and goal."""
    return write.run(
        lambda conn: service.open_sub_wallet(
            conn,
            parent_wallet_id=wallet_id,
            data=body,
            **write.acting,
        ),
        body=body,
        status_code=201,
    )


@router.post("/wallets/{wallet_id}/close", response_model=WalletOut)
def close_sub_wallet(wallet_id: str, write: Write) -> Response:
    """Close a sub-wallet; its balance returns to the main wallet."""
    return write.run(lambda conn: service.close_sub_wallet(conn, wallet_id, **write.acting))


@router.get("/wallets/{wallet_id}/transactions", response_model=Page[TransactionOut])
def list_transactions(
    wallet_id: str,
    read: Read,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    kind: Annotated[
        list[TransferKind] | None, Query(description="Repeat to allow several.")
    ] = None,
    since: Annotated[UtcDateTime | None, Query(description="From this moment (inclusive).")] = None,
    until: Annotated[UtcDateTime | None, Query(description="Before this moment.")] = None,
) -> Page[TransactionOut]:
    """The wallet's entries, newest first: amount in (+) or out (−) and the balance after."""
    return read.run(
        lambda conn: service.list_transactions(
            conn,
            read.context.keyring,
            wallet_id,
            acting_user_id=read.acting_user_id,
            limit=limit,
            cursor=cursor,
            kinds=kind,
            since=as_utc(since) if since else None,
            until=as_utc(until) if until else None,
        )
    )


@router.get("/wallets/{wallet_id}/statements", response_model=Page[StatementOut])
def list_statements(
    wallet_id: str,
    read: Read,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[StatementOut]:
    """Monthly statements of a main wallet, newest first (the `wallet.statements` job)."""
    return read.run(
        lambda conn: statements.list_statements(
            conn,
            wallet_id,
            limit=limit,
            cursor=cursor,
            **read.acting,
        )
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
async def create_transfer(body: TransferCreate, write: Write) -> Response:
    """Move money: top_up, payment, p2p, allocation, refund (operator) or withdrawal.

    Outgoing transfers are scored, whoever makes them: a risky one (or any at or above
    `TIDINGS_STEP_UP_AMOUNT`) answers 202 and waits for the owner's one-time code; a
    fraudulent-looking one is refused (`transfer-blocked`).
    """
    return await write.run_hot(partial(_create_transfer, body, write))


def _held_or_created(answer: dict[str, Any]) -> int:
    """Held, now or when this key first ran: the status says so, as the answer does."""
    return 202 if answer.get("status") == TransferStatus.PENDING_VERIFICATION else 201


def _create_transfer(body: TransferCreate, write: WriteRequest) -> Response:
    context = write.context
    step_up = StepUpPolicy.from_settings(context.settings, model=context.component(ModelCache))
    try:
        response = write.run(
            lambda conn: service.create_transfer(
                conn,
                context.keyring,
                body,
                step_up=step_up,
                max_amount=context.settings.max_amount,
                rewards=RewardPolicy(
                    amount=context.settings.goal_reward,
                    per_year=context.settings.goal_rewards_per_year,
                ),
                **write.acting,
            ),
            body=body,
            status_for=_held_or_created,
        )
    except TransferBlocked as blocked:
        # The block's own alert (`security.transaction.suspicious`, critical) tells the owner;
        # a `wallet.payment.failed` as well would be two notices for one refusal.
        record = partial(
            risk.record_block,
            blocked=blocked,
            actor=audit.actor_of(write.acting_user_id),
            at=write.now,
        )
        _after_rollback(write, record)
        raise
    except (InsufficientFunds, WalletFrozen) as refused:
        if body.kind is TransferKind.PAYMENT:
            reason = (
                PaymentFailure.WALLET_FROZEN
                if isinstance(refused, WalletFrozen)
                else PaymentFailure.INSUFFICIENT_FUNDS
            )
            _after_rollback(
                write,
                lambda conn: service.record_payment_failed(
                    conn, body, reason=reason, **write.acting
                ),
            )
        raise
    return response


def _after_rollback(write: WriteRequest, record: Callable[[Connection], object]) -> None:
    """After a refused transfer's transaction rolled back (no money written, and no stored
    idempotent answer, so the same key may be retried): what the refusal leaves behind (its
    notice, its audit row), in a transaction of its own."""
    retried_write(write.context.engine, record)


@router.get("/transfers/{transfer_id}", response_model=TransferOut)
def get_transfer(transfer_id: str, read: Read) -> TransferOut:
    return read.run(
        lambda conn: service.get_transfer(
            conn, read.context.keyring, transfer_id, acting_user_id=read.acting_user_id
        )
    )


@router.post(
    "/transfers/{transfer_id}/verification",
    response_model=TransferOut,
    responses={
        404: {"description": "No held transfer with this id for the caller"},
        409: {"description": "Already verified, cancelled or expired"},
        410: {"description": "The code expired; the transfer was cancelled"},
        422: {"description": "Wrong code (`attempts_left`); the last wrong one cancels"},
        **TOO_MANY_ATTEMPTS,
    },
)
def verify_transfer(transfer_id: str, body: VerificationCreate, write: Write) -> Response:
    """The one-time code of a held transfer: the right one posts it (200, `succeeded`)."""
    limit_code_attempts(write, scope="verify", subject=transfer_id)
    # A wrong code is committed (the attempt is spent) and then answered as the problem.
    return write.run(
        lambda conn: holds.verify_transfer(
            conn,
            write.context.keyring,
            transfer_id,
            body.code,
            **write.acting,
        ),
        body=body,
    )


@router.post("/wallets/{wallet_id}/freeze", response_model=WalletOut)
def freeze_wallet(
    wallet_id: str, write: Write, body: Annotated[FreezeCreate | None, Body()] = None
) -> Response:
    """ "Not me" (the owner) or an operator: no money leaves until an operator unfreezes.

    Freezing the main wallet covers the user's sub-wallets; held transfers are cancelled.
    """
    return write.run(
        lambda conn: freeze.freeze_wallet(
            conn,
            write.context.keyring,
            wallet_id,
            reason=body.reason if body else None,
            **write.acting,
        ),
        body=body,
    )


@router.post("/wallets/{wallet_id}/unfreeze", response_model=WalletOut)
def unfreeze_wallet(wallet_id: str, write: Write) -> Response:
    """Operator only, after checking who asks."""
    return write.run(lambda conn: freeze.unfreeze_wallet(conn, wallet_id, **write.acting))
