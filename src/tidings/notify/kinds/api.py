"""Operator-registered event kinds over HTTP (thin: parse, check, call the service, shape)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from tidings.api.reads import Read
from tidings.api.writes import PlainWrite, Write
from tidings.config import Settings
from tidings.notify.kinds import service
from tidings.notify.kinds.schemas import (
    KindChangeList,
    KindCreate,
    KindDefinition,
    KindList,
    KindOut,
)

router = APIRouter(prefix="/v1/kinds", tags=["kinds"])

KindPath = Annotated[str, Path(min_length=1, max_length=80)]

_PROBLEMS: dict[int | str, dict[str, str]] = {
    409: {"description": "A built-in event type (`kind-built-in`), or registered already"},
    422: {
        "description": "A template that does not compile, is unsafe, fails on the sample "
        "data, is over the render budget or the SMS segment limit (the field names "
        "`templates.<locale>.<channel>.<title|body>`); no zh-CN template"
    },
}


def _check(kind: str, body: KindDefinition, settings: Settings) -> None:
    """Render the definition's templates on their samples (before any transaction)."""
    service.check_definition(kind, body, brand=settings.brand, brand_en=settings.brand_en)


@router.post("", status_code=201, response_model=KindOut, responses=_PROBLEMS)
def register_kind(body: KindCreate, write: Write) -> Response:
    """Operator: a new event kind; a core's events of that type become notices at once."""
    write.principal.require_operator()
    service.refuse_built_in(body.type)
    # Rendered on the samples before the write transaction: a slow template holds no lock.
    _check(body.type, body, write.context.settings)
    actor = write.principal.key
    return write.run(
        lambda conn: service.register(conn, body, actor=actor, at=write.now),
        body=body,
        status_code=201,
    )


@router.get("", response_model=KindList)
def list_kinds(read: Read) -> KindList:
    """Operator: every registered kind, active and retired."""
    read.principal.require_operator()
    return read.run(service.list_kinds)


@router.get("/{kind}", response_model=KindOut)
def get_kind(kind: KindPath, read: Read) -> KindOut:
    read.principal.require_operator()
    return read.run(lambda conn: service.get(conn, kind))


@router.get("/{kind}/changes", response_model=KindChangeList)
def kind_changes(kind: KindPath, read: Read) -> KindChangeList:
    """Operator: every registration, update and retirement of the kind, oldest first: who,
    when, and the definition it left."""
    read.principal.require_operator()
    return read.run(lambda conn: service.changes(conn, kind))


@router.put("/{kind}", response_model=KindOut, responses=_PROBLEMS)
def update_kind(kind: KindPath, body: KindDefinition, write: PlainWrite) -> Response:
    """Operator: a new definition of a registered kind (active again if it was retired)."""
    write.principal.require_operator()
    service.refuse_built_in(kind)
    _check(kind, body, write.context.settings)
    actor = write.principal.key
    return write.run(lambda conn: service.update(conn, kind, body, actor=actor, at=write.now))


@router.delete("/{kind}", response_model=KindOut)
def retire_kind(kind: KindPath, write: PlainWrite) -> Response:
    """Operator: retire a kind; its events are accepted as an unknown type again and produce
    nothing. The definition stays (`PUT` brings it back)."""
    write.principal.require_operator()
    actor = write.principal.key
    return write.run(lambda conn: service.retire(conn, kind, actor=actor, at=write.now))
