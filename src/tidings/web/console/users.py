"""Users in the console (`/console/users`): found by phone, external id or our id through the
same keyed look-up hashes the API and the engine use, and shown masked; a user's page with
their wallets, recent notices and audit entries.

What the operator types is posted, never put in an address, and not shown back: a phone
number stays out of URLs, logs and the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from sqlalchemy import Connection
from starlette.responses import Response

from tidings.kit.db import read_transaction
from tidings.notify import inbox
from tidings.notify.schemas import NotificationSummaryOut
from tidings.privacy.crypto import Keyring
from tidings.risk import service as risk
from tidings.risk.schemas import AuditEntryOut
from tidings.users import directory
from tidings.users import service as users
from tidings.users.schemas import UserOut, normalise_phone
from tidings.wallets import service as wallets
from tidings.wallets.schemas import WalletOut
from tidings.web.console.masking import masked_text
from tidings.web.console.operator import Console
from tidings.web.i18n import gettext_noop
from tidings.web.visit import OperatorForm

router = APIRouter(prefix="/console/users", include_in_schema=False)

REFERENCE_FIELD = "reference"
MAX_REFERENCE_CHARS = 254
RECENT = 20
"""Notices and audit entries shown on a user's page."""
_EMPTY = gettext_noop("Type a phone number, an external id or a user id.")


def find_user_ids(conn: Connection, keyring: Keyring, reference: str) -> list[str]:
    """Users whose phone is this number, or whose external id (or our id) this is."""
    found: list[str] = []
    try:
        phone = normalise_phone(reference)
    except ValueError:
        phone = None
    if phone is not None:
        found.extend(directory.users_with_phone(conn, keyring, phone))
    by_reference = directory.find_user_id(conn, keyring, reference)
    if by_reference is not None and by_reference not in found:
        found.append(by_reference)
    return found


@router.get("")
def user_search(console: Console) -> Response:
    return console.render("console/users.html", error=None, results=None, active="users")


@router.post("")
def find_users(console: Console, form: OperatorForm) -> Response:
    context = console.visit.context
    reference = (form.get(REFERENCE_FIELD) or "").strip()[:MAX_REFERENCE_CHARS]
    if not reference:
        return console.render(
            "console/users.html", status_code=422, error=_EMPTY, results=None, active="users"
        )
    with read_transaction(context.engine) as conn:
        results = [
            users.get_user(conn, context.keyring, user_id)
            for user_id in find_user_ids(conn, context.keyring, reference)
        ]
    return console.render("console/users.html", error=None, results=results, active="users")


@dataclass(frozen=True, slots=True)
class AuditLine:
    entry: AuditEntryOut
    detail: str
    """The entry's detail as `key: value` pairs, masked."""


@dataclass(frozen=True, slots=True)
class UserView:
    user: UserOut
    wallets: list[WalletOut]
    notices: list[NotificationSummaryOut]
    audit: list[AuditLine]


def _audit_line(entry: AuditEntryOut) -> AuditLine:
    pairs = "; ".join(f"{key}: {value}" for key, value in sorted(entry.detail.items()))
    return AuditLine(entry=entry, detail=masked_text(pairs))


@router.get("/{user_id}")
def user_page(user_id: str, console: Console) -> Response:
    context = console.visit.context
    with read_transaction(context.engine) as conn:
        user = users.get_user(conn, context.keyring, user_id)
        view = UserView(
            user=user,
            wallets=wallets.list_wallets(conn, user.id, at=context.clock.now()),
            notices=inbox.list_notifications(conn, user.id, limit=RECENT, cursor=None).items,
            audit=[
                _audit_line(entry)
                for entry in risk.list_audit(
                    conn, user_id=user.id, action=None, limit=RECENT, cursor=None
                ).items
            ],
        )
    return console.render("console/user.html", view=view, active="users")
