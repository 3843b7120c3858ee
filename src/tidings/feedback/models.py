"""Follow-up (回访) tables: surveys and their invitations and answers, tickets with their
messages and SLA deadlines, SLA policies (data, seeded by the migration), the knowledge
base, published changes, and the cursors of the jobs that read the outbox."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tidings.kit.tables import (
    Id,
    Json,
    Timestamp,
    id_column,
    metadata,
    optional_columns,
    owner_column,
    required_columns,
)

surveys = Table(
    "surveys",
    metadata,
    id_column(),
    Column("name", String(200), nullable=False),
    Column("trigger_event_type", String(80), nullable=False, index=True),
    *required_columns(Integer, "sample_bp", "recontact_days", "expires_days"),
    Column("questions", Json, nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", Timestamp, nullable=False),
    CheckConstraint("sample_bp >= 0 AND sample_bp <= 10000", name="sample_bounds"),
)
"""A survey: its questions and who is asked (a trigger event type, a sticky sample)."""

survey_invitations = Table(
    "survey_invitations",
    metadata,
    id_column(),
    Column("survey_id", Id, ForeignKey("surveys.id"), nullable=False),
    owner_column(),
    Column("event_id", Id, nullable=False),
    *required_columns(Timestamp, "created_at", "expires_at"),
    Column("answered_at", Timestamp),
    UniqueConstraint("survey_id", "event_id", name="one_per_event"),
    Index("ix_survey_invitations_user_created", "user_id", "created_at"),
)

survey_responses = Table(
    "survey_responses",
    metadata,
    id_column(),
    Column("invitation_id", Id, ForeignKey("survey_invitations.id"), nullable=False, unique=True),
    Column("survey_id", Id, ForeignKey("surveys.id"), nullable=False, index=True),
    owner_column(),
    Column("answers", Json, nullable=False),
    Column("text", Text, nullable=False, server_default=""),
    Column("created_at", Timestamp, nullable=False, index=True),
)
"""One answer per invitation (the unique invitation id is the guard)."""

outbox_cursors = Table(
    "followup_cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", String(32), nullable=False),
)
"""How far a follow-up job has read the outbox (an outbox id; ids are time ordered)."""

outbox_seen = Table(
    "followup_seen_events",
    metadata,
    Column("job", String(32), primary_key=True),
    Column("event_id", Id, primary_key=True),
)
"""Events a job has handled, so re-reading a little behind the cursor (late commits) does
nothing twice."""

sla_policies = Table(
    "sla_policies",
    metadata,
    Column("priority", String(16), primary_key=True),
    *required_columns(Integer, "first_response_minutes", "resolution_minutes"),
    Column("around_the_clock", Boolean, nullable=False, server_default="0"),
    CheckConstraint("first_response_minutes > 0 AND resolution_minutes > 0", name="positive"),
)
"""Targets per priority, in business minutes (wall-clock minutes when around the clock)."""

tickets = Table(
    "tickets",
    metadata,
    id_column(),
    owner_column(index=True),
    Column("channel", String(8), nullable=False),
    Column("subject", String(200)),
    Column("body", Text, nullable=False),
    Column("category", String(16), nullable=False),
    Column("priority", String(8), nullable=False),
    Column("status", String(12), nullable=False),
    Column("locale", String(16), nullable=False),
    Column("created_at", Timestamp, nullable=False, index=True),
    *required_columns(Timestamp, "updated_at", "first_response_due", "resolution_due"),
    *optional_columns(Timestamp, "first_response_at", "resolved_at", "closed_at"),
    Column("auto_closed", Boolean, nullable=False, server_default="0"),
    *optional_columns(Timestamp, "first_response_breached_at", "resolution_breached_at"),
    Index("ix_tickets_status_due", "status", "resolution_due"),
)

ticket_messages = Table(
    "ticket_messages",
    metadata,
    id_column(),
    Column("ticket_id", Id, ForeignKey("tickets.id"), nullable=False, index=True),
    Column("author", String(8), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
)

faq_entries = Table(
    "faq_entries",
    metadata,
    id_column(),
    *required_columns(Json, "question", "answer", "tags"),
    Column("created_at", Timestamp, nullable=False),
)
"""The knowledge base: a question and its answer in zh-CN (and en)."""

deflections = Table(
    "faq_deflections",
    metadata,
    id_column(),
    owner_column(),
    Column("faq_id", Id, ForeignKey("faq_entries.id"), nullable=False),
    Column("created_at", Timestamp, nullable=False, index=True),
)
"""A user who read a suggested FAQ answer instead of opening a ticket (counted)."""

changes = Table(
    "changes",
    metadata,
    id_column(),
    *required_columns(Json, "title", "body", "topics", "ticket_ids"),
    Column("published_at", Timestamp, nullable=False, index=True),
)
"""What we changed because of feedback (public)."""
