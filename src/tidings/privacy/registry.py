# ruff: noqa: E501 - the registry is a table: one entry a line, so adding one is a one-line change
"""The registry of personal data: every column that holds or may hold it, as data.

`tidings.privacy` sits below the domains, so tables and columns are named as strings; a test
(`tests/privacy/test_registry.py`) compares the registry with the real metadata and fails,
naming the columns, for any text or JSON column that is neither listed in `PERSONAL` nor
declared in `NOT_PERSONAL`. Export, erasure, retention and key rotation all read this file:
adding a personal column is one line here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Kind(StrEnum):
    """What sort of personal data a column holds."""

    IDENTITY = "identity"  # a name, an external id
    CONTACT = "contact"  # phone, email, webhook URL, push tokens
    LOOKUP_HASH = "lookup-hash"  # a keyed hash that finds a person by a value
    DEVICE = "device"  # devices and user agents in logins, push device hashes
    NETWORK = "network"  # IP addresses (as keyed hashes)
    LOCATION = "location"  # city and country of a login
    FREE_TEXT = "free-text"  # what a person wrote or reads: memos, message bodies
    EVENT_DATA = "event-data"  # data posted by a core system about the person
    SECRET = "secret"  # noqa: S105 - a kind name; the user's own secrets (webhook secrets, the per-user key)
    BEHAVIOUR = "behaviour"  # derived: features the risk model saw


class Erasure(StrEnum):
    """What erasure does to the column."""

    DELETE = "delete"  # the row goes
    BLANK = "blank"  # the value becomes `blank` (NULL, "" or {})
    DE_IDENTIFY = "de-identify"  # the row stays, the value is replaced by one naming no one


@dataclass(frozen=True, slots=True)
class Via:
    """The owner is found through a parent row: `column` holds `table.id`, whose `user_id`
    is the person."""

    column: str
    table: str


@dataclass(frozen=True, slots=True)
class Personal:
    """One column that holds personal data and what happens to it."""

    table: str
    column: str
    kind: Kind
    erasure: Erasure
    retention: str
    owner: str | Via = "user_id"
    """The column naming the person (or the parent row that does)."""
    owner_value: str = "{user_id}"
    """How the owner column spells the person (`str.format` with `user_id`)."""
    encrypted: str | None = None
    """The keyring context when the value is AES-GCM ciphertext (`tidings keys rotate`)."""
    blank: str | None = None
    """What BLANK / DE_IDENTIFY writes (`{user_id}` is formatted in); None writes NULL."""
    shredded: bool = False
    """Sealed with the owner's own key under `table.column` (`privacy.userkeys`): erasure
    deletes the key, so every copy, backups included, becomes unreadable."""


ACCOUNT_LIFETIME: Final = "while the account exists"
SESSION: Final = "until erasure (a pending change ends when its code expires)"
MESSAGES: Final = "TIDINGS_MESSAGE_RETENTION_DAYS after it was sent (default 180)"
OBSERVATIONS: Final = "180 days after learned or scored (risk.learning.KEEP_LEARNED)"
LOGINS: Final = "TIDINGS_LOGIN_RETENTION_DAYS (default 365)"
AML: Final = "5 years (anti-money-laundering), de-identified on erasure"

P, K, E = Personal, Kind, Erasure

PERSONAL: Final[tuple[Personal, ...]] = (
    # users: the row stays (ledger accounts point to it) de-identified; the phone may sign up again.
    P("users", "name_enc", K.IDENTITY, E.DE_IDENTIFY, ACCOUNT_LIFETIME, "id", encrypted="users.name", blank=""),
    P("users", "external_id_enc", K.IDENTITY, E.DE_IDENTIFY, ACCOUNT_LIFETIME, "id", encrypted="users.external_id", blank=""),
    P("users", "external_id_hash", K.LOOKUP_HASH, E.DE_IDENTIFY, ACCOUNT_LIFETIME, "id", blank="erased:{user_id}"),
    P("users", "phone_enc", K.CONTACT, E.BLANK, ACCOUNT_LIFETIME, "id", encrypted="users.phone"),
    P("users", "phone_hash", K.LOOKUP_HASH, E.BLANK, ACCOUNT_LIFETIME, "id"),
    P("users", "email_enc", K.CONTACT, E.BLANK, ACCOUNT_LIFETIME, "id", encrypted="users.email"),
    P("users", "email_hash", K.LOOKUP_HASH, E.BLANK, ACCOUNT_LIFETIME, "id"),
    P("users", "timezone", K.LOCATION, E.DE_IDENTIFY, ACCOUNT_LIFETIME, "id", blank="UTC"),
    P("privacy_user_keys", "key_enc", K.SECRET, E.DELETE, ACCOUNT_LIFETIME, encrypted="privacy.user_key"),
    P("contact_changes", "phone_enc", K.CONTACT, E.DELETE, SESSION, encrypted="contact_changes.phone"),
    P("contact_changes", "email_enc", K.CONTACT, E.DELETE, SESSION, encrypted="contact_changes.email"),
    P("notify_preferences", "push_tokens_enc", K.CONTACT, E.DELETE, ACCOUNT_LIFETIME, encrypted="prefs.push_tokens"),
    P("notify_preferences", "webhook_url", K.CONTACT, E.DELETE, ACCOUNT_LIFETIME),
    P("notify_preferences", "webhook_secret_enc", K.SECRET, E.DELETE, ACCOUNT_LIFETIME, encrypted="prefs.webhook_secret"),
    P("notify_preferences", "webhook_previous_secret_enc", K.SECRET, E.DELETE, ACCOUNT_LIFETIME, encrypted="prefs.webhook_previous_secrets"),
    P("notify_preferences", "quiet_hours_start", K.BEHAVIOUR, E.DELETE, ACCOUNT_LIFETIME),
    P("notify_preferences", "quiet_hours_end", K.BEHAVIOUR, E.DELETE, ACCOUNT_LIFETIME),
    P("security_logins", "device_hash", K.DEVICE, E.DELETE, LOGINS),
    P("security_logins", "ip_hash", K.NETWORK, E.DELETE, LOGINS),
    P("security_logins", "city", K.LOCATION, E.DELETE, LOGINS),
    P("security_logins", "country", K.LOCATION, E.DELETE, LOGINS),
    P("security_logins", "user_agent", K.DEVICE, E.DELETE, LOGINS),
    P("audit_log", "ip_hash", K.NETWORK, E.BLANK, AML),
    P("transfers", "memo", K.FREE_TEXT, E.BLANK, AML, shredded=True),
    P("wallets", "name", K.FREE_TEXT, E.DE_IDENTIFY, AML, blank=""),
    P("inbox_items", "title", K.FREE_TEXT, E.DELETE, MESSAGES, shredded=True),
    P("inbox_items", "body", K.FREE_TEXT, E.DELETE, MESSAGES, shredded=True),
    P("notifications", "data", K.EVENT_DATA, E.BLANK, MESSAGES, blank="{}"),
    P("deliveries", "content", K.FREE_TEXT, E.BLANK, MESSAGES),
    P("deliveries", "reason", K.FREE_TEXT, E.BLANK, MESSAGES),
    P("delivery_attempts", "error", K.FREE_TEXT, E.BLANK, MESSAGES, Via("delivery_id", "deliveries")),
    P("delivery_attempts", "device", K.DEVICE, E.BLANK, MESSAGES, Via("delivery_id", "deliveries")),
    P("outbox", "data", K.EVENT_DATA, E.BLANK, MESSAGES, blank="{}"),
    P("consent_events", "evidence", K.FREE_TEXT, E.BLANK, AML),
    P("risk_model_observations", "features", K.BEHAVIOUR, E.DELETE, OBSERVATIONS),
    P("tickets", "subject", K.FREE_TEXT, E.BLANK, AML),
    P("tickets", "body", K.FREE_TEXT, E.BLANK, AML, blank=""),
    P("ticket_messages", "body", K.FREE_TEXT, E.BLANK, AML, Via("ticket_id", "tickets"), blank=""),
    P("survey_responses", "answers", K.FREE_TEXT, E.BLANK, ACCOUNT_LIFETIME, blank="{}"),
    P("survey_responses", "text", K.FREE_TEXT, E.BLANK, ACCOUNT_LIFETIME, blank=""),
    P("suggestions_sent", "purpose", K.BEHAVIOUR, E.DELETE, "90 days (one suggestion per purpose per 90 days)"),
    P("campaign_recipients", "timezone", K.LOCATION, E.DELETE, "while the campaign's report is kept"),
    P("campaign_recipients", "locale", K.IDENTITY, E.DELETE, "while the campaign's report is kept"),
    P("idempotency_keys", "response_body", K.EVENT_DATA, E.DELETE, "TIDINGS_IDEMPOTENCY_RETENTION_DAYS (default 1)", "principal"),
)  # fmt: skip
"""Every personal column. Keep one entry a line: the lead adds other branches' tables here."""

NOT_PERSONAL: Final[dict[str, str]] = {
    "accounts": "id user_id kind currency",
    "audit_log": "id actor user_id action subject_id detail",
    "budget_alerts": "wallet_id user_id level",
    "budget_spending": "wallet_id",
    "campaign_audit": "id campaign_id action actor detail",
    "campaign_recipients": "campaign_id user_id variant conversion_event_id",
    "campaigns": "id name segment variants channels conversion status created_by freeze_cursor",
    "changes": "id title body topics ticket_ids",
    "consent_events": "id user_id channel purpose method actor",
    "contact_changes": "id user_id code_hash channel status code_event_id actor",
    "credit_applications": "id user_id product_id currency status decided_by reason line_id",
    "credit_drawdowns": "id line_id user_id currency method timezone status wallet_id entry_id",
    "credit_installments": "id drawdown_id user_id timezone status",
    "credit_limit_changes": "id line_id changed_by reason",
    "credit_lines": "id user_id product_id currency status",
    "credit_notices": "installment_id step",
    "credit_penalties": "installment_id drawdown_id line_id",
    "credit_products": "id code name currency terms methods",
    "credit_repayments": "id drawdown_id line_id user_id wallet_id currency entry_id",
    "custom_kind_changes": "id type action actor definition",
    "custom_kinds": "type category channels required_fields templates sample description status created_by updated_by",
    "deliveries": "id notification_id user_id channel status fallback fallback_of provider provider_message_id lease_owner auth_code",
    "delivery_attempts": "id delivery_id provider outcome",
    "event_receipts": "source event_id outbox_id",
    "faq_deflections": "id faq_id user_id",
    "faq_entries": "id question answer tags",
    "followup_cursors": "name position",
    "followup_seen_events": "job event_id",
    "goal_milestones": "wallet_id user_id level",
    "holds": "id account_id currency status reason",
    "idempotency_keys": "principal key request_hash",
    "inbox_items": "id user_id notification_id kind category",
    "ledger_entries": "id kind reference",
    "notifications": "id user_id event_id kind category dedup_key",
    "notify_preferences": "user_id channels kind_channels",
    "notify_templates": "id kind channel locale title body created_by approved_by activated_by",
    "outbox": "id source type subject user_id",
    "postings": "id entry_id account_id currency",
    "privacy_user_keys": "user_id",
    "rate_limit_counters": "key",
    "risk_model_observations": "transfer_id user_id outcome_source",
    "risk_models": "name signature",
    "security_changes": "id user_id kind",
    "security_logins": "id user_id risk_level reasons",
    "sla_policies": "priority",
    "step_up_verifications": "id transfer_id user_id hold_id code_hash status reasons currency code_event_id",
    "suggestions_sent": "user_id",
    "survey_invitations": "id survey_id user_id event_id",
    "survey_responses": "id invitation_id survey_id user_id",
    "surveys": "id name questions trigger_event_type",
    "ticket_messages": "id ticket_id author",
    "tickets": "id user_id channel category priority status locale",
    "transfers": "id kind status user_id source_wallet_id destination_wallet_id currency merchant_name merchant_category refund_of entry_id",
    "user_tokens": "id user_id token_hash",
    "users": "id main_wallet_id locale currency status",
    "wallet_statement_runs": "timezone",
    "wallet_statements": "id wallet_id user_id currency",
    "wallets": "id user_id account_id kind purpose currency status budget_period",
    "web_links": "id user_id token_hash",
    "web_sessions": "id kind user_id session_hash",
}  # fmt: skip
"""Text and JSON columns declared to hold no personal data (ids, codes, statuses, hashes of
random secrets, operator names); one line per table, columns separated by spaces."""


@dataclass(frozen=True, slots=True)
class Retention:
    """One thing the `privacy.retention` job removes once it has outlived its purpose: rows
    of `table` whose `clock` column is older than `as_of` less the `days_setting` (a field
    of `Settings`; None: the moment itself, e.g. an expiry) — deleted, or with `blank` set,
    that column emptied and the row kept."""

    name: str
    table: str
    clock: str
    days_setting: str | None
    blank: str | None = None


RETENTION: Final[tuple[Retention, ...]] = (
    Retention("message_bodies", "deliveries", "created_at", "message_retention_days", blank="content"),
    Retention("inbox_items", "inbox_items", "created_at", "message_retention_days"),
    Retention("logins", "security_logins", "at", "login_retention_days"),
    Retention("web_sessions", "web_sessions", "expires_at", None),
    Retention("sign_in_links", "web_links", "expires_at", None),
    Retention("tokens", "user_tokens", "expires_at", None),
    Retention("idempotent_answers", "idempotency_keys", "created_at", "idempotency_retention_days"),
)  # fmt: skip
"""Risk observations are forgotten by their own domain (`risk.learning.forget_old`), which
the retention job calls as well."""


def classified() -> set[str]:
    """Every `table.column` the registry knows, personal or not."""
    known = {f"{entry.table}.{entry.column}" for entry in PERSONAL}
    for table, columns in NOT_PERSONAL.items():
        known.update(f"{table}.{column}" for column in columns.split())
    return known


def unclassified(text_columns: set[str]) -> list[str]:
    """The `table.column` names among `text_columns` that the registry does not classify."""
    return sorted(text_columns - classified())


def by_table() -> dict[str, list[Personal]]:
    """The personal columns grouped by table, in registry order."""
    tables: dict[str, list[Personal]] = {}
    for entry in PERSONAL:
        tables.setdefault(entry.table, []).append(entry)
    return tables


def encrypted_columns() -> Iterator[Personal]:
    """The columns `tidings keys rotate` re-encrypts."""
    return (entry for entry in PERSONAL if entry.encrypted is not None)
