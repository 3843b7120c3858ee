"""Periodic work of campaigns: `campaigns.conversions` counts conversions and closes
windows (the dispatch job lives in the composition root: it drives the engine too)."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import Engine

from tidings.campaigns import repository, service
from tidings.kit.db import retried_write, write_transaction


def run_conversions(engine: Engine, *, as_of: datetime) -> dict[str, int]:
    """One transaction per campaign; running the same moment twice counts nobody twice."""
    with write_transaction(engine) as conn:
        open_ids = [row.id for row in repository.open_conversion_windows(conn)]
    total = 0
    for campaign_id in open_ids:
        total += retried_write(
            engine, partial(service.record_conversions, campaign_id=campaign_id, now=as_of)
        )
    return {"campaigns": len(open_ids), "conversions": total}
