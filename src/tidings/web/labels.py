"""Names people read for the engine's codes (categories, channels, kinds of notice), marked
for the catalogue and translated when a page shows them."""

from __future__ import annotations

from tidings.notify.types import Category, ChannelName
from tidings.wallets.schemas import Purpose, TransferKind
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


TRANSFER_KINDS: dict[str, str] = {
    TransferKind.TOP_UP: gettext_noop("Top-up"),
    TransferKind.PAYMENT: gettext_noop("Payment"),
    TransferKind.P2P: gettext_noop("Transfer"),
    TransferKind.ALLOCATION: gettext_noop("Between my wallets"),
    TransferKind.REFUND: gettext_noop("Refund"),
    TransferKind.WITHDRAWAL: gettext_noop("Withdrawal to bank card"),
    TransferKind.REWARD: gettext_noop("Savings goal reward"),
}

PURPOSES: dict[str, str] = {
    Purpose.TRAVEL: gettext_noop("Travel"),
    Purpose.SHOPPING: gettext_noop("Shopping"),
    Purpose.SAVINGS: gettext_noop("Savings"),
    Purpose.CUSTOM: gettext_noop("Own purpose"),
}


TICKET_STATUSES: dict[str, str] = {
    "open": gettext_noop("Waiting for our answer"),
    "pending": gettext_noop("Answered"),
    "resolved": gettext_noop("Resolved"),
    "closed": gettext_noop("Closed"),
}

PRIORITIES: dict[str, str] = {
    "urgent": gettext_noop("Urgent"),
    "high": gettext_noop("High"),
    "normal": gettext_noop("Normal"),
    "low": gettext_noop("Low"),
}

TICKET_CHANNELS: dict[str, str] = {
    "app": gettext_noop("App"),
    "web": gettext_noop("Web pages"),
    "sms": gettext_noop("SMS"),
    "email": gettext_noop("Email"),
    "phone": gettext_noop("Phone call"),
    "survey": gettext_noop("Survey answers"),
}
