"""What the risk engine knows about one outgoing transfer, and what it decides.

The contract between the two halves of risk: the service computes `TransferSignals` from the
database (logins, security changes, the user's transfer history); the synthetic stream
computes the same signals in memory; `risk.scoring.assess_transfer` turns them into a
`RiskAssessment` without any I/O, so the rules are unit-tested and benchmarked as plain
functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RiskDecision(StrEnum):
    """What happens to the transfer."""

    ALLOW = "allow"
    """Post it now."""
    STEP_UP = "step_up"
    """Hold the money and wait for a one-time code from the real owner."""
    BLOCK = "block"
    """Refuse it; nothing is held or posted."""


class RiskLevel(StrEnum):
    """The coarse level shown to apps and operators."""

    LOW = "low"
    """Nothing unusual."""
    MEDIUM = "medium"
    """Unusual enough to ask the owner to confirm."""
    HIGH = "high"
    """Looks like fraud or account takeover."""


@dataclass(frozen=True, slots=True)
class TransferSignals:
    """One outgoing transfer in the context of its user's recent history.

    Counts and sums are over the user's outgoing transfers *before* this one; amounts are
    minor units of the transfer's currency.
    """

    amount: int
    kind: str
    """`payment`, `p2p` or `withdrawal` (allocations between own wallets are not scored)."""
    local_hour: int
    """0-23 in the user's time zone."""
    account_age_days: float
    history_count: int
    """Outgoing transfers in the last 90 days."""
    history_median_amount: int
    """Median of those amounts; 0 when there are none."""
    history_max_amount: int
    count_last_10_min: int
    count_last_hour: int
    amount_last_24h: int
    distinct_payees_last_24h: int
    incoming_last_24h: int
    """Money received (p2p in, top-ups) in the last 24 hours: mules pass it straight on."""
    new_payee: bool
    """The counterparty (p2p destination wallet, merchant name) was never paid before."""
    new_device: bool
    """The user's latest login came from a device not seen before it."""
    minutes_since_new_device_login: float | None
    """None when the user never logged in from a new device."""
    minutes_since_new_location_login: float | None
    """None when the user never logged in from a new city or country."""
    minutes_since_sensitive_change: float | None
    """Since the last password, phone or email change; None when there was none."""
    amount_local_day: int = 0
    """Outgoing transfers since midnight in the user's time zone, succeeded or held for a
    code (not this one): what the day's step-up limit adds this transfer to."""


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """The score, the decision it leads to, and the rules that fired (for the user and audit)."""

    score: int
    """0-100."""
    level: RiskLevel
    decision: RiskDecision
    reasons: tuple[str, ...]
    """Stable rule names, e.g. `amount_far_above_history`, `new_device`."""


@dataclass(frozen=True, slots=True)
class OutgoingTransfer:
    """Money about to leave a user's wallet, as the wallet describes it for an assessment:
    all the risk engine knows of the transfer (it reads no wallet module)."""

    transfer_id: str
    user_id: str
    wallet_id: str
    """The source wallet."""
    account_id: str
    """The source wallet's ledger account."""
    kind: str
    amount: int
    currency: str
    destination_wallet_id: str | None
    merchant: str | None
    """The merchant's name, for a payment."""
    timezone: str
    """The owner's: where their day starts."""
    own_step_up_amount: int | None
    """The owner's own step-up amount, when they set one."""
