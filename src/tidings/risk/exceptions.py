"""Errors of the security and risk domain."""

from __future__ import annotations

from tidings.kit.errors import AppError, Conflict, Forbidden, NotFound, Unprocessable
from tidings.kit.errors import RateLimited as RateLimited  # shared with the API toolkit


class TransferBlocked(Unprocessable):
    """The risk rules refused an outgoing transfer; nothing was held or posted.

    Raised inside the transfer's transaction (which rolls back); the caller then writes the
    audit row and the user's alert in a transaction of their own (`service.record_block`).
    """

    code = "transfer-blocked"
    title = "Transfer blocked"

    def __init__(
        self,
        detail: str,
        *,
        user_id: str,
        wallet_id: str,
        amount: int,
        currency: str,
        kind: str,
        score: int,
        reasons: tuple[str, ...],
    ) -> None:
        super().__init__(detail, reasons=list(reasons))
        self.user_id = user_id
        self.wallet_id = wallet_id
        self.amount = amount
        self.currency = currency
        self.kind = kind
        self.score = score
        self.reasons = reasons


class ReportedInFuture(Unprocessable):
    """A reported `at` later than now (beyond a few minutes of clock drift)."""

    code = "time-in-future"
    title = "Time in the future"


class VerificationNotFound(NotFound):
    """No step-up verification for this transfer, or not one the caller may see."""

    code = "verification-not-found"


class TransferNotScored(NotFound):
    """No online-model observation for this transfer (scored before the model was on, blocked
    by the rules, or not an outgoing transfer)."""

    code = "transfer-not-scored"


class VerificationNotPending(Conflict):
    """The transfer was already verified, cancelled or expired."""

    code = "verification-not-pending"
    title = "Verification not pending"


class WrongVerificationCode(Unprocessable):
    """The code does not match; `attempts_left` says how many tries remain."""

    code = "verification-code-wrong"
    title = "Wrong verification code"


class VerificationFailed(Unprocessable):
    """The last attempt was wrong: the transfer is cancelled and its hold released."""

    code = "verification-failed"
    title = "Verification failed"


class VerificationExpired(AppError):
    """The code or the hold ran out of time: the transfer is cancelled."""

    status = 410
    code = "verification-expired"
    title = "Verification expired"


class UnfreezeOperatorOnly(Forbidden):
    """Only an operator unfreezes a wallet, after checking who asks."""

    code = "operator-only"
