"""feedback: surveys and invitations, tickets with SLA deadlines, SLA policies (seeded),
the knowledge base, published changes, and the follow-up jobs' outbox cursors

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import flags, ids, integers, jsons, stamps, strings, texts

revision = "0022"
down_revision = "0021"

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
        *ids("id"),
        *jsons("title", "body", "topics", "ticket_ids"),
        *stamps("published_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changes")),
    )
    op.create_index(op.f("ix_changes_published_at"), "changes", ["published_at"], unique=False)
    op.create_table(
        "faq_entries",
        *ids("id"),
        *jsons("question", "answer", "tags"),
        *stamps("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_entries")),
    )
    op.create_table(
        "followup_cursors",
        *strings(64, "name"),
        *ids("position"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_followup_cursors")),
    )
    op.create_table(
        "followup_seen_events",
        *strings(32, "job"),
        *ids("event_id"),
        sa.PrimaryKeyConstraint("job", "event_id", name=op.f("pk_followup_seen_events")),
    )
    op.create_table(
        "sla_policies",
        *strings(16, "priority"),
        *integers("first_response_minutes", "resolution_minutes"),
        *flags("around_the_clock", default="0"),
        sa.CheckConstraint(
            "first_response_minutes > 0 AND resolution_minutes > 0",
            name=op.f("ck_sla_policies_positive"),
        ),
        sa.PrimaryKeyConstraint("priority", name=op.f("pk_sla_policies")),
    )
    op.create_table(
        "surveys",
        *ids("id"),
        *strings(200, "name"),
        *strings(80, "trigger_event_type"),
        *integers("sample_bp", "recontact_days", "expires_days"),
        *jsons("questions"),
        *flags("active", default="1"),
        *stamps("created_at"),
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
        *ids("id", "user_id", "faq_id"),
        *stamps("created_at"),
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
        *ids("id", "survey_id", "user_id", "event_id"),
        *stamps("created_at", "expires_at"),
        *stamps("answered_at", nullable=True),
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
        *ids("id", "user_id"),
        *strings(8, "channel"),
        *strings(200, "subject", nullable=True),
        *texts("body"),
        *strings(16, "category"),
        *strings(8, "priority"),
        *strings(12, "status"),
        *strings(16, "locale"),
        *stamps("created_at", "updated_at", "first_response_due", "resolution_due"),
        *stamps("first_response_at", "resolved_at", "closed_at", nullable=True),
        *flags("auto_closed", default="0"),
        *stamps("first_response_breached_at", "resolution_breached_at", nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_tickets_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    op.create_index(op.f("ix_tickets_created_at"), "tickets", ["created_at"], unique=False)
    op.create_index("ix_tickets_status_due", "tickets", ["status", "resolution_due"], unique=False)
    op.create_index(op.f("ix_tickets_user_id"), "tickets", ["user_id"], unique=False)
    op.create_table(
        "survey_responses",
        *ids("id", "invitation_id", "survey_id", "user_id"),
        *jsons("answers"),
        *texts("text", default=""),
        *stamps("created_at"),
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
        *ids("id", "ticket_id"),
        *strings(8, "author"),
        *texts("body"),
        *stamps("created_at"),
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
