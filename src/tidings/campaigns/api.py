"""Campaigns over HTTP (`../shared/API.md`, "Campaigns"): operator only, but for `/l/{token}`,
the tracked link a recipient follows without signing in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from tidings.api.auth import Context
from tidings.api.reads import Read
from tidings.api.writes import PlainWrite, Write
from tidings.campaigns import service
from tidings.campaigns.events import read_link_token
from tidings.campaigns.schemas import (
    AudienceOut,
    AuditEntry,
    CampaignIn,
    CampaignOut,
    ReportOut,
)
from tidings.kit.db import retried_write
from tidings.kit.pagination import DEFAULT_LIMIT, Limit, Page, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1", tags=["campaigns"])
links = APIRouter(tags=["campaigns"])

OPERATOR = "operator"


@router.post("/campaigns", status_code=201, response_model=CampaignOut)
def create_campaign(body: CampaignIn, write: Write) -> Response:
    """Operator: a new campaign, as a draft."""
    write.principal.require_operator()
    return write.run(
        lambda conn: service.create_campaign(conn, body, actor=OPERATOR, at=write.now),
        body=body,
        status_code=201,
    )


@router.get("/campaigns", response_model=Page[CampaignOut])
def list_campaigns(
    read: Read,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> Page[CampaignOut]:
    """Operator: campaigns, newest first."""
    read.principal.require_operator()
    items = read.run(
        lambda conn: service.list_campaigns(conn, before=decode_cursor(cursor), limit=limit + 1)
    )
    more = len(items) > limit
    items = items[:limit]
    return Page(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: str, read: Read) -> CampaignOut:
    read.principal.require_operator()
    return read.run(lambda conn: service.get_campaign(conn, campaign_id))


@router.put("/campaigns/{campaign_id}", response_model=CampaignOut)
def edit_draft(campaign_id: str, body: CampaignIn, write: PlainWrite) -> Response:
    """Operator: replace a draft (a launched campaign is 409); the change is audited."""
    write.principal.require_operator()
    return write.run(
        lambda conn: service.update_draft(conn, campaign_id, body, actor=OPERATOR, at=write.now),
        body=body,
    )


@router.get("/campaigns/{campaign_id}/audit", response_model=list[AuditEntry])
def audit(campaign_id: str, read: Read) -> list[AuditEntry]:
    """Operator: every change of the campaign, oldest first."""
    read.principal.require_operator()
    return read.run(lambda conn: service.audit_trail(conn, campaign_id))


@router.get("/campaigns/{campaign_id}/audience", response_model=AudienceOut)
def audience(campaign_id: str, read: Read) -> AudienceOut:
    """Operator: matched, eligible and excluded counts; sends nothing."""
    read.principal.require_operator()
    return read.run(lambda conn: service.audience(conn, campaign_id, now=read.now))


@router.post("/campaigns/{campaign_id}/launch", status_code=202, response_model=CampaignOut)
def launch(campaign_id: str, write: Write) -> Response:
    """Operator: freeze the audience and send through the planner; a second launch is 409."""
    write.principal.require_operator()
    return write.run(
        lambda conn: service.launch(conn, campaign_id, actor=OPERATOR, at=write.now),
        status_code=202,
    )


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignOut)
def cancel(campaign_id: str, write: Write) -> Response:
    """Operator: stop what has not been sent."""
    write.principal.require_operator()
    return write.run(lambda conn: service.cancel(conn, campaign_id, actor=OPERATOR, at=write.now))


@router.get("/campaigns/{campaign_id}/report", response_model=ReportOut)
def report(campaign_id: str, read: Read) -> ReportOut:
    """Operator: per variant and control, what was sent, clicked and converted, and whether
    the difference is likely real."""
    read.principal.require_operator()
    return read.run(lambda conn: service.report(conn, campaign_id))


_NOT_FOUND = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>链接无效 / Link not valid</title></head>
<body><main><h1>链接无效 / Link not valid</h1>
<p>这个链接无效或已失效。/ This link is not valid.</p></main></body></html>"""


@links.get(
    "/l/{token}",
    status_code=302,
    response_class=RedirectResponse,
    responses={404: {"content": {"text/html": {}}, "description": "Not a link we made"}},
)
def follow_link(token: str, context: Context) -> Response:
    """A campaign message's tracked link: the first click is recorded, then 302 to the
    content's url (the campaign's own, never one taken from the request)."""
    # A message may end a sentence right after the link: mail apps then keep the full stop.
    target = read_link_token(context.keyring, token.rstrip("."))
    if target is None:
        return HTMLResponse(_NOT_FOUND, status_code=404)
    found = target
    at = context.clock.now()
    url = retried_write(context.engine, lambda conn: service.follow_link(conn, found, at=at))
    if url is None:
        return HTMLResponse(_NOT_FOUND, status_code=404)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
