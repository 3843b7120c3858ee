"""Jobs in the console (`/console/jobs`): run a periodic job for a chosen moment, as
`POST /v1/jobs/{name}/runs` does (the same registry; the same moment twice sends nothing
twice), and see what it did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from tidings.api.context import JobBoard
from tidings.kit.errors import AppError
from tidings.web.console.operator import Console, ConsoleVisit
from tidings.web.i18n import gettext_noop
from tidings.web.visit import OperatorForm

router = APIRouter(prefix="/console/jobs", include_in_schema=False)

JOB_FIELD = "job"
AS_OF_FIELD = "as_of"
LOCAL_MINUTE = "%Y-%m-%dT%H:%M"
"""How `<input type="datetime-local">` sends a moment (the operator's time zone)."""

_UNKNOWN_JOB = gettext_noop("Choose one of the jobs in the list.")
_BAD_MOMENT = gettext_noop("A date and time, such as 2026-11-24 09:00.")
_FUTURE = gettext_noop("A job runs for now or a past moment, not for the future.")


@dataclass(frozen=True, slots=True)
class JobForm:
    """What the operator chose, kept through the answer, with what is wrong with it."""

    job: str
    as_of: str
    job_error: str | None = None
    as_of_error: str | None = None
    refusal: str | None = None


def _page(
    console: ConsoleVisit,
    form: JobForm,
    *,
    result: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    return console.render(
        "console/jobs.html",
        status_code=status_code,
        jobs=console.visit.context.component(JobBoard).names,
        form=form,
        result=result,
        active="jobs",
    )


@router.get("")
def jobs_page(console: Console) -> Response:
    return _page(console, JobForm(job="", as_of=""))


def parse_local_minute(typed: str, console: ConsoleVisit) -> datetime | None:
    """The moment typed in the operator's time zone (in UTC, as the API takes it), or None
    when it is not one."""
    try:
        local = datetime.strptime(typed, LOCAL_MINUTE)
    except ValueError:
        return None
    return local.replace(tzinfo=console.visit.timezone).astimezone(UTC)


@router.post("")
def run_job_page(console: Console, posted: OperatorForm) -> Response:
    job = (posted.get(JOB_FIELD) or "").strip()
    typed = (posted.get(AS_OF_FIELD) or "").strip()[:40]
    form = JobForm(job=job, as_of=typed)
    board = console.visit.context.component(JobBoard)
    if job not in board.names:
        return _page(console, JobForm(job="", as_of=typed, job_error=_UNKNOWN_JOB), status_code=422)
    as_of = parse_local_minute(typed, console) if typed else None
    if typed and as_of is None:
        return _page(console, JobForm(job, typed, as_of_error=_BAD_MOMENT), status_code=422)
    try:
        result = board.run(job, as_of)
    except AppError as exc:
        if exc.field == "as_of":  # a future moment where time travel is off
            return _page(console, JobForm(job, typed, as_of_error=_FUTURE), status_code=422)
        return _page(console, JobForm(job, typed, refusal=exc.detail), status_code=exc.status)
    return _page(console, form, result=result)
