"""Errors of the credit domain."""

from __future__ import annotations

from tidings.kit.errors import Conflict, Forbidden, NotFound, Unprocessable


class ProductNotFound(NotFound, code="credit-product-not-found"):
    pass


class ApplicationNotFound(NotFound, code="credit-application-not-found"):
    """No such application, or not one the caller may see."""


class LineNotFound(NotFound, code="credit-line-not-found"):
    """No such credit line, or not one the caller may see."""


class DrawdownNotFound(NotFound, code="drawdown-not-found"):
    """No such drawdown, or not one the caller may see."""


class ApplicationPending(
    Conflict, code="credit-application-exists", title="Credit application exists"
):
    """The user already has a line or an application waiting for a decision."""


class DecisionNotAllowed(
    Conflict, code="credit-decision-not-allowed", title="Decision not allowed"
):
    """An approval is final; only an automatic rejection may be overturned by an operator."""


class LineNotActive(Unprocessable, code="credit-line-not-active", title="Credit line not active"):
    pass


class InvalidDrawdown(Unprocessable, code="invalid-drawdown", title="Invalid drawdown"):
    """A term, method, amount or currency the product does not offer."""


class AboveAvailableLimit(
    Unprocessable, code="above-available-limit", title="Above available limit"
):
    pass


class RepaymentExceedsOwed(
    Unprocessable, code="repayment-exceeds-owed", title="Repayment exceeds what is owed"
):
    """More than what settles the loan today."""


class DrawdownSettled(Unprocessable, code="drawdown-settled", title="Drawdown already settled"):
    pass


class OperatorOnly(Forbidden, code="operator-only"):
    """Only an operator may do this."""
