"""SMS segment counting, as carriers bill it: GSM-7 when every character allows, else UCS-2.

GSM-7 fits 160 septets in one message and 153 in each part of a long one (the rest is the
concatenation header); characters of the extension table (`€ [ ] { } ^ ~ | \\`, form feed)
take two septets. UCS-2 (any Chinese text) fits 70 UTF-16 units, 67 per part; characters
outside the basic plane (emoji) take two units. A part never splits an escape pair or a
surrogate pair, so parts are packed greedily character by character.
"""

from __future__ import annotations

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def is_gsm7(text: str) -> bool:
    """True when the whole text can be sent in the GSM 7-bit alphabet."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def sms_segments(text: str) -> int:
    """How many SMS segments `text` takes (0 for an empty text)."""
    if not text:
        return 0
    if is_gsm7(text):
        units = [2 if c in GSM7_EXTENSION else 1 for c in text]
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        units = [2 if ord(c) > 0xFFFF else 1 for c in text]
        single, part = UCS2_SINGLE, UCS2_PART
    if sum(units) <= single:
        return 1
    parts, used = 1, 0
    for unit in units:
        if used + unit > part:
            parts += 1
            used = 0
        used += unit
    return parts
