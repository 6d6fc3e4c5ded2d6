"""The review queue: review cases and the complaints each carries (projections of events).

A ledger that already holds events gets its cases by replaying them through the case
projection, so that `ledger verify` agrees with the new tables from the start.

Revision ID: queue_0001
Revises: ledger_0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.ledger.cases import CaseProjection
from serving.ledger.store import events_table, row_event

revision = "queue_0001"
down_revision = "ledger_0001"
branch_labels = ("queue",)
depends_on = None

BACKFILL_BATCH = 5000
BIGINT = sa.BigInteger()
ID = sa.String(200)
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "review_cases",
        sa.Column("case_id", ID, primary_key=True),
        sa.Column("listing_id", ID, nullable=False),
        sa.Column("seller_id", ID, nullable=False),
        sa.Column("brand", ID),
        sa.Column("category", ID),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("band", sa.String(16)),
        sa.Column("score", sa.Float()),
        sa.Column("harm_usd", sa.Float()),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("scored", sa.Boolean(), nullable=False),
        sa.Column("complaint_count", sa.Integer(), nullable=False),
        sa.Column("pending_count", sa.Integer(), nullable=False),
        sa.Column("opened_at", TIME, nullable=False),
        sa.Column("opened_epoch_s", sa.Float(), nullable=False),
        sa.Column("opened_seq", BIGINT, nullable=False),
        sa.Column("scored_at", TIME),
        sa.Column("model_version", ID),
        sa.Column("snapshot", sa.Text()),
        sa.Column("claimed_by", ID),
        sa.Column("lease_expires_at", TIME),
        sa.Column("decision", sa.String(20)),
        sa.Column("decided_by", ID),
        sa.Column("decided_at", TIME),
        sa.Column("note", sa.Text()),
        sa.Column("updated_seq", BIGINT, nullable=False),
    )
    op.create_index("ix_review_cases_queue", "review_cases", ["status", "tier"])
    op.create_index("ix_review_cases_listing", "review_cases", ["listing_id", "status"])
    op.create_index("ix_review_cases_seller", "review_cases", ["seller_id"])

    op.create_table(
        "review_case_complaints",
        sa.Column("complaint_id", ID, primary_key=True),
        sa.Column("case_id", ID, nullable=False),
    )
    op.create_index("ix_review_case_complaints_case", "review_case_complaints", ["case_id"])
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    projection, after = CaseProjection(), 0
    while True:
        rows = conn.execute(sa.select(events_table).where(events_table.c.seq > after)
                            .order_by(events_table.c.seq).limit(BACKFILL_BATCH)).all()
        for row in rows:
            projection.apply(conn, row_event(row))
        if len(rows) < BACKFILL_BATCH:
            return
        after = rows[-1].seq


def downgrade() -> None:
    op.drop_table("review_case_complaints")
    op.drop_table("review_cases")
