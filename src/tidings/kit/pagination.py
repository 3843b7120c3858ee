"""Opaque cursors over id-ordered lists (ids are ULIDs, so id order is time order)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select

from tidings.kit.clock import as_utc
from tidings.kit.errors import AppError
from tidings.kit.ids import is_id

T = TypeVar("T")
SelectT = TypeVar("SelectT", bound=Select[Any])

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
"""`?limit=`: at most this many items on a page (routes default it to `DEFAULT_LIMIT`)."""
Cursor = Annotated[str | None, Query(max_length=200)]
"""`?cursor=`: the `next_cursor` of the page before, over an id-ordered list."""
MomentCursor = Annotated[str | None, Query(max_length=400)]
"""`?cursor=` over a list ordered by (moment, id) (`encode_moment_cursor`)."""


class InvalidCursor(AppError):
    """The cursor was not one this service handed out."""

    status = 422
    code = "invalid-cursor"
    title = "Invalid cursor"


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def next_cursor(rows: Sequence[Any], limit: int) -> str | None:
    """The cursor to the page after the first `limit` of `rows`, read `limit + 1` at a time
    so that one more row says another page follows; None on the last page."""
    return encode_cursor(rows[limit - 1].id) if len(rows) > limit else None


def newest_first(
    stmt: SelectT, id_column: ColumnElement[str], *, before_id: str | None, limit: int
) -> SelectT:
    """`stmt` as one page of an id-ordered list, newest first: at most `limit` rows, those
    older than `before_id` (the last id of the page before) when there was one."""
    if before_id is not None:
        stmt = stmt.where(id_column < before_id)
    return stmt.order_by(id_column.desc()).limit(limit)


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("cursor is not valid", field="cursor") from exc
    if not is_id(raw):
        raise InvalidCursor("cursor is not valid", field="cursor")
    return raw


def encode_moment_cursor(at: datetime, item_id: str) -> str:
    """A cursor over a list ordered by (moment, id), for lists whose ids are not all time
    ordered (a history merged from several tables)."""
    return encode_cursor(json.dumps([as_utc(at).isoformat(), item_id]))


def decode_moment_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (moment in UTC, id) an `encode_moment_cursor` cursor names; None for no cursor."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, item_id = json.loads(raw)
        at = datetime.fromisoformat(at_text)
        if not isinstance(item_id, str) or at.tzinfo is None:
            raise ValueError("bad cursor")
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise InvalidCursor("cursor is not valid", field="cursor") from exc
    return at.astimezone(UTC), item_id
