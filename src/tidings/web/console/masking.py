"""Text the console shows from providers and the engine (an attempt's error, a delivery's
reason) may quote an address; the console shows it masked like every other personal datum."""

from __future__ import annotations

import re

from tidings.privacy.masking import mask_email

_PHONE_LIKE = re.compile(r"(?<!\w)\+?\d{7,}(?!\w)")
"""Seven digits or more in a row (numbers are kept as E.164); dates and ids do not match."""
_EMAIL_LIKE = re.compile(r"[^\s@<>\"'(),;:]+@[^\s@<>\"'(),;:]+\.[A-Za-z]{2,}")
KEPT_DIGITS = 4


def _mask_digits(found: re.Match[str]) -> str:
    digits = [c for c in found.group(0) if c.isdigit()]
    return "*" * (len(digits) - KEPT_DIGITS) + "".join(digits[-KEPT_DIGITS:])


def masked_text(text: str) -> str:
    """`invalid number +8613812348000 (x@y.com)` → `invalid number *********8000 (x***@y.com)`."""
    text = _EMAIL_LIKE.sub(lambda found: mask_email(found.group(0)), text)
    return _PHONE_LIKE.sub(_mask_digits, text)
