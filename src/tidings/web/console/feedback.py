"""Tickets and feedback in the console: the queue by nearest deadline with timers, a ticket
with one-click draft answers (an agent always sends), survey results with a chart, and the
feedback analysis of the last 30 days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from tidings.feedback.schemas import MessageIn, ResultsOut, StatusIn, SurveyOut, TicketOut
from tidings.feedback.service import analysis, knowledge, surveys, tickets
from tidings.feedback.types import Author, TicketStatus
from tidings.kit.db import read_transaction
from tidings.web.charts import Bar, BarChart, bar_chart
from tidings.web.console.operator import Console
from tidings.web.i18n import gettext_noop
from tidings.web.visit import OperatorForm

router = APIRouter(prefix="/console", include_in_schema=False)

_EMPTY_ANSWER = gettext_noop("Write the answer to send.")
_UNSHOWABLE = gettext_noop("Remove the control or invisible characters from your text.")
NPS_GROUPS = {
    "promoters": gettext_noop("Promoters (9-10)"),
    "passives": gettext_noop("Passives (7-8)"),
    "detractors": gettext_noop("Detractors (0-6)"),
}
ANALYSIS_DAYS = 30


@dataclass(frozen=True, slots=True)
class Timer:
    """What an agent reads next to a ticket: the nearest deadline and how far it is."""

    target: str
    due: datetime
    minutes_left: int

    @property
    def overdue(self) -> bool:
        return self.minutes_left < 0

    @property
    def hours(self) -> int:
        return abs(self.minutes_left) // 60

    @property
    def minutes(self) -> int:
        return abs(self.minutes_left) % 60


def timer(ticket: TicketOut, now: datetime) -> Timer | None:
    """The running clock of a ticket (None once resolved): first response, then resolution."""
    if ticket.sla.resolved_at is not None:
        return None
    if ticket.sla.first_response_at is None:
        target, due = "first_response", ticket.sla.first_response_due
    else:
        target, due = "resolution", ticket.sla.resolution_due
    return Timer(target, due, int((due - now).total_seconds() // 60))


@router.get("/tickets")
def queue(console: Console) -> Response:
    context = console.visit.context
    now = context.clock.now()
    with read_transaction(context.engine) as conn:
        found = tickets.list_tickets(
            conn, user_id=None, status=None, breached=None, limit=200, after_id=None
        )
    rows = [(t, timer(t, now)) for t in found]
    return console.render("console/tickets.html", rows=rows, active="tickets")


def _ticket_page(
    console: Console,
    ticket_id: str,
    *,
    draft: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = console.visit.context
    with read_transaction(context.engine) as conn:
        ticket = tickets.get_ticket(conn, ticket_id, acting_user_id=None)
        suggestions = knowledge.suggestions_for_ticket(conn, ticket_id, acting_user_id=None).items
    return console.render(
        "console/ticket.html",
        status_code=status_code,
        ticket=ticket,
        clock=timer(ticket, context.clock.now()),
        suggestions=suggestions,
        draft=draft,
        error=error,
        statuses=[s.value for s in TicketStatus if s is not TicketStatus.OPEN],
        active="tickets",
    )


@router.get("/tickets/{ticket_id}")
def ticket_page(ticket_id: str, console: Console, draft: int | None = None) -> Response:
    """`?draft=N` puts suggestion N in the answer box (a one-click draft: nothing is sent
    until the agent presses Send)."""
    page = _ticket_page(console, ticket_id)
    if draft is None:
        return page
    context = console.visit.context
    with read_transaction(context.engine) as conn:
        items = knowledge.suggestions_for_ticket(conn, ticket_id, acting_user_id=None).items
    text = items[draft].answer if 0 <= draft < len(items) else ""
    return _ticket_page(console, ticket_id, draft=text)


@router.post("/tickets/{ticket_id}/messages")
def answer(ticket_id: str, console: Console, form: OperatorForm) -> Response:
    body = (form.get("body") or "").strip()
    try:
        message = MessageIn(body=body, author=Author.AGENT)
    except ValidationError:
        error = _EMPTY_ANSWER if not body or len(body) > 5000 else _UNSHOWABLE
        return _ticket_page(console, ticket_id, draft=body, error=error, status_code=422)
    context = console.visit.context
    console.visit.write(
        lambda conn: tickets.add_message(
            conn, ticket_id, message, acting_user_id=None, at=context.clock.now()
        )
    )
    return RedirectResponse(f"/console/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/{ticket_id}/status")
def change_status(ticket_id: str, console: Console, form: OperatorForm) -> Response:
    try:
        status = StatusIn.model_validate({"status": form.get("status") or ""}).status
    except ValidationError:
        return _ticket_page(console, ticket_id, status_code=422)
    context = console.visit.context
    console.visit.write(
        lambda conn: tickets.set_status(conn, ticket_id, status, at=context.clock.now())
    )
    return RedirectResponse(f"/console/tickets/{ticket_id}", status_code=303)


@dataclass(frozen=True, slots=True)
class SurveyView:
    survey: SurveyOut
    results: ResultsOut
    nps_chart: BarChart | None


def _nps_chart(results: ResultsOut) -> BarChart | None:
    if results.nps is None:
        return None
    nps = results.nps
    return bar_chart(
        [
            Bar("promoters", str(nps.promoters), nps.promoters),
            Bar("passives", str(nps.passives), nps.passives),
            Bar("detractors", str(nps.detractors), nps.detractors),
        ]
    )


@router.get("/feedback")
def feedback_page(console: Console) -> Response:
    context = console.visit.context
    end = context.clock.now()
    with read_transaction(context.engine) as conn:
        views = []
        for survey in surveys.list_surveys(conn):
            results = surveys.results(conn, survey.id)
            views.append(SurveyView(survey, results, _nps_chart(results)))
        analysed = analysis.analyse(conn, start=end - timedelta(days=ANALYSIS_DAYS), end=end)
    channel_chart = bar_chart(
        [Bar(name, str(count), count) for name, count in sorted(analysed.by_channel.items())]
    )
    return console.render(
        "console/feedback.html",
        surveys=views,
        analysis=analysed,
        channel_chart=channel_chart,
        days=ANALYSIS_DAYS,
        nps_groups=NPS_GROUPS,
        active="feedback",
    )
