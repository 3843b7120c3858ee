"""`tidings keys rotate | check`: every encrypted value under the newest data key.

The values are the registry's encrypted columns (`registry.encrypted_columns`) and the sealed
one-time codes and addresses inside event and notice data (`privacy.codes`). Rotation:

- works in batches by primary key, one short transaction each, so the service keeps running;
- is a compare-and-set per row (`UPDATE … WHERE pk = :pk AND value = :old`): a value another
  process changed meanwhile is left alone (it was written under the active key);
- is resumable: it keeps no state, it looks for values not under the active key, so a run
  after a crash picks up what is left, and a finished run finds nothing.

`check` reads every value and counts them per key id: it fails for a value whose key is not
in `TIDINGS_DATA_KEY` (unreadable), or, with `retiring`, still under that key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    String,
    Table,
    bindparam,
    cast,
    func,
    select,
    update,
)

from tidings.app.privacy import registered
from tidings.kit.db import read_transaction, retried_write
from tidings.privacy import registry
from tidings.privacy.codes import DESTINATIONS, SEALED_CODE
from tidings.privacy.crypto import Keyring, KeyringError

BATCH = 500
OUTBOX_FIELDS = (SEALED_CODE, DESTINATIONS)


@dataclass(frozen=True, slots=True)
class Sealed:
    """One place encrypted values live."""

    table: str
    column: str
    context: str | None
    """The keyring context; None for event and notice data (contexts per field inside)."""

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


SEALED_IN_DATA = ("outbox", "notifications")
"""Tables whose `data` may carry sealed codes or addresses (`privacy.codes`): the events, and
the notices planned from them (a notice keeps its event's pinned addresses until it is sent)."""


def places() -> list[Sealed]:
    found = [Sealed(e.table, e.column, e.encrypted) for e in registry.encrypted_columns()]
    return [*found, *(Sealed(table, "data", None) for table in SEALED_IN_DATA)]


def key_id(token: str) -> str:
    return token.partition("$")[0]


def _key(table: Table) -> Column[Any]:
    return table.primary_key.columns.values()[0]


def _json_tokens(data: Any) -> Iterator[tuple[str, str]]:
    """(context, ciphertext) of each sealed value inside an event's data."""
    if not isinstance(data, dict):
        return
    code = data.get(SEALED_CODE)
    if isinstance(code, str) and code:
        yield "one-time-code", code
    for channel, value in (data.get(DESTINATIONS) or {}).items():
        if isinstance(value, str) and value:
            yield f"destination.{channel}", value


def _rekey_json(keyring: Keyring, data: dict[str, Any]) -> dict[str, Any]:
    fresh = dict(data)
    code = data.get(SEALED_CODE)
    if isinstance(code, str) and code and keyring.needs_rotation(code):
        fresh[SEALED_CODE] = keyring.encrypt(
            keyring.decrypt(code, context="one-time-code"), context="one-time-code"
        )
    destinations = dict(data.get(DESTINATIONS) or {})
    for channel, value in destinations.items():
        if isinstance(value, str) and value and keyring.needs_rotation(value):
            context = f"destination.{channel}"
            destinations[channel] = keyring.encrypt(
                keyring.decrypt(value, context=context), context=context
            )
    if destinations:
        fresh[DESTINATIONS] = destinations
    return fresh


def _holding(place: Sealed) -> ColumnElement[bool]:
    """The rows that hold an encrypted value at all (for event and notice data: rows that carry a
    sealed field)."""
    value = registered(place.table).c[place.column]
    if place.context is None:
        text = cast(value, String)
        return text.like(f'%"{SEALED_CODE}"%') | text.like(f'%"{DESTINATIONS}"%')
    return value.is_not(None) & (value != "")


def _candidates(place: Sealed, keyring: Keyring) -> ColumnElement[bool]:
    """The rows that may hold a value not under the active key."""
    if place.context is None:
        return _holding(place)
    value = registered(place.table).c[place.column]
    prefix = keyring.active_key_id + "$"
    return _holding(place) & (func.substr(value, 1, len(prefix)) != prefix)


def _needs(keyring: Keyring, place: Sealed, stored: Any) -> bool:
    if place.context is None:
        return any(keyring.needs_rotation(token) for _, token in _json_tokens(stored))
    return isinstance(stored, str) and bool(stored) and keyring.needs_rotation(stored)


def _rekey(keyring: Keyring, place: Sealed, stored: Any) -> Any:
    if place.context is None:
        return _rekey_json(keyring, stored)
    return keyring.encrypt(keyring.decrypt(stored, context=place.context), context=place.context)


def pending(conn: Connection, keyring: Keyring, place: Sealed) -> int:
    """How many rows may still need the active key (an upper bound for event and notice data)."""
    table = registered(place.table)
    stmt = select(func.count()).select_from(table).where(_candidates(place, keyring))
    return int(conn.execute(stmt).scalar_one())


def rotate_batch(
    conn: Connection, keyring: Keyring, place: Sealed, *, after: Any, limit: int = BATCH
) -> tuple[int, int, Any]:
    """Re-encrypt one batch past primary key `after`: (rows seen, rows rewritten, last key).
    Each row is a compare-and-set, so a concurrent change wins."""
    table = registered(place.table)
    key, value = _key(table), table.c[place.column]
    stmt = select(key, value).where(_candidates(place, keyring)).order_by(key).limit(limit)
    if after is not None:
        stmt = stmt.where(key > after)
    rows = list(conn.execute(stmt))
    changes = [
        {"k": row[0], "old": row[1], "new": _rekey(keyring, place, row[1])}
        for row in rows
        if _needs(keyring, place, row[1])
    ]
    rewritten = 0
    if changes:
        cas = (
            update(table)
            .where(key == bindparam("k"), value == bindparam("old", type_=value.type))
            .values({place.column: bindparam("new", type_=value.type)})
        )
        rewritten = conn.execute(cas, changes).rowcount or 0
    return len(rows), rewritten, rows[-1][0] if rows else after


Progress = Callable[[Sealed, int], None]
"""Told how many more rows of a place were looked at."""


def _rotate_place(
    engine: Engine, keyring: Keyring, place: Sealed, *, batch: int, on_batch: Progress | None
) -> int:
    """One pass over a place, a batch per transaction."""
    total, after = 0, None
    while True:
        seen, done, after = retried_write(
            engine, partial(rotate_batch, keyring=keyring, place=place, after=after, limit=batch)
        )
        total += done
        if on_batch is not None and seen:
            on_batch(place, seen)
        if seen < batch:
            return total


def rotate(
    engine: Engine,
    keyring: Keyring,
    *,
    batch: int = BATCH,
    on_batch: Progress | None = None,
    max_passes: int = 5,
) -> dict[str, int]:
    """Re-encrypt every value under the active key; a place is passed over again while a
    compare-and-set lost to a concurrent writer left some behind. Rows rewritten per place."""
    rewritten: dict[str, int] = {}
    for place in places():
        total = 0
        for _ in range(max_passes):
            total += _rotate_place(engine, keyring, place, batch=batch, on_batch=on_batch)
            if place.context is None:
                break
            with read_transaction(engine) as conn:
                if pending(conn, keyring, place) == 0:
                    break
        rewritten[place.name] = total
    return rewritten


@dataclass(frozen=True, slots=True)
class KeyReport:
    """Values per place and key id; which of them cannot be read or use a retiring key."""

    counts: dict[str, Counter[str]]
    unknown: list[str]
    retiring: list[str]

    @property
    def ok(self) -> bool:
        return not self.unknown and not self.retiring


def check(engine: Engine, keyring: Keyring, *, retiring: str | None = None) -> KeyReport:
    counts: dict[str, Counter[str]] = {}
    with read_transaction(engine) as conn:
        for place in places():
            table = registered(place.table)
            value = table.c[place.column]
            tally: Counter[str] = Counter()
            rows = conn.execution_options(yield_per=1000).execute(
                select(value).where(_holding(place))
            )
            for (stored,) in rows:
                tokens = (
                    [token for _, token in _json_tokens(stored)]
                    if place.context is None
                    else [stored]
                )
                tally.update(key_id(token) for token in tokens)
            counts[place.name] = tally
    found = [(p, kid, n) for p, tally in counts.items() for kid, n in sorted(tally.items())]
    return KeyReport(
        counts=counts,
        unknown=[f"{p}: {n} under {kid}" for p, kid, n in found if kid not in keyring.key_ids],
        retiring=[f"{p}: {n} under {kid}" for p, kid, n in found if kid == retiring],
    )


def readable(keyring: Keyring, place: Sealed, stored: Any) -> bool:
    """Whether a stored value opens with this keyring (for tests and `check`)."""
    try:
        if place.context is None:
            for context, token in _json_tokens(stored):
                keyring.decrypt(token, context=context)
        else:
            keyring.decrypt(stored, context=place.context)
    except KeyringError:
        return False
    return True
