"""The per-user keys that seal free text (crypto-shredding): one row per user, the key itself
sealed with the data key. Deleting the row makes every copy of that text unreadable."""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Text

from tidings.kit.tables import Timestamp, metadata

user_keys = Table(
    "privacy_user_keys",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("key_enc", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)
