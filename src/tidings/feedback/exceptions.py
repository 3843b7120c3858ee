"""The follow-up domain's errors (rendered as problem+json by the one handler)."""

from __future__ import annotations

from tidings.kit.errors import Conflict, NotFound, Unprocessable


class TicketNotFound(NotFound):
    code = "ticket-not-found"


class SurveyNotFound(NotFound):
    code = "survey-not-found"


class InvitationNotFound(NotFound):
    code = "invitation-not-found"


class AlreadyAnswered(Conflict):
    """One answer per invitation."""

    code = "survey-already-answered"
    title = "Already answered"


class InvitationExpired(Conflict):
    code = "invitation-expired"
    title = "Invitation expired"


class InvalidAnswer(Unprocessable):
    code = "invalid-answer"
    title = "Invalid answer"


class TicketClosed(Conflict):
    code = "ticket-closed"
    title = "Ticket closed"


class InvalidPeriod(Unprocessable):
    code = "invalid-period"
    title = "Invalid period"
