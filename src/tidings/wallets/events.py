"""Event types of the wallets domain: what it writes to the outbox, and what a banking core
may post to `POST /v1/events` for the same moments. Amounts are Money; extra fields are kept.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from tidings.events import EventData, EventType, record_event, stored_data
from tidings.kit.money import Money
from tidings.kit.text import ShortText

TOP_UP_SUCCEEDED = "wallet.top_up.succeeded"
PAYMENT_SUCCEEDED = "wallet.payment.succeeded"
PAYMENT_FAILED = "wallet.payment.failed"
TRANSFER_SENT = "wallet.transfer.sent"
TRANSFER_RECEIVED = "wallet.transfer.received"
ALLOCATION_SUCCEEDED = "wallet.allocation.succeeded"
REFUND_SUCCEEDED = "wallet.refund.succeeded"
WITHDRAWAL_SUCCEEDED = "wallet.withdrawal.succeeded"
BALANCE_LOW = "wallet.balance.low"
STATEMENT_READY = "wallet.statement.ready"
SUB_WALLET_CLOSED = "wallet.sub_wallet.closed"


class MerchantRef(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: ShortText
    category: str | None = None


class WalletEvent(EventData):
    wallet_id: str | None = None
    transfer_id: str | None = None


class MoneyMoved(WalletEvent):
    """A transfer's amount, told to the owner of one of its wallets."""

    amount: Money


class AtMerchant(MoneyMoved):
    """Money paid to, or refunded by, a merchant."""

    merchant: MerchantRef


class PaymentSucceeded(AtMerchant):
    balance_after: Money


class PaymentFailed(AtMerchant):
    reason: ShortText
    """`insufficient_funds`, `wallet_frozen` or `risk_blocked` (each said in plain words by
    the templates), or the core's own text. Nothing was charged."""


class RefundSucceeded(AtMerchant):
    balance_after: Money | None = None


class PeerTransfer(MoneyMoved):
    """Money between two people, told to either: the same data whether sent or received."""

    counterparty: ShortText
    balance_after: Money | None = None


class BankTransfer(MoneyMoved):
    """Money in from a bank card (a top-up) or out to the bank account (a withdrawal)."""

    balance_after: Money | None = None


class AllocationSucceeded(MoneyMoved):
    source_wallet_id: str
    destination_wallet_id: str


class BalanceLow(WalletEvent):
    balance: Money
    threshold: Money


class StatementReady(WalletEvent):
    period_start: date
    period_end: date
    total_in: Money
    total_out: Money
    closing_balance: Money
    opening_balance: Money | None = None
    moved_to_sub_wallets: Money | None = None
    """Allocations to the user's own sub-wallets (neither in nor out)."""
    moved_from_sub_wallets: Money | None = None
    """Money back from the user's own sub-wallets (neither in nor out)."""


class SubWalletClosed(WalletEvent):
    name: ShortText
    moved: Money


CATALOGUE = (
    EventType(PAYMENT_SUCCEEDED, PaymentSucceeded, "A payment at a merchant went through."),
    EventType(PAYMENT_FAILED, PaymentFailed, "A payment was refused (reason given)."),
    EventType(TRANSFER_RECEIVED, PeerTransfer, "Money arrived from another person."),
    EventType(TRANSFER_SENT, PeerTransfer, "Money was sent to another person."),
    EventType(TOP_UP_SUCCEEDED, BankTransfer, "A top-up arrived in the wallet."),
    EventType(REFUND_SUCCEEDED, RefundSucceeded, "A merchant refunded (part of) a payment."),
    EventType(WITHDRAWAL_SUCCEEDED, BankTransfer, "Money left for the bank account."),
    EventType(ALLOCATION_SUCCEEDED, AllocationSucceeded, "Money moved main ↔ sub-wallet."),
    EventType(BALANCE_LOW, BalanceLow, "The main wallet fell below the user's threshold."),
    EventType(STATEMENT_READY, StatementReady, "A periodic statement is ready."),
    EventType(SUB_WALLET_CLOSED, SubWalletClosed, "A sub-wallet was closed, money back to main."),
)


def record(
    conn: Connection,
    event_type: str,
    data: EventData,
    *,
    user_id: str,
    at: datetime,
    occurred_at: datetime | None,
) -> str:
    """Record an event from its typed data (the fields it was given); returns its id."""
    stored = stored_data(data, occurred_at=occurred_at)
    return record_event(conn, type=event_type, user_id=user_id, at=at, data=stored)
