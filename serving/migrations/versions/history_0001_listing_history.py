"""The scoring service's online seller history: sellers and the listings it has seen.

Revision ID: history_0001
Revises: ledger_0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "history_0001"
down_revision = "ledger_0001"
branch_labels = ("history",)
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: the rowid, autoincrementing
HISTORY_INDEX = ("seller_id", "created_at_ns", "listing_id", "brand", "category", "price",
                 "currency", "quantity", "ships_from", "image_count")


def upgrade() -> None:
    op.create_table(
        "history_sellers",
        sa.Column("seller_id", sa.Text(), primary_key=True),
        sa.Column("registered_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("business_verified", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "history_listings",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("listing_id", sa.Text(), nullable=False, unique=True),
        sa.Column("seller_id", sa.Text(), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("brand", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("price", sa.Float(precision=53), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("ships_from", sa.Text(), nullable=False),
        sa.Column("image_count", sa.BigInteger(), nullable=False),
    )
    # Covers every column seller history reads, so a seller's history is one index range
    # scan (about half the time of index + table lookups); titles stay in the table.
    op.create_index("ix_history_listings_seller", "history_listings", list(HISTORY_INDEX))


def downgrade() -> None:
    op.drop_index("ix_history_listings_seller", "history_listings")
    op.drop_table("history_listings")
    op.drop_table("history_sellers")
