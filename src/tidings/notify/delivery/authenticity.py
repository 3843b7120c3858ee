"""Authenticity codes: a short HMAC of a message's id and content, printed in the message.

A user (or the support desk) can paste a text into `POST /v1/messages/verify`: it is genuine
only if we sent exactly that text; a changed figure, a changed link, anything, fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from sqlalchemy import Connection

from tidings.kit.clock import as_utc
from tidings.notify import repository
from tidings.notify.schemas import VerifyOut
from tidings.notify.types import ChannelName
from tidings.privacy.codes import REDACTED

CODE_LENGTH = 6
CODE_PATTERN = re.compile(r"(?:防伪码|Code)\s*([A-Z2-7]{6})\b")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def authenticity_code(key: bytes, delivery_id: str, content: str) -> str:
    digest = hmac.new(key, f"{delivery_id}\n{normalise(content)}".encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()).decode()[:CODE_LENGTH]


def _reads_as(content: str, text: str) -> bool:
    """Whether `text` holds the message as kept; a kept one-time code (masked) matches any
    digits, so a genuine code message still verifies after its code was blanked."""
    if REDACTED not in content:
        return content in text
    pattern = r"\d+".join(re.escape(part) for part in content.split(REDACTED))
    return re.search(pattern, text) is not None


def verify(conn: Connection, *, text: str | None, code: str | None) -> VerifyOut:
    """Genuine when a message we sent carries this code and (for a text) reads exactly so."""
    if text is not None:
        match = CODE_PATTERN.search(text)
        if match is None:
            return VerifyOut(genuine=False)
        code = match.group(1)
    if code is None:
        return VerifyOut(genuine=False)
    wanted = normalise(text) if text is not None else None
    for row in repository.deliveries_with_code(conn, code.upper()):
        if row.content is None or row.sent_at is None:
            continue
        if wanted is None or _reads_as(normalise(row.content), wanted):
            return VerifyOut(
                genuine=True,
                kind=row.kind,
                sent_at=as_utc(row.sent_at),
                channel=ChannelName(row.channel),
            )
    return VerifyOut(genuine=False)
