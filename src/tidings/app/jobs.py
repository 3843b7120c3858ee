"""The jobs registry: periodic jobs by name, runnable for a chosen moment (`as_of`) so a
missed run catches up.

Each job is idempotent: running the same moment twice sends nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine

from tidings.app.alerts import send_sla_alerts
from tidings.app.campaigns import dispatch_campaigns
from tidings.app.context import AppContext
from tidings.app.notify import build_dispatcher
from tidings.app.retention import run_retention
from tidings.campaigns.jobs import run_conversions
from tidings.credit import jobs as credit
from tidings.feedback import jobs as feedback
from tidings.feedback.service.tickets import business_calendar
from tidings.insights.jobs import run_suggestions
from tidings.kit.db import retried_write
from tidings.kit.errors import NotFound, Unprocessable
from tidings.risk.jobs import run_learn_model
from tidings.wallets.jobs import run_expire_holds
from tidings.wallets.statements import issue_statements

Job = Callable[[AppContext, datetime], dict[str, Any]]


def _notify_digests(context: AppContext, as_of: datetime) -> dict[str, Any]:
    return {"deliveries": build_dispatcher(context).run_digests(as_of)}


def _wallet_statements(context: AppContext, as_of: datetime) -> dict[str, Any]:
    statements = retried_write(context.engine, lambda conn: issue_statements(conn, as_of=as_of))
    return {"statements": statements}


class EngineJob(Protocol):
    """A domain's job that needs only the database: `tidings.credit.jobs`, for one."""

    def __call__(self, engine: Engine, *, as_of: datetime) -> Mapping[str, Any]: ...


def _on_engine(job: EngineJob) -> Job:
    def run(context: AppContext, as_of: datetime) -> dict[str, Any]:
        return dict(job(context.engine, as_of=as_of))

    return run


def _risk_learn_model(context: AppContext, as_of: datetime) -> dict[str, Any]:
    settle_after = timedelta(days=context.settings.risk_model_settle_days)
    return run_learn_model(context.engine, context.keyring, as_of=as_of, settle_after=settle_after)


def _privacy_retention(context: AppContext, as_of: datetime) -> dict[str, Any]:
    return run_retention(context.engine, context.settings, as_of=as_of)


def _followup_invitations(context: AppContext, as_of: datetime) -> dict[str, Any]:
    url = context.settings.public_base_url + "/app/surveys"
    return feedback.run_invitations(context.engine, as_of=as_of, survey_url=url)


def _followup_inbound(context: AppContext, as_of: datetime) -> dict[str, Any]:
    calendar = business_calendar(context.settings)
    return feedback.run_inbound(context.engine, as_of=as_of, calendar=calendar)


def _tickets_sla(context: AppContext, as_of: datetime) -> dict[str, Any]:
    """Mark breaches once and alert operators (webhook and email) after the commit."""
    after = timedelta(days=context.settings.ticket_auto_close_days)
    breaches, closed = feedback.run_sla(context.engine, as_of=as_of, auto_close_after=after)
    alerts = send_sla_alerts(context, breaches)
    return {"breaches": len(breaches), "alerts": alerts, "auto_closed": closed}


CREDIT_JOBS: dict[str, EngineJob] = {
    "credit.auto_debit": credit.run_auto_debit,
    "credit.overdue": credit.run_overdue,
    "credit.reminders": credit.run_reminders,
    "credit.limit_review": credit.run_limit_review,
}
"""The credit line's jobs (`tidings.credit.jobs`); each owns its transactions."""

JOBS: dict[str, Job] = {
    "notify.digests": _notify_digests,
    "wallet.statements": _wallet_statements,
    **{name: _on_engine(job) for name, job in CREDIT_JOBS.items()},
    "risk.expire_holds": _on_engine(run_expire_holds),
    "risk.learn_model": _risk_learn_model,
    "privacy.retention": _privacy_retention,
    "followup.invitations": _followup_invitations,
    "followup.inbound": _followup_inbound,
    "tickets.sla": _tickets_sla,
    "insights.suggestions": _on_engine(run_suggestions),
    "campaigns.dispatch": dispatch_campaigns,
    "campaigns.conversions": _on_engine(run_conversions),
}

JOB_INTERVALS: dict[str, timedelta] = {
    "wallet.statements": timedelta(hours=1),
    # Hourly: each borrower time zone's new day is picked up within the hour of its midnight
    # (reminders from 09:00 local); runs that find nothing new cost one indexed scan.
    **{name: timedelta(hours=1) for name in CREDIT_JOBS},
    # Held transfers are released within ~30 s of their hold running out.
    "risk.expire_holds": timedelta(seconds=30),
    # New outcomes reach the model within a minute (and every process within 30 s more).
    "risk.learn_model": timedelta(minutes=1),
    # Hourly: what outlived its purpose goes within the hour (one indexed scan when nothing).
    "privacy.retention": timedelta(hours=1),
    # Surveys go out within a minute of their trigger; inbound SMS become tickets within 30 s.
    "followup.invitations": timedelta(minutes=1),
    "followup.inbound": timedelta(seconds=30),
    "tickets.sla": timedelta(minutes=1),
    # Daily: a purpose goes at most once per 90 days anyway; the planner holds a suggestion
    # found at night until the user's sending window opens.
    "insights.suggestions": timedelta(days=1),
    # A launched campaign starts freezing within 30 s; its status moves on as sends finish.
    "campaigns.dispatch": timedelta(seconds=30),
    "campaigns.conversions": timedelta(minutes=10),
}
"""Jobs the worker's scheduler runs by itself, each at this cadence with `as_of=now`.
(Digests are not here: the dispatcher sends them as they fall due.)"""


class UnknownJob(NotFound):
    code = "unknown-job"


class TimeTravelRefused(Unprocessable):
    """A future `as_of` only where TIDINGS_ALLOW_TIME_TRAVEL=1 (demo, rehearsal)."""

    code = "time-travel-refused"
    title = "Time travel refused"


def run_job(context: AppContext, name: str, as_of: datetime | None) -> dict[str, Any]:
    job = JOBS.get(name)
    if job is None:
        raise UnknownJob(f"no job {name!r}; known: {', '.join(sorted(JOBS))}", field="name")
    now = context.clock.now()
    moment = as_of or now
    if moment > now and not context.settings.allow_time_travel:
        raise TimeTravelRefused(
            "as_of is in the future; allowed only with TIDINGS_ALLOW_TIME_TRAVEL=1",
            field="as_of",
        )
    return {"job": name, "as_of": moment.isoformat(), **job(context, moment)}
