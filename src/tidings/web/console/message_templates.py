"""Message templates in the console (`/console/templates`): every (kind, channel, locale) with
the version in force and those waiting; one group's page edits a new version with a live
preview (htmx) of what it sends and, for SMS, its segment count; a second operator approves
it; any approved version can be activated, which is also how a change is rolled back.

The same template service as `/v1/templates`, under the same two-operator rule: the name the
operator signed in with is what the API takes from `X-Operator`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import groupby
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import ValidationError
from sqlalchemy import Connection
from starlette.responses import RedirectResponse, Response

from tidings.api.context import ApiContext
from tidings.kit.db import read_transaction, with_retry, write_transaction
from tidings.kit.errors import AppError, NotFound
from tidings.notify.templates import service
from tidings.notify.templates.render import TemplateRenderer, TemplateSource
from tidings.notify.templates.schemas import (
    PreviewOut,
    TemplateCreate,
    TemplatePreview,
    TemplateStatus,
    TemplateVersionOut,
    normalise_locale,
)
from tidings.notify.templates.source import TEXT_CHANNELS
from tidings.notify.types import ChannelName
from tidings.web.console.operator import Console, ConsoleVisit
from tidings.web.i18n import gettext_noop
from tidings.web.visit import OperatorForm, PostedForm

router = APIRouter(prefix="/console/templates", include_in_schema=False)

TITLE_FIELD = "title"
BODY_FIELD = "body"
SHIPPED_LOCALES = ("zh-CN", "en")
DEFAULT_CHANNEL = ChannelName.SMS
"""The list opens on SMS, the channel whose wording costs money and must fit segments."""

_UNUSABLE = gettext_noop("This template cannot be used as it is.")
_INVALID = gettext_noop("Check this field: it is empty or too long.")
_NAME_NEEDED = gettext_noop("Sign out and sign in again with your name to change templates.")
_DONE: dict[str, str] = {
    "saved": gettext_noop("Saved as a draft. Another operator must approve it."),
    "approved": gettext_noop("Approved. It can now be activated."),
    "activated": gettext_noop("Activated: this version is now sent."),
}


_REFUSALS: dict[str, str] = {
    "template-approval-needs-second-operator": gettext_noop(
        "You wrote this version: another operator must approve it."
    ),
    "template-already-approved": gettext_noop("This version is approved already."),
    "template-not-approved": gettext_noop(
        "This version is a draft: another operator must approve it before it can be activated."
    ),
}


class TemplateGroupNotFound(NotFound):
    code = "template-group-not-found"


@dataclass(frozen=True, slots=True)
class TemplateGroup:
    """One (kind, channel, locale): its versions, one of which is in force."""

    kind: str
    channel: ChannelName
    locale: str

    @property
    def path(self) -> str:
        return f"/console/templates/{self.kind}/{self.channel.value}/{self.locale}"


@dataclass(frozen=True, slots=True)
class TemplateFilter:
    """What the list shows; None: any."""

    kind: str | None
    channel: ChannelName | None
    locale: str | None


@dataclass(frozen=True, slots=True)
class GroupSummary:
    group: TemplateGroup
    active: TemplateVersionOut | None
    drafts: int
    approved: int
    """Approved versions not in force: ready to activate (or to roll back to)."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """What is wrong, next to the field: our sentence, and the engine's own words (English)."""

    message: str
    detail: str | None = None


@dataclass(slots=True)
class Draft:
    """What the operator typed, kept through every answer, with what is wrong with it."""

    title: str | None
    body: str
    problems: dict[str, FieldProblem] = field(default_factory=dict)

    def note_refusal(self, exc: AppError | ValidationError) -> None:
        """What to say, next to the field the refusal is about (the title, or else the body)."""
        if isinstance(exc, ValidationError):
            where = str(exc.errors()[0]["loc"][0]) if exc.errors() else BODY_FIELD
            field_name = TITLE_FIELD if where == TITLE_FIELD else BODY_FIELD
            self.problems[field_name] = FieldProblem(_INVALID)
            return
        field_name = TITLE_FIELD if exc.field == TITLE_FIELD else BODY_FIELD
        self.problems[field_name] = FieldProblem(_UNUSABLE, exc.detail)


_Asked = TypeVar("_Asked", TemplatePreview, TemplateCreate)


def _asked(schema: type[_Asked], group: TemplateGroup, draft: Draft) -> _Asked:
    """The draft as the API takes it, so it is checked as the API checks it (to preview or to
    store)."""
    return schema(
        kind=group.kind,
        channel=group.channel,
        locale=group.locale,
        title=draft.title or None,
        body=draft.body,
    )


@lru_cache(maxsize=4)
def _renderer_for(brand: str, brand_en: str) -> TemplateRenderer:
    return TemplateRenderer(brand=brand, brand_en=brand_en)


def renderer(context: ApiContext) -> TemplateRenderer:
    """One renderer per brand (its compiled templates are cached inside)."""
    return _renderer_for(context.settings.brand, context.settings.brand_en)


def summarise(versions: list[TemplateVersionOut]) -> list[GroupSummary]:
    """One row per group, from versions listed group by group (as the service lists them)."""

    def key(version: TemplateVersionOut) -> tuple[str, str, str]:
        return version.kind, version.channel.value, version.locale

    summaries = []
    for (kind, channel, locale), grouped in groupby(versions, key=key):
        members = list(grouped)
        summaries.append(
            GroupSummary(
                group=TemplateGroup(kind, ChannelName(channel), locale),
                active=next((v for v in members if v.active), None),
                drafts=sum(v.status is TemplateStatus.DRAFT for v in members),
                approved=sum(
                    v.status is TemplateStatus.APPROVED and not v.shipped for v in members
                ),
            )
        )
    return summaries


@router.get("")
def template_list(
    console: Console,
    kind: str = Query(default="", max_length=80),
    channel: str = Query(default=DEFAULT_CHANNEL.value, max_length=16),
    locale: str = Query(default="", max_length=16),
) -> Response:
    """Filtered by GET (the filters name no person)."""
    context = console.visit.context
    templates = renderer(context)
    kinds = sorted(templates.kinds())
    chosen_channel = ChannelName(channel) if channel in {c.value for c in TEXT_CHANNELS} else None
    chosen_kind = kind if kind in kinds else None
    chosen_locale = locale if locale in SHIPPED_LOCALES else None
    with read_transaction(context.engine) as conn:
        versions = service.list_versions(
            conn, templates, kind=chosen_kind, channel=chosen_channel, locale=chosen_locale
        )
    return console.render(
        "console/templates.html",
        summaries=summarise(versions),
        kinds=kinds,
        text_channels=TEXT_CHANNELS,
        locales=SHIPPED_LOCALES,
        chosen=TemplateFilter(kind=chosen_kind, channel=chosen_channel, locale=chosen_locale),
        active="templates",
    )


def _path_group(kind: str, channel: str, locale: str, console: Console) -> TemplateGroup:
    """The group a path names, or 404: a known kind, a text channel, a locale as written."""
    try:
        name = ChannelName(channel)
        canonical = normalise_locale(locale)
    except ValueError:
        name, canonical = None, None
    known = kind in renderer(console.visit.context).kinds()
    if name not in TEXT_CHANNELS or canonical != locale or not known:
        raise TemplateGroupNotFound(f"no templates for {kind} {channel} {locale}")
    assert name is not None
    return TemplateGroup(kind, name, locale)


Group = Annotated[TemplateGroup, Depends(_path_group)]


def _in_force(conn: Connection, context: ApiContext, group: TemplateGroup) -> TemplateSource:
    source, _ = renderer(context).source_for(
        group.kind, group.channel, group.locale, overrides=service.override_lookup(conn)
    )
    return source


def _preview(
    conn: Connection, context: ApiContext, group: TemplateGroup, draft: Draft
) -> PreviewOut | None:
    """What the draft sends with the kind's sample data; None (and a problem noted on the
    draft) when it cannot be rendered."""
    try:
        return service.preview(conn, renderer(context), _asked(TemplatePreview, group, draft))
    except (AppError, ValidationError) as exc:
        draft.note_refusal(exc)
        return None


def _typed(form: PostedForm, group: TemplateGroup) -> Draft:
    title = None if group.channel is ChannelName.SMS else (form.get(TITLE_FIELD) or "").strip()
    return Draft(title=title, body=(form.get(BODY_FIELD) or "").strip())


def _group_page(
    console: ConsoleVisit,
    group: TemplateGroup,
    *,
    draft: Draft | None = None,
    status_code: int = 200,
    done: str | None = None,
    refusal: FieldProblem | None = None,
) -> Response:
    context = console.visit.context
    templates = renderer(context)
    with read_transaction(context.engine) as conn:
        versions = service.list_versions(
            conn, templates, kind=group.kind, channel=group.channel, locale=group.locale
        )
        if draft is None:
            source = _in_force(conn, context, group)
            draft = Draft(title=source.title, body=source.body)
        preview = _preview(conn, context, group, draft)
    newest_active = max((v.version for v in versions if v.active), default=0)
    return console.render(
        "console/template.html",
        status_code=status_code,
        group=group,
        versions=versions,
        newest_active=newest_active,
        draft=draft,
        preview=preview,
        max_segments=templates.max_sms_segments,
        done=_DONE.get(done or ""),
        refusal=refusal,
        same_operator=service.same_operator,
        name_needed=_NAME_NEEDED,
        active="templates",
    )


@router.get("/{kind}/{channel}/{locale}")
def template_group_page(
    group: Group, console: Console, done: str = Query(default="", max_length=16)
) -> Response:
    return _group_page(console, group, done=done)


@router.post("/{kind}/{channel}/{locale}/preview")
def preview_draft(group: Group, console: Console, form: OperatorForm) -> Response:
    """htmx: the preview alone, as the operator types; without script: the whole page."""
    context = console.visit.context
    draft = _typed(form, group)
    if not console.visit.htmx:
        return _group_page(console, group, draft=draft)
    with read_transaction(context.engine) as conn:
        preview = _preview(conn, context, group, draft)
    return console.render(
        "console/_template_preview.html",
        group=group,
        draft=draft,
        preview=preview,
        max_segments=renderer(context).max_sms_segments,
    )


@router.post("/{kind}/{channel}/{locale}")
def save_draft(group: Group, console: Console, form: OperatorForm) -> Response:
    """A new version, checked as the API checks it, stored as a draft in the operator's name."""
    context = console.visit.context
    draft = _typed(form, group)
    try:
        asked = _asked(TemplateCreate, group, draft)
        source = service.checked_source(renderer(context), asked)
    except (AppError, ValidationError) as exc:
        draft.note_refusal(exc)
        return _group_page(console, group, draft=draft, status_code=422)

    def store(operator: str) -> None:
        with write_transaction(context.engine) as conn:
            service.store_version(conn, asked, source, actor=operator, at=context.clock.now())

    return _change(console, group, store, done="saved")


@router.post("/{kind}/{channel}/{locale}/versions/{template_id}/approve")
def approve_version(template_id: str, group: Group, console: Console, _: OperatorForm) -> Response:
    context = console.visit.context

    def approve(operator: str) -> None:
        with write_transaction(context.engine) as conn:
            _require_in(conn, group, template_id)
            service.approve_version(conn, template_id, operator=operator, at=context.clock.now())

    return _change(console, group, approve, done="approved")


@router.post("/{kind}/{channel}/{locale}/versions/{template_id}/activate")
def activate_version(template_id: str, group: Group, console: Console, _: OperatorForm) -> Response:
    """Put an approved version in force; an older one (or the shipped text) is a roll-back."""
    context = console.visit.context
    templates = renderer(context)

    def activate(operator: str) -> None:
        with read_transaction(context.engine) as conn:
            stored = _require_in(conn, group, template_id)
        if stored is not None:  # checked outside the write transaction, as the API does
            service.check_version(templates, stored)
        with write_transaction(context.engine) as conn:
            service.activate_version(
                conn,
                templates,
                template_id,
                operator=operator,
                at=context.clock.now(),
                checked=True,
            )

    return _change(console, group, activate, done="activated")


def _require_in(
    conn: Connection, group: TemplateGroup, template_id: str
) -> TemplateVersionOut | None:
    """The stored version (None: the shipped default's id) if it belongs to this group."""
    if template_id == service.default_id(group.kind, group.channel.value, group.locale):
        return None
    stored = service.stored_version(conn, template_id)
    if stored is None or (stored.kind, stored.channel, stored.locale) != (
        group.kind,
        group.channel,
        group.locale,
    ):
        raise TemplateGroupNotFound(f"template {template_id} is not one of {group.path}")
    return stored


def _change(
    console: ConsoleVisit, group: TemplateGroup, change: Callable[[str], None], *, done: str
) -> Response:
    """Make a change in the operator's name, then back to the group's page (303); without a
    name, or refused (a second operator needed, a draft not approved, a template that no
    longer renders), the group's page says why."""
    operator = console.operator_name
    if operator is None:
        return _group_page(console, group, status_code=422, refusal=FieldProblem(_NAME_NEEDED))
    try:
        with_retry(lambda: change(operator))
    except NotFound:
        raise
    except AppError as exc:
        return _group_page(
            console,
            group,
            status_code=exc.status,
            refusal=FieldProblem(_REFUSALS.get(exc.code, _UNUSABLE), exc.detail),
        )
    return RedirectResponse(f"{group.path}?done={done}", status_code=303)
