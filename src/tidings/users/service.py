"""User operations. Personal data is sealed on the way in and masked on the way out."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import Connection

from tidings.config import Settings
from tidings.kit.clock import as_utc
from tidings.kit.errors import NotFound
from tidings.kit.ids import is_id, new_id
from tidings.kit.money import CurrencyMismatch, Money, money
from tidings.kit.tables import AnyRow
from tidings.privacy.crypto import Keyring
from tidings.privacy.masking import mask_email, mask_name, mask_phone
from tidings.users import repository
from tidings.users.directory import ERASED, Contact, contact_of, require_user
from tidings.users.exceptions import (
    ExternalIdTaken,
    StepUpAmountRaiseNeedsOperator,
    UserErased,
    UserNotFound,
)
from tidings.users.schemas import TokenOut, UserCreate, UserOut, UserUpdate

TOKEN_PREFIX = "tdu_"  # noqa: S105 - a prefix, not a secret


class UserDefaults(TypedDict):
    """What fills a new user's fields that their request leaves out (`create_user`)."""

    default_locale: str
    default_timezone: str
    default_currency: str
    default_low_balance: int


def user_defaults(settings: Settings) -> UserDefaults:
    """The defaults this deployment is configured with (`TIDINGS_DEFAULT_*`)."""
    return UserDefaults(
        default_locale=settings.default_locale,
        default_timezone=settings.default_timezone,
        default_currency=settings.default_currency,
        default_low_balance=settings.low_balance_threshold,
    )


def _seal(keyring: Keyring, field: str, value: str | None) -> dict[str, Any]:
    """Ciphertext and look-up hash columns for one personal field."""
    if value is None:
        return {f"{field}_enc": None, f"{field}_hash": None}
    context = f"users.{field}"
    return {
        f"{field}_enc": keyring.encrypt(value, context=context),
        f"{field}_hash": keyring.lookup_hash(value, context=context),
    }


def _require_wallet_currency(threshold: Money, currency: str) -> None:
    if threshold.currency != currency:
        raise CurrencyMismatch(
            "low_balance_threshold must be in the wallet currency",
            field="low_balance_threshold.currency",
        )


def create_user(
    conn: Connection,
    keyring: Keyring,
    data: UserCreate,
    *,
    at: datetime,
    default_locale: str,
    default_timezone: str,
    default_currency: str,
    default_low_balance: int,
) -> UserOut:
    """Create a user; the caller opens the main wallet (`wallet_id`) in the same transaction."""
    user_id = new_id("usr")
    currency = data.currency or default_currency
    threshold = data.low_balance_threshold
    if threshold is not None:
        _require_wallet_currency(threshold, currency)
    values: dict[str, Any] = {
        "id": user_id,
        "main_wallet_id": new_id("wal"),
        "name_enc": keyring.encrypt(data.name, context="users.name"),
        "locale": data.locale or default_locale,
        "timezone": data.timezone or default_timezone,
        "currency": currency,
        "low_balance_threshold": threshold.value if threshold else default_low_balance,
        "created_at": at,
        "updated_at": at,
        **_seal(keyring, "external_id", data.external_id),
        **_seal(keyring, "phone", data.phone),
        **_seal(keyring, "email", data.email),
    }
    if not repository.insert_user(conn, values):
        raise ExternalIdTaken("a user with this external_id exists", field="external_id")
    return get_user(conn, keyring, user_id)


def get_user(conn: Connection, keyring: Keyring, user_id: str, *, masked: bool = True) -> UserOut:
    """The user with name, phone and email masked; in clear (`masked=False`) only for the
    person's own copy of their data (the PIPL export)."""
    row = repository.get_user(conn, user_id) if is_id(user_id, "usr") else None
    if row is None:
        raise UserNotFound(f"user {user_id} not found")
    if row.status == ERASED:
        return _erased_out(row)
    name = keyring.decrypt(row.name_enc, context="users.name")
    phone = keyring.decrypt(row.phone_enc, context="users.phone") if row.phone_enc else None
    email = keyring.decrypt(row.email_enc, context="users.email") if row.email_enc else None
    if masked:
        name = mask_name(name)
        phone = mask_phone(phone) if phone else None
        email = mask_email(email) if email else None
    return UserOut(
        id=row.id,
        external_id=keyring.decrypt(row.external_id_enc, context="users.external_id"),
        name=name,
        phone=phone,
        email=email,
        locale=row.locale,
        timezone=row.timezone,
        currency=row.currency,
        low_balance_threshold=money(int(row.low_balance_threshold), row.currency),
        step_up_amount=(
            money(int(row.step_up_amount), row.currency) if row.step_up_amount is not None else None
        ),
        wallet_id=row.main_wallet_id,
        created_at=as_utc(row.created_at),
    )


def _erased_out(row: AnyRow) -> UserOut:
    """An erased user: the row stays for the ledger, naming no one."""
    return UserOut(
        id=row.id,
        external_id="",
        name="",
        phone=None,
        email=None,
        locale=row.locale,
        timezone=row.timezone,
        currency=row.currency,
        low_balance_threshold=money(int(row.low_balance_threshold), row.currency),
        wallet_id=row.main_wallet_id,
        created_at=as_utc(row.created_at),
        status=ERASED,
        erased_at=as_utc(row.erased_at) if row.erased_at else None,
    )


def _contact_values(
    keyring: Keyring, before: Contact, *, phone: str | None, email: str | None, at: datetime
) -> dict[str, Any]:
    """Sealed columns for a new phone or email, and when it changed (the same value again is
    no change)."""
    values: dict[str, Any] = {}
    if phone is not None and phone != before.phone:
        values.update(_seal(keyring, "phone", phone), phone_changed_at=at)
    if email is not None and email != before.email:
        values.update(_seal(keyring, "email", email), email_changed_at=at)
    return values


def update_user(
    conn: Connection,
    keyring: Keyring,
    user_id: str,
    data: UserUpdate,
    *,
    at: datetime,
    by_owner: bool = False,
) -> UserOut:
    """Apply a change; with `by_owner` (a user token) the own step-up amount may only go down."""
    current = get_user(conn, keyring, user_id)
    if current.status == ERASED:
        raise UserErased(f"user {user_id} was erased")
    values: dict[str, Any] = {"updated_at": at}
    if data.name is not None:
        values["name_enc"] = keyring.encrypt(data.name, context="users.name")
    if data.phone is not None or data.email is not None:
        before = contact_of(conn, keyring, user_id)
        values.update(_contact_values(keyring, before, phone=data.phone, email=data.email, at=at))
    if data.locale is not None:
        values["locale"] = data.locale
    if data.timezone is not None:
        values["timezone"] = data.timezone
    if data.low_balance_threshold is not None:
        _require_wallet_currency(data.low_balance_threshold, current.currency)
        values["low_balance_threshold"] = data.low_balance_threshold.value
    if "step_up_amount" in data.model_fields_set:
        own = data.step_up_amount
        if own is not None and own.currency != current.currency:
            raise CurrencyMismatch(
                "step_up_amount must be in the wallet currency", field="step_up_amount.currency"
            )
        previous = current.step_up_amount
        lowered = own is not None and (previous is None or own.value <= previous.value)
        if by_owner and not lowered:
            raise StepUpAmountRaiseNeedsOperator(
                "your own step-up amount can only be lowered here; to raise or remove it, "
                "ask customer service (the operator key)",
                field="step_up_amount",
            )
        values["step_up_amount"] = own.value if own is not None else None
    repository.update_user(conn, user_id, values)
    return get_user(conn, keyring, user_id)


def change_contact(
    conn: Connection,
    keyring: Keyring,
    user_id: str,
    *,
    phone: str | None,
    email: str | None,
    at: datetime,
) -> Contact:
    """Set a new phone and/or email (confirmed by the caller); the contact as it was before."""
    before = contact_of(conn, keyring, user_id)
    values = _contact_values(keyring, before, phone=phone, email=email, at=at)
    if values:
        repository.update_user(conn, user_id, {**values, "updated_at": at})
    return before


def contact_changed_since(conn: Connection, user_id: str, since: datetime) -> bool:
    """Whether the phone or email changed after `since` (a cooling period's start)."""
    row = repository.get_user(conn, user_id)
    return row is not None and any(
        changed is not None and as_utc(changed) > since
        for changed in (row.phone_changed_at, row.email_changed_at)
    )


def get_main_wallet_id(conn: Connection, user_id: str) -> str:
    return repository.main_wallet_id(conn, user_id)


def timezone_of(conn: Connection, user_id: str) -> str:
    return repository.timezone_of(conn, user_id)


def hash_token(token: str) -> str:
    """Tokens carry 256 bits of randomness, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(conn: Connection, user_id: str, *, at: datetime, ttl: timedelta) -> TokenOut:
    require_user(conn, user_id)
    if repository.status_of(conn, user_id) == ERASED:
        raise UserErased(f"user {user_id} was erased")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = new_id("tok")
    expires_at = at + ttl
    repository.insert_token(
        conn,
        {
            "id": token_id,
            "user_id": user_id,
            "token_hash": hash_token(token),
            "created_at": at,
            "expires_at": expires_at,
        },
    )
    return TokenOut(id=token_id, token=token, user_id=user_id, expires_at=expires_at)


def user_for_token(conn: Connection, token: str, *, at: datetime) -> str | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    return repository.user_for_token_hash(conn, hash_token(token), at)


def revoke_token(conn: Connection, *, user_id: str, token_id: str, at: datetime) -> None:
    if not repository.revoke_token(conn, user_id=user_id, token_id=token_id, at=at):
        raise NotFound(f"active token {token_id} not found")
