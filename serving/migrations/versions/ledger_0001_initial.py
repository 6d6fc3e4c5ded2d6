"""The strike ledger: the append-only event log, its projections and the API keys.

Revision ID: ledger_0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_0001"
down_revision = None
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = sa.String(200)
TIME = sa.DateTime(timezone=True)

APPEND_ONLY_PG = """
CREATE FUNCTION ledger_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger_events is append-only: % refused', TG_OP;
END $$;
CREATE TRIGGER ledger_events_no_update BEFORE UPDATE OR DELETE ON ledger_events
  FOR EACH ROW EXECUTE FUNCTION ledger_events_append_only();
CREATE TRIGGER ledger_events_no_truncate BEFORE TRUNCATE ON ledger_events
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_append_only();
"""

APPEND_ONLY_SQLITE = (
    "CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events "
    "BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only: UPDATE refused'); END",
    "CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events "
    "BEGIN SELECT RAISE(ABORT, 'ledger_events is append-only: DELETE refused'); END",
)


def upgrade() -> None:
    op.create_table(
        "ledger_events",
        sa.Column("seq", BIGINT, primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", ID, nullable=False),
        sa.Column("seller_id", ID),
        sa.Column("brand", ID),
        sa.Column("listing_id", ID),
        sa.Column("complaint_id", ID),
        sa.Column("case_id", ID),
        sa.Column("reason", sa.Text()),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_ledger_events_seller", "ledger_events", ["seller_id", "seq"])
    op.create_index("ix_ledger_events_complaint", "ledger_events", ["complaint_id"])
    op.create_index("ix_ledger_events_case", "ledger_events", ["case_id"])

    op.create_table(
        "ledger_complaints",
        sa.Column("complaint_id", ID, primary_key=True),
        sa.Column("listing_id", ID, nullable=False),
        sa.Column("seller_id", ID, nullable=False),
        sa.Column("brand", ID, nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("filed_at", TIME, nullable=False),
        sa.Column("filed_by", ID, nullable=False),
        sa.Column("filed_seq", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", ID),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolved_at", TIME),
        sa.Column("decided_by", ID),
        sa.Column("note", sa.Text()),
        sa.Column("decided_seq", sa.BigInteger()),
        sa.UniqueConstraint("brand", "idempotency_key", name="uq_ledger_complaints_idempotency"),
    )
    op.create_index("ix_ledger_complaints_seller", "ledger_complaints", ["seller_id"])

    op.create_table(
        "ledger_strikes",
        sa.Column("seller_id", ID, primary_key=True),
        sa.Column("listing_id", ID, primary_key=True),
        sa.Column("brand", ID, primary_key=True),
        sa.Column("complaint_id", ID, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "ledger_freezes",
        sa.Column("frozen_seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("seller_id", ID, nullable=False),
        sa.Column("frozen_at", TIME, nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("caused_by", sa.Text(), nullable=False),
        sa.Column("lifted_seq", sa.BigInteger()),
        sa.Column("lifted_at", TIME),
        sa.Column("lifted_by", ID),
        sa.Column("lift_reason", sa.Text()),
    )
    op.create_index("ix_ledger_freezes_seller", "ledger_freezes", ["seller_id", "lifted_seq"])

    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("brand", ID),
        sa.Column("created_at", TIME, nullable=False),
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_PG)
    else:
        for statement in APPEND_ONLY_SQLITE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_events_no_truncate ON ledger_events")
        op.execute("DROP TRIGGER ledger_events_no_update ON ledger_events")
        op.execute("DROP FUNCTION ledger_events_append_only()")
    for table in ("api_keys", "ledger_freezes", "ledger_strikes", "ledger_complaints",
                  "ledger_events"):
        op.drop_table(table)
