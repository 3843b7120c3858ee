"""Who is invited to a survey (pure): a sticky sample and a recontact wait across surveys."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

BASIS_POINTS = 10_000


def sample_point(user_id: str, survey_id: str) -> int:
    """Where the user falls for this survey, 0..9999: the same every time (a stable hash),
    so a user is in the sample or out of it for good."""
    digest = hashlib.sha256(f"{survey_id}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BASIS_POINTS


def in_sample(user_id: str, survey_id: str, sample_bp: int) -> bool:
    """True when the user is in a sample of `sample_bp` basis points (100.00% = 10000)."""
    return sample_point(user_id, survey_id) < sample_bp


def may_contact(last_invited_at: datetime | None, now: datetime, recontact_days: int) -> bool:
    """Nobody is invited again within `recontact_days` of their last invitation, by any
    survey."""
    return last_invited_at is None or now - last_invited_at >= timedelta(days=recontact_days)
