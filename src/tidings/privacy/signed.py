"""Signed tokens that need no storage: `<base64url(payload)>.<base64url(mac)>`, the MAC an
HMAC-SHA256 (128 bits kept) under a key derived from the look-up key for one purpose. A
holder can read the payload but nobody can make one, so a link can stand for a (user,
something) pair without a row in the database. They do not expire."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from tidings.privacy.crypto import Keyring

MAC_BYTES = 16
MAX_TOKEN_CHARS = 200


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(keyring: Keyring, purpose: str, label: bytes, payload: bytes) -> bytes:
    key = keyring.derive_key(purpose)
    return hmac.new(key, label + payload, hashlib.sha256).digest()[:MAC_BYTES]


def sign(keyring: Keyring, *, purpose: str, label: bytes, payload: bytes) -> str:
    """A URL-safe token carrying `payload`, signed for `purpose` (`label` versions it)."""
    return f"{_b64(payload)}.{_b64(_mac(keyring, purpose, label, payload))}"


def open_signed(keyring: Keyring, *, purpose: str, label: bytes, token: str) -> bytes | None:
    """The payload of a token we signed for `purpose`, or None for anything else."""
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        return None
    encoded, mac = token.split(".")
    try:
        payload, given = _unb64(encoded), _unb64(mac)
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(given, _mac(keyring, purpose, label, payload)):
        return None
    return payload
