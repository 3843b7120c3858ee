"""Errors of the wallets domain."""

from __future__ import annotations

from tidings.kit.errors import Conflict, Forbidden, NotFound, Unprocessable


class WalletNotFound(NotFound, code="wallet-not-found"):
    """No such wallet, or not one the caller may use."""


class TransferNotFound(NotFound, code="transfer-not-found"):
    """No such transfer, or not one the caller may see."""


class WalletClosed(Unprocessable, code="wallet-closed", title="Wallet closed"):
    """The wallet was closed and takes no more money movements."""


class WalletFrozen(Unprocessable, code="wallet-frozen", title="Wallet frozen"):
    """The wallet is frozen ("not me" or an operator): no money leaves it; incoming lands."""


class InvalidTransfer(Unprocessable, code="invalid-transfer", title="Invalid transfer"):
    """The transfer's fields do not fit its kind (e.g. a payment without a merchant)."""


class RefundExceedsPayment(
    Unprocessable, code="refund-exceeds-payment", title="Refund exceeds payment"
):
    """Refunds may not add up to more than the payment."""


class OperatorOnly(Forbidden, code="operator-only"):
    """Only an operator may do this: money arriving from outside (a top-up) or going back
    from the merchant side (a refund) is confirmed by the company's backend."""


class RefundOfUnsettledPayment(
    Conflict, code="refund-of-unsettled-payment", title="Payment not settled"
):
    """Only a succeeded payment can be refunded: a held one has moved no money yet, and a
    cancelled or expired one never will."""


class AmountAboveMaximum(Unprocessable, code="amount-above-maximum", title="Amount above maximum"):
    """One transfer moves at most `TIDINGS_MAX_AMOUNT` minor units."""
