"""The online seller history: the sellers and listings the service has seen, in the ledger DB.

Seller-history features read only the seller's own earlier listings, and ring features
the listings of struck sellers; both are events, so the service keeps them as rows and
hands them to the same feature code that batch scoring runs (`features.history`,
`features.rings`). That is what makes online features equal batch features.

Rows are facts, written once: a listing or seller already stored is left as it was
(`INSERT ... ON CONFLICT DO NOTHING`), so scoring a listing again never duplicates
history. Timestamps are stored as UTC nanoseconds, exactly as the data contract's
`datetime64[ns, UTC]` columns hold them. The tables come from the Alembic branch
`history` (`serving/migrations/versions/history_*.py`), which the ledger's store
applies with its own migrations.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from features.columns import FEW_TEXTS, Arrays, plain_arrays
from features.contract import Marketplace
from serving.ledger.cases import review_cases_table
from serving.ledger.store import LedgerStore, complaints_table, freezes_table

LISTING_COLUMNS = ("listing_id", "seller_id", "created_at", "title", "description", "brand",
                   "category", "price", "currency", "quantity", "ships_from", "image_count")
TEXT_COLUMNS = ("listing_id", "seller_id", "title", "description", "brand", "category",
                "currency", "ships_from")
# What seller-history features read of earlier listings: no free text (the text and ring
# features read the text of the listing being scored only).
HISTORY_COLUMNS = ("listing_id", "seller_id", "created_at", "brand", "category", "price",
                   "currency", "quantity", "ships_from", "image_count")
SELLER_COLUMNS = ("seller_id", "registered_at", "country", "business_verified")
COMPLAINT_COLUMNS = ("complaint_id", "listing_id", "seller_id", "brand", "filed_at", "status",
                     "resolved_at")
IN_CHUNK = 500  # ids per IN (...) list
PAIR_CHUNK = 128  # (id, after) pairs per OR list: SQLite parses OR chains to a deep tree
# Listing rows a HistoryStore keeps in memory: about 150 bytes each as columns, about 500
# as tuples (a seller's newest rows, fewer than FOLD_ROWS).
CACHE_ROWS = 500_000
FOLD_ROWS = 32  # a seller's newest rows kept as tuples until there are this many
WRITE_CHUNK = 5_000  # rows per insert statement

metadata = sa.MetaData()
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

sellers_table = sa.Table(
    "history_sellers",
    metadata,
    sa.Column("seller_id", sa.Text(), primary_key=True),
    sa.Column("registered_at_ns", sa.BigInteger(), nullable=False),
    sa.Column("country", sa.Text(), nullable=False),
    sa.Column("business_verified", sa.Boolean(), nullable=False),
)

listings_table = sa.Table(
    "history_listings",
    metadata,
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
    # covers HISTORY_COLUMNS: a seller's history is read from the index alone
    sa.Index("ix_history_listings_seller", "seller_id", "created_at_ns", "listing_id", "brand",
             "category", "price", "currency", "quantity", "ships_from", "image_count"),
    # a seller's rows after a given one (`SellerHistoryCache`): one seek, not the seller's rows
    sa.Index("ix_history_listings_seller_seq", "seller_id", "seq"),
)

_STORED = {"created_at": "created_at_ns", "registered_at": "registered_at_ns",
           "filed_at": "filed_at_ns", "resolved_at": "resolved_at_ns"}
MISSING_NS = np.iinfo(np.int64).min  # NaT
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Lookup:
    """`SELECT columns FROM table WHERE key IN (...)`, for `rows_in`; with `after`,
    `WHERE (key = :id_0 AND after > :after_0) OR ...`: each key bounded on its own."""

    query: sa.Select
    key: sa.Column
    after: sa.Column | None = None
    converted: bool = True  # False: values as the driver gives them (no result processors)

_SNAPSHOT_SELLERS = Lookup(sa.select(*(sellers_table.c[_STORED.get(c, c)]
                                        for c in SELLER_COLUMNS)), sellers_table.c.seller_id)
_SNAPSHOT_COMPLAINTS = Lookup(sa.select(*(complaints_table.c[c] for c in COMPLAINT_COLUMNS)),
                               complaints_table.c.seller_id, converted=False)
_SNAPSHOT_FROZEN = Lookup(sa.select(freezes_table.c.seller_id).where(
    freezes_table.c.lifted_seq.is_(None)), freezes_table.c.seller_id)
_SNAPSHOT_OPEN_CASES = Lookup(sa.select(review_cases_table.c.listing_id).where(
    review_cases_table.c.status == "open"), review_cases_table.c.listing_id)
_SELLER_COUNTS = Lookup(sa.select(listings_table.c.seller_id, sa.func.count(),
                                   sa.func.max(listings_table.c.seq)
                                   ).group_by(listings_table.c.seller_id),
                         listings_table.c.seller_id)
_SELLER_ROWS = Lookup(sa.select(listings_table.c.seq, *(listings_table.c[_STORED.get(c, c)]
                                                         for c in HISTORY_COLUMNS)),
                       listings_table.c.seller_id)
_SELLER_ROWS_AFTER = Lookup(_SELLER_ROWS.query, listings_table.c.seller_id,
                             listings_table.c.seq)
_LISTING_ROWS = Lookup(sa.select(listings_table.c.seq, *(listings_table.c[_STORED.get(c, c)]
                                                         for c in LISTING_COLUMNS)),
                       listings_table.c.seq)


@dataclass(frozen=True)
class HistoryHead:
    """Where the history stands: the last seller row and the last listing row written."""

    seller_seq: int
    last_seq: int


@dataclass(frozen=True)
class SellerSnapshot:
    """What the features need to know about some sellers, read in one transaction.

    Tables are plain arrays in the contract's columns (`Columns.of_arrays` reads them;
    `contract_frame` makes a DataFrame of one): on the request path no DataFrame is built.
    """

    history: dict[str, CachedSeller]  # their stored listings, by seller (those with any)
    sellers: Arrays  # the stored seller rows
    complaints: Arrays  # the ledger's complaints against them, by (filed_at, complaint_id)
    frozen: frozenset[str]  # those the ledger has frozen now
    open_cases: frozenset[str]  # the listings being scored that have an open review case
    scoring: frozenset[str]  # the listings being scored
    epoch: int = 0  # the store's connection losses before this read (`HistoryStore.epoch`)

    @property
    def listings(self) -> Arrays:
        """The stored listings as the contract's listings without text, in no particular
        order, without those being scored (a listing scored again is not its own history)."""
        return history_listings(self.history.values(), self.scoring)


@dataclass(frozen=True)
class ImportedHistory:
    """What `import_listings` added (rows already stored are not counted), and listings the
    dataset gives another seller than the one stored first, who keeps them: up to five as
    (listing, the dataset's seller, the stored seller), and how many."""

    sellers: int
    listings: int
    other_owner: tuple[tuple[str, str, str], ...] = ()
    other_owner_count: int = 0


class HistoryStore:
    """Sellers and listings the service has seen, in the ledger's database."""

    def __init__(self, store: LedgerStore, cache_rows: int = CACHE_ROWS,
                 fold_rows: int = FOLD_ROWS) -> None:
        self.store = store
        self.engine = store.engine
        self.is_postgres = store.is_postgres
        self.epoch = store.connection_losses
        self.cache = SellerHistoryCache(cache_rows, fold_rows,
                                        commits_in_order=not store.is_postgres)
        self._inserts = {"sellers": self._insert_new(sellers_table, "seller_id"),
                         "listings": self._insert_new(listings_table, "listing_id")}

    # --- writes ------------------------------------------------------------------------------

    def add(self, listings: pd.DataFrame | Arrays | None = None,
            sellers: pd.DataFrame | Arrays | None = None) -> ImportedHistory:
        """Store new sellers and listings in one transaction; rows already there stay as they were.

        Tables are contract-typed DataFrames or their plain arrays (`plain_arrays`).

        Rows are written sorted by key, so concurrent writers on PostgreSQL take row locks in
        the same order and cannot deadlock.
        """
        seller_rows = [] if _no_rows(sellers) else sorted(
            _rows(sellers, SELLER_COLUMNS), key=itemgetter("seller_id"))
        listing_rows = [] if _no_rows(listings) else sorted(
            _rows(listings, LISTING_COLUMNS), key=itemgetter("listing_id"))
        if not seller_rows and not listing_rows:
            return ImportedHistory(0, 0)
        added = {"sellers": 0, "listings": 0}
        # Unsynced (history rows are not ledger events), and a plain (deferred)
        # transaction, safe on SQLite here: its first statement writes.
        with self.store.unsynced_write() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                for name, rows in (("sellers", seller_rows), ("listings", listing_rows)):
                    sql, order = self._inserts[name]
                    for chunk in _chunks(rows, WRITE_CHUNK):
                        cursor.executemany(sql, chunk if order is None else
                                           [tuple(row[n] for n in order) for row in chunk])
                        added[name] += cursor.rowcount
            finally:
                cursor.close()
        return ImportedHistory(added["sellers"], added["listings"])

    def _insert_new(self, table: sa.Table, key: str) -> tuple[str, tuple[str, ...] | None]:
        """INSERT of one row that skips a row already stored, compiled for the driver's
        cursor (SQLAlchemy compiled it again on every call: most of a one-listing write),
        and the order of its parameters when they are positional."""
        dialect = postgresql if self.is_postgres else sqlite
        insert = dialect.insert(table).values(
            {c.name: sa.bindparam(c.name) for c in table.c if c.name != "seq"}
        ).on_conflict_do_nothing(index_elements=[key])
        compiled = insert.compile(dialect=self.engine.dialect)
        return str(compiled), tuple(compiled.positiontup or ()) if compiled.positional else None

    # --- reads -------------------------------------------------------------------------------

    def head(self) -> HistoryHead:
        with self.engine.connect() as conn:
            sellers = conn.execute(sa.select(sa.func.max(self._seller_seq))
                                   .select_from(sellers_table)).scalar()
            seq = conn.execute(sa.select(sa.func.max(listings_table.c.seq))).scalar()
        return HistoryHead(int(sellers or 0), int(seq or 0))

    @property
    def _seller_seq(self) -> sa.ColumnElement[int]:
        """The sellers' row numbers, in the order written (migration history_0003)."""
        return sa.literal_column("history_sellers.seq" if self.is_postgres
                                 else "history_sellers.rowid")

    def sellers_after(self, seq: int) -> pd.DataFrame:
        """The sellers written after row `seq` (`HistoryHead.seller_seq`), as `sellers`,
        in the order written."""
        columns = [sellers_table.c[_STORED.get(c, c)] for c in SELLER_COLUMNS]
        query = sa.select(*columns).where(self._seller_seq > seq)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(self._seller_seq)).all()
        return _frame(rows, SELLER_COLUMNS)

    def sellers(self, seller_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """The sellers table of the data contract (every seller, or those of `seller_ids`)."""
        columns = [sellers_table.c[_STORED.get(c, c)] for c in SELLER_COLUMNS]
        query = sa.select(*columns).order_by(sellers_table.c.seller_id)
        with self.engine.connect() as conn:
            rows = _select_in(conn, query, sellers_table.c.seller_id, seller_ids)
        return _frame(rows, SELLER_COLUMNS)

    def listings(self, seller_ids: Iterable[str], *, with_text: bool = True,
                 exclude: Collection[str] = ()) -> pd.DataFrame:
        """The sellers' stored listings in the data contract's types, oldest first.

        Without text, `title` and `description` come back empty: seller history reads
        neither, and a seller's full texts are the bulk of what would be read.
        """
        names = LISTING_COLUMNS if with_text else HISTORY_COLUMNS
        query = sa.select(*(listings_table.c[_STORED.get(c, c)] for c in names))
        with self.engine.connect() as conn:
            rows = _select_in(conn, query, listings_table.c.seller_id, seller_ids, raw=True)
        if exclude:
            rows = [r for r in rows if r[0] not in exclude]
        rows.sort(key=itemgetter(2, 0))  # (created_at, listing_id): the columns start alike
        return _frame(rows, names, LISTING_COLUMNS)

    def recent_sellers(self, limit: int, scan_rows: int = 200_000) -> list[str]:
        """Up to `limit` sellers of the latest stored listings (the last `scan_rows`),
        most recently active first."""
        query = (sa.select(listings_table.c.seller_id)
                 .order_by(listings_table.c.seq.desc()).limit(scan_rows))
        with self.engine.connect() as conn:
            found = dict.fromkeys(conn.execute(query).scalars())
        return list(found)[:limit]

    def recent_texts(self, limit: int) -> tuple[list[str], list[str]]:
        """Titles and descriptions of the latest `limit` stored listings, newest first."""
        query = (sa.select(listings_table.c.title, listings_table.c.description)
                 .order_by(listings_table.c.seq.desc()).limit(limit))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [row.title for row in rows], [row.description for row in rows]

    def cached_history(self, seller_ids: Sequence[str]) -> dict[str, CachedSeller]:
        """The sellers' stored listings, read through the cache (as `snapshot` reads them)."""
        with self.store.read() as conn:
            self._check_epoch()
            return self.cache.read(conn, list(dict.fromkeys(seller_ids)))

    def snapshot(self, seller_ids: Sequence[str], scoring: Collection[str] = ()
                 ) -> SellerSnapshot:
        """The sellers' history, their complaints and whether they are frozen, all as of one moment.

        `scoring` names the listings about to be scored: those with an open review case
        are named (the review feed updates those cases whatever their new score).

        Complaints and freezes are read from the ledger's tables exactly as
        `Ledger.complaints_frame` and `Ledger.frozen_sellers` read them, but in the same
        read transaction as the history and with fewer conversions (this is on the
        request path: statements compiled once, rows through the driver's cursor).
        """
        wanted = list(dict.fromkeys(seller_ids))
        with self.store.read() as conn:  # a broken connection is found as it is taken
            self._check_epoch()
            if self.cache.max_rows:
                history = self.cache.read(conn, wanted)
            else:  # every row read afresh
                history = {seller: CachedSeller.of(len(rows), max(r[0] for r in rows), rows,
                                                   self.cache.fold_rows)
                           for seller, rows in _by_seller(rows_in(conn, _SELLER_ROWS,
                                                                  wanted)).items()}
            sellers = rows_in(conn, _SNAPSHOT_SELLERS, wanted)
            complaints = rows_in(conn, _SNAPSHOT_COMPLAINTS, wanted)
            frozen = rows_in(conn, _SNAPSHOT_FROZEN, wanted)
            open_cases = rows_in(conn, _SNAPSHOT_OPEN_CASES, list(scoring))
        return SellerSnapshot(
            history=history,
            sellers=_arrays(sellers, SELLER_COLUMNS),
            complaints=_complaint_arrays(complaints),
            frozen=frozenset(r[0] for r in frozen),
            open_cases=frozenset(r[0] for r in open_cases),
            scoring=frozenset(scoring),
            epoch=self.epoch,
        )

    def _check_epoch(self) -> None:
        """After a lost connection, forget the cached rows: the database may have lost
        writes it had shown (on PostgreSQL, history rows are committed without waiting
        for the disk), and a seller's row count can match the cache's again with other
        rows. `epoch` counts the losses seen, for caches built on earlier reads."""
        if self.store.connection_losses != self.epoch:
            self.epoch = self.store.connection_losses
            self.cache.clear()

    def listings_after(self, seq: int, sellers: Container[str]) -> Arrays:
        """The `sellers`' listings written after row `seq` (`HistoryHead.last_seq`), oldest
        first, as plain arrays of `LISTING_COLUMNS` (with text).

        Row numbers and sellers are read first, whole rows for `sellers` alone: the ring
        index refreshes from struck sellers' rows, a few of what other replicas store
        (reading every row with its text stalled a worker's scoring for tens of ms).
        """
        with self.store.read() as conn:
            keys = _fetch_raw(conn, sa.select(listings_table.c.seq, listings_table.c.seller_id)
                              .where(listings_table.c.seq > seq))
            rows = rows_in(conn, _LISTING_ROWS, [key[0] for key in keys if key[1] in sellers])
        rows.sort(key=itemgetter(0))
        return _arrays([row[1:] for row in rows], LISTING_COLUMNS)

    def listed_between(self, since: pd.Timestamp | None = None,
                       until: pd.Timestamp | None = None) -> pd.DataFrame:
        """Listing id, seller id and `created_at` of the listings created in [since, until).

        Oldest first. No index leads with `created_at`, so this scans the table: it is for
        analysis (`strikeout drift --served`), not for the request path.
        """
        names = ("listing_id", "seller_id", "created_at")
        created = listings_table.c.created_at_ns
        query = sa.select(*(listings_table.c[_STORED.get(c, c)] for c in names))
        if since is not None:
            query = query.where(created >= _utc_ns(since))
        if until is not None:
            query = query.where(created < _utc_ns(until))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(created, listings_table.c.listing_id)).all()
        return _frame(rows, names)


@dataclass(frozen=True)
class CachedSeller:
    """One seller's stored rows: older ones as columns, the newest as the database's tuples.

    Folding rows into a seller's columns costs a dozen array operations, which dominated
    requests of many sellers when every new row was folded at once; rows wait as tuples
    until `fold_rows` of them have gathered, and a read turns the tuples of all its
    sellers into columns in one go. Rows are kept in no particular order: the features
    do not depend on the order of rows
    (tests/features/test_pipeline.py::test_features_do_not_depend_on_the_order_of_rows).
    """

    count: int  # rows the database held for the seller when read
    last_seq: int  # the highest row number among them
    columns: Arrays | None  # HISTORY_COLUMNS
    tail: tuple[Sequence[Any], ...]

    @classmethod
    def of(cls, count: int, last_seq: int, rows: Sequence[Sequence[Any]], fold_rows: int
           ) -> CachedSeller:
        return cls(count, last_seq, None, ()).extended(count, last_seq, rows, fold_rows)

    def unfolded(self, without: Container[str]) -> list[Sequence[Any]]:
        """The newest rows, not folded into columns yet, whose listing is not in `without`
        (rows for `CachedSeller.of`)."""
        return [row for row in self.tail if row[_ROW_ID] not in without]

    def extended(self, count: int, last_seq: int, rows: Sequence[Sequence[Any]],
                 fold_rows: int) -> CachedSeller:
        tail = (*self.tail, *rows)
        if len(tail) < fold_rows:
            return CachedSeller(count, last_seq, self.columns, tail)
        new = _columns(tail)
        return CachedSeller(count, last_seq, new if self.columns is None
                            else stacked(self.columns, new), ())


class SellerHistoryCache:
    """Sellers' stored listings (the history columns), kept in memory between requests.

    History rows are facts, only ever added, and numbered (`seq`) as they are written.
    Where commits come in row-number order (SQLite: one writer at a time), the rows after
    the last one cached for a seller are all that is new for it, so a read fetches just
    those. Where they do not (PostgreSQL: a lower row number can commit after a higher
    one), a seller's cached rows are current when the database holds as many rows for
    the seller as the cache: each read checks that count (one indexed query), fetches
    the rows after the last one cached for sellers that grew, and reads a seller whole
    when that does not add up. Reads run inside the caller's read transaction, so what
    they return is that transaction's snapshot. Least recently read sellers are dropped
    past `max_rows` rows.
    """

    def __init__(self, max_rows: int, fold_rows: int = FOLD_ROWS,
                 commits_in_order: bool = False) -> None:
        self.max_rows = max_rows
        self.fold_rows = fold_rows
        self.commits_in_order = commits_in_order
        self.rows = 0
        self._sellers: OrderedDict[str, CachedSeller] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._sellers.clear()
            self.rows = 0

    def read(self, conn: Connection, seller_ids: list[str]) -> dict[str, CachedSeller]:
        """The sellers' rows, current as of `conn`'s transaction (sellers without rows left out)."""
        with self._lock:
            known = {s: self._sellers.get(s) for s in seller_ids}
        current = (self._read_after(conn, known) if self.commits_in_order
                   else self._read_counted(conn, known))
        with self._lock:
            for seller, cached in current.items():
                self._keep(seller, cached)
        return {s: current[s] for s in seller_ids if s in current}

    def _read_after(self, conn: Connection, known: dict[str, CachedSeller | None]
                    ) -> dict[str, CachedSeller]:
        """Commits in row order: each cached seller's rows after its last one, new ones whole."""
        cached = {s: c for s, c in known.items() if c is not None}
        current = dict(cached)
        if cached:
            new = _by_seller(rows_in(conn, _SELLER_ROWS_AFTER, list(cached),
                                     [c.last_seq for c in cached.values()]))
            for seller, rows in new.items():
                old = cached[seller]
                current[seller] = old.extended(old.count + len(rows), max(r[0] for r in rows),
                                               rows, self.fold_rows)
        whole = [s for s, c in known.items() if c is None]
        if whole:
            for seller, rows in _by_seller(rows_in(conn, _SELLER_ROWS, whole)).items():
                current[seller] = CachedSeller.of(len(rows), max(r[0] for r in rows), rows,
                                                  self.fold_rows)
        return current

    def _read_counted(self, conn: Connection, known: dict[str, CachedSeller | None]
                      ) -> dict[str, CachedSeller]:
        """Commits in any order: rows fetched where the database's count per seller says so."""
        counts = {r[0]: (int(r[1]), int(r[2])) for r in rows_in(conn, _SELLER_COUNTS,
                                                                  list(known))}
        current: dict[str, CachedSeller] = {}
        grown: dict[str, CachedSeller] = {}
        for seller, (count, _) in counts.items():
            cached = known[seller]
            if cached is not None and cached.count == count:
                current[seller] = cached
            elif cached is not None and cached.count < count:
                grown[seller] = cached
        if grown:
            new = _by_seller(rows_in(conn, _SELLER_ROWS_AFTER, list(grown),
                                     [cached.last_seq for cached in grown.values()]))
            for seller, cached in grown.items():
                rows = [r for r in new.get(seller, ()) if r[0] > cached.last_seq]
                if cached.count + len(rows) == counts[seller][0]:
                    current[seller] = cached.extended(*counts[seller], rows, self.fold_rows)
        whole = [s for s in counts if s not in current]
        fetched = _by_seller(rows_in(conn, _SELLER_ROWS, whole)) if whole else {}
        for seller in whole:
            current[seller] = CachedSeller.of(*counts[seller], fetched.get(seller, []),
                                              self.fold_rows)
        return current

    def _keep(self, seller: str, cached: CachedSeller) -> None:
        old = self._sellers.pop(seller, None)
        if old is not None:
            self.rows -= old.count
        if cached.count > self.max_rows:
            return
        self._sellers[seller] = cached
        self.rows += cached.count
        while self.rows > self.max_rows:
            _, dropped = self._sellers.popitem(last=False)
            self.rows -= dropped.count


def import_listings(store: HistoryStore, market: Marketplace) -> ImportedHistory:
    """Make a dataset's sellers and listings the service's online history (idempotent).

    `strikeout ledger import` calls this after loading the complaint history, so that the
    first listings the service scores see the same seller history training saw.
    """
    sellers = market.sellers[list(SELLER_COLUMNS)]
    listings = market.listings[list(LISTING_COLUMNS)]
    added = store.add(sellers=sellers)
    count = 0
    for start in range(0, len(listings), 50_000):
        count += store.add(listings=listings.iloc[start:start + 50_000]).listings
    if count == len(listings):  # every listing new: nothing was stored under another seller
        return ImportedHistory(added.sellers, count)
    given = dict(zip(listings["listing_id"], listings["seller_id"], strict=True))
    query = sa.select(listings_table.c.listing_id, listings_table.c.seller_id)
    with store.engine.connect() as conn:
        stored = _select_in(conn, query, listings_table.c.listing_id, given, raw=True)
    other = sorted((listing, given[listing], seller) for listing, seller in stored
                   if given[listing] != seller)
    return ImportedHistory(added.sellers, count, tuple(other[:5]), len(other))


# --- rows and frames -------------------------------------------------------------------------

def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _no_rows(table: pd.DataFrame | Arrays | None) -> bool:
    if table is None:
        return True
    if isinstance(table, pd.DataFrame):
        return table.empty
    return not table or not len(next(iter(table.values())))


def _rows(table: pd.DataFrame | Arrays, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Contract-typed rows as the stored columns (timestamps as UTC nanoseconds)."""
    arrays = plain_arrays(table, columns) if isinstance(table, pd.DataFrame) else table
    return records({_STORED.get(name, name): arrays[name] for name in columns})


def records(table: Arrays) -> list[dict[str, Any]]:
    """The rows of plain arrays as dicts of Python values."""
    columns = {name: values.to_pylist() if isinstance(values, pa.Array) else values.tolist()
               for name, values in table.items()}
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _complaint_arrays(rows: Sequence[Sequence[Any]]) -> Arrays:
    """Ledger complaint rows, times as the driver gives them (`_driver_ns`), as the
    contract's complaints table in the ledger's order: by filing time, then id."""
    filed, resolved = (_driver_ns([r[i] for r in rows]) for i in (4, 6))
    order = sorted(range(len(rows)), key=lambda k: (filed[k], rows[k][0]))
    stored = [(*rows[k][:4], filed[k], rows[k][5], resolved[k]) for k in order]
    return _arrays(stored, COMPLAINT_COLUMNS)


def _driver_ns(values: Sequence[Any]) -> list[int]:
    """A `UtcDateTime` column as its driver returns it (no result processor), as UTC
    nanoseconds; `MISSING_NS` for None.

    SQLite gives the text SQLAlchemy stored (UTC, 'YYYY-MM-DD HH:MM:SS.ffffff'), which
    NumPy parses for the whole column at once; PostgreSQL gives aware datetimes. Per
    value, the type's processor and `epoch_ns` cost microseconds: a seller's every
    complaint is read on each of its requests.
    """
    if not isinstance(next((value for value in values if value is not None), None), str):
        return [MISSING_NS if value is None else epoch_ns(value) for value in values]
    parsed = np.array(["NaT" if value is None else value for value in values],
                      dtype="datetime64[ns]")
    return parsed.view(np.int64).tolist()  # NaT is MISSING_NS


def epoch_ns(moment: datetime) -> int:
    """Exact UTC nanoseconds of an aware datetime."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _utc_ns(moment: pd.Timestamp) -> int:
    """UTC nanoseconds of a timestamp (a naive one is taken as UTC)."""
    moment = pd.Timestamp(moment)
    return (moment.tz_localize("UTC") if moment.tzinfo is None else moment).value


def _select_in(conn: Connection, query: sa.Select, column: sa.Column,
               ids: Iterable[str] | None, *, raw: bool = False) -> list[Sequence[Any]]:
    """Rows of `query` whose `column` is one of `ids` (all rows when `ids` is None).

    `raw` fetches plain tuples through the driver's cursor, skipping SQLAlchemy's row
    objects: for columns without type conversion (ints, floats, text) the rows are the
    same, at about half the cost, which matters for sellers with thousands of listings.
    """
    fetch = _fetch_raw if raw else _fetch
    if ids is None:
        return fetch(conn, query)
    wanted = list(dict.fromkeys(ids))
    if len(wanted) == 1:  # the common online case: one seller, a plain indexed lookup
        return fetch(conn, query.where(column == wanted[0]))
    return [row for start in range(0, len(wanted), IN_CHUNK)
            for row in fetch(conn, query.where(column.in_(wanted[start:start + IN_CHUNK])))]


def _fetch(conn: Connection, query: sa.Select) -> list[Sequence[Any]]:
    return list(conn.execute(query).all())


def _fetch_raw(conn: Connection, query: sa.Select) -> list[Sequence[Any]]:
    compiled = query.compile(dialect=conn.dialect,
                             compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    args = tuple(params[name] for name in compiled.positiontup or ()) if compiled.positional \
        else params
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), args)
        return list(cursor.fetchall())
    finally:
        cursor.close()


Processor = Callable[[Any], Any] | None
_COMPILED: dict[tuple[str, int, int], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}
_PROCESSORS: dict[tuple[str, int, tuple[Any, ...]], list[Processor]] = {}


def rows_in(conn: Connection, lookup: Lookup, ids: list[str],
            after: Sequence[int] = ()) -> list[Sequence[Any]]:
    """Rows of `lookup` whose key is one of `ids`, as `conn.execute(...).all()` gives them.

    Faster on the request path: the statement is compiled once per dialect and IN-list
    size (ids are padded to a power of two by repeating one; IN ignores repeats), rows
    come through the driver's cursor, and only columns whose type converts values (the
    ledger's UtcDateTime) go through that type's own result processor. For a lookup
    with an `after` column, `after[i]` bounds it from below for `ids[i]`.
    """
    if not ids:
        return []
    dialect = conn.dialect
    chunk_size = IN_CHUNK if lookup.after is None else PAIR_CHUNK
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    rows: list[Sequence[Any]] = []
    try:
        for start in range(0, len(ids), chunk_size):
            chunk = ids[start:start + chunk_size]
            size = 1 << (len(chunk) - 1).bit_length()
            sql, order, constants = _compiled(dialect, lookup, size)
            params: dict[str, Any] = dict(constants)
            for i in range(size):
                at = start + min(i, len(chunk) - 1)  # padding repeats the last id
                params[f"id_{i}"] = ids[at]
                if lookup.after is not None:
                    params[f"after_{i}"] = after[at]
            cursor.execute(sql, params if order is None else tuple(params[n] for n in order))
            rows.extend(cursor.fetchall())
        types = tuple(column[1] for column in cursor.description)
    finally:
        cursor.close()
    processors = _processors(dialect, lookup, types) if lookup.converted else []
    if rows and any(processors):
        columns = [list(c) if p is None else [p(v) for v in c]
                   for c, p in zip(zip(*rows, strict=True), processors, strict=True)]
        rows = list(zip(*columns, strict=True))
    return rows


def _compiled(dialect: sa.Dialect, lookup: Lookup, size: int
              ) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """The lookup's SQL for `size` ids, its parameter order, and the values of its own
    parameters (constants in the query's WHERE)."""
    key = (dialect.name, id(lookup), size)
    found = _COMPILED.get(key)
    if found is None:
        if lookup.after is None:
            query = lookup.query.where(lookup.key.in_([sa.bindparam(f"id_{i}")
                                                       for i in range(size)]))
        else:
            query = lookup.query.where(sa.or_(*(
                sa.and_(lookup.key == sa.bindparam(f"id_{i}"),
                        lookup.after > sa.bindparam(f"after_{i}")) for i in range(size))))
        compiled = query.compile(dialect=dialect)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        found = _COMPILED[key] = (str(compiled), order, {
            name: value for name, value in compiled.params.items()
            if not name.startswith(("id_", "after_"))})
    return found


def _processors(dialect: sa.Dialect, lookup: Lookup, types: tuple[Any, ...]
                ) -> list[Processor]:
    """Each column's result processor, for the driver's type codes, as SQLAlchemy picks it."""
    key = (dialect.name, id(lookup), types)
    found = _PROCESSORS.get(key)
    if found is None:
        found = _PROCESSORS[key] = [
            column.type.dialect_impl(dialect).result_processor(dialect, code)
            for column, code in zip(lookup.query.selected_columns, types, strict=True)]
    return found


_ROW_ID = 1 + HISTORY_COLUMNS.index("listing_id")  # in `_SELLER_ROWS` rows, after seq
_INTEGERS = ("created_at", "quantity", "image_count")
_NOT_TEXT = frozenset({*_STORED, "price", "quantity", "image_count", "business_verified"})


def text_columns(names: Sequence[str]) -> tuple[str, ...]:
    """Which of the contract's columns `names` hold text (the others: moments, numbers,
    flags)."""
    return tuple(name for name in names if name not in _NOT_TEXT)


_TEXTS = text_columns(HISTORY_COLUMNS)


def _by_seller(rows: list[Sequence[Any]]) -> dict[str, list[Sequence[Any]]]:
    """`_SELLER_ROWS` rows grouped by seller."""
    groups: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        groups.setdefault(row[2], []).append(row)
    return groups


def _columns(rows: Sequence[Sequence[Any]]) -> Arrays:
    """`_SELLER_ROWS` rows as HISTORY_COLUMNS (seq dropped): numpy for numbers, Arrow for text.

    The text columns are slices of one Arrow array and the integer ones rows of one
    NumPy array: a request's new rows are few, and each array built costs microseconds.
    """
    n = len(rows)
    values = list(zip(*rows, strict=True))[1:] if rows else [()] * len(HISTORY_COLUMNS)
    named = dict(zip(HISTORY_COLUMNS, values, strict=True))
    integers = np.array([named[name] for name in _INTEGERS], dtype=np.int64)
    columns: dict[str, Any] = dict(zip(_TEXTS, text_arrays([named[name] for name in _TEXTS]),
                                       strict=True))
    columns.update(zip(_INTEGERS, integers.reshape(len(_INTEGERS), n), strict=True))
    columns["price"] = np.array(named["price"], dtype=np.float64)
    return {name: columns[name] for name in HISTORY_COLUMNS}


def history_listings(sellers: Iterable[CachedSeller], exclude: Collection[str] = ()) -> Arrays:
    """Sellers' history rows as the contract's listings (no text), without the listings in
    `exclude`, in no particular order (see `CachedSeller`)."""
    sellers = list(sellers)
    tail = [row for seller in sellers for row in seller.tail if row[_ROW_ID] not in exclude]
    parts = [seller.columns for seller in sellers if seller.columns is not None]
    if tail or not parts:
        parts.append(_columns(tail))
    return _history_listings(_without(stacked(*parts), exclude))  # one copy, two if one drops


def _without(columns: Arrays, exclude: Collection[str]) -> Arrays:
    """The rows whose listing is not in `exclude`."""
    if not exclude:
        return columns
    ids = columns["listing_id"]
    if len(ids) < FEW_TEXTS:
        kept = [i for i, listing in enumerate(ids.to_pylist()) if listing not in exclude]
        return columns if len(kept) == len(ids) else taken(columns, np.array(kept, np.int64))
    dropped = pc.is_in(ids, pa.array(list(exclude), type=pa.large_string()))
    if not pc.any(dropped).as_py():
        return columns
    return taken(columns, np.flatnonzero(~dropped.to_numpy(zero_copy_only=False)))


def _history_listings(columns: Arrays) -> dict[str, Any]:
    """History columns as the contract's listings, with empty text."""
    empty = empty_texts(len(columns["listing_id"]))
    return {name: columns.get(name, empty) for name in LISTING_COLUMNS}


def empty_texts(n: int) -> pa.Array:
    """`n` empty strings as Arrow text: offsets all zero, no characters."""
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(np.zeros(n + 1, dtype=np.int64)),
                                            pa.py_buffer(b""))


def _arrays(rows: Sequence[Sequence[Any]], names: Sequence[str],
            columns: Sequence[str] | None = None) -> Arrays:
    """Stored rows (`names`, in order) as plain arrays of `columns` (text missing from the
    rows comes back empty): timestamps as int64 UTC nanoseconds, text as Arrow."""
    values = dict(zip(names, zip(*rows, strict=True) if rows else [()] * len(names),
                      strict=True))
    data: dict[str, Any] = {}
    wanted = columns or names
    text_names = text_columns(wanted)
    texts = dict(zip(text_names, text_arrays([values.get(n, [""] * len(rows))
                                              for n in text_names]), strict=True))
    for name in wanted:
        column = values.get(name, [""] * len(rows))
        if name in texts:
            data[name] = texts[name]
        elif name in _STORED:
            data[name] = np.asarray(column, dtype=np.int64)
        elif name == "price":
            data[name] = np.asarray(column, dtype=np.float64)
        elif name in ("quantity", "image_count"):
            data[name] = np.asarray(column, dtype=np.int64)
        else:
            data[name] = np.asarray(column, dtype=bool)  # business_verified
    return data


def text_arrays(columns: Sequence[Sequence[str]]) -> list[pa.Array]:
    """Columns of text as slices of one Arrow array (large_string): on the request path,
    where each array built costs microseconds (pyarrow reads an environment variable in
    every `pa.array` call)."""
    whole = pa.array([v for values in columns for v in values], type=pa.large_string())
    out, start = [], 0
    for values in columns:
        out.append(whole.slice(start, len(values)))
        start += len(values)
    return out


def stacked(*tables: Arrays) -> Arrays:
    """The rows of `tables` one after another (same columns: numpy or Arrow arrays)."""
    filled = [t for t in tables if len(next(iter(t.values())))]
    if len(filled) <= 1:
        return filled[0] if filled else tables[0]
    return {name: pa.concat_arrays([t[name] for t in filled]) if isinstance(values, pa.Array)
            else np.concatenate([t[name] for t in filled]) for name, values in filled[0].items()}


def taken(table: Arrays, rows: np.ndarray) -> Arrays:
    """The rows of `table` at positions `rows` (numpy or Arrow arrays)."""
    return {name: values.take(rows) if isinstance(values, pa.Array) else values[rows]
            for name, values in table.items()}


def contract_frame(arrays: Arrays) -> pd.DataFrame:
    """Plain arrays (as `_arrays` makes them) as a DataFrame in the data contract's types."""
    data: dict[str, Any] = {}
    for name, values in arrays.items():
        if name in _STORED:
            data[name] = pd.DatetimeIndex(np.asarray(values, dtype=np.int64).view(
                "datetime64[ns]")).tz_localize("UTC")
        elif isinstance(values, pa.Array):
            data[name] = arrow_texts(values)
        else:
            data[name] = values
    return pd.DataFrame(data)


def _frame(rows: Sequence[Sequence[Any]], names: Sequence[str],
           columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Stored rows (`names`, in order) as a contract-typed table with `columns` (text missing
    from the rows comes back empty)."""
    return contract_frame(_arrays(rows, names, columns))


TEXT_DTYPE = pd.array([], dtype="str").dtype  # the contract's text columns


def arrow_texts(values: pa.Array) -> Any:
    """An Arrow text array as the contract's `str` column, without copying when pandas keeps
    its text in Arrow (`pd.array(values, dtype="str")` goes through NumPy and back)."""
    if getattr(TEXT_DTYPE, "storage", None) == "pyarrow":
        return pd.arrays.ArrowStringArray(values.cast(pa.large_string()), dtype=TEXT_DTYPE)
    return pd.array(values.to_pylist(), dtype="str")
