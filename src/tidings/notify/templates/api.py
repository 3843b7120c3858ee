"""Operator template management over HTTP (thin: parse, call the service, shape)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from tidings.api.auth import Context, CurrentPrincipal
from tidings.api.context import ApiContext
from tidings.api.writes import Write
from tidings.kit.db import read_transaction
from tidings.kit.pagination import Page
from tidings.notify.templates import service
from tidings.notify.templates.exceptions import OperatorRequired
from tidings.notify.templates.render import TemplateRenderer, canonical_locale
from tidings.notify.templates.schemas import (
    PreviewOut,
    TemplateCreate,
    TemplatePreview,
    TemplateVersionOut,
)
from tidings.notify.types import ChannelName

router = APIRouter(prefix="/v1/templates", tags=["templates"])

_PROBLEMS: dict[int | str, dict[str, str]] = {
    422: {
        "description": "Unknown kind or channel, syntax error, unsafe template, fails to "
        "render with the kind's sample data, or SMS over the segment limit"
    },
}


_CONFLICTS: dict[int | str, dict[str, str]] = {
    409: {
        "description": "template-approval-needs-second-operator (the author may not approve "
        "their own version), template-already-approved, or template-not-approved (a draft "
        "cannot be activated)"
    },
}

OperatorHeader = Annotated[
    str | None,
    Header(
        alias="X-Operator",
        max_length=64,
        description="The operator making the change (e.g. alice): recorded, and a version's "
        "author may not approve it.",
    ),
]


def operator_name(value: str | None) -> str:
    """The operator's name from `X-Operator`; required for every template change."""
    name = (value or "").strip()
    if not name or not name.isprintable():
        raise OperatorRequired(
            "name the operator making this change in the X-Operator header (e.g. alice)",
            field="X-Operator",
        )
    return name


@lru_cache(maxsize=4)
def _renderer_for(brand: str, brand_en: str) -> TemplateRenderer:
    return TemplateRenderer(brand=brand, brand_en=brand_en)


def renderer(context: ApiContext) -> TemplateRenderer:
    """One renderer per brand (its compiled templates are cached inside)."""
    return _renderer_for(context.settings.brand, context.settings.brand_en)


@router.get("", response_model=Page[TemplateVersionOut])
def list_templates(
    context: Context,
    principal: CurrentPrincipal,
    kind: Annotated[str | None, Query(max_length=80)] = None,
    channel: ChannelName | None = None,
    locale: Annotated[str | None, Query(max_length=16)] = None,
) -> Page[TemplateVersionOut]:
    """Operator: template versions per (kind, channel, locale), newest first, with the shipped
    default as version 0. Bounded by the catalogue, so one page holds them all."""
    principal.require_operator()
    with read_transaction(context.engine) as conn:
        items = service.list_versions(
            conn,
            renderer(context),
            kind=kind,
            channel=channel,
            locale=canonical_locale(locale) if locale else None,
        )
    return Page[TemplateVersionOut](items=items, next_cursor=None)


@router.post("", status_code=201, response_model=TemplateVersionOut, responses=_PROBLEMS)
def create_template(
    body: TemplateCreate, write: Write, x_operator: OperatorHeader = None
) -> Response:
    """Operator: a new version, checked in the sandbox, stored as a draft by the operator
    named in `X-Operator`; it goes live once another operator approves it and it is
    activated."""
    write.principal.require_operator()
    operator = operator_name(x_operator)
    # Rendered on the samples before the write transaction: a slow template holds no lock.
    source = service.checked_source(renderer(write.context), body)
    return write.run(
        lambda conn: service.store_version(conn, body, source, actor=operator, at=write.now),
        body=body,
        status_code=201,
    )


@router.post("/preview", response_model=PreviewOut, responses=_PROBLEMS)
def preview_template(
    body: TemplatePreview, context: Context, principal: CurrentPrincipal
) -> PreviewOut:
    """Operator: what a draft, or the template in force, would send (nothing is stored)."""
    principal.require_operator()
    with read_transaction(context.engine) as conn:
        return service.preview(conn, renderer(context), body)


@router.post("/{template_id}/approve", response_model=TemplateVersionOut, responses=_CONFLICTS)
def approve_template(template_id: str, write: Write, x_operator: OperatorHeader = None) -> Response:
    """Operator: approve a draft written by another operator (409
    `template-approval-needs-second-operator` for its author); who and when are recorded.
    It goes live when activated."""
    write.principal.require_operator()
    operator = operator_name(x_operator)
    return write.run(
        lambda conn: service.approve_version(conn, template_id, operator=operator, at=write.now)
    )


@router.post(
    "/{template_id}/activate",
    response_model=TemplateVersionOut,
    responses={**_PROBLEMS, **_CONFLICTS},
)
def activate_template(
    template_id: str, write: Write, x_operator: OperatorHeader = None
) -> Response:
    """Operator: put an approved version in force (also a roll-back; a draft is 409
    `template-not-approved`); a shipped default's id (`default:<kind>:<channel>:<locale>`)
    sets every operator version of it aside. Who and when are recorded on the version."""
    write.principal.require_operator()
    operator = operator_name(x_operator)
    checker = renderer(write.context)
    with read_transaction(write.context.engine) as conn:
        stored = service.stored_version(conn, template_id)
    if stored is not None:  # checked outside any transaction, as when it was created
        service.check_version(checker, stored)
    return write.run(
        lambda conn: service.activate_version(
            conn, checker, template_id, operator=operator, at=write.now, checked=True
        )
    )
