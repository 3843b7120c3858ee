"""Wallet operations: open wallets, move money between them and the outside world.

Each transfer is one balanced ledger entry plus its events in the outbox, all inside the
caller's transaction; any refusal raises before the transaction commits, so nothing is
half-written.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Connection

from tidings.insights.budgets import (
    DEFAULT_ALERT_PERCENT,
    DEFAULT_REWARDS,
    RewardPolicy,
    used_percent,
)
from tidings.insights.service import tracking
from tidings.kit.clock import as_utc
from tidings.kit.ids import is_id, new_id
from tidings.kit.money import CurrencyMismatch, money
from tidings.kit.pagination import Page, decode_cursor, next_cursor
from tidings.kit.tables import AnyRow
from tidings.kit.visibility import is_visible, visible_or_raise
from tidings.ledger import service as ledger
from tidings.ledger.exceptions import InsufficientFunds
from tidings.ledger.service import Leg
from tidings.privacy.crypto import Keyring
from tidings.privacy.userkeys import FreeText
from tidings.risk import audit, stepup
from tidings.risk.exceptions import TransferBlocked
from tidings.risk.signals import OutgoingTransfer, RiskAssessment, RiskDecision
from tidings.risk.stepup import DEFAULT_STEP_UP, StepUpPolicy
from tidings.users import directory
from tidings.users import service as users
from tidings.users.schemas import UserCreate, UserOut
from tidings.wallets import events, repository
from tidings.wallets.events import MerchantRef
from tidings.wallets.exceptions import (
    AmountAboveMaximum,
    InvalidTransfer,
    RefundExceedsPayment,
    RefundOfUnsettledPayment,
    TransferNotFound,
    WalletNotFound,
)
from tidings.wallets.holds import hold_for_verification
from tidings.wallets.kinds import KINDS, check_fields, check_parties
from tidings.wallets.posting import (
    MEMO,
    lock_wallets,
    post_transfer,
    require_not_frozen,
    require_open,
    stored_merchant,
    transfer_out,
)
from tidings.wallets.repository import LockedWallet
from tidings.wallets.schemas import (
    BudgetOut,
    GoalOut,
    SubWalletCreate,
    TransactionOut,
    TransferCreate,
    TransferKind,
    TransferOut,
    TransferStatus,
    WalletOut,
)

DEFAULT_MAX_AMOUNT: Final = 10**12
"""`TIDINGS_MAX_AMOUNT`: the most one transfer moves (10,000,000,000.00 CNY)."""


def create_user_with_wallet(
    conn: Connection, keyring: Keyring, data: UserCreate, *, at: datetime, **defaults: Any
) -> UserOut:
    """A new user always comes with their main wallet, in one transaction."""
    user = users.create_user(conn, keyring, data, at=at, **defaults)
    account_id = ledger.open_account(
        conn, user_id=user.id, kind="wallet", currency=user.currency, at=at
    )
    repository.insert_wallet(
        conn,
        {
            "id": user.wallet_id,
            "user_id": user.id,
            "account_id": account_id,
            "kind": "main",
            "name": "main",
            "purpose": "main",
            "currency": user.currency,
            "status": "open",
            "created_at": at,
        },
    )
    return user


def open_sub_wallet(
    conn: Connection,
    *,
    parent_wallet_id: str,
    data: SubWalletCreate,
    acting_user_id: str | None,
    at: datetime,
) -> WalletOut:
    parent = _visible_wallet(conn, parent_wallet_id, acting_user_id)
    if parent.kind != "main":
        raise InvalidTransfer("sub-wallets hang under a main wallet", field="wallet_id")
    for field, amount in (
        ("budget.limit.currency", data.budget.limit if data.budget else None),
        ("goal.target.currency", data.goal.target if data.goal else None),
    ):
        if amount is not None and amount.currency != parent.currency:
            raise CurrencyMismatch(f"must be {parent.currency}, the wallet's currency", field=field)
    wallet_id = new_id("wal")
    account_id = ledger.open_account(
        conn, user_id=parent.user_id, kind="wallet", currency=parent.currency, at=at
    )
    repository.insert_wallet(
        conn,
        {
            "id": wallet_id,
            "user_id": parent.user_id,
            "account_id": account_id,
            "kind": "sub",
            "name": data.name,
            "purpose": data.purpose.value,
            "currency": parent.currency,
            "status": "open",
            "budget_limit": data.budget.limit.value if data.budget else None,
            "budget_period": data.budget.period if data.budget else None,
            "budget_alert_percent": data.budget.alert_percent if data.budget else None,
            "goal_target": data.goal.target.value if data.goal else None,
            "goal_by": data.goal.by if data.goal else None,
            "created_at": at,
        },
    )
    return get_wallet(conn, wallet_id, acting_user_id=acting_user_id, at=at)


def _visible_wallet(conn: Connection, wallet_id: str, acting_user_id: str | None) -> AnyRow:
    """The wallet if it exists and the caller may see it; a stranger's wallet is 'not found'."""
    return visible_or_raise(
        repository.get_wallet(conn, wallet_id) if is_id(wallet_id, "wal") else None,
        acting_user_id,
        WalletNotFound(f"wallet {wallet_id} not found", field="wallet_id"),
    )


def get_wallet(
    conn: Connection, wallet_id: str, *, acting_user_id: str | None, at: datetime
) -> WalletOut:
    return _wallet_out(conn, _visible_wallet(conn, wallet_id, acting_user_id), at)


def list_wallets(conn: Connection, user_id: str, *, at: datetime) -> list[WalletOut]:
    directory.require_user(conn, user_id)
    return [_wallet_out(conn, row, at) for row in repository.list_user_wallets(conn, user_id)]


def _wallet_out(conn: Connection, row: AnyRow, at: datetime) -> WalletOut:
    currency = row.currency
    balance, held = int(row.balance), int(row.held)
    budget = goal = None
    if row.budget_limit is not None:
        current = tracking.budget_period(
            conn,
            wallet_id=row.id,
            period=row.budget_period,
            timezone=users.timezone_of(conn, row.user_id),
            at=at,
        )
        spent, limit = max(0, current.spent), int(row.budget_limit)
        budget = BudgetOut(
            limit=money(limit, currency),
            period=row.budget_period,
            period_start=current.start,
            spent=money(spent, currency),
            remaining=money(max(0, limit - spent), currency),
            used_percent=used_percent(spent, limit),
            alert_percent=row.budget_alert_percent or DEFAULT_ALERT_PERCENT,
        )
    if row.goal_target is not None:
        target = int(row.goal_target)
        goal = GoalOut(
            target=money(target, currency),
            by=row.goal_by,
            progress_percent=min(100, balance * 100 // target),
            reached=balance >= target,
        )
    return WalletOut(
        id=row.id,
        user_id=row.user_id,
        kind=row.kind,
        name=row.name,
        purpose=row.purpose,
        status=row.status,
        currency=currency,
        balance=money(balance, currency),
        available=money(balance - held, currency),
        held=money(held, currency),
        budget=budget,
        goal=goal,
        created_at=as_utc(row.created_at),
        closed_at=as_utc(row.closed_at) if row.closed_at else None,
        frozen_at=as_utc(row.frozen_at) if row.frozen_at else None,
    )


def create_transfer(
    conn: Connection,
    keyring: Keyring,
    data: TransferCreate,
    *,
    acting_user_id: str | None,
    at: datetime,
    step_up: StepUpPolicy = DEFAULT_STEP_UP,
    max_amount: int = DEFAULT_MAX_AMOUNT,
    rewards: RewardPolicy = DEFAULT_REWARDS,
) -> TransferOut:
    """Move money as `data.kind` says (its rule in `wallets.kinds`); raises (changing nothing)
    when it may not happen.

    A frozen source wallet refuses. Outgoing transfers (payment, p2p, withdrawal) are assessed
    first, whoever makes them: the app with the user's token, or the company's backend with
    the operator key on the user's behalf (a stolen session reaches us either way). A block
    raises `TransferBlocked`; a step-up holds the money and answers `pending_verification`
    (the code goes out through the outbox to the owner alone).
    """
    amount, currency = data.amount.value, data.amount.currency
    if amount > max_amount:
        raise AmountAboveMaximum(
            f"at most {max_amount} minor units per transfer", field="amount.value"
        )
    rule = KINDS[data.kind]
    check_fields(rule, data, acting_user_id=acting_user_id)
    payment: AnyRow | None = None
    source: LockedWallet | None = None
    destination: LockedWallet | None
    if rule.refunds_payment:
        payment, destination = _refunded_payment(conn, data.refund_of or "")
    else:
        named = {side: getattr(data, side) or "" for side in rule.sides}
        wallets = lock_wallets(conn, named, acting_user_id, own=rule.own)
        source, destination = wallets.get("source"), wallets.get("destination")
        check_parties(rule, source, destination)
    for field, wallet in (("source", source), ("destination", destination)):
        if wallet is not None and wallet.currency != currency:
            raise CurrencyMismatch(
                f"the {field} wallet holds {wallet.currency}, not {currency}",
                field="amount.currency",
            )
    if payment is not None:
        _count_refund(conn, payment, amount=amount, currency=currency)
    if source is not None:
        require_not_frozen(source)
    owner = source if source is not None else destination
    assert owner is not None, "every transfer reaches or leaves a wallet"
    transfer = TransferOut(  # as it stands once posted; a hold marks it pending instead
        id=new_id("trf"),
        kind=data.kind,
        status=TransferStatus.SUCCEEDED,
        user_id=owner.user_id,
        source=source.id if source is not None else None,
        destination=destination.id if destination is not None else None,
        amount=data.amount,
        merchant=stored_merchant(payment) if payment is not None else data.merchant,
        refund_of=payment.id if payment is not None else None,
        refunded=money(0, currency) if rule.refundable else None,
        memo=data.memo,
        created_at=at,
    )
    if source is not None and rule.scored and step_up.scoring:
        outgoing = _outgoing(transfer, source)
        assessment = _assess(conn, outgoing, at=at, policy=step_up)
        if assessment.decision is RiskDecision.STEP_UP:
            return hold_for_verification(
                conn,
                keyring,
                transfer,
                outgoing,
                assessment=assessment,
                actor=audit.actor_of(acting_user_id),
                at=at,
                policy=step_up,
            )
    return post_transfer(
        conn,
        keyring,
        transfer,
        source=source,
        destination=destination,
        at=at,
        rewards=rewards,
        paid_at=as_utc(payment.created_at) if payment is not None else None,
    )


def _refunded_payment(conn: Connection, payment_id: str) -> tuple[AnyRow, LockedWallet]:
    """The succeeded payment a refund gives back, and the wallet the money goes back to: the
    one that paid, or the main wallet when that sub-wallet was closed since."""
    # Locked first, like verifying or cancelling a held payment locks it: the status read
    # here cannot change before this transaction ends.
    payment = repository.lock_transfer(conn, payment_id)
    if payment is None or payment.kind != TransferKind.PAYMENT.value:
        raise TransferNotFound(f"payment {payment_id} not found", field="refund_of")
    if payment.status != TransferStatus.SUCCEEDED:
        raise RefundOfUnsettledPayment(
            f"payment {payment.id} is {payment.status}: only a succeeded payment, whose "
            "money reached the merchant, can be refunded",
            field="refund_of",
        )
    # Lock the paying wallet and the main wallet together, in id order, like every other
    # movement between them (two separate locks could deadlock with a close).
    main_id = users.get_main_wallet_id(conn, payment.user_id)
    locked = lock_wallets(
        conn,
        {"paid_from": payment.source_wallet_id, "main": main_id},
        None,
        own=set(),
        open_only=False,
    )
    if locked["paid_from"].status == "open":
        return payment, locked["paid_from"]
    require_open(locked["main"], "refund_of")
    return payment, locked["main"]


def _count_refund(conn: Connection, payment: AnyRow, *, amount: int, currency: str) -> None:
    """Count a refund against its payment, which it may not exceed."""
    if payment.currency != currency:
        raise CurrencyMismatch(f"the payment was in {payment.currency}", field="amount.currency")
    if not repository.add_refunded(conn, payment.id, amount):
        left = int(payment.amount) - int(payment.refunded_amount)
        raise RefundExceedsPayment(
            f"at most {left} minor units of this payment are left to refund", field="amount"
        )


def _outgoing(transfer: TransferOut, source: LockedWallet) -> OutgoingTransfer:
    """The transfer as the risk engine assesses it."""
    return OutgoingTransfer(
        transfer_id=transfer.id,
        user_id=source.user_id,
        wallet_id=source.id,
        account_id=source.account_id,
        kind=transfer.kind.value,
        amount=transfer.amount.value,
        currency=transfer.amount.currency,
        destination_wallet_id=transfer.destination,
        merchant=transfer.merchant.name if transfer.merchant is not None else None,
        timezone=source.timezone,
        own_step_up_amount=source.step_up_amount,
    )


def _assess(
    conn: Connection, outgoing: OutgoingTransfer, *, at: datetime, policy: StepUpPolicy
) -> RiskAssessment:
    """Risk's assessment of an outgoing transfer; a block raises `TransferBlocked` (or
    `InsufficientFunds` when the money is not there anyway, the plainer answer)."""
    assessment = stepup.assess(conn, outgoing, at=at, policy=policy)
    if assessment.decision is RiskDecision.BLOCK:
        if not ledger.covers(conn, outgoing.account_id, outgoing.amount):
            raise InsufficientFunds(
                "the wallet's available balance does not cover this amount", field="amount"
            )
        raise TransferBlocked(
            "this transfer looks like fraud and was refused; nothing was held or moved",
            transfer=outgoing,
            score=assessment.score,
            reasons=assessment.reasons,
        )
    return assessment


class PaymentFailure(StrEnum):
    """Why a payment was refused, as `wallet.payment.failed` says it."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    """The wallet's available balance did not cover the amount."""
    WALLET_FROZEN = "wallet_frozen"
    """The wallet is frozen; no money leaves it."""
    RISK_BLOCKED = "risk_blocked"
    """The risk rules refused it (our own blocks say so by `security.transaction.suspicious`;
    a core may post this reason for its own)."""


def record_payment_failed(
    conn: Connection,
    data: TransferCreate,
    *,
    reason: PaymentFailure,
    acting_user_id: str | None,
    at: datetime,
) -> bool:
    """After a refused payment's transaction rolled back (nothing held, nothing posted): the
    owner's `wallet.payment.failed`, so a refused payment is never silent. False (nothing
    recorded) when the payment names no wallet the caller may use."""
    if data.kind is not TransferKind.PAYMENT or data.source is None or data.merchant is None:
        return False
    wallet = repository.get_wallet(conn, data.source)
    if wallet is None or not is_visible(wallet, acting_user_id):
        return False
    failed = events.PaymentFailed(
        wallet_id=wallet.id,
        amount=data.amount,
        merchant=MerchantRef(**data.merchant.model_dump(exclude_none=True)),
        reason=reason.value,
    )
    events.record(
        conn, events.PAYMENT_FAILED, failed, user_id=wallet.user_id, at=at, occurred_at=at
    )
    return True


def get_transfer(
    conn: Connection, keyring: Keyring, transfer_id: str, *, acting_user_id: str | None
) -> TransferOut:
    """A transfer the caller took part in (as payer or payee); others are 'not found'."""
    row = repository.get_transfer(conn, transfer_id) if is_id(transfer_id, "trf") else None
    if row is not None and not is_visible(row, acting_user_id):
        party_ids = {row.source_wallet_id, row.destination_wallet_id} - {None}
        owners = {repository.wallet_owner(conn, w) for w in party_ids}
        if acting_user_id not in owners:
            row = None
    if row is None:
        raise TransferNotFound(f"transfer {transfer_id} not found")
    return transfer_out(row, FreeText(conn, keyring))


def close_sub_wallet(
    conn: Connection, wallet_id: str, *, acting_user_id: str | None, at: datetime
) -> WalletOut:
    """Close a sub-wallet; whatever it holds goes back to the main wallet first."""
    visible = _visible_wallet(conn, wallet_id, acting_user_id)
    if visible.kind != "sub":
        raise InvalidTransfer("only a sub-wallet can be closed", field="wallet_id")
    main_id = users.get_main_wallet_id(conn, visible.user_id)
    locked = lock_wallets(conn, {"wallet_id": wallet_id, "main": main_id}, None, own=set())
    sub, main = locked["wallet_id"], locked["main"]
    if int(visible.held):
        raise InvalidTransfer("money is on hold in this wallet; try again later", field="wallet_id")
    balance = int(repository.get_wallet(conn, wallet_id).balance)  # type: ignore[union-attr]
    if balance:
        transfer_id = new_id("trf")
        posted = ledger.post_entry(
            conn,
            kind=TransferKind.ALLOCATION.value,
            reference=transfer_id,
            currency=sub.currency,
            legs=[Leg(sub.account_id, -balance), Leg(main.account_id, balance)],
            at=at,
        )
        repository.insert_transfer(
            conn,
            {
                "id": transfer_id,
                "kind": TransferKind.ALLOCATION.value,
                "status": TransferStatus.SUCCEEDED.value,
                "user_id": sub.user_id,
                "source_wallet_id": sub.id,
                "destination_wallet_id": main.id,
                "amount": balance,
                "currency": sub.currency,
                "memo": "sub-wallet closed",
                "entry_id": posted.entry_id,
                "created_at": at,
            },
        )
    repository.close_wallet(conn, wallet_id, at)
    closed = events.SubWalletClosed(
        wallet_id=sub.id, name=visible.name, moved=money(balance, sub.currency)
    )
    events.record(
        conn, events.SUB_WALLET_CLOSED, closed, user_id=sub.user_id, at=at, occurred_at=at
    )
    return get_wallet(conn, wallet_id, acting_user_id=acting_user_id, at=at)


def list_transactions(
    conn: Connection,
    keyring: Keyring,
    wallet_id: str,
    *,
    acting_user_id: str | None,
    limit: int,
    cursor: str | None,
    kinds: list[TransferKind] | None,
    since: datetime | None,
    until: datetime | None,
) -> Page[TransactionOut]:
    """The wallet's entries, newest first, one page at a time."""
    wallet = _visible_wallet(conn, wallet_id, acting_user_id)
    rows = repository.list_transactions(
        conn,
        wallet.account_id,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
        kinds=[k.value for k in kinds] if kinds else None,
        since=since,
        until=until,
    )
    items = []
    text = FreeText(conn, keyring)
    for row in rows[:limit]:
        counterparty = None
        if row.source_wallet_id and row.destination_wallet_id:
            counterparty = (
                row.destination_wallet_id
                if row.source_wallet_id == wallet.id
                else row.source_wallet_id
            )
        items.append(
            TransactionOut(
                id=row.id,
                transfer_id=row.transfer_id,
                kind=row.kind,
                amount=money(int(row.amount), row.currency),
                balance_after=money(int(row.balance_after), row.currency),
                merchant=stored_merchant(row),
                counterparty_wallet_id=counterparty,
                memo=text.open(row.memo_owner, row.memo, context=MEMO),
                created_at=as_utc(row.created_at),
            )
        )
    return Page[TransactionOut](items=items, next_cursor=next_cursor(rows, limit))
