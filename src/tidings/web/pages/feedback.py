"""Follow-up pages for users (`/app/tickets`, `/app/surveys/{survey_id}`) and the public
`/changes`. They call the same services as the API, with the visitor as the acting user,
so another user's ticket or invitation is 404 here too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from tidings.feedback.exceptions import SurveyNotFound
from tidings.feedback.schemas import MessageIn, ResponseIn, TicketIn
from tidings.feedback.service import changes, knowledge, surveys, tickets
from tidings.feedback.types import Author, Channel
from tidings.kit.db import read_transaction
from tidings.kit.errors import AppError
from tidings.web.i18n import gettext_noop
from tidings.web.visit import PostedForm, PublicVisit, UserForm, UserVisit, Visit

router = APIRouter(include_in_schema=False)

_EMPTY_QUESTION = gettext_noop("Write your question or complaint.")
_TOO_LONG = gettext_noop("At most 5000 characters.")
_ANSWER_ALL = gettext_noop("Please answer this question.")
_UNSHOWABLE = gettext_noop("Remove the control or invisible characters from your text.")


@dataclass(frozen=True, slots=True)
class TicketForm:
    body: str = ""
    error: str | None = None


def _tickets_page(visit: Visit, form: TicketForm, *, status_code: int = 200) -> Response:
    with read_transaction(visit.context.engine) as conn:
        mine = tickets.list_tickets(
            conn, user_id=visit.user_id, status=None, breached=None, limit=50, after_id=None
        )
    return visit.render(
        "app/tickets.html", status_code=status_code, tickets=mine, form=form, active="tickets"
    )


@router.get("/app/tickets")
def tickets_page(visit: UserVisit) -> Response:
    return _tickets_page(visit, TicketForm())


@router.get("/app/tickets/answers")
def faq_answers(visit: UserVisit, body: Annotated[str, Query(max_length=500)] = "") -> Response:
    """htmx, while the user types: the top FAQ answers for the question so far."""
    found: list[Any] = []
    if len(body.strip()) >= 2:
        with read_transaction(visit.context.engine) as conn:
            found = knowledge.faq_answers(conn, body, locale=visit.language.value).items
    return visit.render("app/_faq_answers.html", answers=found)


@router.post("/app/tickets/deflected")
def deflected(visit: UserVisit, form: UserForm) -> Response:
    """The user's question was answered by an FAQ entry: counted, no ticket opened."""
    faq_id = (form.get("faq_id") or "").strip()
    visit.write(
        lambda conn: knowledge.record_deflection(
            conn, user_id=visit.user_id, faq_id=faq_id, at=visit.context.clock.now()
        )
    )
    return RedirectResponse("/app/tickets?answered=1", status_code=303)


def _parse_ticket(visit: Visit, form: PostedForm) -> TicketIn | TicketForm:
    body = (form.get("body") or "").strip()
    error = _EMPTY_QUESTION if not body else _TOO_LONG if len(body) > 5000 else None
    if error is None:
        try:
            return TicketIn(user_id=visit.user_id, channel=Channel.WEB, body=body)
        except ValidationError:
            error = _UNSHOWABLE
    return TicketForm(body=body, error=error)


@router.post("/app/tickets")
def open_ticket(visit: UserVisit, form: UserForm) -> Response:
    parsed = _parse_ticket(visit, form)
    if isinstance(parsed, TicketForm):
        return _tickets_page(visit, parsed, status_code=422)
    calendar = tickets.business_calendar(visit.context.settings)
    opened = visit.write(
        lambda conn: tickets.open_ticket(
            conn,
            parsed,
            acting_user_id=visit.user_id,
            calendar=calendar,
            at=visit.context.clock.now(),
        )
    )
    return RedirectResponse(f"/app/tickets/{opened.id}", status_code=303)


@router.get("/app/tickets/{ticket_id}")
def ticket_page(ticket_id: str, visit: UserVisit) -> Response:
    with read_transaction(visit.context.engine) as conn:
        ticket = tickets.get_ticket(conn, ticket_id, acting_user_id=visit.user_id)
    return visit.render("app/ticket.html", ticket=ticket, error=None, active="tickets")


@router.post("/app/tickets/{ticket_id}/messages")
def reply(ticket_id: str, visit: UserVisit, form: UserForm) -> Response:
    body = (form.get("body") or "").strip()
    context = visit.context
    error = _EMPTY_QUESTION if not body else _TOO_LONG if len(body) > 5000 else None
    if error is None:
        try:
            message = MessageIn(body=body, author=Author.USER)
        except ValidationError:
            error = _UNSHOWABLE
    if error is not None:
        with read_transaction(context.engine) as conn:
            ticket = tickets.get_ticket(conn, ticket_id, acting_user_id=visit.user_id)
        return visit.render(
            "app/ticket.html", status_code=422, ticket=ticket, error=error, active="tickets"
        )
    visit.write(
        lambda conn: tickets.add_message(
            conn, ticket_id, message, acting_user_id=visit.user_id, at=context.clock.now()
        )
    )
    return RedirectResponse(f"/app/tickets/{ticket_id}", status_code=303)


def _invitation_for(visit: Visit, survey_id: str) -> Any:
    with read_transaction(visit.context.engine) as conn:
        found = surveys.open_invitations(conn, visit.user_id, at=visit.context.clock.now())
    for invitation in found.items:
        if invitation.survey_id == survey_id:
            return invitation
    raise SurveyNotFound(f"no open invitation to survey {survey_id}")


@router.get("/app/surveys/{survey_id}")
def survey_page(survey_id: str, visit: UserVisit) -> Response:
    """The survey the user was invited to (404 without an open invitation)."""
    invitation = _invitation_for(visit, survey_id)
    return visit.render(
        "app/survey.html", invitation=invitation, errors={}, given={}, active="surveys"
    )


@router.post("/app/surveys/{survey_id}")
def answer_survey(survey_id: str, visit: UserVisit, form: UserForm) -> Response:
    invitation = _invitation_for(visit, survey_id)
    answers: dict[str, int | str] = {}
    errors: dict[str, str] = {}
    given = {q["id"]: (form.get(q["id"]) or "").strip() for q in invitation.questions}
    for question in invitation.questions:
        value = given[question["id"]]
        if question["kind"] == "text":
            if value:
                answers[question["id"]] = value[:2000]
        elif value.isascii() and value.isdigit():
            answers[question["id"]] = int(value)
        else:
            errors[question["id"]] = _ANSWER_ALL
    if errors:
        return visit.render(
            "app/survey.html",
            status_code=422,
            invitation=invitation,
            errors=errors,
            given=given,
            active="surveys",
        )
    response = ResponseIn(invitation_id=invitation.invitation_id, answers=answers)
    try:
        visit.write(
            lambda conn: surveys.answer(
                conn,
                survey_id,
                response,
                acting_user_id=visit.user_id,
                at=visit.context.clock.now(),
            )
        )
    except AppError as refused:
        field = (refused.field or "").removeprefix("answers.")
        return visit.render(
            "app/survey.html",
            status_code=422,
            invitation=invitation,
            errors={field: _ANSWER_ALL},
            given=given,
            active="surveys",
        )
    return visit.render("app/survey_thanks.html", active="surveys")


@router.get("/changes")
def changes_page(visit: PublicVisit) -> Response:
    """Public: what we changed because of users' feedback."""
    with read_transaction(visit.context.engine) as conn:
        published = changes.list_changes(conn, limit=50, after_id=None)
    return visit.render("changes.html", changes=published)
