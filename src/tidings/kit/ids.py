"""Ids are prefixed ULIDs: sortable by creation time, readable in logs (`usr_01J…`)."""

from __future__ import annotations

import re

from ulid import ULID

ID_PATTERN = r"^[a-z]{2,4}_[0-9A-HJKMNP-TV-Z]{26}$"
_ID_RE = re.compile(ID_PATTERN)


def new_id(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


def is_id(value: str, prefix: str | None = None) -> bool:
    """True for a well-formed id, of the given prefix when one is named."""
    if not _ID_RE.match(value):
        return False
    return prefix is None or value.startswith(prefix + "_")
