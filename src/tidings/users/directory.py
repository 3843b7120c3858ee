"""The users' published look-up, for the domains that reach people: who exists, how to reach
them (clear contact data that never leaves the process), and what the notification planner
may know. It is to the notification engine what another domain's `events` module is: the one
part of `users` it imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from tidings.kit.clock import as_utc
from tidings.kit.ids import is_id
from tidings.privacy.crypto import Keyring
from tidings.users import repository
from tidings.users.exceptions import UserErased, UserNotFound

ERASED = "erased"
"""`users.status` once the person's data is erased; the row stays for the ledger."""


@dataclass(frozen=True, slots=True)
class Contact:
    user_id: str
    name: str
    phone: str | None
    email: str | None
    locale: str
    timezone: str
    phone_changed_at: datetime | None = None
    """When the phone last changed after sign-up; None: the number given at sign-up."""
    email_changed_at: datetime | None = None


def contact_of(conn: Connection, keyring: Keyring, user_id: str) -> Contact:
    """One user's clear contact data, with when the phone and email last changed."""
    found = contacts(conn, keyring, [user_id]) if is_id(user_id, "usr") else {}
    if user_id not in found:
        raise UserNotFound(f"user {user_id} not found")
    return found[user_id]


def trusted(changed_at: datetime | None, *, trusted_before: datetime) -> bool:
    """A contact the user has had since sign-up, or since before `trusted_before`."""
    return changed_at is None or as_utc(changed_at) <= trusted_before


def require_user(
    conn: Connection,
    user_id: str,
    *,
    acting_user_id: str | None = None,
    field: str | None = None,
) -> None:
    """The user exists and the caller may name them (themselves, or an operator when
    `acting_user_id` is None). Another user's id is refused exactly as an id nobody has, so a
    caller cannot tell the two apart; `field` names where the id came from in a body."""
    named_another = acting_user_id is not None and acting_user_id != user_id
    if named_another or not (is_id(user_id, "usr") and repository.user_exists(conn, user_id)):
        raise UserNotFound(f"user {user_id} not found", field=field)


def require_active_user(conn: Connection, user_id: str) -> None:
    """A user whose data may still change: an erased account takes no new personal data
    (a webhook address, push tokens, consents), even from an operator."""
    require_user(conn, user_id)
    if is_erased(conn, user_id):
        raise UserErased(f"user {user_id} was erased")


def is_erased(conn: Connection, user_id: str) -> bool:
    """Whether the user's personal data was erased (PIPL): events for them are dropped."""
    return repository.status_of(conn, user_id) == ERASED


def find_user_id(conn: Connection, keyring: Keyring, reference: str) -> str | None:
    """A user named by our id or by the integrator's external id."""
    if is_id(reference, "usr") and repository.user_exists(conn, reference):
        return reference
    digest = keyring.lookup_hash(reference, context="users.external_id")
    return repository.find_by_external_id_hash(conn, digest)


@dataclass(frozen=True, slots=True)
class Subject:
    """The user an event names, and whether their personal data was erased."""

    user_id: str
    erased: bool


def find_subjects(conn: Connection, keyring: Keyring, references: list[str]) -> dict[str, Subject]:
    """`find_user_id` and `is_erased` for a batch of references in two queries: each
    reference that names a user (our id, else the integrator's external id) maps to them."""
    ours = repository.statuses_by_id(conn, sorted({r for r in references if is_id(r, "usr")}))
    digests = {
        r: keyring.lookup_hash(r, context="users.external_id") for r in references if r not in ours
    }
    theirs = repository.statuses_by_external_id_hash(conn, sorted(set(digests.values())))
    found = {r: Subject(r, status == ERASED) for r, status in ours.items()}
    for reference, digest in digests.items():
        row = theirs.get(digest)
        if row is not None:
            found[reference] = Subject(row.id, row.status == ERASED)
    return found


def contacts(conn: Connection, keyring: Keyring, user_ids: list[str]) -> dict[str, Contact]:
    """Clear contact data for the dispatcher to address messages (one query for a batch);
    it never leaves the process. Users that no longer exist, or were erased, are absent."""
    return {
        row.id: Contact(
            user_id=row.id,
            name=keyring.decrypt(row.name_enc, context="users.name"),
            phone=keyring.decrypt(row.phone_enc, context="users.phone") if row.phone_enc else None,
            email=keyring.decrypt(row.email_enc, context="users.email") if row.email_enc else None,
            locale=row.locale,
            timezone=row.timezone,
            phone_changed_at=as_utc(row.phone_changed_at) if row.phone_changed_at else None,
            email_changed_at=as_utc(row.email_changed_at) if row.email_changed_at else None,
        )
        for row in repository.contacts(conn, user_ids)
        if row.status != ERASED
    }


@dataclass(frozen=True, slots=True)
class PlanningProfile:
    """What the notification planner may know of a user: no personal data in clear."""

    timezone: str
    locale: str
    has_phone: bool
    has_email: bool
    erased: bool = False
    """The person's data was erased: nothing more is sent to them."""


def planning_profiles(conn: Connection, user_ids: list[str]) -> dict[str, PlanningProfile]:
    return {
        user_id: PlanningProfile(
            timezone=timezone,
            locale=locale,
            has_phone=bool(has_phone),
            has_email=bool(has_email),
            erased=status == ERASED,
        )
        for user_id, timezone, locale, has_phone, has_email, status in repository.planning_profiles(
            conn, user_ids
        )
    }


def users_with_phone(conn: Connection, keyring: Keyring, phone_e164: str) -> list[str]:
    return repository.find_by_phone_hash(
        conn, keyring.lookup_hash(phone_e164, context="users.phone")
    )


def users_with_email(conn: Connection, keyring: Keyring, email: str) -> list[str]:
    """Users whose email is exactly this address (as they gave it)."""
    return repository.find_by_email_hash(conn, keyring.lookup_hash(email, context="users.email"))
