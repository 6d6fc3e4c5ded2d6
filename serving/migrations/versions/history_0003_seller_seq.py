"""Stored sellers in the order they were written: the ring index reads the new ones alone.

Every few seconds each worker's ring index picks up the sellers other replicas stored.
It used to count the sellers table and, when the count had moved, read every seller
again and look for the unseen ones: 2-3 s per look at 200,000 sellers
(bench/ring_refresh.py), a stall of the worker's scoring. Now it reads the sellers
written after the last one it saw.

SQLite numbers a table's rows already (its rowid; a new row's is above every earlier
one's, and sellers are never deleted), so only PostgreSQL gets a column: `seq`, filled
by a sequence, the sellers already stored numbered in no particular order.

Revision ID: history_0003
Revises: history_0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "history_0003"
down_revision = "history_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE history_sellers ADD COLUMN seq BIGSERIAL")
        op.create_index("ix_history_sellers_seq", "history_sellers", ["seq"], unique=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_history_sellers_seq", "history_sellers")
        op.execute("ALTER TABLE history_sellers DROP COLUMN seq")
