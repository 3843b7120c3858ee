"""Security and risk tables: logins, security changes, step-up verifications, audit, limits,
and the online model's observations and state.

No raw personal data: device ids and IP addresses are stored as keyed hashes (enough to tell
"seen before" from "new"), cities as the app reported them (coarse, needed for travel checks).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tidings.kit.ratelimit import rate_limit_counters as rate_limit_counters  # lives in kit now
from tidings.kit.tables import (
    Id,
    Json,
    Timestamp,
    id_column,
    metadata,
    money_columns,
    optional_columns,
    owner_column,
    required_columns,
)

security_logins = Table(
    "security_logins",
    metadata,
    id_column(),
    owner_column(),
    *required_columns(String(64), "device_hash", "ip_hash"),
    *optional_columns(String(100), "city", "country"),
    Column("user_agent", String(200)),
    *required_columns(Boolean, "new_device", "new_location"),
    Column("risk_level", String(8), nullable=False),
    Column("reasons", Json, nullable=False),
    *required_columns(Timestamp, "at", "created_at"),
    Index("ix_security_logins_user_id_at", "user_id", "at"),
    Index("ix_security_logins_user_id_device_hash", "user_id", "device_hash"),
)
"""Logins the app reported; the detectors compare each with the user's earlier ones."""

security_changes = Table(
    "security_changes",
    metadata,
    id_column(),
    owner_column(),
    Column("kind", String(16), nullable=False),
    *required_columns(Timestamp, "at", "created_at"),
    Index("ix_security_changes_user_id_at", "user_id", "at"),
)
"""Password, phone and email changes and new payees: a large transfer soon after is suspicious."""

step_up_verifications = Table(
    "step_up_verifications",
    metadata,
    id_column(),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=False),
    owner_column(),
    Column("hold_id", Id, ForeignKey("holds.id"), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("attempts_left", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("score", Integer, nullable=False),
    Column("reasons", Json, nullable=False),
    *money_columns(),
    *required_columns(Timestamp, "code_expires_at", "expires_at", "created_at"),
    Column("settled_at", Timestamp),
    # The outbox event that carries the sealed code, blanked once the code is spent.
    Column("code_event_id", Id),
    UniqueConstraint("transfer_id", name="uq_step_up_verifications_transfer_id"),
    CheckConstraint("attempts_left >= 0", name="attempts_non_negative"),
    Index("ix_step_up_verifications_status_expires_at", "status", "expires_at"),
)
"""One per held transfer: the hashed one-time code, attempts left, and how it ended."""

contact_changes = Table(
    "contact_changes",
    metadata,
    id_column(),
    owner_column(),
    *optional_columns(Text, "phone_enc", "email_enc"),
    Column("code_hash", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("attempts_left", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("code_event_id", Id),
    Column("actor", String(40), nullable=False),
    *required_columns(Timestamp, "expires_at", "created_at"),
    Column("settled_at", Timestamp),
    CheckConstraint("attempts_left >= 0", name="attempts_non_negative"),
    Index("ix_contact_changes_user_id_created_at", "user_id", "created_at"),
)
"""A phone or email change waiting for the code sent to the current contact: the new values
sealed, the code as a keyed hash, attempts left, and how it ended."""

audit_log = Table(
    "audit_log",
    metadata,
    id_column(),
    Column("at", Timestamp, nullable=False),
    Column("actor", String(40), nullable=False),
    Column("user_id", Id),
    Column("action", String(40), nullable=False),
    Column("subject_id", String(40)),
    Column("ip_hash", String(64)),
    Column("detail", Json, nullable=False),
    Index("ix_audit_log_user_id_id", "user_id", "id"),
)
"""Who did what to whose account, and when; ids, levels and reasons, never personal data."""

risk_model_observations = Table(
    "risk_model_observations",
    metadata,
    Column("transfer_id", Id, primary_key=True),
    owner_column(),
    Column("features", Json, nullable=False),
    Column("probability", Float, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("fraudulent", Boolean),
    Column("outcome_source", String(16)),
    *optional_columns(Timestamp, "outcome_at", "learned_at"),
    Index("ix_risk_model_observations_learned_at_created_at", "learned_at", "created_at"),
)
"""What the online model saw when it scored a transfer (scale-free numbers, no personal data),
and the outcome once confirmed: the learning job trains on these rows in order."""

risk_models = Table(
    "risk_models",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("state", LargeBinary, nullable=False),
    Column("signature", String(64), nullable=False),
    *required_columns(Integer, "outcomes_learned", "version"),
    Column("updated_at", Timestamp, nullable=False),
)
"""The online model's learned state, sealed with an HMAC under a server key so that only
state this service wrote is ever loaded; every process scores with the latest version."""
