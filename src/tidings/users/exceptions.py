"""Errors of the users domain."""

from __future__ import annotations

from tidings.kit.errors import Conflict, Forbidden, NotFound


class UserNotFound(NotFound, code="user-not-found"):
    """No such user, or not one the caller may see."""


class ExternalIdTaken(Conflict, code="external-id-taken", title="External id already in use"):
    """Another user already has this external id."""


class StepUpAmountRaiseNeedsOperator(
    Forbidden,
    code="step-up-amount-raise-needs-operator",
    title="Raising the step-up amount needs the operator",
):
    """A user token may lower its own step-up amount, never raise or remove it: a stolen
    session would otherwise undo the owner's own protection before moving money."""


class ContactChangeNeedsCode(
    Forbidden, code="contact-change-needs-code", title="Contact change needs a code"
):
    """A user token changes the phone or email only with a code sent to the current contact
    (`POST /v1/users/{user_id}/contact-changes`), or a stolen session could take the account."""


class UserErased(Conflict, code="user-erased", title="User erased"):
    """The person's data was erased (PIPL): the account takes no new personal data or token."""
