"""Operators run periodic jobs for a moment (catch-up after downtime, rehearsals)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from tidings.api.auth import CurrentPrincipal
from tidings.api.responses import FastJSONResponse
from tidings.api.writes import IdempotencyKey, KeyedRequest, replayed, request_fingerprint
from tidings.app.context import AppContext
from tidings.app.jobs import run_job
from tidings.kit.clock import UtcDateTime
from tidings.kit.db import read_transaction, write_transaction

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


async def _app_context(request: HTTPConnection) -> AppContext:
    """The context `create_app` was given: the app's own, with every domain wired in."""
    context: AppContext = request.app.state.context
    return context


class JobRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: UtcDateTime | None = None


@router.post("/{name}/runs", status_code=202, response_model=dict[str, Any])
async def run(
    name: str,
    request: Request,
    context: Annotated[AppContext, Depends(_app_context)],
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
    body: JobRunIn | None = None,
) -> Response:
    """Run `name` for `as_of` (default now); the same moment twice sends nothing twice."""
    principal.require_operator()
    as_of: datetime | None = body.as_of if body else None
    if idempotency_key is None:
        return FastJSONResponse(await run_in_threadpool(run_job, context, name, as_of), 202)
    keyed = KeyedRequest(principal.key, idempotency_key, request_fingerprint(request, body))
    return await run_in_threadpool(_run_once_per_key, context, keyed, name, as_of)


def _run_once_per_key(
    context: AppContext, keyed: KeyedRequest, name: str, as_of: datetime | None
) -> Response:
    """Not a `Write`: a job owns its transactions (several, each retried), so the key is not
    claimed around it. The same moment run twice is harmless, so a run that crashed before
    its answer was stored may simply run again; an answered key answers as the first time
    (for `as_of` left out: the first run's moment, not a new one)."""
    with read_transaction(context.engine) as conn:
        stored = keyed.answered(conn)
    if stored is not None:
        return replayed(stored)
    answer = run_job(context, name, as_of)
    with write_transaction(context.engine) as conn:
        stored = keyed.claim(conn, at=context.clock.now())
        if stored is not None:  # a run racing this one answered first
            return replayed(stored)
        keyed.complete(conn, status=202, body=answer)
    return FastJSONResponse(answer, 202)
