"""Text field types that refuse what databases and messages cannot carry.

Two rules, applied everywhere text comes in:
- *storable*: no NUL and no unpaired surrogate, anywhere in a request (PostgreSQL refuses
  both in text and JSON columns, and no message can carry them). `find_unstorable` is the
  one recursive check, used on every JSON body (`api/guard.py`) and on free JSON fields.
- *display-safe*: a name, a merchant, a memo — text a person reads in an SMS, the inbox or
  the console — carries no format characters (Unicode category Cf: the bidi controls
  U+202A–202E, U+2066–2069, U+200E/F, U+061C, the zero-width U+200B–200D, U+2060, U+FEFF,
  and the rest of Cf), because they let a sender make "paid to A" read as "paid to B".
  They are refused (422 naming the field), never silently stripped, so what is stored is
  what the caller sent and saw.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, StringConstraints

MAX_JSON_DEPTH = 64
"""Free JSON nested deeper than this is refused (no message needs it; it costs stack)."""


def unstorable_reason(value: str) -> str | None:
    """Why `value` cannot be stored (a NUL, an unpaired surrogate), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    for char in value:
        if "\ud800" <= char <= "\udfff":
            return "must not contain unpaired surrogates"
    return None


def find_unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first (dotted path, reason) in parsed JSON where a string or a key cannot be
    stored; None when everything can. The path is `""` for the top level."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return where, f"is nested deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(item, str):
            reason = unstorable_reason(item)
            if reason is not None:
                return where, reason
        elif isinstance(item, dict):
            for key, child in item.items():
                key = str(key)
                reason = unstorable_reason(key)
                if reason is not None:
                    return where, f"a key {reason}"
                stack.append((child, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                stack.append((child, f"{where}.{index}" if where else str(index), depth + 1))
    return None


def printable(value: str) -> str:
    """Control characters (NUL among them) break storage and messages; refuse them early."""
    reason = unstorable_reason(value)
    if reason is not None:
        raise ValueError(reason)
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("must not contain control characters")
    return value


def display_safe(value: str) -> str:
    """Refuse format characters (bidi controls, zero-width characters): shown to a person,
    they can make the text read as something it is not."""
    for char in value:
        if unicodedata.category(char) == "Cf":
            raise ValueError(
                f"must not contain invisible format characters (U+{ord(char):04X}: "
                "bidi controls, zero-width characters)"
            )
    return value


def storable_json(*, max_bytes: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A validator for a free JSON object: storable everywhere inside, and at most
    `max_bytes` once serialized (it is copied into every delivery of a notice)."""

    def check(value: dict[str, Any]) -> dict[str, Any]:
        found = find_unstorable(value)
        if found is not None:
            where, reason = found
            raise ValueError(f"{where}: {reason}" if where else reason)
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
        if size > max_bytes:
            raise ValueError(f"is {size} bytes as JSON; at most {max_bytes} are allowed")
        return value

    return check


def _class_of(categories: frozenset[str], *, but: str = "") -> str:
    """A regex character class body of the BMP code points in `categories` (except those in
    `but`), as ranges."""
    ranges: list[list[int]] = []
    for code in range(0x10000):
        if (
            unicodedata.category(chr(code)) in categories
            and not 0xD800 <= code <= 0xDFFF
            and chr(code) not in but
        ):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges
    )


def _pattern_without(forbidden: str) -> str:
    """At least one character that is not white space, and none of `forbidden` (what the
    validators refuse, said in the schema so clients and fuzzers know it)."""
    return f"^[^{forbidden}]*[^\\s{forbidden}][^{forbidden}]*$"


_CONTROL = _class_of(frozenset({"Cc"}))
CONTROL_FREE_PATTERN = f"^[^{_CONTROL}]*$"
"""JSON Schema `pattern` of text without control characters (blank allowed)."""
PRINTABLE_PATTERN = _pattern_without(_CONTROL)
"""JSON Schema `pattern` of printable text (no control characters, not blank)."""
DISPLAY_PATTERN = _pattern_without(_CONTROL + _class_of(frozenset({"Cf"})))
"""JSON Schema `pattern` of display-safe text (no control or format characters, not
blank; format characters outside the BMP are refused too, but not named here)."""
MULTILINE_DISPLAY_PATTERN = _pattern_without(
    _class_of(frozenset({"Cc"}), but="\t\n\r") + _class_of(frozenset({"Cf"}))
)
"""`DISPLAY_PATTERN` for text of several lines: tabs and line breaks allowed."""


MAX_EVENT_DATA_BYTES = 64 * 1024
"""Event data is copied into every delivery; more than this is never a notice."""

JsonObject = Annotated[
    dict[str, Any], AfterValidator(storable_json(max_bytes=MAX_EVENT_DATA_BYTES))
]
"""Free JSON (event data): storable, at most 64 KB serialized."""

_Bounds = TypeVar("_Bounds", bound=str)

PrintableText = Annotated[
    _Bounds, AfterValidator(printable), Field(json_schema_extra={"pattern": PRINTABLE_PATTERN})
]
"""Printable text within the bounds given, which come first because pydantic applies them
in order: `PrintableText[Annotated[str, StringConstraints(max_length=200)]]`."""
DisplaySafeText = Annotated[
    _Bounds,
    AfterValidator(printable),
    AfterValidator(display_safe),
    Field(json_schema_extra={"pattern": DISPLAY_PATTERN}),
]
"""`PrintableText` without format characters either: text shown to a person as given."""

DisplayText = DisplaySafeText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
]
"""Text shown to a person as it was given (a name): 1-100 printable characters, no format
characters."""
ShortText = DisplayText
"""A name, a label: 1-100 printable, display-safe characters."""
LongText = DisplaySafeText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
]
"""A memo or a reason: 1-500 printable, display-safe characters."""
