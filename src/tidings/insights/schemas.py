"""API shapes of the spending views and the sub-wallet suggestions."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from tidings.kit.money import Money


class SpendingBy(StrEnum):
    """How a spending view groups payments."""

    CATEGORY = "category"
    """By merchant category (`dining`, `travel`…), labelled in the user's language."""
    WALLET = "wallet"
    """By the wallet that paid (the main wallet or a sub-wallet)."""
    MONTH = "month"
    """By calendar month of the payment on the user's calendar (`2026-11`)."""


class SpendingGroup(BaseModel):
    key: str
    label: str
    amount: Money
    count: int = Field(description="Payments in the group (fully refunded ones are not).")
    share_percent: int = Field(description="Whole percent of the total, rounded.")


class SpendingOut(BaseModel):
    """Payments minus their refunds (netted against the payment's own month) over calendar
    days in the user's time zone, both inclusive; largest group first."""

    model_config = ConfigDict(populate_by_name=True)

    currency: str
    from_: date = Field(alias="from")
    to: date
    total: Money
    groups: list[SpendingGroup]


class SuggestionEvidence(BaseModel):
    payments: int
    amount: Money
    window_days: int


class SuggestionOut(BaseModel):
    purpose: str
    reason: str = Field(description="Why, in plain words in the user's language.")
    evidence: SuggestionEvidence


class SuggestionsOut(BaseModel):
    items: list[SuggestionOut]
