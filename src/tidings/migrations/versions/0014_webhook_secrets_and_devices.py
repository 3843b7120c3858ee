"""a signing secret per webhook endpoint, rotatable; every push device of a user

Each user's webhook gets its own Standard Webhooks secret, sealed like personal data, and
during a rotation the previous one (also sealed) until the overlap ends. A push attempt
names the device it went to by a keyed hash of the token, so a retry sends only to the
devices that do not have the notice yet.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from tidings.migrations.columns import add_columns, drop_columns, stamps, strings, texts

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    add_columns(
        "notify_preferences",
        *texts("webhook_secret_enc", "webhook_previous_secret_enc", nullable=True),
        *stamps("webhook_previous_secret_until", nullable=True),
    )
    add_columns("delivery_attempts", *strings(64, "device", nullable=True))


def downgrade() -> None:
    drop_columns("delivery_attempts", "device")
    drop_columns(
        "notify_preferences",
        "webhook_previous_secret_until",
        "webhook_previous_secret_enc",
        "webhook_secret_enc",
    )
