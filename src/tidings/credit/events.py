"""Credit-line event types: every milestone of a borrower's journey."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from tidings.events import EventData, EventType
from tidings.kit.money import Money
from tidings.kit.text import ShortText

APPLICATION_RECEIVED = "credit.application.received"
APPLICATION_UNDER_REVIEW = "credit.application.under_review"
APPLICATION_APPROVED = "credit.application.approved"
APPLICATION_REJECTED = "credit.application.rejected"
LIMIT_RAISED = "credit.limit.raised"
LIMIT_LOWERED = "credit.limit.lowered"
LOAN_DISBURSED = "credit.loan.disbursed"
REPAYMENT_DUE = "credit.repayment.due"
REPAYMENT_RECEIVED = "credit.repayment.received"
OVERDUE = "credit.overdue"


class ApplicationEvent(EventData):
    application_id: str | None = None


class ApplicationApproved(ApplicationEvent):
    limit: Money


class ApplicationRejected(ApplicationEvent):
    reason: ShortText | None = None


class LimitChangeReason(StrEnum):
    """Why a limit changed, in words a borrower is told (one plain phrase per reason)."""

    OVERDUE = "overdue"
    """A repayment is overdue now."""
    REPAID_ON_TIME = "repaid_on_time"
    """Repaid on time, never late."""
    ACCOUNT_REVIEW = "account_review"
    """An operator's review of the account as a whole."""
    RISK_CONTROL = "risk_control"
    """Unusual activity on the account."""
    REQUESTED = "requested"
    """The borrower asked for it."""


class LimitChanged(EventData):
    old_limit: Money
    new_limit: Money
    reason_code: LimitChangeReason = LimitChangeReason.ACCOUNT_REVIEW


class DrawdownEvent(EventData):
    """Something about one drawdown (a loan taken on a credit line)."""

    drawdown_id: str | None = None


class LoanDisbursed(DrawdownEvent):
    amount: Money
    term_months: int
    first_due_date: date


class RepaymentDue(DrawdownEvent):
    principal: Money | None = None
    """The installment's principal, shown beside what is due (借款2,000.00元 … 应还2,016.50元)."""
    amount_due: Money
    due_date: date
    days_before: int
    """3, 1 or 0 (the due day)."""


class RepaymentReceived(DrawdownEvent):
    amount: Money
    remaining: Money


class Overdue(DrawdownEvent):
    amount_due: Money
    due_date: date
    days_overdue: int
    penalty: Money


CATALOGUE = (
    EventType(APPLICATION_RECEIVED, ApplicationEvent, "A credit application was received."),
    EventType(APPLICATION_UNDER_REVIEW, ApplicationEvent, "The application is under review."),
    EventType(APPLICATION_APPROVED, ApplicationApproved, "Approved, with the granted limit."),
    EventType(APPLICATION_REJECTED, ApplicationRejected, "Rejected (reason when given)."),
    EventType(LIMIT_RAISED, LimitChanged, "The credit limit was raised."),
    EventType(LIMIT_LOWERED, LimitChanged, "The credit limit was lowered."),
    EventType(LOAN_DISBURSED, LoanDisbursed, "A drawdown landed in the main wallet."),
    EventType(REPAYMENT_DUE, RepaymentDue, "A repayment is due in 3 days, 1 day or today."),
    EventType(REPAYMENT_RECEIVED, RepaymentReceived, "A repayment was received."),
    EventType(OVERDUE, Overdue, "A repayment is overdue (day 1, 3, 7, 30) with the penalty."),
)
