"""Follow-up and feedback over HTTP (shapes in `../shared/API.md`, "Follow-up and
feedback"): thin routes that parse, call the service and shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from tidings.api.auth import Context
from tidings.api.reads import Read
from tidings.api.writes import CALLBACK_ROUTE, Callback, PlainWrite, Write
from tidings.feedback.schemas import (
    AnalysisOut,
    ChangeIn,
    ChangeOut,
    FaqIn,
    FaqOut,
    InboundEmailIn,
    InvitationList,
    MessageIn,
    MessageOut,
    ResponseIn,
    ResponseOut,
    ResultsOut,
    SlaPolicyIn,
    SlaPolicyOut,
    StatusIn,
    SuggestionList,
    SurveyIn,
    SurveyOut,
    TicketIn,
    TicketOut,
)
from tidings.feedback.service import analysis, changes, inbound, knowledge, surveys, tickets
from tidings.feedback.types import Priority, TicketStatus
from tidings.kit.clock import UtcDateTime
from tidings.kit.db import read_transaction
from tidings.kit.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    decode_moment_cursor,
    encode_cursor,
    encode_moment_cursor,
)

router = APIRouter(prefix="/v1", tags=["feedback"])


def _page(items: list[Any], limit: int) -> Page[Any]:
    return Page(
        items=items, next_cursor=encode_cursor(items[-1].id) if len(items) == limit else None
    )


# -- surveys -------------------------------------------------------------------------------


@router.post("/surveys", status_code=201, response_model=SurveyOut)
def create_survey(body: SurveyIn, write: Write) -> Response:
    """Operator: a survey, its trigger event type, sample and questions (zh-CN and en)."""
    write.principal.require_operator()
    return write.run(
        lambda conn: surveys.create_survey(conn, body, at=write.now), body=body, status_code=201
    )


@router.get("/surveys", response_model=list[SurveyOut])
def list_surveys(read: Read) -> list[SurveyOut]:
    read.principal.require_operator()
    return read.run(surveys.list_surveys)


@router.get("/users/{user_id}/surveys", response_model=InvitationList)
def open_invitations(user_id: str, read: Read) -> InvitationList:
    """The user's open invitations (answered and expired ones are not listed)."""
    read.principal.require_self(user_id)
    return read.run(lambda conn: surveys.open_invitations(conn, user_id, at=read.now))


@router.post("/surveys/{survey_id}/responses", status_code=201, response_model=ResponseOut)
def answer_survey(survey_id: str, body: ResponseIn, write: Write) -> Response:
    """The invited user (or an operator): one answer per invitation (again: 409)."""
    return write.run(
        lambda conn: surveys.answer(conn, survey_id, body, **write.acting),
        body=body,
        status_code=201,
    )


@router.get("/surveys/{survey_id}/results", response_model=ResultsOut)
def survey_results(survey_id: str, read: Read) -> ResultsOut:
    """Operator: response rate, NPS, CSAT, choice counts and free-text topics."""
    read.principal.require_operator()
    return read.run(lambda conn: surveys.results(conn, survey_id))


# -- tickets -------------------------------------------------------------------------------


@router.post("/tickets", status_code=201, response_model=TicketOut)
def open_ticket(body: TicketIn, write: Write) -> Response:
    """The user (own `user_id`) or an operator (a phone call, say): a ticket with its SLA."""
    calendar = tickets.business_calendar(write.context.settings)
    return write.run(
        lambda conn: tickets.open_ticket(conn, body, calendar=calendar, **write.acting),
        body=body,
        status_code=201,
    )


@router.get("/tickets", response_model=Page[TicketOut])
def ticket_queue(
    read: Read,
    status: TicketStatus | None = None,
    breached: bool | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[TicketOut]:
    """Operator: the queue, nearest deadline first (open and pending unless `status`)."""
    read.principal.require_operator()
    after = decode_moment_cursor(cursor)
    items = read.run(
        lambda conn: tickets.list_tickets(
            conn,
            user_id=None,
            status=status,
            breached=breached,
            limit=limit,
            after_id=None,
            after_deadline=after,
        )
    )
    last = items[-1] if len(items) == limit else None
    return Page(
        items=items,
        next_cursor=encode_moment_cursor(tickets.next_deadline(last), last.id) if last else None,
    )


@router.get("/users/{user_id}/tickets", response_model=Page[TicketOut])
def tickets_of_user(
    user_id: str,
    read: Read,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[TicketOut]:
    """The user's tickets, newest first."""
    read.principal.require_self(user_id)
    items = read.run(
        lambda conn: tickets.list_tickets(
            conn,
            user_id=user_id,
            status=None,
            breached=None,
            limit=limit,
            after_id=decode_cursor(cursor),
        )
    )
    return _page(items, limit)


@router.get("/tickets/{ticket_id}", response_model=TicketOut)
def get_ticket(ticket_id: str, read: Read) -> TicketOut:
    """The ticket, its messages and its SLA (another user's ticket is 404)."""
    return read.run(
        lambda conn: tickets.get_ticket(conn, ticket_id, acting_user_id=read.acting_user_id)
    )


@router.post("/tickets/{ticket_id}/messages", status_code=201, response_model=MessageOut)
def add_message(ticket_id: str, body: MessageIn, write: Write) -> Response:
    """A message; the first agent message is the first response and tells the user."""
    return write.run(
        lambda conn: tickets.add_message(conn, ticket_id, body, **write.acting),
        body=body,
        status_code=201,
    )


@router.post("/tickets/{ticket_id}/status", response_model=TicketOut)
def set_status(ticket_id: str, body: StatusIn, write: Write) -> Response:
    """Operator: pending, resolved (the clock stops) or closed."""
    write.principal.require_operator()
    return write.run(
        lambda conn: tickets.set_status(conn, ticket_id, body.status, at=write.now), body=body
    )


@router.get("/tickets/{ticket_id}/suggestions", response_model=SuggestionList)
def suggestions(ticket_id: str, read: Read) -> SuggestionList:
    """Operator: the best answers from the knowledge base and past resolved tickets."""
    read.principal.require_operator()
    return read.run(
        lambda conn: knowledge.suggestions_for_ticket(conn, ticket_id, acting_user_id=None)
    )


@router.get("/sla-policies", response_model=list[SlaPolicyOut])
def sla_policies(read: Read) -> list[SlaPolicyOut]:
    read.principal.require_operator()
    return read.run(tickets.list_policies)


@router.put("/sla-policies/{priority}", response_model=SlaPolicyOut)
def save_sla_policy(priority: Priority, body: SlaPolicyIn, write: PlainWrite) -> Response:
    """Operator: a priority's targets in business minutes (new tickets use them)."""
    write.principal.require_operator()
    return write.run(lambda conn: tickets.save_policy(conn, priority, body), body=body)


@router.post("/providers/inbound-email", **CALLBACK_ROUTE)
def inbound_email(body: InboundEmailIn, callback: Callback) -> Response:
    """An email provider's inbound-parse webhook: a ticket for the sender's user (a webhook
    retried under its `Idempotency-Key`, or with the same Message-ID, opens no second
    ticket)."""
    context = callback.context
    calendar = tickets.business_calendar(context.settings)

    def open_ticket(conn: Connection) -> dict[str, Any]:
        opened = inbound.ticket_from_email(
            conn,
            context.keyring,
            sender=body.sender,
            subject=body.subject,
            text=body.text,
            calendar=calendar,
            at=callback.now,
        )
        return {"tickets": opened}

    return callback.run(open_ticket, body=body, message_id=body.email_message_id())


# -- the knowledge base --------------------------------------------------------------------


@router.post("/faq", status_code=201, response_model=FaqOut)
def add_faq(body: FaqIn, write: Write) -> Response:
    write.principal.require_operator()
    return write.run(
        lambda conn: knowledge.add_faq(conn, body, at=write.now), body=body, status_code=201
    )


@router.get("/faq", response_model=Page[FaqOut])
def list_faq(
    read: Read,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[FaqOut]:
    """The knowledge base as agents keep it (operator only; users meet its answers through
    `/v1/faq/answers` while they write a question)."""
    read.principal.require_operator()
    items = read.run(
        lambda conn: knowledge.list_faq(conn, limit=limit, after_id=decode_cursor(cursor))
    )
    return _page(items, limit)


@router.get("/faq/answers", response_model=SuggestionList)
def faq_answers(
    read: Read,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    lang: Annotated[str, Query(pattern=r"^(zh-CN|en)$")] = "zh-CN",
) -> SuggestionList:
    """The top FAQ answers for a question being typed (before a ticket is opened)."""
    return read.run(lambda conn: knowledge.faq_answers(conn, q, locale=lang))


class DeflectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    faq_id: str


@router.post("/users/{user_id}/deflections", status_code=204)
def deflected(user_id: str, body: DeflectionIn, write: PlainWrite) -> Response:
    """The user's question was answered by an FAQ entry: no ticket (counted)."""
    write.principal.require_self(user_id)

    def record(conn: Any) -> dict[str, Any]:
        knowledge.record_deflection(conn, user_id=user_id, faq_id=body.faq_id, at=write.now)
        return {}

    write.run(record, body=body)
    return Response(status_code=204)


# -- analysis and changes ------------------------------------------------------------------


@router.get("/feedback/analysis", response_model=AnalysisOut)
def feedback_analysis(
    read: Read,
    start: Annotated[UtcDateTime, Query(alias="from")],
    end: Annotated[UtcDateTime, Query(alias="to")],
) -> AnalysisOut:
    """Operator: counts by channel and category, sentiment and topics over tickets and
    free-text answers in [from, to)."""
    read.principal.require_operator()
    return read.run(lambda conn: analysis.analyse(conn, start=start, end=end))


@router.post("/changes", status_code=201, response_model=ChangeOut)
def publish_change(body: ChangeIn, write: Write) -> Response:
    """Operator: publish what we changed; the users behind it are told."""
    write.principal.require_operator()
    url = write.context.settings.public_base_url + "/changes"
    return write.run(
        lambda conn: changes.publish(conn, body, changes_url=url, at=write.now),
        body=body,
        status_code=201,
    )


@router.get("/changes", response_model=Page[ChangeOut])
def list_changes(
    context: Context, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[ChangeOut]:
    """Public: what we changed because of feedback, newest first."""
    with read_transaction(context.engine) as conn:
        items = changes.list_changes(conn, limit=limit, after_id=decode_cursor(cursor))
    return _page(items, limit)
