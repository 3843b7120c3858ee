"""Marketing event types: sent only with consent, inside the window, with an unsubscribe path."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date

from tidings.events import EventData, EventType
from tidings.kit.text import LongText, ShortText
from tidings.privacy.crypto import Keyring

PROMOTION = "marketing.promotion"
SUB_WALLET_SUGGESTION = "marketing.sub_wallet.suggestion"
CAMPAIGN_CANCELLED = "campaigns.campaign.cancelled"


class Promotion(EventData):
    campaign_id: str | None = None
    title: ShortText
    body: LongText
    valid_until: date | None = None
    url: str | None = None
    """The content's link; the sent message carries the recipient's tracked `/l/` link."""


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
_LINK_MAC_BYTES = 16
MAX_LINK_TOKEN_CHARS = 200


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """The recipient a valid `/l/` token stands for."""

    campaign_id: str
    user_id: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _link_mac(keyring: Keyring, payload: bytes) -> bytes:
    key = keyring.derive_key(_LINK_PURPOSE)
    return hmac.new(key, b"link:v1:" + payload, hashlib.sha256).digest()[:_LINK_MAC_BYTES]


def make_link_token(keyring: Keyring, *, campaign_id: str, user_id: str) -> str:
    """One unguessable token per recipient (an HMAC under a key derived from the server's
    look-up key): nothing rests in the database, and nobody can make one for someone else."""
    payload = f"{campaign_id}:{user_id}".encode()
    return f"{_b64(payload)}.{_b64(_link_mac(keyring, payload))}"


def read_link_token(keyring: Keyring, token: str) -> LinkTarget | None:
    """The recipient a token names, or None for anything we did not make."""
    if len(token) > MAX_LINK_TOKEN_CHARS or token.count(".") != 1:
        return None
    encoded, mac = token.split(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(given, _link_mac(keyring, payload)):
        return None
    campaign_id, _, user_id = payload.decode("utf-8", "replace").partition(":")
    return LinkTarget(campaign_id, user_id) if campaign_id and user_id else None


def tracked_link_url(base_url: str, token: str) -> str:
    """The absolute tracked link (`TIDINGS_PUBLIC_URL` + `/l/<token>`)."""
    return f"{base_url.rstrip('/')}/l/{token}"
