"""How often one-time codes may be asked for and tried (step-up codes, contact-change codes):
per user, and per client address a few times more, counted before the code is looked at."""

from __future__ import annotations

from typing import Final

from tidings.api.ratelimit import enforce_rate_limit
from tidings.api.writes import WriteRequest

CLIENT_LIMIT_FACTOR: Final = 10
"""A client address may make this many times a user's limit (several users behind one NAT)."""


def client_key(write: WriteRequest) -> str:
    """The caller's address as a keyed hash: enough to count and group, not to identify."""
    request = write.request
    host = request.client.host if request.client else "unknown"
    return write.context.keyring.lookup_hash(host, context="client-ip")[:32]


def limit_code_attempts(write: WriteRequest, *, scope: str, subject: str) -> None:
    """Count this attempt for the acting user (an operator's for `subject`, the user or the
    transfer the code is about) and for the client address; 429 past either limit."""
    settings = write.context.settings
    limit = settings.verification_rate_limit
    enforce_rate_limit(
        write.context,
        scope=scope,
        limits={
            f"user:{write.acting_user_id or subject[:40]}": limit,
            f"ip:{client_key(write)}": limit * CLIENT_LIMIT_FACTOR,
        },
        window_seconds=settings.verification_rate_window_seconds,
    )
