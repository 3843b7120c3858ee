"""Marketing event types: sent only with consent, inside the window, with an unsubscribe path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any, Final

from tidings.events import EventData, EventType
from tidings.kit.text import LongText, ShortText
from tidings.privacy import signed
from tidings.privacy.crypto import Keyring

PROMOTION = "marketing.promotion"
SUB_WALLET_SUGGESTION = "marketing.sub_wallet.suggestion"
CAMPAIGN_CANCELLED = "campaigns.campaign.cancelled"

PERSONALISED_WHEN: Final[Mapping[str, str | None]] = MappingProxyType(
    {SUB_WALLET_SUGGESTION: None, PROMOTION: "personalised"}
)
"""Marketing chosen by the user's own spending or behaviour (PIPL art. 24), which turning
`personalised_marketing` off stops: event type → the boolean data field that makes a message
of it personalised (None: every one is). The one definition; the engine reads it in Python
(`is_personalised`) and in SQL."""


def is_personalised(kind: str, data: Mapping[str, Any]) -> bool:
    """Whether a message of `kind` with `data` was chosen by the user's spending or behaviour."""
    if kind not in PERSONALISED_WHEN:
        return False
    flag = PERSONALISED_WHEN[kind]
    return flag is None or data.get(flag) is True


class Promotion(EventData):
    campaign_id: str | None = None
    title: ShortText
    body: LongText
    valid_until: date | None = None
    url: str | None = None
    """The content's link; the sent message carries the recipient's tracked `/l/` link."""
    personalised: bool = False
    """Title and body may carry the recipient's own figures (`{spent_last_month}`), filled
    in when the message is sent."""


class SubWalletSuggestion(EventData):
    purpose: ShortText
    """e.g. travel"""
    reason: ShortText
    """Why it was suggested, in plain words (e.g. 最近常出行)."""


class CampaignCancelled(EventData):
    """An operator cancelled a campaign: the engine cancels its messages not yet sent."""

    campaign_id: str
    """The campaign whose unsent messages are to be cancelled (the notices' `event_id`)."""


CATALOGUE = (
    EventType(PROMOTION, Promotion, "A promotion, coupon, new product or holiday campaign."),
    EventType(SUB_WALLET_SUGGESTION, SubWalletSuggestion, "A sub-wallet suited to the user."),
)
"""Events that reach users. `CAMPAIGN_CANCELLED` is not one: it tells the notification engine
to cancel a campaign's unsent messages (its relay handles it), and no user hears of it."""


# -- tracked links: the published way a campaign message's link is made and read ------------

_LINK_PURPOSE = "campaign-link"
_LINK_LABEL = b"link:v1:"


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """The recipient a valid `/l/` token stands for."""

    campaign_id: str
    user_id: str


def make_link_token(keyring: Keyring, *, campaign_id: str, user_id: str) -> str:
    """One unguessable token per recipient (signed, `tidings.privacy.signed`): nothing rests
    in the database, and nobody can make one for someone else."""
    payload = f"{campaign_id}:{user_id}".encode()
    return signed.sign(keyring, purpose=_LINK_PURPOSE, label=_LINK_LABEL, payload=payload)


def read_link_token(keyring: Keyring, token: str) -> LinkTarget | None:
    """The recipient a token names, or None for anything we did not make."""
    payload = signed.open_signed(keyring, purpose=_LINK_PURPOSE, label=_LINK_LABEL, token=token)
    if payload is None:
        return None
    campaign_id, _, user_id = payload.decode("utf-8", "replace").partition(":")
    return LinkTarget(campaign_id, user_id) if campaign_id and user_id else None


def tracked_link_url(base_url: str, token: str) -> str:
    """The absolute tracked link (`TIDINGS_PUBLIC_URL` + `/l/<token>`)."""
    return f"{base_url.rstrip('/')}/l/{token}"
