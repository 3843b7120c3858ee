"""Names people read for the engine's codes (categories, channels, kinds of notice), marked
for the catalogue and translated when a page shows them."""

from __future__ import annotations

from tidings.notify.types import Category, ChannelName
from tidings.web.i18n import gettext_noop

CATEGORIES: dict[Category, str] = {
    Category.CRITICAL: gettext_noop("Security"),
    Category.TRANSACTIONAL: gettext_noop("Money movements"),
    Category.INFORMATIONAL: gettext_noop("Tips and updates"),
    Category.MARKETING: gettext_noop("Offers"),
}

CHANNELS: dict[ChannelName, str] = {
    ChannelName.INBOX: gettext_noop("App inbox"),
    ChannelName.PUSH: gettext_noop("App notifications"),
    ChannelName.SMS: gettext_noop("Text message"),
    ChannelName.EMAIL: gettext_noop("Email"),
    ChannelName.WEBHOOK: gettext_noop("Webhook"),
}

_KIND_FAMILIES: dict[str, str] = {
    "wallet": gettext_noop("Wallet notice"),
    "security": gettext_noop("Security alert"),
    "credit": gettext_noop("Credit and repayments"),
    "marketing": gettext_noop("Offer"),
    "followup": gettext_noop("Survey or service reply"),
    "notify": gettext_noop("Summary of notices"),
}
_ANY_KIND = gettext_noop("Notice")


def kind_label(kind: str) -> str:
    """What sort of notice a kind is (`wallet.payment.succeeded` → a wallet notice)."""
    return _KIND_FAMILIES.get(kind.split(".", 1)[0], _ANY_KIND)
