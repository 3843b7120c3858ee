"""The user's inbox (`/app/`): unread notices first, each in full with its 防伪码; mark one or
all read (htmx swaps the list; without script the form posts and the page reloads)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import Connection
from starlette.responses import RedirectResponse, Response

from tidings.kit.db import read_transaction
from tidings.kit.pagination import DEFAULT_LIMIT
from tidings.notify import inbox
from tidings.notify.delivery.authenticity import CODE_PATTERN
from tidings.notify.schemas import InboxItemOut
from tidings.privacy.crypto import Keyring
from tidings.web.i18n import gettext_noop
from tidings.web.visit import UserForm, UserVisit, Visit

router = APIRouter(prefix="/app", include_in_schema=False)

UNREAD_SHOWN = DEFAULT_LIMIT
"""The newest unread notices shown; marking them read brings up the next."""

_MARKED_ONE = gettext_noop("Marked as read.")
_MARKED_ALL = gettext_noop("All notices are marked as read.")


@dataclass(frozen=True, slots=True)
class Notice:
    """An inbox item as the page shows it, with the authenticity code it carries."""

    item: InboxItemOut
    code: str | None


@dataclass(frozen=True, slots=True)
class InboxView:
    unread: list[Notice]
    read: list[Notice]
    unread_count: int
    older_cursor: str | None


def _notice(item: InboxItemOut) -> Notice:
    found = CODE_PATTERN.search(item.body) or CODE_PATTERN.search(item.title)
    return Notice(item=item, code=found.group(1) if found else None)


def _inbox_view(
    conn: Connection, keyring: Keyring, user_id: str, *, before: str | None
) -> InboxView:
    unread = inbox.list_inbox(
        conn, keyring, user_id, limit=UNREAD_SHOWN, cursor=None, unread_only=True
    )
    page = inbox.list_inbox(
        conn, keyring, user_id, limit=DEFAULT_LIMIT, cursor=before, unread_only=False
    )
    return InboxView(
        unread=[_notice(item) for item in unread.items],
        read=[_notice(item) for item in page.items if item.read],
        unread_count=unread.unread_count,
        older_cursor=page.next_cursor,
    )


def _show(visit: Visit, *, before: str | None = None, announce: str | None = None) -> Response:
    with read_transaction(visit.context.engine) as conn:
        view = _inbox_view(conn, visit.context.keyring, visit.user_id, before=before)
    template = "app/_inbox.html" if visit.htmx else "app/inbox.html"
    return visit.render(template, view=view, announce=announce, active="inbox")


@router.get("/")
def inbox_page(
    visit: UserVisit, before: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    return _show(visit, before=before)


def _after_change(visit: Visit, announce: str) -> Response:
    """htmx: the new list in place; a plain form POST: back to the inbox (303)."""
    if visit.htmx:
        return _show(visit, announce=announce)
    return RedirectResponse("/app/", status_code=303)


@router.post("/notices/{notification_id}/read")
def mark_read(notification_id: str, visit: UserVisit, _: UserForm) -> Response:
    visit.write(
        lambda conn: inbox.mark_read(
            conn, notification_id, acting_user_id=visit.user_id, at=visit.context.clock.now()
        )
    )
    return _after_change(visit, _MARKED_ONE)


@router.post("/inbox/read-all")
def mark_all_read(visit: UserVisit, _: UserForm) -> Response:
    visit.write(lambda conn: inbox.mark_all_read(conn, visit.user_id, at=visit.context.clock.now()))
    return _after_change(visit, _MARKED_ALL)
