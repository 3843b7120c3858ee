"""SMS segments as carriers count them: UCS-2 70/67, GSM-7 160/153."""

from __future__ import annotations

import pytest

from tidings.notify.templates.sms import is_gsm7, sms_segments


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_chinese_text_is_ucs2_with_70_single_and_67_per_part(length: int, segments: int) -> None:
    assert sms_segments("钱" * length) == segments


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_plain_latin_text_is_gsm7_with_160_single_and_153_per_part(
    length: int, segments: int
) -> None:
    assert sms_segments("a" * length) == segments


def test_one_chinese_character_turns_a_latin_text_into_ucs2() -> None:
    assert sms_segments("a" * 69 + "元") == 1
    assert sms_segments("a" * 70 + "元") == 2


def test_gsm7_extension_characters_take_two_septets() -> None:
    assert is_gsm7("[Tidings Wallet] €5 {ok}")
    assert sms_segments("a" * 158 + "€") == 1
    assert sms_segments("a" * 159 + "€") == 2


def test_a_part_never_splits_an_escape_pair() -> None:
    # 152 septets then "[" (2 septets): it cannot share the first part, so it opens a second.
    text = "a" * 152 + "[" + "a" * 152
    assert sum(2 if c == "[" else 1 for c in text) == 306
    assert sms_segments(text) == 3


def test_emoji_take_two_ucs2_units() -> None:
    assert sms_segments("🙂" * 35) == 1
    assert sms_segments("🙂" * 36) == 2


def test_curly_apostrophe_is_not_gsm7() -> None:
    assert not is_gsm7("don’t")
    assert is_gsm7("don't")


def test_empty_text_has_no_segment() -> None:
    assert sms_segments("") == 0
