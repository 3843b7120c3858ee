"""Opaque cursors over id-ordered lists (ids are ULIDs, so id order is time order)."""

from __future__ import annotations

import base64
import binascii
from typing import Generic, TypeVar

from pydantic import BaseModel

from tidings.kit.errors import AppError
from tidings.kit.ids import is_id

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


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
