"""The follow-up domain's errors (rendered as problem+json by the one handler)."""

from __future__ import annotations

from tidings.kit.errors import Conflict, NotFound, Unprocessable


class TicketNotFound(NotFound, code="ticket-not-found"):
    pass


class SurveyNotFound(NotFound, code="survey-not-found"):
    pass


class InvitationNotFound(NotFound, code="invitation-not-found"):
    pass


class FaqNotFound(NotFound, code="faq-not-found"):
    pass


class AlreadyAnswered(Conflict, code="survey-already-answered", title="Already answered"):
    """One answer per invitation."""


class InvitationExpired(Conflict, code="invitation-expired", title="Invitation expired"):
    pass


class InvalidAnswer(Unprocessable, code="invalid-answer", title="Invalid answer"):
    pass


class TicketClosed(Conflict, code="ticket-closed", title="Ticket closed"):
    pass


class InvalidPeriod(Unprocessable, code="invalid-period", title="Invalid period"):
    pass
