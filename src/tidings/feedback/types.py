"""The follow-up domain's vocabulary: channels, statuses, priorities, categories."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """Where a ticket came from."""

    APP = "app"
    """The company's app, through the API."""
    WEB = "web"
    """Our user pages (`/app/tickets`)."""
    SMS = "sms"
    """An SMS reply that is not an unsubscribe word (the SmsUp callback)."""
    EMAIL = "email"
    """An email to the support address (a provider's inbound-parse webhook)."""
    PHONE = "phone"
    """A phone call an operator entered."""


class TicketStatus(StrEnum):
    OPEN = "open"
    """Waiting for an agent."""
    PENDING = "pending"
    """Answered; waiting for the user."""
    RESOLVED = "resolved"
    """Solved: the resolution clock stopped."""
    CLOSED = "closed"
    """Done for good (by an operator, or automatically after a quiet pending period)."""


DONE = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})
"""Statuses whose clocks have stopped."""


class Priority(StrEnum):
    URGENT = "urgent"
    """Security: counted around the clock."""
    HIGH = "high"
    """A complaint, or money that has not arrived."""
    NORMAL = "normal"
    """A question."""
    LOW = "low"
    """A suggestion."""


class Category(StrEnum):
    SECURITY = "security"
    """Stolen account, fraud, a payment the user did not make."""
    PAYMENT = "payment"
    """Payments, transfers, top-ups and refunds."""
    CREDIT = "credit"
    """The credit line: limits, loans, repayments."""
    ACCOUNT = "account"
    """Sign-in, profile, preferences, notices."""
    COMPLAINT = "complaint"
    """Dissatisfaction with the service itself."""
    SUGGESTION = "suggestion"
    """An idea for the product."""
    OTHER = "other"
    """Anything else."""


class Author(StrEnum):
    AGENT = "agent"
    """An operator answering."""
    USER = "user"
    """The ticket's user."""


class QuestionKind(StrEnum):
    NPS = "nps"
    """0–10: how likely to recommend."""
    CSAT = "csat"
    """1–5: how satisfied."""
    CHOICE = "choice"
    """One of the question's choices."""
    TEXT = "text"
    """Free text."""


class Sentiment(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"
