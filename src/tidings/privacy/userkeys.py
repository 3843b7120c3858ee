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
from datetime import UTC, datetime
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from tidings.privacy.crypto import NONCE_BYTES, Keyring
from tidings.privacy.models import user_keys

PREFIX: Final = "uk1$"
KEY_CONTEXT: Final = "privacy.user_key"
"""The keyring context of `privacy_user_keys.key_enc` (the registry names it too)."""


def _insert_key(conn: Connection, user_id: str, sealed: str) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    values = {"user_id": user_id, "key_enc": sealed, "created_at": datetime.now(UTC)}
    stmt = dialect.insert(user_keys).values(values)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["user_id"]))


class FreeText:
    """Seals and opens free text in one transaction, with each owner's key (cached)."""

    def __init__(self, conn: Connection, keyring: Keyring) -> None:
        self._conn = conn
        self._keyring = keyring
        self._keys: dict[str, AESGCM | None] = {}

    def _key(self, user_id: str, *, create: bool) -> AESGCM | None:
        if self._keys.get(user_id) is None:
            stmt = select(user_keys.c.key_enc).where(user_keys.c.user_id == user_id)
            sealed = self._conn.execute(stmt).scalar_one_or_none()
            if sealed is None and create:
                fresh = base64.b64encode(os.urandom(32)).decode()
                _insert_key(self._conn, user_id, self._keyring.encrypt(fresh, context=KEY_CONTEXT))
                sealed = self._conn.execute(stmt).scalar_one()  # ours, or a racing writer's
            if sealed is None:
                return None
            raw = base64.b64decode(self._keyring.decrypt(sealed, context=KEY_CONTEXT))
            self._keys[user_id] = AESGCM(raw)
        return self._keys[user_id]

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
