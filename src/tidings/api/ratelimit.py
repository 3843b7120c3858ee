"""Per-route request limits for the HTTP toolkit: counted in the database, so every serve
process shares one limit, and committed before a refusal so the count sticks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from tidings.api.context import ApiContext
from tidings.kit import ratelimit
from tidings.kit.db import with_retry, write_transaction
from tidings.kit.errors import RateLimited

log = structlog.get_logger(__name__)

TOO_MANY_ATTEMPTS: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many attempts; see Retry-After"}
}
"""The `responses=` entry of a route whose attempts are counted (a one-time code's, say)."""


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


def limit_issuance(context: ApiContext, *, scope: str, user_id: str) -> None:
    """Count one more credential issued for `user_id` (a token, a sign-in link): at most
    `TIDINGS_TOKEN_RATE_LIMIT` a window per user, whoever asks (the operator's backend is one
    address for everyone, so not per client); 429 past it."""
    settings = context.settings
    enforce_rate_limit(
        context,
        scope=scope,
        limits={f"user:{user_id[:40]}": settings.token_rate_limit},
        window_seconds=settings.token_rate_window_seconds,
    )
