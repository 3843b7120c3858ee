"""What `Read` and `Write` both gather: the context, who calls, and the request's moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from tidings.api.auth import Principal
from tidings.api.context import ApiContext


class Acting(TypedDict):
    """Who acts and when, as every service scoped to its caller takes them (keywords)."""

    acting_user_id: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class CallerRequest:
    """The part of a request a route hands its services, gathered once per request."""

    context: ApiContext
    principal: Principal
    now: datetime
    """The request's moment, read once."""

    @property
    def acting_user_id(self) -> str | None:
        """The user the caller acts as (None for an operator, who sees every user's rows)."""
        return self.principal.user_id

    @property
    def acting(self) -> Acting:
        """`service.op(conn, ..., **write.acting)`: the service sees only the caller's rows and
        dates what it does at the request's moment."""
        return Acting(acting_user_id=self.principal.user_id, at=self.now)
