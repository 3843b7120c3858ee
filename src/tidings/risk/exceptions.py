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


class ContactRecentlyChanged(
    TransferBlocked, code="contact-recently-changed", title="Contact recently changed"
):
    """A large outgoing transfer in the cooling period after a phone or email change: refused,
    not stepped up, because the code could reach whoever made the change."""


class ReportedTimeOutOfWindow(Unprocessable, code="time-out-of-window", title="Time out of window"):
    """A reported `at` more than a few minutes from now: the backend reports what happens as
    it happens, so an old (or future) moment is a forged history, not a late report."""


class VerificationNotFound(NotFound, code="verification-not-found"):
    """No step-up verification for this transfer, or not one the caller may see."""


class TransferNotScored(NotFound, code="transfer-not-scored"):
    """No online-model observation for this transfer (scored before the model was on, blocked
    by the rules, or not an outgoing transfer)."""


class VerificationNotPending(
    Conflict, code="verification-not-pending", title="Verification not pending"
):
    """The transfer was already verified, cancelled or expired."""


class WrongVerificationCode(
    Unprocessable, code="verification-code-wrong", title="Wrong verification code"
):
    """The code does not match; `attempts_left` says how many tries remain."""


class VerificationFailed(Unprocessable, code="verification-failed", title="Verification failed"):
    """The last attempt was wrong: the transfer is cancelled and its hold released."""


class VerificationExpired(
    AppError, status=410, code="verification-expired", title="Verification expired"
):
    """The code or the hold ran out of time: the transfer is cancelled."""


class NoTrustedContact(
    Unprocessable, code="no-trusted-contact", title="No trusted contact for a code"
):
    """No contact the user has had for longer than the cooling period to send a code to."""


class NothingToChange(Unprocessable, code="nothing-to-change", title="Nothing to change"):
    """A contact change that names no new phone or email."""


class ContactChangeNotFound(NotFound, code="contact-change-not-found"):
    """No contact change with this id for the caller."""


class ContactChangeNotPending(
    Conflict, code="contact-change-not-pending", title="Contact change not pending"
):
    """The contact change was already confirmed, failed or expired."""


class ContactChangeExpired(
    AppError, status=410, code="contact-change-expired", title="Contact change expired"
):
    """The code ran out of time; ask for a new one."""
