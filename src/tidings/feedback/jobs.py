"""Follow-up's periodic jobs; each owns its transactions and is idempotent."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from tidings.feedback.clock import BusinessCalendar
from tidings.feedback.service import inbound, surveys, tickets
from tidings.feedback.service.tickets import Breach
from tidings.kit.db import retried_write

TOPICS: dict[str, str] = {
    "credit.loan.disbursed": "借款",
    "followup.ticket.resolved": "客服咨询",
    "wallet.transfer.sent": "转账",
    "wallet.top_up.succeeded": "充值",
    "wallet.withdrawal.succeeded": "提现",
}
"""The service moment an invitation names, per trigger (else the survey's name)."""


def run_invitations(engine: Engine, *, as_of: datetime, survey_url: str) -> dict[str, int]:
    invited = retried_write(
        engine,
        lambda conn: surveys.invite(conn, now=as_of, survey_url=survey_url, topic_of=TOPICS),
    )
    return {"invited": invited}


def run_inbound(engine: Engine, *, as_of: datetime, calendar: BusinessCalendar) -> dict[str, int]:
    opened = retried_write(
        engine, lambda conn: inbound.open_inbound_tickets(conn, now=as_of, calendar=calendar)
    )
    return {"tickets": opened}


def run_sla(
    engine: Engine, *, as_of: datetime, auto_close_after: timedelta
) -> tuple[list[Breach], int]:
    """Mark new breaches (returned, for the operator alerts) and close quiet pending tickets."""

    def close_and_mark(conn: Connection) -> tuple[list[Breach], int]:
        closed = tickets.close_quiet_pending(conn, now=as_of, after=auto_close_after)
        return tickets.mark_breaches(conn, now=as_of), closed

    return retried_write(engine, close_and_mark)
