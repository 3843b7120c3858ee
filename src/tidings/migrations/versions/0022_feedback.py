"""feedback: surveys and invitations, tickets with SLA deadlines, SLA policies (seeded),
the knowledge base, published changes, and the follow-up jobs' outbox cursors

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

TABLES = (
    "ticket_messages",
    "survey_responses",
    "tickets",
    "survey_invitations",
    "faq_deflections",
    "surveys",
    "sla_policies",
    "followup_seen_events",
    "followup_cursors",
    "faq_entries",
    "changes",
)

POLICIES = [
    # priority, first response, resolution (minutes; business time unless around the clock)
    {
        "priority": "urgent",
        "first_response_minutes": 60,
        "resolution_minutes": 480,
        "around_the_clock": True,
    },
    {
        "priority": "high",
        "first_response_minutes": 120,
        "resolution_minutes": 540,
        "around_the_clock": False,
    },
    {
        "priority": "normal",
        "first_response_minutes": 240,
        "resolution_minutes": 1620,
        "around_the_clock": False,
    },
    {
        "priority": "low",
        "first_response_minutes": 480,
        "resolution_minutes": 2700,
        "around_the_clock": False,
    },
]


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "title",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "body",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "topics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "ticket_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changes")),
    )
    op.create_index(op.f("ix_changes_published_at"), "changes", ["published_at"], unique=False)
    op.create_table(
        "faq_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "question",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "answer",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_entries")),
    )
    op.create_table(
        "followup_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_followup_cursors")),
    )
    op.create_table(
        "followup_seen_events",
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("job", "event_id", name=op.f("pk_followup_seen_events")),
    )
    op.create_table(
        "sla_policies",
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=False),
        sa.Column("resolution_minutes", sa.Integer(), nullable=False),
        sa.Column("around_the_clock", sa.Boolean(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "first_response_minutes > 0 AND resolution_minutes > 0",
            name=op.f("ck_sla_policies_positive"),
        ),
        sa.PrimaryKeyConstraint("priority", name=op.f("pk_sla_policies")),
    )
    op.create_table(
        "surveys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("trigger_event_type", sa.String(length=80), nullable=False),
        sa.Column("sample_bp", sa.Integer(), nullable=False),
        sa.Column("recontact_days", sa.Integer(), nullable=False),
        sa.Column("expires_days", sa.Integer(), nullable=False),
        sa.Column(
            "questions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "sample_bp >= 0 AND sample_bp <= 10000", name=op.f("ck_surveys_sample_bounds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
    )
    op.create_index(
        op.f("ix_surveys_trigger_event_type"), "surveys", ["trigger_event_type"], unique=False
    )
    op.create_table(
        "faq_deflections",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("faq_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["faq_id"], ["faq_entries.id"], name=op.f("fk_faq_deflections_faq_id_faq_entries")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_faq_deflections_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_deflections")),
    )
    op.create_index(
        op.f("ix_faq_deflections_created_at"), "faq_deflections", ["created_at"], unique=False
    )
    op.create_table(
        "survey_invitations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_survey_invitations_survey_id_surveys")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_survey_invitations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_invitations")),
        sa.UniqueConstraint("survey_id", "event_id", name="one_per_event"),
    )
    op.create_index(
        "ix_survey_invitations_user_created",
        "survey_invitations",
        ["user_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_response_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auto_closed", sa.Boolean(), server_default="0", nullable=False),
        sa.Column(
            "first_response_breached_at",
            sa.DateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("resolution_breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_tickets_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    op.create_index(op.f("ix_tickets_created_at"), "tickets", ["created_at"], unique=False)
    op.create_index("ix_tickets_status_due", "tickets", ["status", "resolution_due"], unique=False)
    op.create_index(op.f("ix_tickets_user_id"), "tickets", ["user_id"], unique=False)
    op.create_table(
        "survey_responses",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("invitation_id", sa.String(length=32), nullable=False),
        sa.Column("survey_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column(
            "answers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["survey_invitations.id"],
            name=op.f("fk_survey_responses_invitation_id_survey_invitations"),
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_survey_responses_survey_id_surveys")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_survey_responses_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_responses")),
        sa.UniqueConstraint("invitation_id", name=op.f("uq_survey_responses_invitation_id")),
    )
    op.create_index(
        op.f("ix_survey_responses_created_at"), "survey_responses", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_survey_responses_survey_id"), "survey_responses", ["survey_id"], unique=False
    )
    op.create_table(
        "ticket_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.String(length=32), nullable=False),
        sa.Column("author", sa.String(length=8), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_messages_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_messages")),
    )
    op.create_index(
        op.f("ix_ticket_messages_ticket_id"), "ticket_messages", ["ticket_id"], unique=False
    )
    policies = sa.table(
        "sla_policies",
        sa.column("priority", sa.String),
        sa.column("first_response_minutes", sa.Integer),
        sa.column("resolution_minutes", sa.Integer),
        sa.column("around_the_clock", sa.Boolean),
    )
    op.bulk_insert(policies, POLICIES)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
