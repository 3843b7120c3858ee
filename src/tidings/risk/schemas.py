"""API shapes of logins, security changes, step-up codes, contact changes, the audit log and
the online model's outcomes."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from tidings.kit.clock import UtcDateTime
from tidings.kit.schemas import RequestBody
from tidings.kit.text import DisplayText, PrintableText, ShortText
from tidings.risk.signals import RiskLevel
from tidings.users.schemas import Email, Phone


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise ValueError("must be an IPv4 or IPv6 address") from exc


IpAddress = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=45), AfterValidator(_ip)
]
DeviceId = PrintableText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
]
UserAgent = PrintableText[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
]


class LoginCreate(RequestBody):
    """A login the app saw; `at` defaults to now (a past moment for late reports)."""

    device_id: DeviceId = Field(
        description="The app install's id: stored hashed, never shown in any message."
    )
    device_name: DisplayText | None = Field(
        None,
        description="How the app describes the device, shown in alerts as given "
        "(e.g. `iPhone 15 (张三的手机)`); without it, alerts name the user agent's platform "
        "or say 'a new device'.",
    )
    ip: IpAddress
    city: ShortText | None = None
    country: ShortText | None = None
    user_agent: UserAgent | None = None
    at: UtcDateTime | None = None


class LoginRiskOut(BaseModel):
    level: RiskLevel
    reasons: list[str] = Field(
        description="`new_device`, `new_location`, `impossible_travel`; empty when nothing is odd."
    )


class LoginOut(BaseModel):
    id: str
    user_id: str
    at: datetime
    risk: LoginRiskOut


class SecurityChangeKind(StrEnum):
    PASSWORD = "password"  # noqa: S105 - a kind of change, not a secret
    """The login password."""
    PHONE = "phone"
    """The phone number SMS go to."""
    EMAIL = "email"
    """The email address."""
    PAYEE = "payee"
    """A payee added: a bank card to withdraw to, or a contact to send money to."""


class SecurityChangeCreate(RequestBody):
    kind: SecurityChangeKind
    at: UtcDateTime | None = None


class SecurityChangeOut(BaseModel):
    id: str
    user_id: str
    kind: SecurityChangeKind
    at: datetime


class VerificationCreate(RequestBody):
    code: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=16),
        Field(examples=["482913"]),
    ]


class RiskOutcomeIn(RequestBody):
    """What an investigation, a chargeback or the owner's report established."""

    fraudulent: bool


class RiskOutcomeOut(BaseModel):
    transfer_id: str
    fraudulent: bool
    source: str = Field(description="`operator`, `verified` (the owner's code) or `settled`.")
    recorded_at: datetime
    probability: float = Field(description="What the online model thought when it scored it.")


class AuditEntryOut(BaseModel):
    id: str
    at: datetime
    actor: str = Field(description="`operator`, `system` or `user:<id>`.")
    user_id: str | None
    action: str
    subject_id: str | None
    detail: dict[str, Any]


class ContactChangeCreate(RequestBody):
    """A new phone and/or email; a code goes to the current contact to confirm it."""

    phone: Phone | None = None
    email: Email | None = None


class ContactChangeOut(BaseModel):
    id: str
    expires_at: datetime


class ContactChangeConfirm(VerificationCreate):
    """The code sent to the current contact."""
