"""Security event types: every one is a critical notice."""

from __future__ import annotations

from tidings.events import EventData, EventType
from tidings.kit.money import Money
from tidings.kit.text import ShortText

LOGIN_NEW_DEVICE = "security.login.new_device"
LOGIN_NEW_LOCATION = "security.login.new_location"
PASSWORD_CHANGED = "security.password.changed"  # noqa: S105 - an event name
PHONE_CHANGED = "security.phone.changed"
EMAIL_CHANGED = "security.email.changed"
PAYEE_ADDED = "security.payee.added"
TRANSACTION_SUSPICIOUS = "security.transaction.suspicious"
VERIFICATION_CODE = "security.verification.code"
WALLET_FROZEN = "security.wallet.frozen"
WALLET_UNFROZEN = "security.wallet.unfrozen"
LOGIN_IMPOSSIBLE_TRAVEL = "security.login.impossible_travel"
VERIFICATION_FAILED = "security.verification.failed"
VERIFICATION_EXPIRED = "security.verification.expired"
CONTACT_CHANGE_CODE = "security.contact_change.code"


class LoginNewDevice(EventData):
    device: ShortText | None = None
    """The device's name as the app gave it; never its id."""
    platform: ShortText | None = None
    """Without a name: the platform its user agent names (`iPhone`, `Android`, `Windows`…)."""
    city: ShortText | None = None


class LoginNewLocation(EventData):
    city: ShortText
    country: ShortText | None = None
    device: ShortText | None = None
    """The device's name as the app gave it; never its id."""
    platform: ShortText | None = None


class CredentialChanged(EventData):
    """Password, phone or email changed, or a payee added; no field is required."""


class TransferEvent(EventData):
    """Something about one outgoing transfer the risk rules looked at."""

    amount: Money
    transfer_id: str | None = None


class TransactionSuspicious(TransferEvent):
    reason: ShortText | None = None
    blocked: bool = False
    """True when the risk rules refused the transfer (nothing left the wallet)."""
    held: bool = False
    """True when the transfer waits for the owner's one-time code (held, nothing sent yet)."""


class OneTimeCode(EventData):
    """A one-time code to send the user, in clear or sealed."""

    code: ShortText | None = None
    """The code in clear: only from an outside core; ours carry `sealed_code`."""
    sealed_code: str | None = None
    """The code under AES-GCM; read when the message is rendered, blanked once spent."""


class VerificationCode(OneTimeCode):
    purpose: ShortText
    expires_in_minutes: int = 15
    amount: Money | None = None


class ContactChangeCode(OneTimeCode):
    """A code, sent to the current phone or email, that confirms a change of contact."""

    change: ShortText
    """What changes: `phone`, `email` or `phone_email`."""
    expires_in_minutes: int = 15


class WalletFrozen(EventData):
    wallet_id: str | None = None
    reason: ShortText | None = None


class WalletUnfrozen(EventData):
    wallet_id: str | None = None


class LoginImpossibleTravel(EventData):
    city: ShortText
    previous_city: ShortText
    device: ShortText | None = None
    platform: ShortText | None = None


class VerificationFailed(TransferEvent):
    """Too many wrong codes: the transfer was cancelled and its hold released."""


class VerificationExpired(TransferEvent):
    """Nobody entered the code in time: the transfer was cancelled and its hold released."""


CATALOGUE = (
    EventType(LOGIN_NEW_DEVICE, LoginNewDevice, "A login from a device not seen before."),
    EventType(LOGIN_NEW_LOCATION, LoginNewLocation, "A login from a new city or country."),
    EventType(PASSWORD_CHANGED, CredentialChanged, "The password was changed."),
    EventType(PHONE_CHANGED, CredentialChanged, "The phone number was changed."),
    EventType(EMAIL_CHANGED, CredentialChanged, "The email address was changed."),
    EventType(PAYEE_ADDED, CredentialChanged, "A payee (bank card or contact) was added."),
    EventType(TRANSACTION_SUSPICIOUS, TransactionSuspicious, "A transfer looks suspicious."),
    EventType(VERIFICATION_CODE, VerificationCode, "A one-time code for a step-up check."),
    EventType(
        CONTACT_CHANGE_CODE,
        ContactChangeCode,
        "A one-time code, to the current contact, confirming a phone or email change.",
    ),
    EventType(WALLET_FROZEN, WalletFrozen, "The wallet was frozen."),
    EventType(WALLET_UNFROZEN, WalletUnfrozen, "An operator unfroze the wallet."),
    EventType(
        LOGIN_IMPOSSIBLE_TRAVEL,
        LoginImpossibleTravel,
        "A login too far from the previous one for the time between them.",
    ),
    EventType(
        VERIFICATION_FAILED,
        VerificationFailed,
        "Three wrong codes: the held transfer was cancelled and the money released.",
    ),
    EventType(
        VERIFICATION_EXPIRED,
        VerificationExpired,
        "A held transfer was not verified in time; the money was released.",
    ),
)
