"""Revoked API keys: when a key was revoked (NULL while it is valid).

Revision ID: keys_0001
Revises: ledger_0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "keys_0001"
down_revision = "ledger_0001"
branch_labels = ("keys",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:  # SQLite alters by copying the table
        table.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("revoked_at")
