"""The custom kind registry: register, update, retire, and what ingest, the relay and the
renderer need of a kind. Services never commit; the caller owns the transaction.

A kind's templates are checked before they go live exactly like an operator's template
version: in the sandbox, within the render budget, against its sample data (complete, then
with the required fields only), the SMS signed and counted in segments, for every locale and
text channel. Every change leaves a row in `custom_kind_changes` (who, when, what it became).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection

from tidings.kit.clock import as_utc
from tidings.kit.errors import Conflict, NotFound
from tidings.kit.ids import new_id
from tidings.kit.tables import AnyRow
from tidings.notify.catalogue import EVENT_TYPES
from tidings.notify.kinds import repository
from tidings.notify.kinds.schemas import (
    KindChangeList,
    KindChangeOut,
    KindCreate,
    KindDefinition,
    KindList,
    KindOut,
    KindStatus,
    KindTemplates,
)
from tidings.notify.rules import RULES, Rule
from tidings.notify.status import DELIVERY_UPDATED
from tidings.notify.templates.exceptions import TemplateProblem
from tidings.notify.templates.render import TemplateRenderer
from tidings.notify.templates.source import TEXT_CHANNELS, CustomKindTemplates, TemplateSource
from tidings.notify.types import Category, ChannelName

log = structlog.get_logger(__name__)

SAMPLE_TEXT = "示例"
SAMPLE_CODE = "K7Q2X9"
SAMPLE_TIMEZONE = "Asia/Shanghai"


class KindOwnedByCatalogue(Conflict):
    """The built-in catalogue owns this type: its rule and templates ship with the code
    (change its wording with `/v1/templates`)."""

    code = "kind-built-in"
    title = "Built-in event type"


class KindExists(Conflict):
    """The type is registered already; `PUT /v1/kinds/{type}` changes it."""

    code = "kind-exists"
    title = "Kind already registered"


class KindNotFound(NotFound):
    code = "kind-not-found"


@dataclass(frozen=True, slots=True)
class CustomKind:
    """An active registered kind, as ingest, the relay and the renderer use it."""

    type: str
    category: Category
    channels: tuple[ChannelName, ...] | None
    required_fields: tuple[str, ...]
    templates: CustomKindTemplates

    def rule(self) -> Rule:
        return Rule(self.category, kind_channels=self.channels)


def is_built_in(kind: str, renderer: TemplateRenderer | None = None) -> bool:
    shipped = renderer.kinds() if renderer is not None else set()
    return kind in EVENT_TYPES or kind in RULES or kind in shipped or kind == DELIVERY_UPDATED


def _sources(templates: dict[str, KindTemplates]) -> dict[tuple[ChannelName, str], TemplateSource]:
    sources: dict[tuple[ChannelName, str], TemplateSource] = {}
    for locale, text in templates.items():
        sources[(ChannelName.SMS, locale)] = TemplateSource(None, text.sms or text.body)
        sources[(ChannelName.INBOX, locale)] = TemplateSource(text.title, text.body)
        sources[(ChannelName.PUSH, locale)] = TemplateSource(
            text.push_title or text.title, text.push_body or text.body
        )
        sources[(ChannelName.EMAIL, locale)] = TemplateSource(
            text.email_subject or text.title, text.email_body or text.body
        )
    return sources


def _sample(definition: KindDefinition) -> dict[str, Any]:
    return dict.fromkeys(definition.required_fields, SAMPLE_TEXT) | (definition.sample or {})


def _custom(
    kind: str,
    *,
    category: str,
    channels: list[str] | None,
    required_fields: list[str],
    templates: dict[str, KindTemplates],
    sample: dict[str, Any] | None,
) -> CustomKind:
    optional = tuple(name for name in (sample or {}) if name not in required_fields)
    return CustomKind(
        type=kind,
        category=Category(category),
        channels=tuple(ChannelName(c) for c in channels) if channels else None,
        required_fields=tuple(required_fields),
        templates=CustomKindTemplates(sources=_sources(templates), optional=optional),
    )


def from_row(row: AnyRow) -> CustomKind:
    return _custom(
        row.type,
        category=row.category,
        channels=row.channels,
        required_fields=list(row.required_fields),
        templates={k: KindTemplates.model_validate(v) for k, v in row.templates.items()},
        sample=row.sample,
    )


def check_definition(kind: str, definition: KindDefinition, *, brand: str, brand_en: str) -> None:
    """Raise the 422 an operator should see unless every template of the kind renders (the
    field named `templates.<locale>.<channel>.<title|body>`). Needs no database: callers run
    it before their write transaction."""
    custom = _custom(
        kind,
        category=definition.category,
        channels=[c.value for c in definition.channels] if definition.channels else None,
        required_fields=definition.required_fields,
        templates=definition.templates,
        sample=definition.sample,
    )
    renderer = TemplateRenderer(
        brand=brand,
        brand_en=brand_en,
        custom_kinds=lambda name: custom.templates if name == kind else None,
    )
    sample = _sample(definition)
    minimal = {k: v for k, v in sample.items() if k in definition.required_fields}
    for locale, text in definition.templates.items():
        for channel in TEXT_CHANNELS:
            source = custom.templates.sources[(channel, locale)]
            for data in (sample, minimal):
                try:
                    renderer.render_source(
                        source,
                        kind=kind,
                        channel=channel,
                        locale=locale,
                        data=data,
                        timezone=SAMPLE_TIMEZONE,
                        category=custom.category,
                        authenticity_code=SAMPLE_CODE,
                    )
                except TemplateProblem as exc:
                    key = _key_of(text, channel, title=exc.field == "title")
                    where = f"templates.{locale}.{key}"
                    hint = (
                        " (with the required fields only; guard optional ones with {% if field %})"
                        if data is minimal and data != sample
                        else ""
                    )
                    raise type(exc)(
                        f"{where} ({channel.value}): {exc.detail}{hint}", field=where
                    ) from None


def _key_of(text: KindTemplates, channel: ChannelName, *, title: bool) -> str:
    """The field of the operator's definition a channel's title or body came from."""
    own = {
        ChannelName.SMS: (None, "sms"),
        ChannelName.PUSH: ("push_title", "push_body"),
        ChannelName.EMAIL: ("email_subject", "email_body"),
    }.get(channel, (None, None))
    key = own[0] if title else own[1]
    if key is not None and getattr(text, key) is not None:
        return key
    return "title" if title else "body"


def _out(row: AnyRow) -> KindOut:
    return KindOut(
        type=row.type,
        category=Category(row.category),
        channels=[ChannelName(c) for c in row.channels] if row.channels else None,
        required_fields=list(row.required_fields),
        templates={k: KindTemplates.model_validate(v) for k, v in row.templates.items()},
        description=row.description,
        status=KindStatus(row.status),
        version=int(row.version),
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
        updated_by=row.updated_by,
        updated_at=as_utc(row.updated_at),
    )


def _values(definition: KindDefinition) -> dict[str, Any]:
    return {
        "category": definition.category,
        "channels": [c.value for c in definition.channels] if definition.channels else None,
        "required_fields": list(definition.required_fields),
        "templates": {
            locale: text.model_dump(exclude_none=True)
            for locale, text in definition.templates.items()
        },
        "sample": definition.sample,
        "description": definition.description,
    }


def _record_change(conn: Connection, row: AnyRow, *, action: str, actor: str, at: datetime) -> None:
    definition = _out(row).model_dump(
        mode="json", exclude={"created_by", "created_at", "updated_by", "updated_at"}
    )
    repository.insert_change(
        conn,
        {
            "id": new_id("kch"),
            "type": row.type,
            "action": action,
            "version": int(row.version),
            "actor": actor,
            "definition": definition,
            "at": at,
        },
    )
    log.info(f"notify.kind.{action}", kind=row.type, version=int(row.version), actor=actor)


def refuse_built_in(kind: str) -> None:
    """409 for a type the built-in catalogue owns."""
    if is_built_in(kind):
        raise KindOwnedByCatalogue(
            f"{kind} is a built-in event type; change its wording with /v1/templates",
            field="type",
        )


def register(conn: Connection, data: KindCreate, *, actor: str, at: datetime) -> KindOut:
    """A new kind, active at once (its templates already passed `check_definition`)."""
    refuse_built_in(data.type)
    repository.lock_type(conn, data.type)
    if repository.get(conn, data.type) is not None:
        raise KindExists(f"{data.type} is registered already; PUT it to change it", field="type")
    repository.insert_kind(
        conn,
        {
            "type": data.type,
            **_values(data),
            "status": KindStatus.ACTIVE.value,
            "version": 1,
            "created_by": actor,
            "created_at": at,
            "updated_by": actor,
            "updated_at": at,
        },
    )
    row = repository.get(conn, data.type)
    assert row is not None
    _record_change(conn, row, action="registered", actor=actor, at=at)
    return _out(row)


def update(
    conn: Connection, kind: str, data: KindDefinition, *, actor: str, at: datetime
) -> KindOut:
    """A new definition (the next version), active again if it was retired."""
    repository.lock_type(conn, kind)
    row = repository.get(conn, kind)
    if row is None:
        refuse_built_in(kind)
        raise KindNotFound(f"kind {kind} not found")
    values = {**_values(data), "status": KindStatus.ACTIVE.value}
    return _out(_next_version(conn, row, values, action="updated", actor=actor, at=at))


def _next_version(
    conn: Connection, row: AnyRow, values: dict[str, Any], *, action: str, actor: str, at: datetime
) -> AnyRow:
    """Write `values` as the kind's next version, record the change; the row as it now is."""
    kind = str(row.type)
    repository.update_kind(
        conn,
        kind,
        {**values, "version": int(row.version) + 1, "updated_by": actor, "updated_at": at},
    )
    updated = repository.get(conn, kind)
    assert updated is not None
    _record_change(conn, updated, action=action, actor=actor, at=at)
    return updated


def retire(conn: Connection, kind: str, *, actor: str, at: datetime) -> KindOut:
    """Events of the kind produce nothing from now on (accepted as an unknown type)."""
    repository.lock_type(conn, kind)
    row = repository.get(conn, kind)
    if row is None:
        raise KindNotFound(f"kind {kind} not found")
    if row.status != KindStatus.RETIRED.value:
        values = {"status": KindStatus.RETIRED.value}
        row = _next_version(conn, row, values, action="retired", actor=actor, at=at)
    return _out(row)


def get(conn: Connection, kind: str) -> KindOut:
    row = repository.get(conn, kind)
    if row is None:
        raise KindNotFound(f"kind {kind} not found")
    return _out(row)


def changes(conn: Connection, kind: str) -> KindChangeList:
    """The kind's audit trail, oldest first (404 when it was never registered)."""
    rows = repository.changes(conn, kind)
    if not rows:
        raise KindNotFound(f"kind {kind} not found")
    return KindChangeList(
        items=[
            KindChangeOut(
                action=row.action,
                version=int(row.version),
                actor=row.actor,
                at=as_utc(row.at),
                definition=dict(row.definition),
            )
            for row in rows
        ]
    )


def list_kinds(conn: Connection) -> KindList:
    return KindList(items=[_out(row) for row in repository.list_all(conn)])


def active_kinds(conn: Connection, kinds: list[str]) -> dict[str, CustomKind]:
    """The active registered kinds among `kinds` (one query)."""
    return {row.type: from_row(row) for row in repository.active(conn, kinds)}


def active_kind(conn: Connection, kind: str) -> CustomKind | None:
    return active_kinds(conn, [kind]).get(kind)


def missing_fields(kind: CustomKind, data: dict[str, Any]) -> list[str]:
    """Required fields the event's data leaves out (or sends as null)."""
    return [name for name in kind.required_fields if data.get(name) is None]
