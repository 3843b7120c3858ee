"""Who is calling: an operator (admin key) or one user (a user-scoped bearer token)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from tidings.api.context import ApiContext, get_context
from tidings.api.throttle import FailedAuthThrottle
from tidings.kit.db import read_transaction
from tidings.kit.errors import Forbidden, NotFound, Unauthorized


class UserOutOfReach(NotFound):
    """A user token naming another user: answered exactly as a user that does not exist."""

    code = "user-not-found"


@dataclass(frozen=True, slots=True)
class Principal:
    """An operator when `user_id` is None; otherwise one user, who sees only their own data."""

    user_id: str | None

    @property
    def is_operator(self) -> bool:
        return self.user_id is None

    @property
    def key(self) -> str:
        """The scope idempotency keys live in."""
        return self.user_id or "operator"

    def require_operator(self) -> None:
        if not self.is_operator:
            raise Forbidden("this needs an operator key")

    def require_self(self, user_id: str) -> None:
        """A user may reach only their own resources; others look absent (404)."""
        if self.user_id is not None and self.user_id != user_id:
            raise UserOutOfReach(f"user {user_id} not found")


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


class _BearerCaller(SecurityBase):
    """The caller, authenticated in one dependency documented as the `HTTPBearer` scheme:
    FastAPI's own `HTTPBearer` under `authenticate` was one more dependency solved on every
    request, building a pydantic credentials object each time."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(description="Operator key or a user token (tdu_…)")
        self.scheme_name = "HTTPBearer"

    async def __call__(self, request: HTTPConnection) -> Principal:
        return await authenticate(request)


def _bearer_token(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>` (the scheme in any case), as FastAPI's
    `HTTPBearer` reads it; None for anything else."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if not (scheme and token) or scheme.lower() != "bearer":
        return None
    return token


async def authenticate(request: HTTPConnection) -> Principal:
    """Async so a valid operator key is checked without a thread hop; tokens, and addresses
    that failed lately, need the database. The context is read here, not declared as a
    dependency: each dependency FastAPI solves costs every request."""
    context = await get_context(request)
    presented = _bearer_token(request.headers.get("Authorization"))
    if presented is None:
        raise Unauthorized("send Authorization: Bearer <operator key or user token>")
    throttle = context.auth_throttle
    key = throttle.key(context.keyring, request)
    admin_key = context.settings.admin_key
    # Both sides hashed first, so the comparison takes the same time whatever the length.
    is_operator = admin_key is not None and hmac.compare_digest(
        _digest(presented), _digest(admin_key.get_secret_value())
    )
    if is_operator and throttle.known_clear(key):
        return Principal(user_id=None)
    wait, user_id = await run_in_threadpool(
        _check, context, throttle, key, None if is_operator else presented
    )
    if wait is not None:
        throttle.refuse(context.clock)
    if is_operator:
        return Principal(user_id=None)
    if user_id is None:
        await run_in_threadpool(throttle.record_failure, context.engine, context.clock, key)
        raise Unauthorized(
            "the key or token is not valid (or has expired or been revoked)", token_presented=True
        )
    return Principal(user_id=user_id)


def _check(
    context: ApiContext, throttle: FailedAuthThrottle, key: str, token: str | None
) -> tuple[int | None, str | None]:
    """In one read: how long the address must wait (None: it may try) and the token's user."""
    at = context.clock.now()
    with read_transaction(context.engine) as conn:
        wait = None if throttle.known_clear(key) else throttle.retry_after(conn, key, at=at)
        if wait is not None or token is None:
            return wait, None
        return None, context.user_for_token(conn, token, at=at)


CallbackToken = Annotated[str | None, Query(max_length=200)]
"""`?token=`: the shared secret a provider's callback URL carries (`TIDINGS_CALLBACK_TOKEN`)."""

CALLBACK_REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"description": "`?token=` is missing or not `TIDINGS_CALLBACK_TOKEN`."}
}
"""The `responses=` of a provider callback route: the 401 only a wrong `?token=` gets."""


def check_callback_token(context: ApiContext, token: str | None) -> None:
    """A provider's callback (delivery reports, replies, inbound email) carries
    `?token=<TIDINGS_CALLBACK_TOKEN>`; anything else is 401."""
    expected = context.settings.callback_token
    if (
        expected is None
        or token is None
        or not hmac.compare_digest(token.encode(), expected.get_secret_value().encode())
    ):
        raise Unauthorized("provider callbacks need ?token=<TIDINGS_CALLBACK_TOKEN>")


CurrentPrincipal = Annotated[Principal, Depends(_BearerCaller())]
Context = Annotated[ApiContext, Depends(get_context)]
