"""PIPL export and erasure, driven by the registry (`tidings.privacy.registry`).

This is the one place allowed to write across every domain's tables: the law applies to the
person's data wherever it sits, uniformly, so the treatment is data in the registry and is
applied here, from the composition root that imports every domain. The guards (money held,
credit owed) are asked of the owning domains' services; the writes themselves are the
registry's, one statement per table, set-based.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from types import ModuleType
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Engine,
    Table,
    Text,
    cast,
    delete,
    select,
    update,
)

from tidings import events
from tidings.api.auth import Principal
from tidings.credit.exceptions import LineNotFound
from tidings.credit.service import lines
from tidings.idempotency import models as idempotency_models
from tidings.kit.db import is_sqlite, read_transaction
from tidings.kit.errors import Conflict
from tidings.kit.tables import metadata
from tidings.notify import models as notify_models
from tidings.notify.types import DeliveryStatus
from tidings.privacy import models as privacy_models
from tidings.privacy import registry
from tidings.privacy.crypto import Keyring, KeyringError
from tidings.privacy.registry import Erasure, Kind, Personal, Via
from tidings.privacy.userkeys import FreeText
from tidings.risk import audit
from tidings.risk import models as risk_models
from tidings.users import directory
from tidings.users import models as users_models
from tidings.users import service as users
from tidings.users.exceptions import UserErased
from tidings.wallets import models as wallets_models
from tidings.wallets import service as wallets
from tidings.web import models as web_models

NOT_EXPORTED = (Kind.LOOKUP_HASH, Kind.SECRET)
"""Kept out of an export: keyed hashes mean nothing to a person, and the per-user key and
webhook secrets are credentials (the user can rotate a webhook secret instead)."""

KEPT = ("ledger_entries", "postings", "transfers", "wallets", "audit_log", "consent_events")
"""What erasure keeps, naming no one: the books (anti-money-laundering retention), the audit
trail and the consent ledger (the proof of what was allowed when)."""


class BalanceNotZero(Conflict):
    code = "balance-not-zero"


class CreditOutstanding(Conflict):
    code = "credit-outstanding"


class ErasureOut(BaseModel):
    user_id: str
    status: str
    erased_at: datetime
    retained: list[str]


MODELS: tuple[ModuleType, ...] = (events, idempotency_models, notify_models, privacy_models)
MODELS += (risk_models, users_models, wallets_models, web_models)
"""The table modules the registry names: imported here so `registered` finds every one, whatever
else the process imported (the CLI, a job)."""


def registered(name: str) -> Table:
    """A table the registry names, from the one `MetaData` every domain's tables join."""
    return metadata.tables[name]


def _owned(table: Table, entry: Personal, user_id: str) -> ColumnElement[bool]:
    """The rows of `table` that belong to the person, as the registry says."""
    owner = entry.owner
    if isinstance(owner, Via):
        parent = registered(owner.table)
        rows = select(parent.c.id).where(parent.c.user_id == user_id)
        return table.c[owner.column].in_(rows.scalar_subquery())
    return table.c[owner] == entry.owner_value.format(user_id=user_id)


def _blank(table: Table, entry: Personal, user_id: str) -> Any:
    if entry.blank is None:
        return None
    value = entry.blank.format(user_id=user_id) if "{user_id}" in entry.blank else entry.blank
    return json.loads(value) if isinstance(table.c[entry.column].type, JSON) else value


def _refuse_while_money(conn: Connection, user_id: str, at: datetime) -> None:
    for wallet in wallets.list_wallets(conn, user_id, at=at):
        if wallet.balance.value or wallet.held.value:
            raise BalanceNotZero(
                f"wallet {wallet.id} holds money: pay it out before erasure", field="wallet"
            )
    try:
        line = lines.line_of_user(conn, user_id)
    except LineNotFound:
        return
    if line.outstanding.value:
        raise CreditOutstanding(
            f"credit line {line.id} is owed: it must be repaid before erasure", field="credit"
        )


def apply_registry(conn: Connection, user_id: str) -> None:
    """Delete or blank every personal column of the person, one statement per table."""
    for name, entries in registry.by_table().items():
        table = registered(name)
        where = _owned(table, entries[0], user_id)
        if any(entry.erasure is Erasure.DELETE for entry in entries):
            conn.execute(delete(table).where(where))
            continue
        values = {entry.column: _blank(table, entry, user_id) for entry in entries}
        conn.execute(update(table).where(where).values(values))


OPERATOR_PRINCIPAL = Principal(user_id=None).key
"""The scope the operator's idempotent answers are stored under."""


def _forget_answers(conn: Connection, user_id: str) -> None:
    """The operator's stored idempotent answers that name the person (a created user, a
    transfer with its memo, a ticket's text) become the refusal any request for them now
    gets, 409 `user-erased`: the key still stops a retry from running twice, and no stored
    answer keeps their data. (Their own answers go with the registry: owner `principal`.)"""
    answers = registered("idempotency_keys")
    refusal = UserErased(f"user {user_id} was erased: the first answer is gone with their data")
    conn.execute(
        update(answers)
        .where(
            answers.c.principal == OPERATOR_PRINCIPAL,
            cast(answers.c.response_body, Text).contains(user_id, autoescape=True),
        )
        .values(response_status=refusal.status, response_body=refusal.problem())
    )


def _end_access(conn: Connection, user_id: str, at: datetime) -> None:
    """Tokens and page sessions revoked, sign-in links gone, pending deliveries cancelled, and
    events not yet relayed never will be (their data is blanked)."""
    tokens, sessions = registered("user_tokens"), registered("web_sessions")
    links = registered("web_links")
    conn.execute(
        update(tokens)
        .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    conn.execute(
        update(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None))
        .values(ended_at=at)
    )
    conn.execute(delete(links).where(links.c.user_id == user_id))
    deliveries = registered("deliveries")
    waiting = (DeliveryStatus.PENDING, DeliveryStatus.DIGEST, DeliveryStatus.SENDING)
    conn.execute(
        update(deliveries)
        .where(deliveries.c.user_id == user_id, deliveries.c.status.in_(waiting))
        .values(status=DeliveryStatus.CANCELLED, reason="erased", final_at=at)
    )
    outbox = registered("outbox")
    conn.execute(
        update(outbox)
        .where(outbox.c.user_id == user_id, outbox.c.relayed_at.is_(None))
        .values(relayed_at=at)
    )


def erase(conn: Connection, user_id: str, *, actor: str, reason: str, at: datetime) -> ErasureOut:
    """Erase the person's data in the caller's transaction (refused while money or credit
    remains); the books, the audit trail and the consent ledger stay, naming no one."""
    directory.require_user(conn, user_id)
    users_table = registered("users")
    if directory.is_erased(conn, user_id):
        erased_at = conn.execute(
            select(users_table.c.erased_at).where(users_table.c.id == user_id)
        ).scalar_one()
        return ErasureOut(user_id=user_id, status="erased", erased_at=erased_at, retained=[*KEPT])
    _refuse_while_money(conn, user_id, at)
    apply_registry(conn, user_id)
    _forget_answers(conn, user_id)
    _end_access(conn, user_id, at)
    conn.execute(
        update(users_table)
        .where(users_table.c.id == user_id)
        .values(status=directory.ERASED, erased_at=at, updated_at=at)
    )
    audit.record(
        conn,
        action="privacy.erased",
        actor=actor,
        user_id=user_id,
        at=at,
        detail={"reason": reason},
    )
    return ErasureOut(user_id=user_id, status="erased", erased_at=at, retained=[*KEPT])


def scrub_files(engine: Engine) -> None:
    """On SQLite, move the WAL into the database file and truncate it, so that no old page
    image with the erased values stays in `-wal` (`secure_delete` zeroes freed space)."""
    if is_sqlite(engine):
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


# --- export ---------------------------------------------------------------------------------


def _opener(
    keyring: Keyring, text: FreeText, user_id: str, entry: Personal | None
) -> Callable[[Any], Any]:
    """How one exported column is made readable: decrypted with the data key, opened with
    the user's own key, or shown as stored."""
    if entry is None:
        return lambda value: value
    if entry.shredded:
        context = f"{entry.table}.{entry.column}"
        return lambda value: text.open(user_id, value, context=context)
    sealed = entry.encrypted
    if sealed is None:
        return lambda value: value

    def decrypt(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        try:
            return keyring.decrypt(value, context=sealed)
        except KeyringError:
            return None

    return decrypt


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _rows(
    conn: Connection, keyring: Keyring, name: str, entries: list[Personal], user_id: str
) -> Iterator[dict[str, Any]]:
    table = registered(name)
    hidden = {entry.column for entry in entries if entry.kind in NOT_EXPORTED}
    by_column = {entry.column: entry for entry in entries}
    text = FreeText(conn, keyring)
    columns = [column for column in table.columns if column.name not in hidden]
    openers = {c.name: _opener(keyring, text, user_id, by_column.get(c.name)) for c in columns}
    stmt = select(*columns).where(_owned(table, entries[0], user_id))
    for row in conn.execution_options(yield_per=500).execute(stmt):
        yield {key: _jsonable(openers[key](value)) for key, value in row._mapping.items()}


SECTIONS: dict[str, str] = {
    "preferences": "notify_preferences",
    "consents": "consent_events",
    "notifications": "notifications",
    "logins": "security_logins",
    "tickets": "tickets",
    "survey_answers": "survey_responses",
}
"""API.md's sections of an export that are one registry table each; every other table the
registry lists is under `tables`."""

TRANSACTIONS_PAGE = 500


def export_tables() -> dict[str, list[Personal]]:
    """What an export holds: every table the registry lists, but the per-user keys."""
    return {
        name: entries
        for name, entries in registry.by_table().items()
        if not all(entry.kind in NOT_EXPORTED for entry in entries)
    }


def _transactions(
    conn: Connection, keyring: Keyring, wallet_ids: list[str]
) -> Iterator[dict[str, Any]]:
    """Every entry of the person's wallets as the wallet shows it (money in from others
    included), read a page at a time from the wallets domain."""
    for wallet_id in wallet_ids:
        cursor: str | None = None
        while True:
            page = wallets.list_transactions(
                conn,
                keyring,
                wallet_id,
                acting_user_id=None,
                limit=TRANSACTIONS_PAGE,
                cursor=cursor,
                kinds=None,
                since=None,
                until=None,
            )
            for item in page.items:
                yield {"wallet_id": wallet_id, **item.model_dump(mode="json")}
            if page.next_cursor is None:
                break
            cursor = page.next_cursor


def _json_array(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    yield "["
    for number, row in enumerate(rows):
        yield ("," if number else "") + json.dumps(row, ensure_ascii=False)
    yield "]"


def export_chunks(engine: Engine, keyring: Keyring, user_id: str, *, at: datetime) -> Iterator[str]:
    """The person's data as one JSON document with API.md's sections (profile, preferences,
    consents, wallets, transactions, notifications, logins, tickets, survey answers) and the
    registry's other tables, yielded a row at a time from one snapshot."""
    tables = export_tables()
    with read_transaction(engine) as conn:
        profile = users.get_user(conn, keyring, user_id, masked=False)
        owned = wallets.list_wallets(conn, user_id, at=at)
        yield '{"user_id": ' + json.dumps(user_id)
        yield ', "exported_at": ' + json.dumps(at.isoformat())
        yield ', "profile": ' + profile.model_dump_json()
        yield ', "wallets": ' + json.dumps([w.model_dump(mode="json") for w in owned])
        yield ', "transactions": '
        yield from _json_array(_transactions(conn, keyring, [w.id for w in owned]))
        for section, name in SECTIONS.items():
            yield f', "{section}": '
            yield from _json_array(_rows(conn, keyring, name, tables.pop(name), user_id))
        yield ', "tables": {'
        for index, (name, entries) in enumerate(tables.items()):
            yield (", " if index else "") + json.dumps(name) + ": "
            yield from _json_array(_rows(conn, keyring, name, entries, user_id))
        yield "}}"
