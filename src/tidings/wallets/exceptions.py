"""Errors of the wallets domain."""

from __future__ import annotations

from tidings.kit.errors import Conflict, Forbidden, NotFound, Unprocessable


class WalletNotFound(NotFound):
    """No such wallet, or not one the caller may use."""

    code = "wallet-not-found"


class TransferNotFound(NotFound):
    """No such transfer, or not one the caller may see."""

    code = "transfer-not-found"


class WalletClosed(Unprocessable):
    """The wallet was closed and takes no more money movements."""

    code = "wallet-closed"
    title = "Wallet closed"


class WalletFrozen(Unprocessable):
    """The wallet is frozen ("not me" or an operator): no money leaves it; incoming lands."""

    code = "wallet-frozen"
    title = "Wallet frozen"


class InvalidTransfer(Unprocessable):
    """The transfer's fields do not fit its kind (e.g. a payment without a merchant)."""

    code = "invalid-transfer"
    title = "Invalid transfer"


class RefundExceedsPayment(Unprocessable):
    """Refunds may not add up to more than the payment."""

    code = "refund-exceeds-payment"
    title = "Refund exceeds payment"


class OperatorOnly(Forbidden):
    """Only an operator may do this: money arriving from outside (a top-up) or going back
    from the merchant side (a refund) is confirmed by the company's backend."""

    code = "operator-only"


class RefundOfUnsettledPayment(Conflict):
    """Only a succeeded payment can be refunded: a held one has moved no money yet, and a
    cancelled or expired one never will."""

    code = "refund-of-unsettled-payment"
    title = "Payment not settled"


class AmountAboveMaximum(Unprocessable):
    """One transfer moves at most `TIDINGS_MAX_AMOUNT` minor units."""

    code = "amount-above-maximum"
    title = "Amount above maximum"
