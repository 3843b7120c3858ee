"""AES-GCM field encryption with key ids (so keys rotate) and keyed look-up hashes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class KeyringError(ValueError):
    """A key spec or ciphertext that cannot be used."""


def _decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyringError("key is not valid base64") from exc
    if len(key) != 32:
        raise KeyringError("key must be 32 bytes (AES-256)")
    return key


def parse_data_keys(spec: str) -> tuple[dict[str, bytes], str]:
    """Parse `kid:base64,kid:base64`; the first key id is the one that encrypts."""
    keys: dict[str, bytes] = {}
    active = ""
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        kid, sep, material = part.partition(":")
        if not sep or not kid or "$" in kid:
            raise KeyringError("each data key must be written as key_id:base64")
        keys[kid] = _decode_key(material)
        active = active or kid
    if not keys:
        raise KeyringError("no data key given")
    return keys, active


class Keyring:
    """Encrypts personal fields; the key id travels with the ciphertext (`kid$base64`)."""

    def __init__(
        self, *, data_keys: Mapping[str, bytes], active_key_id: str, lookup_key: bytes
    ) -> None:
        if active_key_id not in data_keys:
            raise KeyringError(f"active key {active_key_id!r} is not in the keyring")
        self._ciphers = {kid: AESGCM(key) for kid, key in data_keys.items()}
        self.active_key_id = active_key_id
        self._lookup_key = lookup_key

    @classmethod
    def from_specs(cls, *, data_key_spec: str, lookup_key_b64: str) -> Keyring:
        keys, active = parse_data_keys(data_key_spec)
        return cls(data_keys=keys, active_key_id=active, lookup_key=_decode_key(lookup_key_b64))

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Encrypt under the active key; `context` (e.g. `users.phone`) binds it to its column."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.active_key_id].encrypt(
            nonce, plaintext.encode(), context.encode()
        )
        return f"{self.active_key_id}${base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, context: str) -> str:
        kid, sep, body = token.partition("$")
        cipher = self._ciphers.get(kid)
        if not sep or cipher is None:
            raise KeyringError(f"no key {kid!r} to decrypt with")
        raw = base64.b64decode(body)
        try:
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise KeyringError("ciphertext was altered or belongs to another field") from exc
        return plain.decode()

    @property
    def key_ids(self) -> frozenset[str]:
        """Every key id this keyring can decrypt with."""
        return frozenset(self._ciphers)

    def needs_rotation(self, token: str) -> bool:
        """True when the value was sealed with a key other than the active one."""
        return not token.startswith(self.active_key_id + "$")

    def derive_key(self, purpose: str) -> bytes:
        """A separate key for one purpose (e.g. message authenticity codes)."""
        return hmac.new(self._lookup_key, f"derive:{purpose}".encode(), hashlib.sha256).digest()

    def lookup_hash(self, value: str, *, context: str) -> str:
        """Deterministic keyed hash so encrypted values can still be found by equality."""
        message = f"{context}\x00{value}".encode()
        return hmac.new(self._lookup_key, message, hashlib.sha256).hexdigest()
