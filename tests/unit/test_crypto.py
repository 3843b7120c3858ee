from __future__ import annotations

import base64

import pytest

from tidings.privacy.crypto import Keyring, KeyringError

OLD = "k0:" + base64.b64encode(b"\x03" * 32).decode()
NEW = "k1:" + base64.b64encode(b"\x04" * 32).decode()
LOOKUP = base64.b64encode(b"\x05" * 32).decode()


def test_ciphertext_hides_the_value_and_round_trips() -> None:
    keyring = Keyring.from_specs(data_key_spec=NEW, lookup_key_b64=LOOKUP)
    sealed = keyring.encrypt("+8613812348000", context="users.phone")
    assert "13812348000" not in sealed
    assert sealed.startswith("k1$")
    assert keyring.decrypt(sealed, context="users.phone") == "+8613812348000"


def test_rotation_reads_old_values_and_writes_with_the_new_key() -> None:
    old = Keyring.from_specs(data_key_spec=OLD, lookup_key_b64=LOOKUP)
    sealed_by_old = old.encrypt("张三", context="users.name")
    rotated = Keyring.from_specs(data_key_spec=f"{NEW},{OLD}", lookup_key_b64=LOOKUP)
    assert rotated.decrypt(sealed_by_old, context="users.name") == "张三"
    assert rotated.needs_rotation(sealed_by_old)
    assert not rotated.needs_rotation(rotated.encrypt("张三", context="users.name"))


def test_a_value_moved_to_another_column_does_not_decrypt() -> None:
    keyring = Keyring.from_specs(data_key_spec=NEW, lookup_key_b64=LOOKUP)
    sealed = keyring.encrypt("a@example.com", context="users.email")
    with pytest.raises(KeyringError):
        keyring.decrypt(sealed, context="users.name")


def test_lookup_hash_is_stable_and_keyed() -> None:
    one = Keyring.from_specs(data_key_spec=NEW, lookup_key_b64=LOOKUP)
    other = Keyring.from_specs(
        data_key_spec=NEW, lookup_key_b64=base64.b64encode(b"\x06" * 32).decode()
    )
    digest = one.lookup_hash("ext-1", context="users.external_id")
    assert digest == one.lookup_hash("ext-1", context="users.external_id")
    assert digest != other.lookup_hash("ext-1", context="users.external_id")


def test_bad_key_spec_is_refused_with_a_reason() -> None:
    with pytest.raises(KeyringError, match="32 bytes"):
        Keyring.from_specs(
            data_key_spec="k1:" + base64.b64encode(b"short").decode(), lookup_key_b64=LOOKUP
        )
