"""Per-route request limits for the HTTP toolkit: counted in the database, so every serve
process shares one limit, and committed before a refusal so the count sticks."""

from __future__ import annotations

from datetime import timedelta

import structlog

from tidings.api.context import ApiContext
from tidings.kit import ratelimit
from tidings.kit.db import with_retry, write_transaction
from tidings.kit.errors import RateLimited

log = structlog.get_logger(__name__)


def enforce_rate_limit(
    context: ApiContext, *, scope: str, limits: dict[str, int], window_seconds: int
) -> None:
    """Count this request under each key (a user, a client) and commit; 429 past a limit."""

    def attempt() -> int | None:
        with write_transaction(context.engine) as conn:
            waits = [
                ratelimit.count_request(
                    conn,
                    key=f"{scope}:{key}",
                    limit=limit,
                    window=timedelta(seconds=window_seconds),
                    at=context.clock.now(),
                )
                for key, limit in limits.items()
            ]
        return max((w for w in waits if w is not None), default=None)

    retry_after = with_retry(attempt)
    if retry_after is not None:
        log.info("api.rate_limited", scope=scope)
        raise RateLimited(
            f"too many requests; try again in {retry_after} s", retry_after_seconds=retry_after
        )
