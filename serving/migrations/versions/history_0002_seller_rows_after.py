"""An index on (seller_id, seq): a seller's rows written after a given one, in one seek.

The service's history cache asks, on every request, for the rows each seller gained since
it last looked (`seq > last seen`). The covering index leads with (seller_id,
created_at_ns), so that question walked every row of the seller: about 0.3 ms for a
16-seller request of big sellers on SQLite, against 0.03 ms with this index. PostgreSQL
counts a seller's rows and their highest seq from it as well.

Revision ID: history_0002
Revises: history_0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "history_0002"
down_revision = "history_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_history_listings_seller_seq", "history_listings", ["seller_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_history_listings_seller_seq", "history_listings")
