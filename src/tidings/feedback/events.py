"""Follow-up (回访) event types."""

from __future__ import annotations

from tidings.events import EventData, EventType
from tidings.kit.text import LongText, ShortText

SURVEY_INVITATION = "followup.survey.invitation"
TICKET_ANSWERED = "followup.ticket.answered"


class SurveyInvitation(EventData):
    survey_id: str | None = None
    topic: ShortText
    """The service moment asked about, e.g. 借款申请."""


class TicketAnswered(EventData):
    ticket_id: str | None = None
    summary: LongText


CATALOGUE = (
    EventType(SURVEY_INVITATION, SurveyInvitation, "A short satisfaction survey after a service."),
    EventType(TICKET_ANSWERED, TicketAnswered, "An answer to the user's question or complaint."),
)
