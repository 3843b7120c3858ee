"""`GET /v1/users/{user_id}/export` and `POST /v1/users/{user_id}/erasure` (PIPL), and the
export as a download from the user pages (`/app/privacy/export`)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict
from starlette.responses import StreamingResponse

from tidings.api.auth import Context, CurrentPrincipal
from tidings.api.context import ApiContext
from tidings.api.writes import Write
from tidings.app import privacy
from tidings.kit.db import read_transaction, write_transaction
from tidings.kit.text import LongText
from tidings.risk import audit
from tidings.users import directory
from tidings.web.visit import UserVisit

router = APIRouter()


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: LongText
    """Why (the request's reference, the law's ground): kept in the audit trail."""


def _export(context: ApiContext, user_id: str, *, actor: str) -> StreamingResponse:
    """The export as a download, audited (who asked, for whom) before the first byte."""
    at = context.clock.now()
    with read_transaction(context.engine) as conn:
        directory.require_user(conn, user_id)
    with write_transaction(context.engine) as conn:
        audit.record(conn, action="privacy.exported", actor=actor, user_id=user_id, at=at)
    return StreamingResponse(
        privacy.export_chunks(context.engine, context.keyring, user_id, at=at),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="tidings-{user_id}.json"'},
    )


@router.get("/v1/users/{user_id}/export", response_class=StreamingResponse, tags=["privacy"])
def export(user_id: str, context: Context, principal: CurrentPrincipal) -> StreamingResponse:
    """Everything the registry lists for the user, readable (the user, or an operator acting
    for them; audited). Streams row by row, so a long history is never held in memory."""
    principal.require_self(user_id)
    return _export(context, user_id, actor=audit.actor_of(principal.user_id))


@router.get("/app/privacy/export", include_in_schema=False)
def export_page(visit: UserVisit) -> StreamingResponse:
    """The same download from the user pages (`/app/privacy`), signed in by session."""
    return _export(visit.context, visit.user_id, actor=audit.actor_of(visit.user_id))


@router.post("/v1/users/{user_id}/erasure", response_model=privacy.ErasureOut, tags=["privacy"])
def erase(user_id: str, body: ErasureIn, write: Write) -> Response:
    """Operator: erase the person's data for good (refused with 409 while money or credit
    remains); the books stay, naming no one."""
    write.principal.require_operator()
    response = write.run(
        lambda conn: privacy.erase(
            conn, user_id, actor=audit.OPERATOR, reason=body.reason, at=write.now
        ),
        body=body,
    )
    privacy.scrub_files(write.context.engine)
    return response
