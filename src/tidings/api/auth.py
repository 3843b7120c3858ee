"""Who is calling: an operator (admin key) or one user (a user-scoped bearer token)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from tidings.api.context import AppContext, get_context
from tidings.kit.db import read_transaction
from tidings.kit.errors import Forbidden, Unauthorized
from tidings.users import service as users
from tidings.users.exceptions import UserNotFound

_bearer = HTTPBearer(auto_error=False, description="Operator key or a user token (tdu_…)")


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
            raise UserNotFound(f"user {user_id} not found")


async def authenticate(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    context: Annotated[AppContext, Depends(get_context)],
) -> Principal:
    """Async so the operator key is checked without a thread hop; tokens need the database."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send Authorization: Bearer <operator key or user token>")
    presented = credentials.credentials
    admin_key = context.settings.admin_key
    if admin_key is not None and hmac.compare_digest(
        presented.encode(), admin_key.get_secret_value().encode()
    ):
        return Principal(user_id=None)
    user_id = await run_in_threadpool(_user_for_token, context, presented)
    if user_id is None:
        raise Unauthorized(
            "the key or token is not valid (or has expired or been revoked)", token_presented=True
        )
    return Principal(user_id=user_id)


def _user_for_token(context: AppContext, token: str) -> str | None:
    with read_transaction(context.engine) as conn:
        return users.user_for_token(conn, token, at=context.clock.now())


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
Context = Annotated[AppContext, Depends(get_context)]
