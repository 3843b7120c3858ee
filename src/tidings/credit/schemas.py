"""API shapes of the credit line (see `../shared/API.md`, "Credit line resources")."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from tidings.credit.events import LimitChangeReason
from tidings.credit.schedule import Method
from tidings.kit.money import CurrencyCode, Money, PositiveMoney
from tidings.kit.schemas import IdRef, RequestBody
from tidings.kit.text import LongText, ShortText

Ref = Annotated[IdRef, Field(examples=["usr_01JD..."])]
ProductCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,32}$")]
TermMonths = Annotated[int, Field(ge=1, le=360, examples=[3])]


class ProductIn(RequestBody):
    """A credit product: operators create or replace one by `code`."""

    code: ProductCode
    name: ShortText
    currency: CurrencyCode = "CNY"
    annual_rate_bp: int = Field(ge=0, le=3600, description="10.80% a year is 1080.")
    fee_bp: int = Field(0, ge=0, le=2000, description="One-off fee on each drawdown, kept from it.")
    penalty_bp_per_day: int = Field(ge=0, le=100, description="0.05% a day is 5.")
    grace_days: int = Field(0, ge=0, le=30)
    terms: list[TermMonths] = Field(min_length=1, max_length=24)
    methods: list[Method] = Field(min_length=1, max_length=3)
    min_amount: PositiveMoney
    max_limit: PositiveMoney
    is_default: bool = False


class ProductOut(BaseModel):
    id: str
    code: str
    name: str
    currency: str
    annual_rate_bp: int
    fee_bp: int
    penalty_bp_per_day: int
    grace_days: int
    terms: list[int]
    methods: list[Method]
    min_amount: Money
    max_limit: Money
    is_default: bool


class ApplicationStatus(StrEnum):
    RECEIVED = "received"
    """Taken in; the decision rule has not run yet."""
    UNDER_REVIEW = "under_review"
    """Referred to an operator."""
    APPROVED = "approved"
    """A line was opened."""
    REJECTED = "rejected"
    """Refused (by the rule, which an operator may overturn, or by an operator)."""


class DecidedBy(StrEnum):
    RULE = "rule"
    """The automatic decision rule."""
    OPERATOR = "operator"
    """A person with the operator key."""


class LineStatus(StrEnum):
    ACTIVE = "active"
    """Open for drawdowns within its limit."""
    CLOSED = "closed"
    """No more drawdowns."""


class DrawdownStatus(StrEnum):
    ACTIVE = "active"
    """Something is still owed."""
    SETTLED = "settled"
    """Repaid in full."""


class InstallmentStatus(StrEnum):
    PENDING = "pending"
    """Not yet due, or due today and unpaid."""
    OVERDUE = "overdue"
    """Past its due date and not fully paid (penalties accrue after the grace days)."""
    PAID = "paid"
    """Paid in full."""


class ApplicationCreate(RequestBody):
    user_id: Ref
    requested_limit: PositiveMoney
    product: ProductCode | None = Field(None, description="Product code; the default if absent.")


class ApplicationOut(BaseModel):
    id: str
    user_id: str
    status: ApplicationStatus
    product: str
    requested_limit: Money
    granted_limit: Money | None = None
    score: int | None = None
    decided_by: DecidedBy | None = None
    reason: str | None = None
    line_id: str | None = None
    created_at: datetime
    decided_at: datetime | None = None


class DecisionIn(RequestBody):
    decision: Literal["approve", "reject"]
    limit: PositiveMoney | None = Field(None, description="Approve: the limit (default requested).")
    reason: LongText | None = None


class LineOut(BaseModel):
    id: str
    user_id: str
    product: str
    currency: str
    limit: Money
    available: Money
    outstanding: Money
    """Principal not yet repaid."""
    status: LineStatus
    auto_debit: bool
    """Repay due installments from the main wallet on the due day."""
    created_at: datetime


class LimitIn(RequestBody):
    limit: PositiveMoney
    reason: LongText = Field(description="The internal record of why (never sent).")
    reason_code: LimitChangeReason = Field(
        default=LimitChangeReason.ACCOUNT_REVIEW,
        description="Why, as the borrower is told it in one plain phrase.",
    )


class AutoDebitIn(RequestBody):
    enabled: bool


class QuoteIn(RequestBody):
    line_id: Ref
    amount: PositiveMoney
    term_months: TermMonths
    method: Method = Method.EQUAL_INSTALLMENT


DrawdownCreate = QuoteIn


class InstallmentOut(BaseModel):
    n: int
    due_date: date
    """Calendar date in the borrower's time zone."""
    principal: Money
    interest: Money
    total: Money
    paid: Money
    penalty: Money
    """Penalty recorded by the `credit.overdue` run (one entry per day overdue)."""
    status: InstallmentStatus


class QuoteOut(BaseModel):
    line_id: str
    amount: Money
    fee: Money
    disbursed: Money
    term_months: int
    method: Method
    annual_rate_bp: int
    apr: str
    """Annual percentage rate, percent with two decimals (IRR of the cash flows, fee
    included): "10.80"."""
    apr_bp: int
    total_interest: Money
    total_repayable: Money
    schedule: list[InstallmentOut]


class DrawdownOut(QuoteOut):
    id: str
    user_id: str
    status: DrawdownStatus
    start_date: date
    outstanding: Money
    """Principal not yet repaid."""
    overdue_days: int
    penalty: Money
    """Unpaid penalty, as the last `credit.overdue` run recorded it."""
    remaining: Money
    """Everything still owed on the schedule, penalty included."""
    payoff: Money
    """What settles the loan today (interest only to date)."""
    created_at: datetime
    settled_at: datetime | None = None


class RepaymentCreate(RequestBody):
    drawdown_id: Ref
    amount: PositiveMoney
    source: Ref | None = Field(None, description="A wallet of the borrower; main if absent.")


class Allocated(BaseModel):
    penalty: Money
    interest: Money
    principal: Money


class RepaymentOut(BaseModel):
    id: str
    drawdown_id: str
    amount: Money
    allocated: Allocated
    remaining: Money
    automatic: bool
    created_at: datetime


class StatementItem(BaseModel):
    """One line of a credit line's history, newest first."""

    id: str
    kind: Literal["drawdown", "repayment", "penalty", "limit_change"]
    drawdown_id: str | None
    """None for a limit change."""
    amount: Money
    """Drawdowns and penalties add to what is owed; repayments take from it; for a limit
    change, the new limit."""
    day: date | None = None
    """For a penalty: the overdue day it is for."""
    previous_limit: Money | None = None
    """For a limit change: the limit before it."""
    at: datetime
