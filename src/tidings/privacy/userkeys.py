"""Crypto-shredding: free text (memos, inbox messages) sealed with a key of its owner's own.

Each user gets a random AES-256 key on first use, stored only sealed with the data key
(`privacy_user_keys.key_enc`). Erasure deletes that row, so every copy of the user's free
text — in the database, in a backup, in a replica — can no longer be read by anyone.

A sealed value reads `uk1$<base64 nonce+ciphertext>`; the owner and the column are bound as
associated data, so a value moved to another row or user does not open. A value without the
prefix was written before sealing existed and is returned as stored.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from tidings.privacy.crypto import NONCE_BYTES, Keyring
from tidings.privacy.models import user_keys

PREFIX: Final = "uk1$"
KEY_CONTEXT: Final = "privacy.user_key"
"""The keyring context of `privacy_user_keys.key_enc` (the registry names it too)."""


# Read for every batch of inbox items: built once.
_KEYS = select(user_keys.c.user_id, user_keys.c.key_enc).where(
    user_keys.c.user_id.in_(bindparam("user_ids", expanding=True))
)


def _insert_keys(conn: Connection, rows: list[dict[str, object]]) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(user_keys).on_conflict_do_nothing(index_elements=["user_id"])
    conn.execute(stmt, rows)


class FreeText:
    """Seals and opens free text in one transaction, with each owner's key (cached)."""

    def __init__(self, conn: Connection, keyring: Keyring) -> None:
        self._conn = conn
        self._keyring = keyring
        self._keys: dict[str, AESGCM | None] = {}

    def load(self, user_ids: Collection[str], *, create: bool) -> None:
        """Fetch the keys of these owners in one query (and make the missing ones, with
        `create`): a batch costs the same statements for one user as for many."""
        wanted = sorted(set(user_ids) - set(self._keys))
        if not wanted:
            return
        found = self._fetch(wanted)
        missing = [user_id for user_id in wanted if user_id not in found]
        if missing and create:
            now = datetime.now(UTC)
            _insert_keys(
                self._conn,
                [
                    {
                        "user_id": user_id,
                        "key_enc": self._keyring.encrypt(
                            base64.b64encode(os.urandom(32)).decode(), context=KEY_CONTEXT
                        ),
                        "created_at": now,
                    }
                    for user_id in missing
                ],
            )
            found.update(self._fetch(missing))  # ours, or a racing writer's
        for user_id in wanted:
            sealed = found.get(user_id)
            self._keys[user_id] = (
                AESGCM(base64.b64decode(self._keyring.decrypt(sealed, context=KEY_CONTEXT)))
                if sealed is not None
                else None
            )

    def _fetch(self, user_ids: list[str]) -> dict[str, str]:
        rows = self._conn.execute(_KEYS, {"user_ids": user_ids})
        return {row.user_id: row.key_enc for row in rows}

    def _key(self, user_id: str, *, create: bool) -> AESGCM | None:
        if user_id not in self._keys or (create and self._keys[user_id] is None):
            self._keys.pop(user_id, None)
            self.load([user_id], create=create)
        return self._keys.get(user_id)

    def seal(self, user_id: str, text: str | None, *, context: str) -> str | None:
        if text is None:
            return None
        key = self._key(user_id, create=True)
        assert key is not None
        nonce = os.urandom(NONCE_BYTES)
        sealed = key.encrypt(nonce, text.encode(), f"{context}\x00{user_id}".encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, user_id: str, stored: str | None, *, context: str) -> str | None:
        """The clear text; None when its owner's key is gone (erased) or it does not open."""
        if stored is None or not stored.startswith(PREFIX):
            return stored
        key = self._key(user_id, create=False)
        if key is None:
            return None
        raw = base64.b64decode(stored[len(PREFIX) :])
        try:
            plain = key.decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], f"{context}\x00{user_id}".encode()
            )
        except InvalidTag:
            return None
        return plain.decode()
