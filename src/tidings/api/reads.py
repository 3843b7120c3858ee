"""One way to answer a reading request: the caller, authenticated, and one read transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends
from sqlalchemy import Connection
from starlette.requests import Request

from tidings.api.auth import CurrentPrincipal
from tidings.api.caller import CallerRequest
from tidings.api.context import get_context
from tidings.kit.db import read_transaction

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ReadRequest(CallerRequest):
    """What a reading route needs, gathered once per request by FastAPI.

    A route then reads as: check who may ask, call the service inside `run`, answer —
    `return read.run(lambda conn: service.get(conn, ..., acting_user_id=read.acting_user_id))`.
    """

    def run(self, query: Callable[[Connection], T]) -> T:
        """`query`'s answer, read in one read transaction."""
        with read_transaction(self.context.engine) as conn:
            return query(conn)


async def _read_request(request: Request, principal: CurrentPrincipal) -> ReadRequest:
    """Async on purpose (it does no I/O), as `Write`'s: no thread hop to gather it. The
    caller is authenticated first, as a dependency (401 before any 422)."""
    context = await get_context(request)
    return ReadRequest(context=context, principal=principal, now=context.clock.now())


Read = Annotated[ReadRequest, Depends(_read_request)]
"""Declare `read: Read` on an authenticated reading route instead of its context and its
principal."""
