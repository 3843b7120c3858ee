"""wallet core

Revision ID: 0001
Revises:
Create Date: 2026-11-25 15:27:10.922712

Tables of the wallet core, and the triggers that make the database itself refuse an
unbalanced ledger entry and any change to a written posting.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.migrations.columns import (
    amounts,
    dates,
    flags,
    ids,
    integers,
    jsons,
    stamps,
    strings,
    texts,
)

revision = "0001"
down_revision = None


SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER ledger_entries_balanced BEFORE INSERT ON ledger_entries
    WHEN (SELECT COUNT(*) FROM postings WHERE entry_id = NEW.id) < 2
      OR EXISTS (SELECT 1 FROM postings WHERE entry_id = NEW.id
                 GROUP BY currency HAVING SUM(amount) <> 0)
    BEGIN SELECT RAISE(ABORT, 'unbalanced ledger entry'); END
    """,
    """
    CREATE TRIGGER postings_entry_closed BEFORE INSERT ON postings
    WHEN EXISTS (SELECT 1 FROM ledger_entries WHERE id = NEW.entry_id)
    BEGIN SELECT RAISE(ABORT, 'ledger entry is already closed'); END
    """,
    """
    CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings
    BEGIN SELECT RAISE(ABORT, 'postings are append-only'); END
    """,
    """
    CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings
    BEGIN SELECT RAISE(ABORT, 'postings are append-only'); END
    """,
]

POSTGRES_TRIGGERS = [
    """
    CREATE FUNCTION tidings_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM postings WHERE entry_id = NEW.entry_id
                 GROUP BY currency HAVING SUM(amount) <> 0) THEN
        RAISE EXCEPTION 'unbalanced ledger entry %', NEW.entry_id USING ERRCODE = '23514';
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION tidings_check_entry_balanced()
    """,
    """
    CREATE FUNCTION tidings_postings_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'postings are append-only' USING ERRCODE = '23514';
    END $$
    """,
    """
    CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION tidings_postings_append_only()
    """,
]


def _create_ledger_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS:
        op.execute(statement)


def _drop_ledger_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in (
            "ledger_entries_balanced",
            "postings_entry_closed",
            "postings_no_update",
            "postings_no_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS postings_balanced ON postings")
        op.execute("DROP TRIGGER IF EXISTS postings_append_only ON postings")
        op.execute("DROP FUNCTION IF EXISTS tidings_check_entry_balanced()")
        op.execute("DROP FUNCTION IF EXISTS tidings_postings_append_only()")


def upgrade() -> None:
    op.create_table(
        "accounts",
        *ids("id"),
        *ids("user_id", nullable=True),
        *strings(32, "kind"),
        *strings(3, "currency"),
        *amounts("balance", "held", default="0"),
        *flags("allow_negative", default="0"),
        *stamps("created_at"),
        sa.CheckConstraint(
            "allow_negative OR balance - held >= 0", name=op.f("ck_accounts_no_overdraft")
        ),
        sa.CheckConstraint("held >= 0", name=op.f("ck_accounts_held_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_user_id"), ["user_id"], unique=False)

    op.create_table(
        "idempotency_keys",
        *strings(64, "principal"),
        *strings(255, "key"),
        *strings(64, "request_hash"),
        *integers("response_status", nullable=True),
        *jsons("response_body", nullable=True),
        *stamps("created_at"),
        sa.PrimaryKeyConstraint("principal", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "ledger_entries",
        *ids("id", "kind"),
        *ids("reference", nullable=True),
        *stamps("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_table(
        "outbox",
        *ids("id"),
        *strings(255, "source"),
        *strings(80, "type"),
        *strings(255, "subject", nullable=True),
        *ids("user_id", nullable=True),
        *stamps("time"),
        *jsons("data"),
        *stamps("relayed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_relayed_at_id", ["relayed_at", "id"], unique=False)
        batch_op.create_index("ix_outbox_user_id", ["user_id"], unique=False)

    op.create_table(
        "users",
        *ids("id", "main_wallet_id"),
        *texts("external_id_enc"),
        *strings(64, "external_id_hash"),
        *texts("name_enc"),
        *texts("phone_enc", nullable=True),
        *strings(64, "phone_hash", nullable=True),
        *texts("email_enc", nullable=True),
        *strings(64, "email_hash", nullable=True),
        *strings(16, "locale"),
        *strings(64, "timezone"),
        *strings(3, "currency"),
        *amounts("low_balance_threshold"),
        *stamps("created_at", "updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("external_id_hash", name=op.f("uq_users_external_id_hash")),
        sa.UniqueConstraint("main_wallet_id", name=op.f("uq_users_main_wallet_id")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_email_hash"), ["email_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_users_phone_hash"), ["phone_hash"], unique=False)

    op.create_table(
        "holds",
        *ids("id", "account_id"),
        *amounts("amount"),
        *strings(3, "currency"),
        *strings(16, "status"),
        *texts("reason"),
        *stamps("expires_at", nullable=True),
        *stamps("created_at"),
        *stamps("settled_at", nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_holds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_holds_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
    )
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_holds_account_id"), ["account_id"], unique=False)

    op.create_table(
        "postings",
        *ids("id", "entry_id", "account_id"),
        *amounts("amount"),
        *strings(3, "currency"),
        *amounts("balance_after"),
        *stamps("created_at"),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_postings_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_postings_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_postings_entry_id_ledger_entries"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postings")),
    )
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.create_index("ix_postings_account_id_id", ["account_id", "id"], unique=False)
        batch_op.create_index("ix_postings_entry_id", ["entry_id"], unique=False)

    op.create_table(
        "user_tokens",
        *ids("id", "user_id"),
        *strings(64, "token_hash"),
        *stamps("created_at", "expires_at"),
        *stamps("revoked_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_tokens_token_hash")),
    )
    with op.batch_alter_table("user_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_user_tokens_user_id", ["user_id"], unique=False)

    op.create_table(
        "wallets",
        *ids("id", "user_id", "account_id"),
        *strings(8, "kind"),
        *strings(100, "name"),
        *strings(16, "purpose"),
        *strings(3, "currency"),
        *strings(8, "status"),
        *amounts("budget_limit", nullable=True),
        *strings(8, "budget_period", nullable=True),
        *amounts("goal_target", nullable=True),
        *dates("goal_by", nullable=True),
        *stamps("created_at"),
        *stamps("closed_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_wallets_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_wallets_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallets")),
        sa.UniqueConstraint("account_id", name=op.f("uq_wallets_account_id")),
    )
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wallets_user_id"), ["user_id"], unique=False)

    op.create_table(
        "transfers",
        *ids("id"),
        *strings(16, "kind"),
        *strings(24, "status"),
        *ids("user_id"),
        *ids("source_wallet_id", "destination_wallet_id", nullable=True),
        *amounts("amount"),
        *strings(3, "currency"),
        *strings(200, "merchant_name", nullable=True),
        *strings(4, "merchant_category", nullable=True),
        *ids("refund_of", nullable=True),
        *amounts("refunded_amount", default="0"),
        *texts("memo", nullable=True),
        *ids("entry_id", nullable=True),
        *stamps("created_at"),
        sa.CheckConstraint("amount > 0", name=op.f("ck_transfers_amount_positive")),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount",
            name=op.f("ck_transfers_refund_bounds"),
        ),
        sa.ForeignKeyConstraint(
            ["destination_wallet_id"],
            ["wallets.id"],
            name=op.f("fk_transfers_destination_wallet_id_wallets"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name=op.f("fk_transfers_entry_id_ledger_entries")
        ),
        sa.ForeignKeyConstraint(
            ["refund_of"], ["transfers.id"], name=op.f("fk_transfers_refund_of_transfers")
        ),
        sa.ForeignKeyConstraint(
            ["source_wallet_id"], ["wallets.id"], name=op.f("fk_transfers_source_wallet_id_wallets")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_transfers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
    )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.create_index("ix_transfers_refund_of", ["refund_of"], unique=False)
        batch_op.create_index("ix_transfers_user_id_id", ["user_id", "id"], unique=False)

    _create_ledger_triggers()


def downgrade() -> None:
    _drop_ledger_triggers()
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_transfers_user_id_id")
        batch_op.drop_index("ix_transfers_refund_of")

    op.drop_table("transfers")
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallets_user_id"))

    op.drop_table("wallets")
    with op.batch_alter_table("user_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_user_tokens_user_id")

    op.drop_table("user_tokens")
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_index("ix_postings_entry_id")
        batch_op.drop_index("ix_postings_account_id_id")

    op.drop_table("postings")
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_holds_account_id"))

    op.drop_table("holds")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_phone_hash"))
        batch_op.drop_index(batch_op.f("ix_users_email_hash"))

    op.drop_table("users")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_user_id")
        batch_op.drop_index("ix_outbox_relayed_at_id")

    op.drop_table("outbox")
    op.drop_table("ledger_entries")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_user_id"))

    op.drop_table("accounts")
