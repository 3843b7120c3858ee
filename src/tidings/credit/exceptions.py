"""Errors of the credit domain."""

from __future__ import annotations

from tidings.kit.errors import Conflict, Forbidden, NotFound, Unprocessable


class ProductNotFound(NotFound):
    code = "credit-product-not-found"


class ApplicationNotFound(NotFound):
    """No such application, or not one the caller may see."""

    code = "credit-application-not-found"


class LineNotFound(NotFound):
    """No such credit line, or not one the caller may see."""

    code = "credit-line-not-found"


class DrawdownNotFound(NotFound):
    """No such drawdown, or not one the caller may see."""

    code = "drawdown-not-found"


class ApplicationPending(Conflict):
    """The user already has a line or an application waiting for a decision."""

    code = "credit-application-exists"
    title = "Credit application exists"


class DecisionNotAllowed(Conflict):
    """An approval is final; only an automatic rejection may be overturned by an operator."""

    code = "credit-decision-not-allowed"
    title = "Decision not allowed"


class LineNotActive(Unprocessable):
    code = "credit-line-not-active"
    title = "Credit line not active"


class InvalidDrawdown(Unprocessable):
    """A term, method, amount or currency the product does not offer."""

    code = "invalid-drawdown"
    title = "Invalid drawdown"


class AboveAvailableLimit(Unprocessable):
    code = "above-available-limit"
    title = "Above available limit"


class RepaymentExceedsOwed(Unprocessable):
    """More than what settles the loan today."""

    code = "repayment-exceeds-owed"
    title = "Repayment exceeds what is owed"


class DrawdownSettled(Unprocessable):
    code = "drawdown-settled"
    title = "Drawdown already settled"


class OperatorOnly(Forbidden):
    """Only an operator may do this."""

    code = "operator-only"
