"""Text field types that refuse what databases and messages cannot carry."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints


def printable(value: str) -> str:
    """Control characters (NUL among them) break storage and messages; refuse them early."""
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("must not contain control characters")
    return value


ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(printable),
]
"""A name, a label: 1-100 printable characters."""
LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(printable),
]
"""A memo or a reason: 1-500 printable characters."""
