"""Notification settings (`/app/preferences`): channels per category, quiet hours, the daily
summary, marketing consent per channel and personalised offers (one tap). Each section saves
on its own, through the same service call as `PUT /v1/users/{user_id}/preferences`, and says
so; a bad value is named next to its field with what was typed kept."""

from __future__ import annotations

from enum import StrEnum

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from tidings.kit.db import read_transaction
from tidings.notify import preferences
from tidings.notify.schemas import PreferencesIn, PreferencesOut, QuietHoursIn
from tidings.notify.types import Category, ChannelName
from tidings.web.i18n import gettext_noop
from tidings.web.visit import PostedForm, UserForm, UserVisit, Visit

router = APIRouter(prefix="/app", include_in_schema=False)

CHOOSABLE = (ChannelName.INBOX, ChannelName.PUSH, ChannelName.SMS, ChannelName.EMAIL)
"""Channels a user picks here (a webhook needs an address, set through the API)."""

_NOT_A_TIME = gettext_noop("Write a time of day as HH:MM, for example 22:00.")
_BOTH_TIMES = gettext_noop("Give both a start and an end, or leave both empty.")
_UNKNOWN_CHANNEL = gettext_noop("Choose only from the channels shown.")


class Section(StrEnum):
    """One form of the page, saved on its own."""

    CHANNELS = "channels"
    QUIET_HOURS = "quiet_hours"
    DIGEST = "digest"
    MARKETING = "marketing"
    PERSONALISATION = "personalisation"


class FormProblem(Exception):
    """Values the page cannot save: messages by field, and what was typed."""

    def __init__(self, errors: dict[str, str], typed: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors
        self.typed = typed


def _channels(form: PostedForm, field: str) -> list[ChannelName]:
    try:
        return [ChannelName(value) for value in form.getlist(field)]
    except ValueError:
        raise FormProblem({field: _UNKNOWN_CHANNEL}, {}) from None


def _quiet_hours(form: PostedForm) -> PreferencesIn:
    typed = {name: (form.get(name) or "").strip() for name in ("quiet_start", "quiet_end")}
    start, end = typed["quiet_start"], typed["quiet_end"]
    if not start and not end:
        return PreferencesIn(clear_quiet_hours=True)
    if not start or not end:
        missing = "quiet_start" if not start else "quiet_end"
        raise FormProblem({missing: _BOTH_TIMES}, typed)
    try:
        return PreferencesIn(quiet_hours=QuietHoursIn(start=start[:5], end=end[:5]))
    except ValidationError as exc:
        fields = {f"quiet_{error['loc'][0]}" for error in exc.errors()}
        raise FormProblem(dict.fromkeys(sorted(fields), _NOT_A_TIME), typed) from None


def change_of(section: Section, form: PostedForm) -> PreferencesIn:
    """The change a section's form asks for, or a FormProblem naming each bad field."""
    if section is Section.CHANNELS:
        return PreferencesIn(
            channels={category: _channels(form, f"channels.{category}") for category in Category}
        )
    if section is Section.QUIET_HOURS:
        return _quiet_hours(form)
    if section is Section.DIGEST:
        return PreferencesIn(digest=form.get("digest") == "on")
    if section is Section.PERSONALISATION:
        # One tap: the button carries the choice it makes.
        return PreferencesIn(personalised_marketing=form.get("personalised") == "on")
    chosen = set(_channels(form, "marketing"))
    return PreferencesIn(marketing_consent={c: c in chosen for c in CHOOSABLE})


def _page(
    visit: Visit,
    prefs: PreferencesOut,
    *,
    section: Section | None = None,
    saved: Section | None = None,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    values = {
        "prefs": prefs,
        "saved": saved,
        "errors": errors or {},
        "failed": section if errors else None,
        "typed": typed or {},
        "sections": list(Section),
        "choosable": CHOOSABLE,
        "all_categories": list(Category),
        "active": "preferences",
    }
    if visit.htmx and section is not None:
        return visit.render(f"app/_pref_{section}.html", status_code=status_code, **values)
    return visit.render("app/preferences.html", status_code=status_code, **values)


def _stored(visit: Visit) -> PreferencesOut:
    with read_transaction(visit.context.engine) as conn:
        return preferences.get_preferences(conn, visit.context.keyring, visit.user_id)


@router.get("/preferences")
def preferences_page(visit: UserVisit, saved: Section | None = None) -> Response:
    return _page(visit, _stored(visit), saved=saved)


@router.post("/preferences")
def save_preferences(visit: UserVisit, form: UserForm, section: Section) -> Response:
    """Save one section; htmx gets the section back, a plain form a redirect (303)."""
    context = visit.context
    try:
        change = change_of(section, form)
    except FormProblem as problem:
        return _page(
            visit,
            _stored(visit),
            section=section,
            errors=problem.errors,
            typed=problem.typed,
            status_code=422,
        )

    saved = visit.write(
        lambda conn: preferences.update_preferences(
            conn,
            context.keyring,
            visit.user_id,
            change,
            actor=visit.user_id,
            at=context.clock.now(),
            allow_private_webhooks=context.settings.webhook_allow_private,
            report_status=context.settings.status_webhook_url is not None,
        )
    )
    if visit.htmx:
        return _page(visit, saved, section=section, saved=section)
    return RedirectResponse(f"/app/preferences?saved={section}#pref-{section}", status_code=303)
