from __future__ import annotations

import pytest

from tidings.privacy.masking import mask_email, mask_name, mask_phone, tail


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三丰", "张*丰"), ("张三", "张*"), ("欧阳锋锐", "欧**锐"), ("Li Na", "Li**"), ("王", "王")],
)
def test_names_keep_only_what_identifies_nobody(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_chinese_mobile_shows_first_three_and_last_four() -> None:
    assert mask_phone("+8613812348000") == "138****8000"


def test_foreign_number_keeps_its_country_code() -> None:
    assert mask_phone("+14155550123") == "+1 415***0123"


def test_email_keeps_first_letter_and_domain() -> None:
    assert mask_email("zhang.san@example.com") == "z***@example.com"


def test_tail_is_the_last_four_digits() -> None:
    assert tail("6222 0212 3456 8821") == "8821"
