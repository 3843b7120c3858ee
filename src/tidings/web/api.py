"""`POST /v1/users/{user_id}/web-links`: the operator's way to open a user's pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import Connection

from tidings.api.ratelimit import limit_issuance
from tidings.api.writes import Write
from tidings.risk import audit
from tidings.web import service
from tidings.web.schemas import WebLinkIssued, WebLinkOut

router = APIRouter(prefix="/v1/users", tags=["pages"])


@router.post("/{user_id}/web-links", status_code=201, response_model=WebLinkOut)
def create_web_link(user_id: str, write: Write) -> Response:
    """Operator: a one-time sign-in link to the user's pages (`/app/`), valid 10 minutes.

    The app opens it in its webview; the page then holds a session cookie and the token
    leaves the address bar. Rate-limited per user like tokens; every issuance is audited.
    A repeated `Idempotency-Key` shows the same link again."""
    write.principal.require_operator()
    context = write.context
    settings = context.settings
    limit_issuance(context, scope="web-link", user_id=user_id)

    def issue(conn: Connection) -> WebLinkIssued:
        link = service.issue_link(conn, context.keyring, user_id, at=write.now)
        audit.record_issued(
            conn,
            credential="web_link",
            credential_id=link.id,
            user_id=user_id,
            expires_at=link.expires_at,
            at=write.now,
        )
        return link

    def present(stored: dict[str, Any]) -> dict[str, Any]:
        link = WebLinkIssued.model_validate(stored)
        url = service.link_url(context.keyring, settings.public_base_url, link.id)
        return WebLinkOut(url=url, expires_at=link.expires_at).model_dump(mode="json")

    return write.run(issue, status_code=201, present=present)
