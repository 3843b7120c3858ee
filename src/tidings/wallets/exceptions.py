"""Errors of the wallets domain."""

from __future__ import annotations

from tidings.kit.errors import Forbidden, NotFound, Unprocessable


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
    """Only an operator may do this (a refund comes from the merchant side)."""

    code = "operator-only"
