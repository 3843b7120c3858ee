"""Follow-up (回访) event types."""

from __future__ import annotations

from tidings.events import EventData, EventType
from tidings.kit.text import LongText, ShortText

SURVEY_INVITATION = "followup.survey.invitation"
TICKET_ANSWERED = "followup.ticket.answered"
TICKET_RESOLVED = "followup.ticket.resolved"
CHANGE_PUBLISHED = "followup.change.published"
INBOUND_MESSAGE = "followup.inbound.message"
SLA_BREACHED = "followup.sla.breached"


class SurveyInvitation(EventData):
    survey_id: str | None = None
    invitation_id: str | None = None
    survey_url: str | None = None
    """The survey's page in the user pages (absolute)."""
    topic: ShortText
    """The service moment asked about, e.g. 借款申请."""


class TicketAnswered(EventData):
    ticket_id: str | None = None
    summary: LongText


class TicketResolved(EventData):
    ticket_id: str
    category: str
    channel: str
    auto_closed: bool = False
    """Closed by the quiet-pending rule, not by an agent: never surveyed."""


class ChangePublished(EventData):
    change_id: str
    title: LongText
    """The change's title in the user's language."""
    url: str | None = None


class InboundMessage(EventData):
    """A user wrote to us outside the app (an SMS reply that is not an unsubscribe word, an
    email to the support address): feedback opens a ticket from it."""

    channel: str
    body: str
    subject: str | None = None


class SlaBreached(EventData):
    """An operator alert: a ticket missed a target (raised once per breach)."""

    ticket_id: str
    target: str
    due: str
    priority: str


CATALOGUE = (
    EventType(SURVEY_INVITATION, SurveyInvitation, "A short satisfaction survey after a service."),
    EventType(TICKET_ANSWERED, TicketAnswered, "An answer to the user's question or complaint."),
    EventType(CHANGE_PUBLISHED, ChangePublished, "What we changed because of your feedback."),
)
"""The notices follow-up sends users."""

INTERNAL = (
    EventType(TICKET_RESOLVED, TicketResolved, "A ticket was resolved or closed."),
    EventType(INBOUND_MESSAGE, InboundMessage, "A user's SMS or email to us."),
    EventType(SLA_BREACHED, SlaBreached, "A ticket missed its SLA (an operator alert)."),
)
"""Events follow-up records for itself and for operators: never a notice to a user (a
survey may still be triggered by one, e.g. `followup.ticket.resolved`)."""
