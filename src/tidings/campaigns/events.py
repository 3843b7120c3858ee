"""Marketing event types: sent only with consent, inside the window, with an unsubscribe path."""

from __future__ import annotations

from datetime import date

from tidings.events import EventData, EventType
from tidings.kit.text import LongText, ShortText

PROMOTION = "marketing.promotion"
SUB_WALLET_SUGGESTION = "marketing.sub_wallet.suggestion"


class Promotion(EventData):
    campaign_id: str | None = None
    title: ShortText
    body: LongText
    valid_until: date | None = None


class SubWalletSuggestion(EventData):
    purpose: ShortText
    """e.g. travel"""
    reason: ShortText
    """Why it was suggested, in plain words (e.g. 最近常出行)."""


CATALOGUE = (
    EventType(PROMOTION, Promotion, "A promotion, coupon, new product or holiday campaign."),
    EventType(SUB_WALLET_SUGGESTION, SubWalletSuggestion, "A sub-wallet suited to the user."),
)
