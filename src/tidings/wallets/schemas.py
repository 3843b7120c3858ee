"""API shapes of wallets, sub-wallets and transfers."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from tidings.kit.clock import CalendarDate
from tidings.kit.money import Money, PositiveMoney
from tidings.kit.schemas import IdRef, RequestBody
from tidings.kit.text import LongText, ShortText

WalletId = Annotated[IdRef, Field(examples=["wal_01JD..."])]
TransferId = IdRef


class TransferKind(StrEnum):
    TOP_UP = "top_up"
    """Money in from outside (a bank card) to a wallet."""
    PAYMENT = "payment"
    """A purchase at a merchant."""
    P2P = "p2p"
    """Money to another user's main wallet."""
    ALLOCATION = "allocation"
    """Between a user's main wallet and one of their sub-wallets."""
    REFUND = "refund"
    """A merchant gives (part of) a payment back, to the wallet that paid."""
    WITHDRAWAL = "withdrawal"
    """Money out to the user's bank account."""
    REWARD = "reward"
    """A small reward from Tidings into a sub-wallet whose savings goal was reached (paid by
    Tidings itself, never requested)."""


class TransferStatus(StrEnum):
    """Where a transfer stands; only a held one moves on (to succeeded, cancelled or expired)."""

    PENDING_VERIFICATION = "pending_verification"
    """Held for the owner's one-time code: money held, nothing posted."""
    SUCCEEDED = "succeeded"
    """Its entry is posted: the money moved."""
    CANCELLED = "cancelled"
    """Held, then refused: the last code was wrong, or the wallet was frozen meanwhile."""
    EXPIRED = "expired"
    """Held, and nobody entered the code in time; the money was released."""


class Purpose(StrEnum):
    TRAVEL = "travel"
    SHOPPING = "shopping"
    SAVINGS = "savings"
    CUSTOM = "custom"


class BudgetIn(RequestBody):
    limit: PositiveMoney
    period: Literal["month", "week"]
    alert_percent: int = Field(
        default=80, ge=1, le=99, description="Warn once when the period's spending reaches it."
    )


class GoalIn(RequestBody):
    target: PositiveMoney
    by: CalendarDate | None = None


class SubWalletCreate(RequestBody):
    name: ShortText
    purpose: Purpose
    budget: BudgetIn | None = None
    goal: GoalIn | None = None


class BudgetOut(BaseModel):
    limit: Money
    period: Literal["month", "week"]
    period_start: date
    spent: Money
    remaining: Money
    used_percent: int
    alert_percent: int


class GoalOut(BaseModel):
    target: Money
    by: date | None
    progress_percent: int
    reached: bool


class WalletOut(BaseModel):
    id: str
    user_id: str
    kind: Literal["main", "sub"]
    name: str
    purpose: str
    status: Literal["open", "closed"]
    currency: str
    balance: Money
    available: Money
    held: Money
    budget: BudgetOut | None = None
    goal: GoalOut | None = None
    created_at: datetime
    closed_at: datetime | None = None
    frozen_at: datetime | None = Field(
        default=None, description="Set while the wallet is frozen: no money leaves it."
    )


class Merchant(RequestBody):
    name: ShortText
    category: (
        Annotated[
            str,
            StringConstraints(pattern=r"^[0-9]{4}$"),
            Field(description="ISO 18245 MCC, e.g. 5814"),
        ]
        | None
    ) = None


class TransferCreate(RequestBody):
    kind: TransferKind
    source: WalletId | None = None
    destination: WalletId | None = None
    amount: PositiveMoney
    merchant: Merchant | None = None
    refund_of: TransferId | None = None
    memo: LongText | None = None


class TransferOut(BaseModel):
    id: str
    kind: TransferKind
    status: str
    user_id: str
    source: str | None
    destination: str | None
    amount: Money
    merchant: Merchant | None = None
    refund_of: str | None = None
    refunded: Money | None = Field(default=None, description="For payments: refunded so far.")
    memo: str | None = None
    created_at: datetime


class FreezeCreate(RequestBody):
    """Why: `not_me` when the owner reports activity that was not theirs (the default for a
    user); operators may write a short reason."""

    reason: ShortText | None = None


class TransactionOut(BaseModel):
    """One entry on a wallet: money in (positive) or out (negative), and the balance after."""

    id: str
    transfer_id: str | None
    kind: str
    amount: Money
    balance_after: Money
    merchant: Merchant | None = None
    counterparty_wallet_id: str | None = None
    memo: str | None = None
    created_at: datetime


class StatementOut(BaseModel):
    """A main wallet's month: money in and out, the moves to and from the user's own
    sub-wallets on lines of their own, and the balances either side, dates in the user's time
    zone. opening + in − out − moved_to_sub_wallets + moved_from_sub_wallets = closing."""

    id: str
    wallet_id: str
    period_start: date
    period_end: date
    opening_balance: Money
    total_in: Money
    total_out: Money
    moved_to_sub_wallets: Money = Field(
        description="Allocations from this wallet to the user's own sub-wallets."
    )
    moved_from_sub_wallets: Money = Field(
        description="Money back from the user's own sub-wallets (allocations, closings)."
    )
    closing_balance: Money
    entries: int = Field(description="Ledger entries on the wallet in the month.")
    created_at: datetime
