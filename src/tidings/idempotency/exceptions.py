"""Errors of idempotent requests."""

from __future__ import annotations

from tidings.kit.errors import Conflict


class IdempotencyKeyReused(Conflict, code="idempotency-key-reused", title="Idempotency key reused"):
    """The key was used before with a different request body."""
