"""The ledger's database: tables, engine setup, migrations and serialized write transactions.

One code path for SQLite and PostgreSQL (SQLAlchemy 2 Core). Every write runs in one
transaction that first takes the ledger's single write lock (`BEGIN IMMEDIATE` on SQLite,
a transaction-scoped advisory lock on PostgreSQL), so the event sequence is gap-free and
cannot fork, and since no writer ever waits for a second lock, writers cannot deadlock.
Busy and serialization errors are retried with jittered backoff, a bounded number of times.

`ledger_events` is append-only (database triggers refuse UPDATE and DELETE). The other
ledger tables are projections: caches of state derived from the events, updated in the
same transaction, rebuildable and checked by replaying the events (`compare_projections`).
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from serving.ledger.checkpoints import WalCheckpointer, no_autocheckpoint
from serving.ledger.events import (
    GENESIS_HASH,
    Event,
    EventType,
    RecordedEvent,
    canonical_json,
    format_time,
    seal,
)

T = TypeVar("T")

MIGRATIONS_PATH = Path(__file__).resolve().parents[1] / "migrations"
SCHEMA_VERSION_TABLE = "strikeout_schema_version"
WRITE_LOCK_KEY = 0x5354524B45  # pg_advisory_xact_lock key of the event chain ("STRKE")
MIGRATION_LOCK_KEY = 0x5354524B4D  # a different key so migrations never wait on writers
RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock
_WRITE = "strikeout_write"


class UtcDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone, so store UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; give it a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _id(name: str, **kw: Any) -> sa.Column:
    return sa.Column(name, sa.String(200), **kw)


metadata = sa.MetaData()

events_table = sa.Table(
    "ledger_events",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    _id("actor", nullable=False),
    _id("seller_id"),
    _id("brand"),
    _id("listing_id"),
    _id("complaint_id"),
    _id("case_id"),
    sa.Column("reason", sa.Text()),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_ledger_events_seller", "seller_id", "seq"),
    sa.Index("ix_ledger_events_complaint", "complaint_id"),
    sa.Index("ix_ledger_events_case", "case_id"),
)

complaints_table = sa.Table(
    "ledger_complaints",
    metadata,
    _id("complaint_id", primary_key=True),
    _id("listing_id", nullable=False),
    _id("seller_id", nullable=False),
    _id("brand", nullable=False),
    sa.Column("reason", sa.Text()),
    sa.Column("filed_at", UtcDateTime(), nullable=False),
    _id("filed_by", nullable=False),
    sa.Column("filed_seq", sa.BigInteger(), nullable=False),
    _id("idempotency_key"),
    sa.Column("request_hash", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("resolved_at", UtcDateTime()),
    _id("decided_by"),
    sa.Column("note", sa.Text()),
    sa.Column("decided_seq", sa.BigInteger()),
    sa.UniqueConstraint("brand", "idempotency_key", name="uq_ledger_complaints_idempotency"),
    sa.Index("ix_ledger_complaints_seller", "seller_id"),
)

strikes_table = sa.Table(
    "ledger_strikes",
    metadata,
    _id("seller_id", primary_key=True),
    _id("listing_id", primary_key=True),
    _id("brand", primary_key=True),
    _id("complaint_id", nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
)

freezes_table = sa.Table(
    "ledger_freezes",
    metadata,
    sa.Column("frozen_seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    _id("seller_id", nullable=False),
    sa.Column("frozen_at", UtcDateTime(), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("caused_by", sa.Text(), nullable=False),
    sa.Column("lifted_seq", sa.BigInteger()),
    sa.Column("lifted_at", UtcDateTime()),
    _id("lifted_by"),
    sa.Column("lift_reason", sa.Text()),
    sa.Index("ix_ledger_freezes_seller", "seller_id", "lifted_seq"),
)

api_keys_table = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    _id("brand"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime()),  # NULL while the key is valid
)


class Projection(Protocol):
    """State derived from events, kept in `tables` and updated by `apply` inside the write.

    The extension point for the review queue: a projection registered with the store
    sees every appended event in the same transaction, and `verify` replays all events
    through it into a scratch database to check its tables.
    """

    @property
    def tables(self) -> tuple[sa.Table, ...]: ...

    def apply(self, conn: Connection, event: RecordedEvent) -> None: ...


# A database's errors as SQLAlchemy raises them, and as the drivers' own cursors do (the
# request path's hottest statements run through those).
DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, sqlite3.Error, psycopg.Error)


class LedgerBusyError(RuntimeError):
    """The write lock could not be had after every allowed attempt."""


@dataclass
class WriteTx:
    """One serialized write: read what you need through `conn`, then `append` events."""

    conn: Connection
    head_seq: int
    head_hash: str
    projections: Sequence[Projection]
    appended: list[RecordedEvent] = field(default_factory=list)

    def append(self, event: Event) -> RecordedEvent:
        recorded = seal(event, self.head_seq + 1, self.head_hash)
        self.conn.execute(_INSERT_EVENT, event_row(recorded))
        for projection in self.projections:
            projection.apply(self.conn, recorded)
        self.head_seq, self.head_hash = recorded.seq, recorded.hash
        self.appended.append(recorded)
        return recorded


_INSERT_EVENT = events_table.insert()  # built once: building it per event cost more than running it


def event_row(event: RecordedEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "type": str(event.type),
        "at": event.at,
        "actor": event.actor,
        "seller_id": event.seller_id,
        "brand": event.brand,
        "listing_id": event.listing_id,
        "complaint_id": event.complaint_id,
        "case_id": event.case_id,
        "reason": event.reason,
        "payload": canonical_json(dict(event.payload)),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def row_event(row: sa.Row) -> RecordedEvent:
    """A stored row back as an event, exactly as stored (hashes are not recomputed here)."""
    return RecordedEvent(
        seq=row.seq, type=EventType(row.type), at=row.at, actor=row.actor,
        seller_id=row.seller_id, brand=row.brand, listing_id=row.listing_id,
        complaint_id=row.complaint_id, case_id=row.case_id, reason=row.reason,
        payload=json.loads(row.payload), prev_hash=row.prev_hash, hash=row.hash,
    )


def database_url(url: str) -> str:
    """Accept plain `postgresql://` URLs; the driver the project installs is psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class LedgerStore:
    """The ledger database: an engine, its schema at the latest migration, and transactions."""

    def __init__(
        self,
        url: str,
        projections: Sequence[Projection] = (),
        *,
        busy_timeout_s: float = 30.0,
        write_attempts: int = 8,
        write_deadline_s: float = 20.0,
    ) -> None:
        self.url = database_url(url)
        self.projections = tuple(projections)
        self.write_attempts = write_attempts
        self.write_deadline_s = write_deadline_s
        self.engine = _create_engine(self.url, busy_timeout_s)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        # SQLite sets syncing per connection: unsynced writes get connections of their own
        # (but one in-memory database is one connection's, and has no disk to wait for)
        in_memory = self.engine.url.database in (None, "", ":memory:")
        self._unsynced_engine = self.engine if self.is_postgres or in_memory else \
            _create_engine(self.url, busy_timeout_s, synchronous="NORMAL")
        # Connections found broken (a database server that went away): what was read
        # before may be gone, unsynced writes above all. Caches compare this count.
        self.connection_losses = 0
        for engine in {self.engine, self._unsynced_engine}:
            sa.event.listen(engine, "invalidate", self._connection_lost)
        self.checkpointer: WalCheckpointer | None = None
        self._migrate()

    def checkpoint_in_background(self, every_s: float) -> None:
        """SQLite: checkpoint the write-ahead log every `every_s` seconds in a thread of
        its own, not in whichever commit of this process finds it long
        (serving/ledger/checkpoints.py). Nothing on PostgreSQL or in memory."""
        if self._unsynced_engine is self.engine or self.checkpointer is not None:
            return
        for engine in (self.engine, self._unsynced_engine):
            sa.event.listen(engine, "connect", no_autocheckpoint)
            engine.dispose()  # the connections made from now on
        self.checkpointer = WalCheckpointer(str(self.engine.url.database), every_s)
        self.checkpointer.start()

    def _connection_lost(self, *_: Any) -> None:
        self.connection_losses += 1

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
        self._unsynced_engine.dispose()

    def _migrate(self) -> None:
        """Bring the schema to the latest Alembic revision; safe with many processes at once."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_PATH))
        heads = set(ScriptDirectory.from_config(config).get_heads())

        def current() -> bool:
            # connecting may find the file locked too: another process migrating it
            # switches it to WAL on its first connection
            with self.engine.connect() as conn:
                context = MigrationContext.configure(
                    conn, opts={"version_table": SCHEMA_VERSION_TABLE})
                return set(context.get_current_heads()) == heads

        if self.retrying(current):
            return  # the common case: no write lock needed

        def upgrade() -> None:
            with self.engine.connect() as conn:
                conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    if self.is_postgres:
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                                     {"k": MIGRATION_LOCK_KEY})
                    config.attributes["connection"] = conn
                    command.upgrade(config, "heads")  # one branch per feature area

        self.retrying(upgrade)

    def write(self, work: Callable[[WriteTx], T]) -> T:
        """Run `work` in one serialized write transaction, retrying busy/serialization errors.

        `work` may run more than once (each failed attempt is rolled back), so it must do
        nothing outside the transaction. Errors it raises roll back and propagate.
        """

        def attempt() -> T:
            with self.engine.connect() as conn:
                conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    if self.is_postgres:
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                                     {"k": WRITE_LOCK_KEY})
                    head = conn.execute(
                        sa.select(events_table.c.seq, events_table.c.hash)
                        .order_by(events_table.c.seq.desc()).limit(1)
                    ).first()
                    tx = WriteTx(conn, head.seq if head else 0,
                                 head.hash if head else GENESIS_HASH, self.projections)
                    return work(tx)

        return self.retrying(attempt)

    def retrying(self, attempt: Callable[[], T]) -> T:
        """`attempt()`, tried again after busy or serialization errors; `LedgerBusyError`
        once `write_attempts` have failed, or one has failed `write_deadline_s` after the
        first began (a caller over HTTP must hear back before its request times out).
        `attempt` must be safe to repeat."""
        started = time.monotonic()
        # no attempt waits for a SQLite lock past the deadline (see _sqlite_begin)
        wait_until = _WAIT_UNTIL.set(started + self.write_deadline_s)
        try:
            return self._retry(attempt, started)
        finally:
            _WAIT_UNTIL.reset(wait_until)

    def _retry(self, attempt: Callable[[], T], started: float) -> T:
        for number in range(1, self.write_attempts + 1):
            try:
                return attempt()
            except (DBAPIError, sqlite3.OperationalError) as exc:  # BEGIN raises the latter
                cause = exc.orig if isinstance(exc, DBAPIError) else exc
                if not _is_transient(cause):
                    raise
                waited = time.monotonic() - started
                if number == self.write_attempts or waited >= self.write_deadline_s:
                    raise LedgerBusyError(f"ledger write failed after {number} attempts in "
                                          f"{waited:.1f} s: {cause}") from exc
                time.sleep(min(0.02 * 2**number, 1.0) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    @contextmanager
    def unsynced_write(self) -> Iterator[Connection]:
        """A write transaction whose commit does not wait for the disk, outside the ledger's
        write lock: for rows that are not ledger events (the online seller history).

        A crash of the process loses nothing; a crash of the machine may lose the last
        such commits, but never one made before a synced commit (a ledger write), since
        SQLite's and PostgreSQL's write-ahead logs are both written in order. Waiting for
        the disk was most of the cost of storing one scored listing.
        """
        wait_until = _WAIT_UNTIL.set(time.monotonic() + self.write_deadline_s)
        try:
            with self._unsynced_engine.begin() as conn:
                if self.is_postgres:
                    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                yield conn
        finally:
            _WAIT_UNTIL.reset(wait_until)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot: every query inside sees the same committed state."""
        with self.engine.connect() as conn:
            if self.is_postgres:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def events(self, conn: Connection, after_seq: int = 0, batch: int = 5000
               ) -> Iterator[RecordedEvent]:
        """Every event after `after_seq`, in chain order, fetched in batches."""
        while True:
            rows = conn.execute(
                sa.select(events_table).where(events_table.c.seq > after_seq)
                .order_by(events_table.c.seq).limit(batch)
            ).all()
            for row in rows:
                yield row_event(row)
            if len(rows) < batch:
                return
            after_seq = rows[-1].seq


def _create_engine(url: str, busy_timeout_s: float, synchronous: str = "FULL") -> Engine:
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_s})
        sa.event.listen(engine, "connect", _sqlite_connect(busy_timeout_s, synchronous))
        sa.event.listen(engine, "begin", _sqlite_begin(busy_timeout_s))
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_connect(busy_timeout_s: float, synchronous: str
                    ) -> Callable[[sqlite3.Connection, Any], None]:
    def connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN is ours (see _sqlite_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    return connect


def _sqlite_begin(busy_timeout_s: float) -> Callable[[Connection], None]:
    def begin(conn: Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that later needs it
        # can fail with SQLITE_BUSY at once (no waiting), an immediate one waits its turn,
        # up to busy_timeout_s but never past the write's deadline (`LedgerStore.retrying`):
        # a caller over HTTP must hear back before its request times out.
        # (through the driver's own connection: SQLAlchemy's execution path cost more)
        wait_s = busy_timeout_s
        until = _WAIT_UNTIL.get()
        if until is not None:
            wait_s = max(0.001, min(wait_s, until - time.monotonic()))
        driver = conn.connection.driver_connection
        driver.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")  # type: ignore[union-attr]
        immediate = conn.get_execution_options().get(_WRITE, False)
        driver.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")  # type: ignore[union-attr]

    return begin


# when the write under way must give up (monotonic seconds), for `_sqlite_begin`
_WAIT_UNTIL: ContextVar[float | None] = ContextVar("ledger_wait_until", default=None)


def _is_transient(error: BaseException | None) -> bool:
    """Whether a driver's error is a busy database or a serialization failure."""
    if getattr(error, "sqlstate", None) in RETRY_SQLSTATES:
        return True
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return "locked" in text or "busy" in text
    return False


def replay(events: Iterator[RecordedEvent], projections: Sequence[Projection]) -> Engine:
    """Rebuild `projections` from `events` in a scratch in-memory SQLite database."""
    scratch = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    tables = [t for p in projections for t in p.tables]
    metadata.create_all(scratch, tables=[t for t in tables if t.metadata is metadata])
    for table in tables:
        if table.metadata is not metadata:
            table.create(scratch)
    with scratch.begin() as conn:
        for event in events:
            for projection in projections:
                projection.apply(conn, event)
    return scratch


def compare_projections(store: LedgerStore, conn: Connection) -> list[str]:
    """Differences between the store's projection tables and a replay of its events."""
    scratch = replay(store.events(conn), store.projections)
    problems: list[str] = []
    try:
        with scratch.connect() as expected:
            for projection in store.projections:
                for table in projection.tables:
                    problem = _compare_table(table, conn, expected)
                    if problem:
                        problems.append(problem)
    finally:
        scratch.dispose()
    return problems


def _compare_table(table: sa.Table, actual: Connection, expected: Connection) -> str | None:
    order = list(table.primary_key.columns)
    have = {_key(r, order): _normal(r) for r in actual.execute(sa.select(table))}
    want = {_key(r, order): _normal(r) for r in expected.execute(sa.select(table))}
    for key in sorted(set(have) | set(want)):
        if key not in have:
            return f"{table.name}: row {key} is missing (the events imply it)"
        if key not in want:
            return f"{table.name}: row {key} is not implied by any event"
        if have[key] != want[key]:
            return f"{table.name}: row {key} differs from what the events imply"
    return None


def _key(row: sa.Row, columns: list[sa.Column]) -> tuple[str, ...]:
    return tuple(str(row._mapping[c.name]) for c in columns)


def _normal(row: sa.Row) -> tuple[Any, ...]:
    return tuple(format_time(v) if isinstance(v, datetime) else v for v in row)
