"""Takedowns: which listings are down, when and why (a projection of `listing_taken_down`).

Listings that review verdicts took down before this revision are filled in by replaying
their events, so that `ledger verify` agrees with the new table from the start.

Revision ID: ledger_0002
Revises: ledger_0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.ledger.events import EventType
from serving.ledger.store import events_table, row_event
from serving.ledger.takedowns import TakedownProjection

revision = "ledger_0002"
down_revision = "ledger_0001"
branch_labels = ("takedowns",)
depends_on = None

ID = sa.String(200)


def upgrade() -> None:
    op.create_table(
        "ledger_takedowns",
        sa.Column("listing_id", ID, primary_key=True),
        sa.Column("seller_id", ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False, unique=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", ID, nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_ledger_takedowns_seller", "ledger_takedowns", ["seller_id"])
    conn, projection = op.get_bind(), TakedownProjection()
    events = conn.execute(sa.select(events_table).where(
        events_table.c.type == str(EventType.LISTING_TAKEN_DOWN)).order_by(events_table.c.seq))
    for row in events.all():
        projection.apply(conn, row_event(row))


def downgrade() -> None:
    op.drop_table("ledger_takedowns")
