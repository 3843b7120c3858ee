"""The whole event catalogue, gathered from the modules that emit each family of events."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tidings.campaigns.events import CATALOGUE as MARKETING
from tidings.credit.events import CATALOGUE as CREDIT
from tidings.events import EventType
from tidings.feedback.events import CATALOGUE as FOLLOW_UP
from tidings.insights.events import CATALOGUE as INSIGHTS
from tidings.risk.events import CATALOGUE as SECURITY
from tidings.wallets.events import CATALOGUE as WALLET

EVENT_TYPES: dict[str, EventType] = {
    event.name: event
    for family in (WALLET, INSIGHTS, SECURITY, CREDIT, MARKETING, FOLLOW_UP)
    for event in family
}


def validate_event_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Check a known type's required fields; unknown extra fields are kept as they came.

    Raises pydantic's ValidationError naming the failing fields.
    """
    spec = EVENT_TYPES[event_type]
    model = spec.data.model_validate(data)
    checked = model.model_dump(mode="json", exclude_unset=True)
    return {**data, **checked}


__all__ = ["EVENT_TYPES", "ValidationError", "validate_event_data"]
