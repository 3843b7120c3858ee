"""Errors of the security and risk domain."""

from __future__ import annotations

from tidings.kit.errors import AppError, Conflict, NotFound, Unprocessable
from tidings.risk.signals import OutgoingTransfer


class TransferBlocked(Unprocessable):
    """The risk rules refused an outgoing transfer; nothing was held or posted.

    Raised inside the transfer's transaction (which rolls back); the caller then writes the
    audit row and the user's alert in a transaction of their own (`service.record_block`).
    """

    code = "transfer-blocked"
    title = "Transfer blocked"

    def __init__(
        self, detail: str, *, transfer: OutgoingTransfer, score: int, reasons: tuple[str, ...]
    ) -> None:
        super().__init__(detail, reasons=list(reasons))
        self.transfer = transfer
        self.score = score
        self.reasons = reasons


class ContactRecentlyChanged(TransferBlocked):
    """A large outgoing transfer in the cooling period after a phone or email change: refused,
    not stepped up, because the code could reach whoever made the change."""

    code = "contact-recently-changed"
    title = "Contact recently changed"


class ReportedTimeOutOfWindow(Unprocessable):
    """A reported `at` more than a few minutes from now: the backend reports what happens as
    it happens, so an old (or future) moment is a forged history, not a late report."""

    code = "time-out-of-window"
    title = "Time out of window"


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


class NoTrustedContact(Unprocessable):
    """No contact the user has had for longer than the cooling period to send a code to."""

    code = "no-trusted-contact"
    title = "No trusted contact for a code"


class NothingToChange(Unprocessable):
    """A contact change that names no new phone or email."""

    code = "nothing-to-change"
    title = "Nothing to change"


class ContactChangeNotFound(NotFound):
    """No contact change with this id for the caller."""

    code = "contact-change-not-found"


class ContactChangeNotPending(Conflict):
    """The contact change was already confirmed, failed or expired."""

    code = "contact-change-not-pending"
    title = "Contact change not pending"


class ContactChangeExpired(AppError):
    """The code ran out of time; ask for a new one."""

    status = 410
    code = "contact-change-expired"
    title = "Contact change expired"
