"""Alembic environment: migrate the connection that `LedgerStore` hands over.

The store runs `upgrade head` itself when it opens, inside its write lock, so users
never run Alembic. Developers can still run it against a URL:
`alembic -x url=sqlite:///ledger.sqlite -c /dev/null upgrade head` with
`script_location` pointing here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from serving.ledger.store import SCHEMA_VERSION_TABLE, metadata

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=SCHEMA_VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    # The store already opened the transaction (and holds the lock); Alembic joins it.
    with context.begin_transaction():
        context.run_migrations()


handed_over = config.attributes.get("connection")
if handed_over is not None:
    run(handed_over)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url")
    if not url:
        raise SystemExit("give the database as `-x url=...` or sqlalchemy.url")
    with sa.create_engine(url).begin() as conn:
        run(conn)
