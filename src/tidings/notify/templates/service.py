"""Operator template versions: list, draft (checked before it can go live), approve, activate
(or roll back), preview.

Two operators for every change that reaches users: a version is written as a draft, a
second operator (never its author) approves it, and an operator activates an approved
version; who and when are kept on the version for each step.

A version is checked in the sandbox against the kind's sample data — once complete, once with
only the fields every event of the kind must carry — so an operator cannot make a template go
live that would fail on a real event. Services never commit; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection

from tidings.kit.clock import as_utc
from tidings.kit.ids import new_id
from tidings.kit.tables import AnyRow
from tidings.notify.catalogue import EVENT_TYPES, validate_event_data
from tidings.notify.rules import RULES
from tidings.notify.templates import repository
from tidings.notify.templates.exceptions import (
    ApprovalNeedsSecondOperator,
    TemplateAlreadyApproved,
    TemplateNotApproved,
    TemplateProblem,
    TemplateRenderFailed,
    TemplateVersionNotFound,
    UnknownKind,
)
from tidings.notify.templates.render import (
    Overrides,
    RenderedContent,
    TemplateRenderer,
    TemplateSource,
)
from tidings.notify.templates.samples import sample_data
from tidings.notify.templates.schemas import (
    PreviewOut,
    TemplateCreate,
    TemplatePreview,
    TemplateStatus,
    TemplateVersionOut,
)
from tidings.notify.types import Category, ChannelName

SAMPLE_CODE = "K7Q2X9"
"""An authenticity code of real length, so checks and previews count the SMS as sent."""
SAMPLE_TIMEZONE = "Asia/Shanghai"
_DEFAULT_PREFIX = "default:"


def active_override(
    conn: Connection, kind: str, channel: str, locale: str
) -> TemplateSource | None:
    """The operator's active version for exactly this (kind, channel, locale), or None."""
    row = repository.active_version(conn, kind, channel, locale)
    return TemplateSource(title=row.title, body=row.body) if row is not None else None


def active_overrides(conn: Connection) -> dict[tuple[str, str, str], TemplateSource]:
    """Every active version at once, for a dispatcher that caches them between batches."""
    return {
        (row.kind, row.channel, row.locale): TemplateSource(title=row.title, body=row.body)
        for row in repository.active_versions(conn)
    }


def override_lookup(conn: Connection) -> Overrides:
    """An `overrides` callable for `TemplateRenderer`, reading inside `conn`'s transaction."""

    def lookup(kind: str, channel: str, locale: str) -> TemplateSource | None:
        return active_override(conn, kind, channel, locale)

    return lookup


def category_of(kind: str) -> Category:
    rule = RULES.get(kind)
    return rule.category if rule is not None else Category.TRANSACTIONAL


def default_id(kind: str, channel: str, locale: str) -> str:
    return f"{_DEFAULT_PREFIX}{kind}:{channel}:{locale}"


def _status(row: AnyRow) -> TemplateStatus:
    if row.active:
        return TemplateStatus.ACTIVE
    return TemplateStatus.APPROVED if row.approved_by is not None else TemplateStatus.DRAFT


def _at(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _row_out(row: AnyRow) -> TemplateVersionOut:
    return TemplateVersionOut(
        id=row.id,
        status=_status(row),
        kind=row.kind,
        channel=ChannelName(row.channel),
        locale=row.locale,
        version=row.version,
        title=row.title,
        body=row.body,
        active=bool(row.active),
        shipped=False,
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
        approved_by=row.approved_by,
        approved_at=_at(row.approved_at),
        activated_by=row.activated_by,
        activated_at=_at(row.activated_at),
    )


def _default_out(
    kind: str, channel: ChannelName, locale: str, source: TemplateSource, *, active: bool
) -> TemplateVersionOut:
    return TemplateVersionOut(
        id=default_id(kind, channel.value, locale),
        status=TemplateStatus.ACTIVE if active else TemplateStatus.APPROVED,
        kind=kind,
        channel=channel,
        locale=locale,
        version=0,
        title=source.title if channel is not ChannelName.SMS else None,
        body=source.body,
        active=active,
        shipped=True,
        created_by=None,
        created_at=None,
    )


def list_versions(
    conn: Connection,
    renderer: TemplateRenderer,
    *,
    kind: str | None = None,
    channel: ChannelName | None = None,
    locale: str | None = None,
) -> list[TemplateVersionOut]:
    """Versions grouped by (kind, channel, locale), newest first, the shipped default last
    as version 0; exactly one version of each group is active."""
    rows = repository.list_versions(
        conn, kind=kind, channel=channel.value if channel else None, locale=locale
    )
    overridden = {(row.kind, row.channel, row.locale) for row in rows if row.active}
    items = [_row_out(row) for row in rows]
    for shipped_kind, shipped_channel, shipped_locale, source in renderer.shipped_items():
        if (
            (kind is None or shipped_kind == kind)
            and (channel is None or shipped_channel is channel)
            and (locale is None or shipped_locale == locale)
        ):
            active = (shipped_kind, shipped_channel.value, shipped_locale) not in overridden
            items.append(
                _default_out(shipped_kind, shipped_channel, shipped_locale, source, active=active)
            )
    items.sort(key=lambda item: (item.kind, item.channel.value, item.locale, -item.version))
    return items


def _known_kind(renderer: TemplateRenderer, kind: str) -> None:
    if kind not in renderer.kinds():
        raise UnknownKind(f"{kind!r} is not a known event type", field="kind")


def _render(
    renderer: TemplateRenderer,
    source: TemplateSource,
    *,
    kind: str,
    channel: ChannelName,
    locale: str,
    data: dict[str, Any],
    timezone: str = SAMPLE_TIMEZONE,
) -> RenderedContent:
    return renderer.render_source(
        source,
        kind=kind,
        channel=channel,
        locale=locale,
        data=data,
        timezone=timezone,
        category=category_of(kind),
        authenticity_code=SAMPLE_CODE,
    )


def _required_only(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    fields = EVENT_TYPES[kind].data.model_fields
    return {k: v for k, v in data.items() if k in fields and fields[k].is_required()}


def check_template(
    renderer: TemplateRenderer,
    source: TemplateSource,
    *,
    kind: str,
    channel: ChannelName,
    locale: str,
) -> RenderedContent:
    """Raise the 422 problem an operator should see unless `source` is fit to go live."""
    _known_kind(renderer, kind)
    channel = renderer.text_channel(channel)
    if source.title is not None:
        renderer.check_compiles(source.title, "title")
    renderer.check_compiles(source.body, "body")
    sample = sample_data(kind, locale)
    rendered = _render(renderer, source, kind=kind, channel=channel, locale=locale, data=sample)
    minimal = _required_only(kind, sample)
    try:
        _render(renderer, source, kind=kind, channel=channel, locale=locale, data=minimal)
    except TemplateProblem as exc:
        left_out = ", ".join(sorted(set(sample) - set(minimal))) or "-"
        raise type(exc)(
            f"{exc.detail} (when the event leaves out its optional fields: {left_out}; "
            "guard them with {% if field %})",
            field=exc.field,
            **exc.extra,
        ) from None
    return rendered


def _source_from(
    renderer: TemplateRenderer, *, channel: ChannelName, title: str | None, body: str
) -> TemplateSource:
    channel = renderer.text_channel(channel)
    if channel is ChannelName.SMS:
        if title is not None:
            raise TemplateProblem("an SMS has no title; leave `title` out", field="title")
        return TemplateSource(title=None, body=body)
    if title is None:
        raise TemplateProblem(f"a {channel.value} template needs a title", field="title")
    return TemplateSource(title=title, body=body)


def create_version(
    conn: Connection,
    renderer: TemplateRenderer,
    data: TemplateCreate,
    *,
    actor: str,
    at: datetime,
) -> TemplateVersionOut:
    """Store a checked version as the next number, a draft."""
    source = checked_source(renderer, data)
    return store_version(conn, data, source, actor=actor, at=at)


def checked_source(renderer: TemplateRenderer, data: TemplateCreate) -> TemplateSource:
    """The new version's source once it has passed every check (renders within budget on
    the kind's samples). Needs no database: callers run it before their write transaction,
    so a slow template never holds the write lock."""
    _known_kind(renderer, data.kind)
    source = _source_from(renderer, channel=data.channel, title=data.title, body=data.body)
    check_template(renderer, source, kind=data.kind, channel=data.channel, locale=data.locale)
    return source


def store_version(
    conn: Connection,
    data: TemplateCreate,
    source: TemplateSource,
    *,
    actor: str,
    at: datetime,
) -> TemplateVersionOut:
    """Store a version `checked_source` returned as the next number, a draft by `actor`
    (the operator's name): nothing changes for users until it is approved and activated."""
    channel = data.channel.value
    repository.lock_group(conn, data.kind, channel, data.locale)
    version = repository.latest_version_number(conn, data.kind, channel, data.locale) + 1
    template_id = new_id("tpl")
    repository.insert_version(
        conn,
        {
            "id": template_id,
            "kind": data.kind,
            "channel": channel,
            "locale": data.locale,
            "version": version,
            "title": source.title,
            "body": source.body,
            "active": False,
            "created_by": actor,
            "created_at": at,
        },
    )
    row = repository.get_version(conn, template_id)
    assert row is not None
    return _row_out(row)


def _parse_default_id(
    renderer: TemplateRenderer, template_id: str
) -> tuple[str, ChannelName, str, TemplateSource]:
    parts = template_id.removeprefix(_DEFAULT_PREFIX).split(":")
    if len(parts) == 3:
        kind, channel, locale = parts
        try:
            name = ChannelName(channel)
        except ValueError:
            name = None
        source = renderer.shipped(kind, name, locale) if name is not None else None
        if name is not None and source is not None:
            return kind, name, locale, source
    raise TemplateVersionNotFound(f"template {template_id} not found")


def stored_version(conn: Connection, template_id: str) -> TemplateVersionOut | None:
    """A stored version, to check before activating it (None for a shipped default's id)."""
    if template_id.startswith(_DEFAULT_PREFIX):
        return None
    row = repository.get_version(conn, template_id)
    if row is None:
        raise TemplateVersionNotFound(f"template {template_id} not found")
    return _row_out(row)


def check_version(renderer: TemplateRenderer, version: TemplateVersionOut) -> None:
    """Check a stored version again (the samples and rules may have moved on since it was
    written); no database, so callers run it outside their write transaction."""
    check_template(
        renderer,
        TemplateSource(title=version.title, body=version.body),
        kind=version.kind,
        channel=version.channel,
        locale=version.locale,
    )


def same_operator(first: str, second: str) -> bool:
    """Names compared as people type them: `Alice` and ` alice` are one operator."""
    return first.strip().casefold() == second.strip().casefold()


def approve_version(
    conn: Connection, template_id: str, *, operator: str, at: datetime
) -> TemplateVersionOut:
    """A second operator approves a draft: recorded (who, when); it is not in force yet."""
    if template_id.startswith(_DEFAULT_PREFIX):
        raise TemplateAlreadyApproved("a shipped default needs no approval")
    row = repository.get_version(conn, template_id)
    if row is None:
        raise TemplateVersionNotFound(f"template {template_id} not found")
    repository.lock_group(conn, row.kind, row.channel, row.locale)
    row = repository.get_version(conn, template_id)  # as it is now we hold the group
    assert row is not None
    if row.approved_by is not None:
        raise TemplateAlreadyApproved(
            f"template {template_id} was approved by {row.approved_by} already"
        )
    if same_operator(row.created_by, operator):
        raise ApprovalNeedsSecondOperator(
            f"{operator} wrote template {template_id}; another operator must approve it",
            field="X-Operator",
        )
    repository.approve(conn, template_id, operator=operator, at=at)
    approved = repository.get_version(conn, template_id)
    assert approved is not None
    return _row_out(approved)


def activate_version(
    conn: Connection,
    renderer: TemplateRenderer,
    template_id: str,
    *,
    operator: str,
    at: datetime,
    checked: bool = False,
) -> TemplateVersionOut:
    """Put an approved version in force (also a roll-back); the shipped default's id restores
    it. A draft is refused until a second operator approves it. `checked`: the caller already
    ran `check_template` on it, outside the transaction."""
    if template_id.startswith(_DEFAULT_PREFIX):
        kind, channel, locale, source = _parse_default_id(renderer, template_id)
        repository.lock_group(conn, kind, channel.value, locale)
        repository.deactivate_all(conn, kind, channel.value, locale)
        return _default_out(kind, channel, locale, source, active=True)
    row = repository.get_version(conn, template_id)
    if row is None:
        raise TemplateVersionNotFound(f"template {template_id} not found")
    if not checked:  # again: the samples (and the rules) may have moved on since
        check_template(
            renderer,
            TemplateSource(title=row.title, body=row.body),
            kind=row.kind,
            channel=ChannelName(row.channel),
            locale=row.locale,
        )
    repository.lock_group(conn, row.kind, row.channel, row.locale)
    row = repository.get_version(conn, template_id)  # as it is now we hold the group
    assert row is not None
    if row.approved_by is None:
        raise TemplateNotApproved(
            f"template {template_id} is a draft: a second operator must approve it "
            f"(POST /v1/templates/{template_id}/approve) before it goes live"
        )
    repository.deactivate_all(conn, row.kind, row.channel, row.locale)
    repository.activate(conn, template_id, operator=operator, at=at)
    activated = repository.get_version(conn, template_id)
    assert activated is not None
    return _row_out(activated)


def _checked_data(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return validate_event_data(kind, data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in ("data", *first["loc"]))
        raise TemplateRenderFailed(f"{where}: {first['msg']}", field=where) from None


def preview(conn: Connection, renderer: TemplateRenderer, data: TemplatePreview) -> PreviewOut:
    """What a draft (or the template in force) sends, with a sample authenticity code."""
    _known_kind(renderer, data.kind)
    channel = renderer.text_channel(data.channel)
    in_force, in_force_locale = renderer.source_for(
        data.kind, channel, data.locale, overrides=override_lookup(conn)
    )
    if data.body is None:
        source, locale = in_force, in_force_locale
    else:
        title = data.title if data.title is not None else in_force.title
        source = _source_from(
            renderer,
            channel=channel,
            title=None if channel is ChannelName.SMS else title,
            body=data.body,
        )
        locale = data.locale
    event_data = (
        _checked_data(data.kind, data.data)
        if data.data is not None
        else sample_data(data.kind, locale)
    )
    rendered = _render(
        renderer,
        source,
        kind=data.kind,
        channel=channel,
        locale=locale,
        data=event_data,
        timezone=data.timezone,
    )
    return PreviewOut(
        title=rendered.title, body=rendered.body, html=rendered.html, segments=rendered.segments
    )
