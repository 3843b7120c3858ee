"""Errors the ledger raises; each renders as a problem document."""

from __future__ import annotations

from tidings.kit.errors import AppError, Unprocessable


class InsufficientFunds(Unprocessable, code="insufficient-funds", title="Insufficient funds"):
    """The account's available balance does not cover the debit."""


class AmountOutOfRange(Unprocessable, code="amount-out-of-range", title="Amount out of range"):
    """The posting would take a balance (or the held money) past what a 64-bit integer holds;
    refused before anything is written, so stored money stays an exact integer."""


class UnbalancedEntry(
    AppError, status=500, code="unbalanced-entry", title="Unbalanced ledger entry"
):
    """A programming error caught before the database would refuse it."""
