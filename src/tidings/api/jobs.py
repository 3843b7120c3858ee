"""Operators run periodic jobs for a moment (catch-up after downtime, rehearsals)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from tidings.api.auth import Context, CurrentPrincipal
from tidings.kit.clock import UtcDateTime
from tidings.workers.jobs import run_job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


class JobRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: UtcDateTime | None = None


@router.post("/{name}/runs", status_code=202)
async def run(
    name: str, context: Context, principal: CurrentPrincipal, body: JobRunIn | None = None
) -> dict[str, Any]:
    """Run `name` for `as_of` (default now); the same moment twice sends nothing twice."""
    principal.require_operator()
    as_of: datetime | None = body.as_of if body else None
    return await run_in_threadpool(run_job, context, name, as_of)
