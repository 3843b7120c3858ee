"""Operators run periodic jobs for a moment (catch-up after downtime, rehearsals)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from tidings.api.auth import CurrentPrincipal
from tidings.app.context import AppContext
from tidings.app.jobs import run_job
from tidings.kit.clock import UtcDateTime

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


async def _app_context(request: HTTPConnection) -> AppContext:
    """The context `create_app` was given: the app's own, with every domain wired in."""
    context: AppContext = request.app.state.context
    return context


class JobRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: UtcDateTime | None = None


@router.post("/{name}/runs", status_code=202)
async def run(
    name: str,
    context: Annotated[AppContext, Depends(_app_context)],
    principal: CurrentPrincipal,
    body: JobRunIn | None = None,
) -> dict[str, Any]:
    """Run `name` for `as_of` (default now); the same moment twice sends nothing twice."""
    # Not a `Write`: a job owns its transactions (several, each retried), and the same
    # `as_of` run again is already harmless, so there is no first answer to replay.
    principal.require_operator()
    as_of: datetime | None = body.as_of if body else None
    return await run_in_threadpool(run_job, context, name, as_of)
