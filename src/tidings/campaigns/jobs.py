"""Periodic work of campaigns: `campaigns.conversions` counts conversions and closes
windows (the dispatch job lives in the composition root: it drives the engine too)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from tidings.campaigns import repository, service
from tidings.kit.db import with_retry, write_transaction


def run_conversions(engine: Engine, *, as_of: datetime) -> dict[str, int]:
    """One transaction per campaign; running the same moment twice counts nobody twice."""
    with write_transaction(engine) as conn:
        open_ids = [row.id for row in repository.open_conversion_windows(conn)]
    total = 0
    for campaign_id in open_ids:

        def attempt(campaign_id: str = campaign_id) -> int:
            with write_transaction(engine) as conn:
                return service.record_conversions(conn, campaign_id, now=as_of)

        total += with_retry(attempt)
    return {"campaigns": len(open_ids), "conversions": total}
