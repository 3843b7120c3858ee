"""Wallet operations: open wallets, move money between them and the outside world.

Each transfer is one balanced ledger entry plus its events in the outbox, all inside the
caller's transaction; any refusal raises before the transaction commits, so nothing is
half-written.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from tidings.events import record_event
from tidings.kit.clock import as_utc
from tidings.kit.ids import is_id, new_id
from tidings.kit.money import CurrencyMismatch, PositiveMoney, money
from tidings.kit.pagination import Page, decode_cursor, encode_cursor
from tidings.kit.tables import AnyRow
from tidings.ledger import service as ledger
from tidings.ledger.exceptions import InsufficientFunds
from tidings.ledger.service import Leg, SystemAccount, system_account_id
from tidings.privacy.crypto import Keyring
from tidings.risk import stepup
from tidings.risk.audit import actor_of
from tidings.risk.exceptions import TransferBlocked
from tidings.risk.signals import RiskDecision
from tidings.risk.stepup import DEFAULT_STEP_UP, StepUpPolicy
from tidings.users import service as users
from tidings.users.schemas import UserCreate, UserOut
from tidings.wallets import events, repository
from tidings.wallets.exceptions import (
    AmountAboveMaximum,
    InvalidTransfer,
    OperatorOnly,
    RefundExceedsPayment,
    RefundOfUnsettledPayment,
    TransferNotFound,
    WalletClosed,
    WalletFrozen,
    WalletNotFound,
)
from tidings.wallets.schemas import (
    BudgetOut,
    GoalOut,
    Merchant,
    SubWalletCreate,
    TransactionOut,
    TransferCreate,
    TransferKind,
    TransferOut,
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
            "goal_target": data.goal.target.value if data.goal else None,
            "goal_by": data.goal.by if data.goal else None,
            "created_at": at,
        },
    )
    return get_wallet(conn, wallet_id, acting_user_id=acting_user_id, at=at)


def _visible_wallet(conn: Connection, wallet_id: str, acting_user_id: str | None) -> AnyRow:
    """The wallet if it exists and the caller may see it; a stranger's wallet is 'not found'."""
    row = repository.get_wallet(conn, wallet_id) if is_id(wallet_id, "wal") else None
    if row is None or (acting_user_id is not None and row.user_id != acting_user_id):
        raise WalletNotFound(f"wallet {wallet_id} not found", field="wallet_id")
    return row


def get_wallet(
    conn: Connection, wallet_id: str, *, acting_user_id: str | None, at: datetime
) -> WalletOut:
    return _wallet_out(conn, _visible_wallet(conn, wallet_id, acting_user_id), at)


def list_wallets(conn: Connection, user_id: str, *, at: datetime) -> list[WalletOut]:
    users.require_user(conn, user_id)
    return [_wallet_out(conn, row, at) for row in repository.list_user_wallets(conn, user_id)]


def budget_period_start(period: str, now_local: datetime) -> date:
    """The first day of the budget period containing `now_local` (weeks start on Monday)."""
    today = now_local.date()
    if period == "week":
        return today - timedelta(days=today.weekday())
    return today.replace(day=1)


def _wallet_out(conn: Connection, row: AnyRow, at: datetime) -> WalletOut:
    currency = row.currency
    balance, held = int(row.balance), int(row.held)
    budget = goal = None
    if row.budget_limit is not None:
        tz = ZoneInfo(users.timezone_of(conn, row.user_id))
        start = budget_period_start(row.budget_period, at.astimezone(tz))
        start_utc = datetime(start.year, start.month, start.day, tzinfo=tz).astimezone(
            ZoneInfo("UTC")
        )
        spent = max(0, repository.spent_since(conn, row.account_id, start_utc))
        limit = int(row.budget_limit)
        budget = BudgetOut(
            limit=money(limit, currency),
            period=row.budget_period,
            period_start=start,
            spent=money(spent, currency),
            remaining=money(max(0, limit - spent), currency),
            used_percent=spent * 100 // limit,
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


def _require_open(wallet: AnyRow, field: str) -> None:
    if wallet.status != "open":
        raise WalletClosed(f"wallet {wallet.id} is closed", field=field)


def _require_absent(data: TransferCreate, *fields: str) -> None:
    for field in fields:
        if getattr(data, field) is not None:
            raise InvalidTransfer(f"a {data.kind.value} takes no {field}", field=field)


def _require_present(data: TransferCreate, *fields: str) -> None:
    for field in fields:
        if getattr(data, field) is None:
            raise InvalidTransfer(f"a {data.kind.value} needs {field}", field=field)


def _load(
    conn: Connection,
    wallet_ids: dict[str, str],
    acting_user_id: str | None,
    *,
    own: set[str],
    open_only: bool = True,
) -> dict[str, AnyRow]:
    """Lock the named wallets (field → id); those in `own` must belong to the caller."""
    for field, wallet_id in wallet_ids.items():
        if not is_id(wallet_id, "wal"):
            raise WalletNotFound(f"wallet {wallet_id} not found", field=field)
    rows = repository.lock_wallets(conn, sorted(set(wallet_ids.values())))
    loaded: dict[str, AnyRow] = {}
    for field, wallet_id in wallet_ids.items():
        row = rows.get(wallet_id)
        stranger = acting_user_id is not None and row is not None and row.user_id != acting_user_id
        if row is None or (field in own and stranger):
            raise WalletNotFound(f"wallet {wallet_id} not found", field=field)
        if open_only:
            _require_open(row, field)
        loaded[field] = row
    return loaded


def create_transfer(
    conn: Connection,
    keyring: Keyring,
    data: TransferCreate,
    *,
    acting_user_id: str | None,
    at: datetime,
    step_up: StepUpPolicy = DEFAULT_STEP_UP,
    max_amount: int = DEFAULT_MAX_AMOUNT,
) -> TransferOut:
    """Move money as `data.kind` says; raises (changing nothing) when it may not happen.

    A frozen source wallet refuses. Outgoing transfers (payment, p2p, withdrawal) are scored
    first, whoever makes them: the app with the user's token, or the company's backend with
    the operator key on the user's behalf (a stolen session reaches us either way). A block
    raises `TransferBlocked`; a step-up holds the money and answers `pending_verification`
    (the code goes out through the outbox to the owner alone).
    """
    amount, currency = data.amount.value, data.amount.currency
    kind = data.kind
    if amount > max_amount:
        raise AmountAboveMaximum(
            f"at most {max_amount} minor units per transfer", field="amount.value"
        )
    transfer_id = new_id("trf")
    payment: AnyRow | None = None
    source: AnyRow | None
    destination: AnyRow | None

    if kind is TransferKind.TOP_UP:
        if acting_user_id is not None:
            raise OperatorOnly(
                "a top-up is money arriving from outside, confirmed by the company's backend "
                "(operator key)"
            )
        _require_present(data, "destination")
        _require_absent(data, "source", "merchant", "refund_of")
        wallets = _load(
            conn, {"destination": data.destination or ""}, acting_user_id, own={"destination"}
        )
        source, destination = None, wallets["destination"]
    elif kind in (TransferKind.PAYMENT, TransferKind.WITHDRAWAL):
        _require_present(data, "source", *(["merchant"] if kind is TransferKind.PAYMENT else []))
        _require_absent(data, "destination", "refund_of")
        if kind is TransferKind.WITHDRAWAL:
            _require_absent(data, "merchant")
        wallets = _load(conn, {"source": data.source or ""}, acting_user_id, own={"source"})
        source, destination = wallets["source"], None
    elif kind in (TransferKind.P2P, TransferKind.ALLOCATION):
        _require_present(data, "source", "destination")
        _require_absent(data, "merchant", "refund_of")
        own = {"source", "destination"} if kind is TransferKind.ALLOCATION else {"source"}
        wallets = _load(
            conn,
            {"source": data.source or "", "destination": data.destination or ""},
            acting_user_id,
            own=own,
        )
        source, destination = wallets["source"], wallets["destination"]
        if source.id == destination.id:
            raise InvalidTransfer("source and destination are the same wallet", field="destination")
        if kind is TransferKind.P2P:
            if destination.user_id == source.user_id:
                raise InvalidTransfer(
                    "p2p goes to another user; use an allocation between your own wallets",
                    field="destination",
                )
            if destination.kind != "main":
                raise InvalidTransfer("p2p goes to a main wallet", field="destination")
        elif source.user_id != destination.user_id or {source.kind, destination.kind} != {
            "main",
            "sub",
        }:
            raise InvalidTransfer(
                "an allocation moves money between a main wallet and its own sub-wallet",
                field="destination",
            )
    else:  # refund
        if acting_user_id is not None:
            raise OperatorOnly("refunds are made by the merchant side (operator key)")
        _require_present(data, "refund_of")
        _require_absent(data, "source", "destination", "merchant")
        # Locked first, like verifying or cancelling a held payment locks it: the status
        # read here cannot change before this transaction ends.
        payment = repository.lock_transfer(conn, data.refund_of or "")
        if payment is None or payment.kind != TransferKind.PAYMENT.value:
            raise TransferNotFound(f"payment {data.refund_of} not found", field="refund_of")
        if payment.status != SUCCEEDED:
            raise RefundOfUnsettledPayment(
                f"payment {payment.id} is {payment.status}: only a succeeded payment, whose "
                "money reached the merchant, can be refunded",
                field="refund_of",
            )
        # Lock the paying wallet and the main wallet together, in id order, like every
        # other movement between them (two separate locks could deadlock with a close).
        main_id = users.get_main_wallet_id(conn, payment.user_id)
        paid_from = payment.source_wallet_id
        locked = _load(
            conn, {"paid_from": paid_from, "main": main_id}, None, own=set(), open_only=False
        )
        destination = locked["paid_from"] if locked["paid_from"].status == "open" else None
        if destination is None:  # the sub-wallet was closed: the money goes to main
            destination = locked["main"]
            _require_open(destination, "refund_of")
        source = None

    for field, wallet in (("source", source), ("destination", destination)):
        if wallet is not None and wallet.currency != currency:
            raise CurrencyMismatch(
                f"the {field} wallet holds {wallet.currency}, not {currency}",
                field="amount.currency",
            )
    if payment is not None:
        if payment.currency != currency:
            raise CurrencyMismatch(
                f"the payment was in {payment.currency}", field="amount.currency"
            )
        if not repository.add_refunded(conn, payment.id, amount):
            left = int(payment.amount) - int(payment.refunded_amount)
            raise RefundExceedsPayment(
                f"at most {left} minor units of this payment are left to refund", field="amount"
            )

    if source is not None and source.frozen_at is not None:
        raise WalletFrozen(
            f"wallet {source.id} is frozen; money cannot leave it until an operator unfreezes it",
            field="source",
        )
    if source is not None and kind in _SCORED and step_up.scoring:
        merchant_name = data.merchant.name if data.merchant else None
        assessment = stepup.assess(
            conn,
            transfer_id=transfer_id,
            user_id=source.user_id,
            account_id=source.account_id,
            kind=kind.value,
            amount=amount,
            destination_wallet_id=destination.id if destination is not None else None,
            merchant=merchant_name,
            at=at,
            timezone=source.timezone,
            own_step_up_amount=source.step_up_amount,
            policy=step_up,
        )
        if assessment.decision is RiskDecision.BLOCK:
            if not ledger.covers(conn, source.account_id, amount):
                raise InsufficientFunds(
                    "the wallet's available balance does not cover this amount", field="amount"
                )
            raise TransferBlocked(
                "this transfer looks like fraud and was refused; nothing was held or moved",
                user_id=source.user_id,
                wallet_id=source.id,
                amount=amount,
                currency=currency,
                kind=kind.value,
                score=assessment.score,
                reasons=assessment.reasons,
            )
        if assessment.decision is RiskDecision.STEP_UP:
            held = _transfer_row_out(
                transfer_id, data, source, destination, status=PENDING_VERIFICATION, at=at
            )
            repository.insert_transfer(conn, _transfer_values(held, entry_id=None))
            stepup.hold_for_verification(
                conn,
                keyring,
                transfer_id=transfer_id,
                user_id=source.user_id,
                account_id=source.account_id,
                amount=amount,
                currency=currency,
                assessment=assessment,
                actor=actor_of(acting_user_id),
                at=at,
                policy=step_up,
            )
            return held
    return _execute(
        conn,
        keyring,
        data,
        transfer_id=transfer_id,
        source=source,
        destination=destination,
        payment=payment,
        at=at,
    )


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
    if wallet is None or (acting_user_id is not None and wallet.user_id != acting_user_id):
        return False
    record_event(
        conn,
        type=events.PAYMENT_FAILED,
        user_id=wallet.user_id,
        at=at,
        data={
            "wallet_id": wallet.id,
            "amount": data.amount.model_dump(mode="json"),
            "merchant": data.merchant.model_dump(mode="json", exclude_none=True),
            "reason": reason.value,
            "occurred_at": at.isoformat(),
        },
    )
    return True


PENDING_VERIFICATION = "pending_verification"
"""A transfer held for the owner's one-time code: money held, nothing posted."""
SUCCEEDED = "succeeded"
"""A transfer whose entry is posted: the money moved."""

_SCORED = frozenset({TransferKind.PAYMENT, TransferKind.P2P, TransferKind.WITHDRAWAL})
"""Money leaving the user: scored by the risk rules (allocations stay among own wallets)."""


def _transfer_row_out(
    transfer_id: str,
    data: TransferCreate,
    source: AnyRow,
    destination: AnyRow | None,
    *,
    status: str,
    at: datetime,
) -> TransferOut:
    return TransferOut(
        id=transfer_id,
        kind=data.kind,
        status=status,
        user_id=source.user_id,
        source=source.id,
        destination=destination.id if destination is not None else None,
        amount=data.amount,
        merchant=data.merchant,
        refunded=money(0, data.amount.currency) if data.kind is TransferKind.PAYMENT else None,
        memo=data.memo,
        created_at=at,
    )


def _transfer_values(transfer: TransferOut, *, entry_id: str | None) -> dict[str, Any]:
    merchant = transfer.merchant
    return {
        "id": transfer.id,
        "kind": transfer.kind.value,
        "status": transfer.status,
        "user_id": transfer.user_id,
        "source_wallet_id": transfer.source,
        "destination_wallet_id": transfer.destination,
        "amount": transfer.amount.value,
        "currency": transfer.amount.currency,
        "merchant_name": merchant.name if merchant else None,
        "merchant_category": merchant.category if merchant else None,
        "refund_of": transfer.refund_of,
        "memo": transfer.memo,
        "entry_id": entry_id,
        "created_at": transfer.created_at,
    }


def complete_held_transfer(
    conn: Connection, keyring: Keyring, transfer_id: str, *, at: datetime
) -> TransferOut:
    """Post a transfer that waited for step-up verification (its hold already released).

    Raises like `create_transfer` when it can no longer happen (a wallet closed or frozen,
    the money gone); the caller's transaction then rolls back and the hold stays.
    """
    row = repository.get_transfer(conn, transfer_id)
    if row is None or row.status != PENDING_VERIFICATION:
        raise TransferNotFound(f"transfer {transfer_id} is not waiting for verification")
    ids = {"source": row.source_wallet_id}
    if row.destination_wallet_id is not None:
        ids["destination"] = row.destination_wallet_id
    wallets = _load(conn, ids, None, own=set())
    source, destination = wallets["source"], wallets.get("destination")
    if source.frozen_at is not None:
        raise WalletFrozen(f"wallet {source.id} is frozen", field="source")
    merchant = None
    if row.merchant_name is not None:
        merchant = Merchant.model_construct(name=row.merchant_name, category=row.merchant_category)
    data = TransferCreate.model_construct(
        kind=TransferKind(row.kind),
        source=row.source_wallet_id,
        destination=row.destination_wallet_id,
        amount=PositiveMoney.model_construct(value=int(row.amount), currency=row.currency),
        merchant=merchant,
        refund_of=None,
        memo=row.memo,
    )
    return _execute(
        conn,
        keyring,
        data,
        transfer_id=transfer_id,
        source=source,
        destination=destination,
        payment=None,
        at=at,
        created_at=as_utc(row.created_at),
    )


def _execute(
    conn: Connection,
    keyring: Keyring,
    data: TransferCreate,
    *,
    transfer_id: str,
    source: AnyRow | None,
    destination: AnyRow | None,
    payment: AnyRow | None,
    at: datetime,
    created_at: datetime | None = None,
) -> TransferOut:
    """Post the entry, write (or complete) the transfer row and record its events.

    `created_at` is given when completing a held transfer: its row exists and is updated.
    """
    amount, currency = data.amount.value, data.amount.currency
    kind = data.kind
    occurred_at = at.isoformat()
    owner = source if source is not None else destination
    assert owner is not None
    outside = (
        system_account_id(_outside[kind], currency, spread_by=transfer_id)
        if kind in _outside
        else ""
    )
    posted = ledger.post_entry(
        conn,
        kind=kind.value,
        reference=transfer_id,
        currency=currency,
        legs=[
            Leg(source.account_id if source is not None else outside, -amount),
            Leg(destination.account_id if destination is not None else outside, amount),
        ],
        at=at,
    )
    merchant = data.merchant
    if payment is not None:
        merchant = Merchant.model_construct(
            name=payment.merchant_name, category=payment.merchant_category
        )
    transfer = TransferOut(
        id=transfer_id,
        kind=kind,
        status="succeeded",
        user_id=owner.user_id,
        source=source.id if source is not None else None,
        destination=destination.id if destination is not None else None,
        amount=data.amount,
        merchant=merchant,
        refund_of=payment.id if payment is not None else None,
        refunded=money(0, currency) if kind is TransferKind.PAYMENT else None,
        memo=data.memo,
        created_at=created_at or at,
    )
    if created_at is None:
        repository.insert_transfer(conn, _transfer_values(transfer, entry_id=posted.entry_id))
    else:
        repository.complete_transfer(conn, transfer_id, entry_id=posted.entry_id)
    amount_json = {"value": amount, "currency": currency}
    base = {"amount": amount_json, "transfer_id": transfer_id, "occurred_at": occurred_at}

    def balance_after(wallet: AnyRow) -> dict[str, Any]:
        return {"value": posted.balances_after[wallet.account_id], "currency": currency}

    if kind is TransferKind.TOP_UP:
        assert destination is not None
        record_event(
            conn,
            type=events.TOP_UP_SUCCEEDED,
            user_id=destination.user_id,
            at=at,
            data={**base, "wallet_id": destination.id, "balance_after": balance_after(destination)},
        )
    elif kind is TransferKind.PAYMENT:
        assert source is not None and data.merchant is not None
        record_event(
            conn,
            type=events.PAYMENT_SUCCEEDED,
            user_id=source.user_id,
            at=at,
            data={
                **base,
                "wallet_id": source.id,
                "balance_after": balance_after(source),
                "merchant": data.merchant.model_dump(exclude_none=True),
            },
        )
    elif kind is TransferKind.WITHDRAWAL:
        assert source is not None
        record_event(
            conn,
            type=events.WITHDRAWAL_SUCCEEDED,
            user_id=source.user_id,
            at=at,
            data={**base, "wallet_id": source.id, "balance_after": balance_after(source)},
        )
    elif kind is TransferKind.P2P:
        assert source is not None and destination is not None
        sender = users.get_user(conn, keyring, source.user_id).name
        receiver = users.get_user(conn, keyring, destination.user_id).name
        record_event(
            conn,
            type=events.TRANSFER_SENT,
            user_id=source.user_id,
            at=at,
            data={
                **base,
                "wallet_id": source.id,
                "balance_after": balance_after(source),
                "counterparty": receiver,
            },
        )
        record_event(
            conn,
            type=events.TRANSFER_RECEIVED,
            user_id=destination.user_id,
            at=at,
            data={
                **base,
                "wallet_id": destination.id,
                "balance_after": balance_after(destination),
                "counterparty": sender,
            },
        )
    elif kind is TransferKind.ALLOCATION:
        assert source is not None and destination is not None
        record_event(
            conn,
            type=events.ALLOCATION_SUCCEEDED,
            user_id=source.user_id,
            at=at,
            data={**base, "source_wallet_id": source.id, "destination_wallet_id": destination.id},
        )
    else:
        assert destination is not None and payment is not None
        record_event(
            conn,
            type=events.REFUND_SUCCEEDED,
            user_id=destination.user_id,
            at=at,
            data={
                **base,
                "wallet_id": destination.id,
                "refund_of": payment.id,
                "balance_after": balance_after(destination),
                "merchant": merchant.model_dump(exclude_none=True) if merchant else {},
            },
        )
    if source is not None and source.kind == "main":
        _check_low_balance(
            conn,
            source,
            before=posted.balances_after[source.account_id] + amount,
            after=posted.balances_after[source.account_id],
            currency=currency,
            at=at,
        )
    return transfer


_outside = {
    TransferKind.TOP_UP: SystemAccount.TOP_UP_CLEARING,
    TransferKind.PAYMENT: SystemAccount.MERCHANT_SETTLEMENT,
    TransferKind.REFUND: SystemAccount.MERCHANT_SETTLEMENT,
    TransferKind.WITHDRAWAL: SystemAccount.WITHDRAWAL_CLEARING,
}


def _check_low_balance(
    conn: Connection, wallet: AnyRow, *, before: int, after: int, currency: str, at: datetime
) -> None:
    """Record `wallet.balance.low` when a debit takes the main wallet below the threshold."""
    threshold = int(wallet.low_balance_threshold)
    if before >= threshold > after:
        record_event(
            conn,
            type=events.BALANCE_LOW,
            user_id=wallet.user_id,
            at=at,
            data={
                "wallet_id": wallet.id,
                "balance": {"value": after, "currency": currency},
                "threshold": {"value": threshold, "currency": currency},
                "occurred_at": at.isoformat(),
            },
        )


def _transfer_out(row: AnyRow) -> TransferOut:
    currency = row.currency
    merchant = None
    if row.merchant_name is not None:
        merchant = Merchant.model_construct(name=row.merchant_name, category=row.merchant_category)
    return TransferOut(
        id=row.id,
        kind=TransferKind(row.kind),
        status=row.status,
        user_id=row.user_id,
        source=row.source_wallet_id,
        destination=row.destination_wallet_id,
        amount=money(int(row.amount), currency),
        merchant=merchant,
        refund_of=row.refund_of,
        refunded=money(int(row.refunded_amount), currency) if row.kind == "payment" else None,
        memo=row.memo,
        created_at=as_utc(row.created_at),
    )


def get_transfer(conn: Connection, transfer_id: str, *, acting_user_id: str | None) -> TransferOut:
    """A transfer the caller took part in (as payer or payee); others are 'not found'."""
    row = repository.get_transfer(conn, transfer_id) if is_id(transfer_id, "trf") else None
    if row is not None and acting_user_id is not None and row.user_id != acting_user_id:
        party_ids = {row.source_wallet_id, row.destination_wallet_id} - {None}
        owners = {repository.wallet_owner(conn, w) for w in party_ids}
        if acting_user_id not in owners:
            row = None
    if row is None:
        raise TransferNotFound(f"transfer {transfer_id} not found")
    return _transfer_out(row)


def close_sub_wallet(
    conn: Connection, wallet_id: str, *, acting_user_id: str | None, at: datetime
) -> WalletOut:
    """Close a sub-wallet; whatever it holds goes back to the main wallet first."""
    visible = _visible_wallet(conn, wallet_id, acting_user_id)
    if visible.kind != "sub":
        raise InvalidTransfer("only a sub-wallet can be closed", field="wallet_id")
    main_id = users.get_main_wallet_id(conn, visible.user_id)
    locked = _load(conn, {"wallet_id": wallet_id, "main": main_id}, None, own=set())
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
                "status": "succeeded",
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
    record_event(
        conn,
        type=events.SUB_WALLET_CLOSED,
        user_id=sub.user_id,
        at=at,
        data={
            "wallet_id": sub.id,
            "name": visible.name,
            "moved": {"value": balance, "currency": sub.currency},
            "occurred_at": at.isoformat(),
        },
    )
    return get_wallet(conn, wallet_id, acting_user_id=acting_user_id, at=at)


def list_transactions(
    conn: Connection,
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
    for row in rows[:limit]:
        counterparty = None
        if row.source_wallet_id and row.destination_wallet_id:
            counterparty = (
                row.destination_wallet_id
                if row.source_wallet_id == wallet.id
                else row.source_wallet_id
            )
        merchant = None
        if row.merchant_name is not None:
            merchant = Merchant.model_construct(
                name=row.merchant_name, category=row.merchant_category
            )
        items.append(
            TransactionOut(
                id=row.id,
                transfer_id=row.transfer_id,
                kind=row.kind,
                amount=money(int(row.amount), row.currency),
                balance_after=money(int(row.balance_after), row.currency),
                merchant=merchant,
                counterparty_wallet_id=counterparty,
                memo=row.memo,
                created_at=as_utc(row.created_at),
            )
        )
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return Page[TransactionOut](items=items, next_cursor=next_cursor)
