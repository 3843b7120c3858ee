"""One-time codes and pinned addresses inside event data: sealed like personal data.

A code travels from the domain that made it to the provider through the outbox; it is stored
only under AES-GCM (the purpose as associated data), blanked once used or expired, and
masked wherever a message is kept or logged after sending.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from tidings.privacy.crypto import Keyring

SEALED_CODE: Final = "sealed_code"
"""Event-data key of a sealed one-time code (the outbox row is its only home)."""
CODE_IN_EVENT: Final = "code_in_event"
"""Notification-data flag: the code is read from the event when the message is rendered."""
DESTINATIONS: Final = "destinations"
"""Event-data key of sealed addresses per channel that a notice must go to (and, for a code,
only to): the current phone for a code, the old phone and email for a contact-change alert."""
REDACTED: Final = "******"
"""What a stored or logged copy of a message shows instead of the code."""

_CODE_PURPOSE: Final = "one-time-code"


def seal_code(keyring: Keyring, code: str) -> str:
    return keyring.encrypt(code, context=_CODE_PURPOSE)


def open_code(keyring: Keyring, sealed: str) -> str:
    return keyring.decrypt(sealed, context=_CODE_PURPOSE)


def seal_destination(keyring: Keyring, channel: str, address: str) -> str:
    return keyring.encrypt(address, context=f"destination.{channel}")


def open_destinations(keyring: Keyring, sealed: dict[str, str] | None) -> dict[str, str]:
    """Clear addresses per channel name, for the dispatcher alone."""
    return {
        channel: keyring.decrypt(value, context=f"destination.{channel}")
        for channel, value in (sealed or {}).items()
        if value
    }


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `REDACTED`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
