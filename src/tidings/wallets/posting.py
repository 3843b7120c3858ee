"""Moving the money of a transfer: lock its wallets, post its balanced ledger entry, write (or
complete) its row and record the events its kind declares, all in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection

from tidings.insights.budgets import DEFAULT_REWARDS, RewardPolicy
from tidings.insights.service import tracking
from tidings.insights.service.tracking import TrackedWallet
from tidings.kit.clock import as_utc
from tidings.kit.ids import is_id, new_id
from tidings.kit.money import money
from tidings.kit.tables import AnyRow
from tidings.kit.visibility import is_visible
from tidings.ledger import service as ledger
from tidings.ledger.service import Leg, PostedEntry, system_account_id
from tidings.privacy.crypto import Keyring
from tidings.privacy.userkeys import FreeText
from tidings.users import service as users
from tidings.wallets import events, repository
from tidings.wallets.events import MerchantRef, WalletEvent
from tidings.wallets.exceptions import WalletClosed, WalletFrozen, WalletNotFound
from tidings.wallets.kinds import KINDS, Detail, Notice, Side
from tidings.wallets.repository import LockedWallet
from tidings.wallets.schemas import Merchant, TransferKind, TransferOut, TransferStatus


def require_open(wallet: LockedWallet, field: str) -> None:
    if wallet.status != "open":
        raise WalletClosed(f"wallet {wallet.id} is closed", field=field)


def require_not_frozen(source: LockedWallet) -> None:
    """No money leaves a frozen wallet (incoming money still lands)."""
    if source.frozen_at is not None:
        raise WalletFrozen(
            f"wallet {source.id} is frozen; money cannot leave it until an operator unfreezes it",
            field="source",
        )


def lock_wallets(
    conn: Connection,
    wallet_ids: Mapping[str, str],
    acting_user_id: str | None,
    *,
    own: Collection[str],
    open_only: bool = True,
) -> dict[str, LockedWallet]:
    """Lock the named wallets (field → id); those in `own` must belong to the caller."""
    for field, wallet_id in wallet_ids.items():
        if not is_id(wallet_id, "wal"):
            raise WalletNotFound(f"wallet {wallet_id} not found", field=field)
    rows = repository.lock_wallets(conn, sorted(set(wallet_ids.values())))
    loaded: dict[str, LockedWallet] = {}
    for field, wallet_id in wallet_ids.items():
        row = rows.get(wallet_id)
        if row is None or (field in own and not is_visible(row, acting_user_id)):
            raise WalletNotFound(f"wallet {wallet_id} not found", field=field)
        if open_only:
            require_open(row, field)
        loaded[field] = row
    return loaded


MEMO: Final = "transfers.memo"
"""The context a memo is sealed under, with the payer's own key (crypto-shredding)."""


def transfer_values(
    transfer: TransferOut, *, entry_id: str | None, text: FreeText
) -> dict[str, Any]:
    """The transfer's row (the entry that moved its money, once posted)."""
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
        "memo": text.seal(transfer.user_id, transfer.memo, context=MEMO),
        "entry_id": entry_id,
        "created_at": transfer.created_at,
    }


def stored_merchant(row: AnyRow) -> Merchant | None:
    """The merchant a transfer row (or a row joined with one) names, if any."""
    if row.merchant_name is None:
        return None
    return Merchant.model_construct(name=row.merchant_name, category=row.merchant_category)


def transfer_out(row: AnyRow, text: FreeText) -> TransferOut:
    currency = row.currency
    kind = TransferKind(row.kind)
    return TransferOut(
        id=row.id,
        kind=kind,
        status=row.status,
        user_id=row.user_id,
        source=row.source_wallet_id,
        destination=row.destination_wallet_id,
        amount=money(int(row.amount), currency),
        merchant=stored_merchant(row),
        refund_of=row.refund_of,
        refunded=money(int(row.refunded_amount), currency) if KINDS[kind].refundable else None,
        memo=text.open(row.user_id, row.memo, context=MEMO),
        created_at=as_utc(row.created_at),
    )


def post_transfer(
    conn: Connection,
    keyring: Keyring,
    transfer: TransferOut,
    *,
    source: LockedWallet | None,
    destination: LockedWallet | None,
    at: datetime,
    held: bool = False,
    rewards: RewardPolicy = DEFAULT_REWARDS,
    paid_at: datetime | None = None,
) -> TransferOut:
    """Post the entry, write the transfer's row (complete it, when it was `held` for a code)
    and record the events its kind declares; returns the transfer, succeeded. A new transfer
    comes as it stands once posted. A sub-wallet's budget and goal are tracked in the same
    transaction (a reached goal's reward is posted here too); a refund gives back the budget
    period of its payment, made at `paid_at`."""
    rule = KINDS[transfer.kind]
    amount, currency = transfer.amount.value, transfer.amount.currency
    outside = (
        system_account_id(rule.outside, currency, spread_by=transfer.id)
        if rule.outside is not None
        else ""
    )
    posted = ledger.post_entry(
        conn,
        kind=transfer.kind.value,
        reference=transfer.id,
        currency=currency,
        legs=[
            Leg(source.account_id if source is not None else outside, -amount),
            Leg(destination.account_id if destination is not None else outside, amount),
        ],
        at=at,
    )
    if held:
        repository.complete_transfer(conn, transfer.id, entry_id=posted.entry_id)
        done = transfer.model_copy(update={"status": TransferStatus.SUCCEEDED})
    else:
        done = transfer
        values = transfer_values(done, entry_id=posted.entry_id, text=FreeText(conn, keyring))
        repository.insert_transfer(conn, values)
    wallets = {Side.SOURCE: source, Side.DESTINATION: destination}
    moved = _Moved(conn, keyring, done, wallets, posted)
    for notice in rule.notices:
        owner = moved.wallet(notice.to)
        events.record(
            conn,
            notice.event_type,
            moved.event(notice),
            user_id=owner.user_id,
            at=at,
            occurred_at=at,
        )
    if source is not None and source.kind == "main":
        after = posted.balances_after[source.account_id]
        _check_low_balance(conn, source, before=after + amount, after=after, at=at)
    budgeted = wallets[rule.budget_side] if rule.budget_side is not None else None
    if budgeted is not None and budgeted.budget_limit is not None:
        change = amount if rule.budget_side is Side.SOURCE else -amount
        tracking.track_budget(
            conn, _tracked(budgeted), spent_change=change, spent_at=paid_at or at, at=at
        )
    saver = wallets[rule.goal_side] if rule.goal_side is not None else None
    if saver is not None and saver.goal_target is not None:
        balance = posted.balances_after[saver.account_id]
        reward = tracking.track_goal(conn, _tracked(saver), balance=balance, at=at, rewards=rewards)
        if reward:
            _pay_reward(conn, keyring, saver, reward, at=at)
    return done


def _tracked(wallet: LockedWallet) -> TrackedWallet:
    """A locked sub-wallet as its budget and goal tracking read it."""
    return TrackedWallet(
        id=wallet.id,
        user_id=wallet.user_id,
        account_id=wallet.account_id,
        name=wallet.name,
        currency=wallet.currency,
        timezone=wallet.timezone,
        locale=wallet.locale,
        budget_limit=wallet.budget_limit,
        budget_period=wallet.budget_period,
        alert_percent=wallet.budget_alert_percent,
        goal_target=wallet.goal_target,
    )


def _pay_reward(
    conn: Connection, keyring: Keyring, wallet: LockedWallet, amount: int, *, at: datetime
) -> None:
    """The reward of a reached goal: a transfer of kind `reward` from the rewards account into
    the sub-wallet, in the transaction that reached it."""
    reward = TransferOut(
        id=new_id("trf"),
        kind=TransferKind.REWARD,
        status=TransferStatus.SUCCEEDED,
        user_id=wallet.user_id,
        source=None,
        destination=wallet.id,
        amount=money(amount, wallet.currency),
        memo="savings goal reached",
        created_at=at,
    )
    post_transfer(conn, keyring, reward, source=None, destination=wallet, at=at)


@dataclass(frozen=True, slots=True)
class _Moved:
    """A posted transfer, as its events describe it."""

    conn: Connection
    keyring: Keyring
    transfer: TransferOut
    wallets: dict[Side, LockedWallet | None]
    posted: PostedEntry

    def wallet(self, side: Side) -> LockedWallet:
        wallet = self.wallets[side]
        assert wallet is not None, f"a {self.transfer.kind.value} has no {side.value} wallet"
        return wallet

    def event(self, notice: Notice) -> WalletEvent:
        """The notice's typed data."""
        values: dict[str, Any] = {"amount": self.transfer.amount, "transfer_id": self.transfer.id}
        for detail in notice.says:
            values.update(_DETAILS[detail](self, notice.to))
        return notice.data(**values)


def _wallet_and_balance(moved: _Moved, side: Side) -> dict[str, Any]:
    wallet = moved.wallet(side)
    balance = moved.posted.balances_after[wallet.account_id]
    # Built, not validated: a balance may go past what one request may say (`MAX_MINOR_UNITS`).
    return {"wallet_id": wallet.id, "balance_after": money(balance, wallet.currency)}


def _merchant(moved: _Moved, _: Side) -> dict[str, Any]:
    merchant = moved.transfer.merchant
    assert merchant is not None, f"a {moved.transfer.kind.value} names its merchant"
    # Built, not validated again: the request (or the payment refunded) checked it already.
    return {"merchant": MerchantRef.model_construct(**merchant.model_dump(exclude_none=True))}


def _counterparty(moved: _Moved, side: Side) -> dict[str, Any]:
    other = moved.wallet(Side.DESTINATION if side is Side.SOURCE else Side.SOURCE)
    return {"counterparty": users.get_user(moved.conn, moved.keyring, other.user_id).name}


def _refund_of(moved: _Moved, _: Side) -> dict[str, Any]:
    return {"refund_of": moved.transfer.refund_of}


def _both_wallets(moved: _Moved, _: Side) -> dict[str, Any]:
    return {
        "source_wallet_id": moved.wallet(Side.SOURCE).id,
        "destination_wallet_id": moved.wallet(Side.DESTINATION).id,
    }


_DETAILS: Final[dict[Detail, Callable[[_Moved, Side], dict[str, Any]]]] = {
    Detail.WALLET: _wallet_and_balance,
    Detail.MERCHANT: _merchant,
    Detail.COUNTERPARTY: _counterparty,
    Detail.REFUND_OF: _refund_of,
    Detail.BOTH_WALLETS: _both_wallets,
}
"""What each detail adds to an event's data, from the posted transfer and the event's side."""


def _check_low_balance(
    conn: Connection, wallet: LockedWallet, *, before: int, after: int, at: datetime
) -> None:
    """Record `wallet.balance.low` when a debit takes the main wallet below the threshold."""
    threshold = int(wallet.low_balance_threshold)
    if before >= threshold > after:
        low = events.BalanceLow(
            wallet_id=wallet.id,
            balance=money(after, wallet.currency),
            threshold=money(threshold, wallet.currency),
        )
        events.record(conn, events.BALANCE_LOW, low, user_id=wallet.user_id, at=at, occurred_at=at)
