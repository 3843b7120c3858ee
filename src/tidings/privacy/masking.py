"""Masking for personal data wherever it is shown: API output, messages and logs."""

from __future__ import annotations

import unicodedata

import phonenumbers


def _is_cjk(char: str) -> bool:
    return unicodedata.name(char, "").startswith(("CJK", "HANGUL", "HIRAGANA", "KATAKANA"))


def mask_name(name: str) -> str:
    """`张三丰` → `张*丰`, `张三` → `张*`, `欧阳锋锐` → `欧**锐`, `Li Na` → `Li**`."""
    name = name.strip()
    if not name:
        return ""
    if any(_is_cjk(c) for c in name):
        if len(name) == 1:
            return name
        if len(name) == 2:
            return name[0] + "*"
        return name[0] + "*" * (len(name) - 2) + name[-1]
    first = name.split()[0]
    return first[:2] + "**"


def mask_phone(e164: str) -> str:
    """`+8613812348000` → `138****8000`; numbers elsewhere keep their country code."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "****"
    national = str(parsed.national_number)
    if len(national) <= 6:
        masked = national[:1] + "*" * (len(national) - 2) + national[-1:]
    else:
        masked = national[:3] + "*" * (len(national) - 7) + national[-4:]
    if parsed.country_code == 86:
        return masked
    return f"+{parsed.country_code} {masked}"


def mask_email(email: str) -> str:
    """`zhang.san@example.com` → `z***@example.com`."""
    local, sep, domain = email.partition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"


def tail(identifier: str, digits: int = 4) -> str:
    """The last digits of an account or card number, as shown in `尾号8821`."""
    only_digits = "".join(c for c in identifier if c.isdigit())
    return only_digits[-digits:]
