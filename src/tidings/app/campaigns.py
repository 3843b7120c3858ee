"""The `campaigns.dispatch` job: the one place that drives both campaigns and the
notification engine. Each page of a live campaign's audience is frozen (campaigns) and its
messages planned set-based (`notify.bulk`) in one transaction, so a crash in the middle
resumes at the stored cursor and a re-run adds nobody twice."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from tidings.app.context import AppContext
from tidings.campaigns import service as campaigns
from tidings.kit.db import with_retry, write_transaction
from tidings.notify import bulk
from tidings.notify.planner import PlannerPolicy
from tidings.notify.types import ChannelName


def plan_page(
    conn: Connection, page: campaigns.FrozenPage, *, now: datetime, policy: PlannerPolicy
) -> bulk.BulkPlan:
    """Plan a frozen page's marketing as its campaign's send plan says (kind, variants'
    messages, channels, start). Planning a page again plans nobody twice."""
    plan = campaigns.send_plan(conn, page.campaign_id)
    return bulk.plan_bulk_marketing(
        conn,
        audience=campaigns.page_audience(page),
        event_id=page.campaign_id,
        kind=plan.kind,
        messages=[bulk.BulkMessage(key, data) for key, data in plan.messages.items()],
        channels=[ChannelName(channel) for channel in plan.channels],
        not_before=plan.not_before,
        now=now,
        policy=policy,
    )


def dispatch_page(
    context: AppContext,
    campaign_id: str,
    *,
    now: datetime,
    timings: dict[str, float] | None = None,
) -> bulk.BulkPlan | None:
    """Freeze and plan the next page of one campaign; None when nothing was left.
    `timings` (the benchmark's) adds up the seconds spent freezing and planning."""
    spent = timings if timings is not None else {}

    def attempt() -> bulk.BulkPlan | None:
        with write_transaction(context.engine) as conn:
            started = time.perf_counter()
            page = campaigns.freeze_next_page(
                conn, campaign_id, limit=context.settings.campaign_batch, now=now
            )
            frozen = time.perf_counter()
            spent["freeze_s"] = spent.get("freeze_s", 0.0) + frozen - started
            if page is None:
                return None
            planned = plan_page(
                conn,
                page,
                now=now,
                policy=PlannerPolicy(default_timezone=context.settings.default_timezone),
            )
            campaigns.count_refused(conn, campaign_id, no_consent=planned.no_consent)
            spent["plan_s"] = spent.get("plan_s", 0.0) + time.perf_counter() - frozen
            return planned

    return with_retry(attempt)


def dispatch_campaigns(
    context: AppContext, as_of: datetime, timings: dict[str, float] | None = None
) -> dict[str, Any]:
    """Every live campaign: freeze and plan what is left, then move its status on."""
    with write_transaction(context.engine) as conn:
        live = campaigns.live_campaigns(conn)
    notices = deliveries = 0
    for campaign_id in live:
        while (page := dispatch_page(context, campaign_id, now=as_of, timings=timings)) is not None:
            notices += page.notifications
            deliveries += page.deliveries
        with write_transaction(context.engine) as conn:
            campaigns.advance(conn, campaign_id, now=as_of)
    return {"campaigns": len(live), "notifications": notices, "deliveries": deliveries}
