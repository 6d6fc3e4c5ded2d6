"""Online scoring: requested listings scored with their sellers' stored history, as batch would.

`OnlineScorer.score` gathers what batch scoring would know of these listings: their
sellers' earlier listings (from the history store, kept as the model's events by
`SellerEventsCache`) and seller rows, their complaints from the ledger, the reference
tables saved with the model. It calls the model's own `score` with them and the
cross-seller `RingState` index, applies the ledger's freezes, stores the listings as
history and hands the results to the review queue.
The model is used only through its `ListingRiskModel` methods (loaded from MLflow):
serving never imports `training`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import pandas as pd
import sqlalchemy as sa

from features.columns import Arrays, Columns, plain_arrays
from features.contract import Marketplace
from features.history import EarlierListings, EventCodes, ListingEvents
from features.price import registry_prices, registry_table
from features.rings import RingIndex, first_strikes
from serving.history_store import (
    LISTING_COLUMNS,
    SELLER_COLUMNS,
    HistoryStore,
    contract_frame,
    records,
    stacked,
    taken,
)
from serving.ledger.ledger import Ledger
from serving.ledger.store import strikes_table
from serving.queue import PriceReference, ReviewQueue, ScoredListing
from serving.seller_events import SellerEventsCache

RESULT_COLUMNS = ("listing_id", "score", "band", "reasons", "model_version", "seller_frozen")
UNREAD = pd.DataFrame()  # a table `FeaturePipeline.listing_events` does not read
WARM_CHUNK = 500  # sellers read and derived together by `OnlineScorer.warm_up`
WARM_TEXTS = 20_000  # latest stored listings whose texts `OnlineScorer.warm_up` reads first
REREAD_ROWS = 1_000  # listing rows re-read behind the last seen one: PostgreSQL may commit
# a lower sequence number after a higher one; re-adding rows to the index changes nothing.
# SQLite commits one writer at a time, in sequence order, so there nothing is re-read.


class Model(Protocol):
    """What the service uses of the registered `ListingRiskModel`."""

    version: str
    pipeline: Any
    bands: Any
    brands: pd.DataFrame
    fx_rates: pd.DataFrame

    def score_columns(self, market: Marketplace, targets: np.ndarray | None = None,
                      with_reasons: bool = True, ring_index: RingIndex | None = None,
                      reasons_for: np.ndarray | None = None,
                      earlier: EarlierListings | None = None) -> dict[str, Any]: ...

    def warm_up(self) -> None: ...


class ScoreFeed(Protocol):
    """Where scores go after the response is decided: the reviewers' queue."""

    def __call__(self, listings: Arrays, sellers: Columns, results: Mapping[str, Any],
                 open_cases: frozenset[str]) -> None: ...


def empty_listings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns, UTC]" if c == "created_at" else
                                      "float64" if c == "price" else
                                      "int64" if c in ("quantity", "image_count") else "str")
                         for c in LISTING_COLUMNS})


class RingState:
    """The ring index of everything stored, kept current as listings, sellers and strikes arrive.

    Built from the history store and the ledger at start-up. The service's own listings,
    new sellers and the strikes of the sellers it scores count at once (`prepare`);
    what other replicas stored and strikes recorded elsewhere count within
    `refresh_s` (`refresh`). A stale index can only miss a taint, never see the future.
    """

    def __init__(self, model: Model, history: HistoryStore, ledger: Ledger, refresh_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.model = model
        self.history = history
        self.ledger = ledger
        self.refresh_s = refresh_s
        self.clock = clock
        self.rebuild()

    def rebuild(self) -> None:
        """Build the index again from everything stored."""
        head = self.history.head()  # before reading: rows written meanwhile are read again
        self.strike_count = _strike_count(self.ledger)
        complaints = self.ledger.complaints_frame()
        self._set_upheld(complaints[complaints["status"] == "upheld"].reset_index(drop=True))
        self.sellers = self.history.sellers()
        self.seller_ids = set(self.sellers["seller_id"])
        listings = self.history.listings(self.first_strike.index) if len(
            self.first_strike) else empty_listings()
        self.index: RingIndex = self.model.pipeline.ring_index(self._market(listings))
        self.last_seq, self.seller_seq = head.last_seq, head.seller_seq
        self.checked_at = self.clock()

    def _set_upheld(self, upheld: pd.DataFrame) -> None:
        self.upheld = upheld
        self.upheld_ids = set(upheld["complaint_id"])
        self.first_strike = first_strikes(upheld)
        self.struck = set(self.first_strike.index)

    def _market(self, listings: pd.DataFrame) -> Marketplace:
        return Marketplace(listings=listings, sellers=self.sellers, complaints=self.upheld,
                           brands=self.model.brands, fx_rates=self.model.fx_rates)

    def _rebuild_bursts(self) -> None:
        bursts = self.model.pipeline.ring_index(self._market(empty_listings())).bursts
        self.index = RingIndex(self.index.taint, bursts)

    def _taint(self, listings: pd.DataFrame | Columns) -> None:
        struck = self.struck
        table = Columns.of(listings)
        sellers = table.objects("seller_id")
        picked = [i for i, seller in enumerate(sellers) if seller in struck]
        if picked:
            rows = table.take(np.array(picked, dtype=np.int64))
            self.index = RingIndex(self.index.taint.update(rows, self.first_strike),
                                   self.index.bursts)

    def _fresh_strikes(self, complaint_ids: Iterable[str], statuses: Iterable[str]
                       ) -> np.ndarray:
        """Which complaints are upheld and not yet in the index."""
        known = self.upheld_ids
        return np.array([status == "upheld" and cid not in known
                         for cid, status in zip(complaint_ids, statuses, strict=True)],
                        dtype=bool)

    def _strikes(self, complaints: pd.DataFrame) -> None:
        """Take in the upheld complaints among `complaints`; index newly struck sellers."""
        fresh = self._fresh_strikes(complaints["complaint_id"], complaints["status"])
        if not fresh.any():
            return
        before = self.first_strike
        self._set_upheld(pd.concat([self.upheld, complaints[fresh]], ignore_index=True))
        known = before.index.intersection(self.first_strike.index)
        if (self.first_strike[known] != before[known]).any():
            self.rebuild()  # an older strike arrived late: its taints move earlier
            return
        struck = self.first_strike.index.difference(before.index)
        if len(struck):
            self._taint(self.history.listings(struck))
        self._rebuild_bursts()

    def add_sellers(self, sellers: Arrays) -> None:
        """Sellers about to be stored (plain arrays): the burst index counts their
        registrations."""
        known = self.seller_ids
        fresh = [i for i, s in enumerate(sellers["seller_id"].to_pylist()) if s not in known]
        if not fresh:
            return
        self._count_sellers(contract_frame(taken(sellers, np.array(fresh, dtype=np.int64))))

    def _count_sellers(self, new: pd.DataFrame) -> None:
        """Sellers the burst index has not counted yet: kept beside it, or it is built again."""
        self.sellers = pd.concat([self.sellers, new], ignore_index=True)
        self.seller_ids.update(new["seller_id"])
        bursts = self.index.bursts
        if (bursts.new_count + len(new) > bursts.new_limit
                or not self.struck.isdisjoint(new["seller_id"])):
            self._rebuild_bursts()  # a pass over the seller table
        else:  # beside the built index, which the lookups read too
            self.index = RingIndex(self.index.taint, bursts.with_sellers(new))

    def prepare(self, listings: pd.DataFrame | Columns, complaints: Arrays) -> None:
        """Before scoring `listings` (those not stored yet): their sellers' strikes
        (`complaints`) and their own text."""
        if self._fresh_strikes(complaints["complaint_id"].to_pylist(),
                               complaints["status"].to_pylist()).any():
            self._strikes(contract_frame(complaints))
        self._taint(listings)

    def refresh(self, force: bool = False) -> None:
        """Pick up what other replicas stored and strikes recorded since the last look."""
        if not force and self.clock() - self.checked_at < self.refresh_s:
            return
        self.checked_at = self.clock()
        head = self.history.head()
        strikes = _strike_count(self.ledger)
        if strikes != self.strike_count:
            self.strike_count = strikes
            self._strikes(self.ledger.complaints_frame())
        if head.seller_seq < self.seller_seq:  # rows renumbered (SQLite's VACUUM may)
            self.rebuild()
            return
        if head.seller_seq > self.seller_seq:  # this replica's new sellers are read too
            behind = REREAD_ROWS if self.history.is_postgres else 0
            stored = self.history.sellers_after(max(self.seller_seq - behind, 0))
            self.seller_seq = head.seller_seq
            known = self.seller_ids  # a set: `isin` would copy it into an array first
            unseen = [seller not in known for seller in stored["seller_id"]]
            if any(unseen):
                self._count_sellers(stored[unseen].reset_index(drop=True))
        if head.last_seq > self.last_seq:
            behind = REREAD_ROWS if self.history.is_postgres else 0
            rows = self.history.listings_after(max(self.last_seq - behind, 0), self.struck)
            self._taint(Columns.of_arrays(rows))
            self.last_seq = head.last_seq


def _strike_count(ledger: Ledger) -> int:
    with ledger.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(strikes_table)).scalar()
                   or 0)


@dataclass(frozen=True)
class OnlineBatch:
    """Listings to score with what batch scoring would know of their sellers."""

    market: Marketplace  # its listings are the listings to score
    earlier: EarlierListings  # their sellers' stored listings, as events
    new_sellers: Arrays  # sellers given with the listings and not stored yet
    request: Arrays  # the listings to score, as plain arrays
    unstored: Arrays  # those of them the history store does not hold yet
    unstored_at: np.ndarray  # ... and their rows in `request`
    frozen: frozenset[str]  # sellers the ledger has frozen
    open_cases: frozenset[str]  # listings to score that have an open review case


@dataclass
class OnlineScorer:
    """One loaded model with its ring index, over the history store and the ledger.

    Not thread-safe: one thread scores (the service's micro-batcher).
    """

    model: Model
    history: HistoryStore
    ring: RingState
    feed: ScoreFeed | None = None
    events: SellerEventsCache = field(init=False)
    epoch: int = field(init=False)  # the history store's epoch its caches were built in

    def __post_init__(self) -> None:
        self.events = SellerEventsCache(self._listing_events, self.history.cache.max_rows)
        self.epoch = self.history.epoch

    def _listing_events(self, listings: Arrays, codes: EventCodes) -> ListingEvents:
        return self.model.pipeline.listing_events(Marketplace(
            listings=Columns.of_arrays(listings),  # type: ignore[arg-type]
            sellers=UNREAD, complaints=UNREAD,
            brands=self.model.brands, fx_rates=self.model.fx_rates), codes)

    @property
    def version(self) -> str:
        return str(self.model.version)

    def warm_up(self, sellers: int) -> int:
        """Make the first requests after a start or a model reload as fast as later ones:
        load the model's compiled code; compute the text values of the latest stored
        listings' titles and descriptions (marketplace texts repeat: a new listing's often
        has been seen); then read the stored listings of the `sellers` most recently
        active sellers into the caches and derive their events (a cold seller's first
        request reads and derives its whole history). The caches then hold what those
        requests would read: scores do not change. The caches drop the least recently
        read first, so the most recent sellers are read last. `sellers` 0 warms nothing
        but the compiled code. The number of those sellers the caches hold after."""
        self.model.warm_up()
        if not sellers:
            return 0
        self.model.pipeline.remember_texts(*self.history.recent_texts(WARM_TEXTS))
        if not self.history.cache.max_rows:
            return 0
        oldest_first = self.history.recent_sellers(min(sellers, self.events.max_sellers))[::-1]
        for start in range(0, len(oldest_first), WARM_CHUNK):
            chunk = oldest_first[start:start + WARM_CHUNK]
            self.events.earlier(self.history.cached_history(chunk), {})
        held = set(self.events.sellers)
        return sum(seller in held for seller in oldest_first)

    @cached_property
    def currencies(self) -> frozenset[str]:
        """The currencies the model has exchange rates for (checked before scoring)."""
        return frozenset(self.model.fx_rates["currency"])

    def score(self, listings: pd.DataFrame, sellers: pd.DataFrame) -> pd.DataFrame:
        """Score contract-typed listings (sellers: rows given for new sellers); input order.
        Only the contract's columns are read (the review queue gets those, too).

        A listing id given twice in one batch (two requests at once) is scored in a second
        round, after the first has been stored, as two requests one after the other would.
        """
        return pd.DataFrame(self.score_columns(plain_arrays(listings, LISTING_COLUMNS),
                                               plain_arrays(sellers, SELLER_COLUMNS)))

    def score_columns(self, listings: Arrays, sellers: Arrays) -> dict[str, list[Any]]:
        """`score` of plain arrays (`LISTING_COLUMNS`, `SELLER_COLUMNS`, as `plain_arrays`
        makes them), with the result's columns (`RESULT_COLUMNS`) as lists: what the
        service answers from."""
        ids = listings["listing_id"].to_pylist()
        if len(set(ids)) == len(ids):
            return self._score(listings, sellers)
        seen: dict[str, int] = {}
        rounds = np.empty(len(ids), dtype=np.int64)
        for k, listing_id in enumerate(ids):  # an id's first row in round 0, its second in 1..
            rounds[k] = seen[listing_id] = seen.get(listing_id, -1) + 1
        out: dict[str, list[Any]] = {name: [None] * len(ids) for name in RESULT_COLUMNS}
        for r in range(rounds.max() + 1):
            at = np.flatnonzero(rounds == r)
            part = self._score(taken(listings, at), sellers)
            for name, values in part.items():
                for i, value in zip(at, values, strict=True):
                    out[name][i] = value
        return out

    def prepare(self, listings: Arrays, sellers: Arrays) -> OnlineBatch:
        """The marketplace batch scoring would hold for `listings`, from the store and ledger.

        Also brings the ring index up to date with these listings and their sellers.
        """
        self.ring.refresh()
        owners = listings["seller_id"].to_pylist()
        seller_ids = list(dict.fromkeys(owners))
        ids = listings["listing_id"].to_pylist()
        snap = self.history.snapshot(seller_ids, scoring=set(ids))
        if snap.epoch != self.epoch:  # a lost connection: what earlier reads built may be gone
            self.epoch = snap.epoch
            self.events.clear()
            self.ring.rebuild()
        earlier, stored = self.events.earlier(snap.history, dict(zip(ids, owners, strict=True)))
        new_sellers = sellers
        if len(sellers["seller_id"]):
            wanted, known = set(seller_ids), set(snap.sellers["seller_id"].to_pylist())
            new_sellers = taken(sellers, np.array(
                [i for i, s in enumerate(sellers["seller_id"].to_pylist())
                 if s in wanted and s not in known], dtype=np.int64))
            self.ring.add_sellers(new_sellers)
        # a listing stored already is in the ring index already (stored, or its seller
        # struck, here or by another replica seen within `refresh_s`): scored again, as
        # listing systems do on every edit, it has nothing to add
        unstored_at = np.array([i for i, listing in enumerate(ids) if listing not in stored],
                               dtype=np.int64)
        unstored = listings if not stored else taken(listings, unstored_at)
        self.ring.prepare(Columns.of_arrays(unstored), snap.complaints)
        # plain arrays, not DataFrames: the pipeline reads them as it reads frames
        market = Marketplace(
            listings=Columns.of_arrays(listings),  # type: ignore[arg-type]
            sellers=Columns.of_arrays(stacked(snap.sellers, new_sellers)),  # type: ignore[arg-type]
            complaints=Columns.of_arrays(snap.complaints),  # type: ignore[arg-type]
            brands=self.model.brands, fx_rates=self.model.fx_rates)
        return OnlineBatch(market, earlier, new_sellers, listings, unstored, unstored_at,
                           snap.frozen, snap.open_cases)

    def _score(self, listings: Arrays, sellers: Arrays) -> dict[str, list[Any]]:
        batch = self.prepare(listings, sellers)
        frozen = [s in batch.frozen for s in batch.request["seller_id"].to_pylist()]
        # a frozen seller's listing is answered `high`: it gets reasons whatever its score
        scored = self.model.score_columns(batch.market, with_reasons=True,
                                          ring_index=self.ring.index,
                                          reasons_for=np.array(frozen, dtype=bool),
                                          earlier=batch.earlier)
        result = {
            "listing_id": scored["listing_id"].tolist(), "score": scored["score"].tolist(),
            "band": ["high" if f else band for f, band in zip(frozen, scored["band"], strict=True)],
            "reasons": scored["reasons"], "model_version": scored["model_version"].tolist(),
            "seller_frozen": frozen}
        self.store(batch, scored["events"])
        if self.feed is not None:
            self.feed(listings, Columns.of(batch.market.sellers), result, batch.open_cases)
        return result

    def store(self, batch: OnlineBatch, events: ListingEvents) -> None:
        """Store the batch's new listings and sellers, and keep the new listings' `events`
        (the model's, of every listing in the batch) as their sellers' history."""
        # rows are facts written once: a listing scored again (on every edit) writes nothing
        added = self.history.add(listings=batch.unstored, sellers=batch.new_sellers)
        if 0 < added.listings == len(batch.unstored_at):  # every row stored is as scored here
            self.events.stored(batch.unstored, events.take(batch.unstored_at),
                               batch.earlier.codes)


class ReviewFeed:
    """Sends scored listings to the review queue: flagged ones open a case, once each.

    `ReviewQueue.record_scores` opens a case for a listing newly scored `review` or
    `high` and updates the open case of a listing scored again; a `low` score only
    updates an open case. So a `low` listing is sent only when it had an open case as the
    scorer read its history (`SellerSnapshot.open_cases`: the same read transaction, no
    read of its own), which spares building the queue's payload for most listings. A case
    opened meanwhile (a complaint filed in those milliseconds) gets the listing's next score.
    """

    def __init__(self, queue: ReviewQueue, model: Model) -> None:
        self.queue = queue
        self.rates = model.fx_rates.set_index("currency")["usd_per_unit"].to_dict()
        self.registry = registry_table(model.brands)

    def __call__(self, listings: Arrays, sellers: Columns, results: Mapping[str, Any],
                 open_cases: frozenset[str]) -> None:
        """Send `results` (columns as `OnlineScorer` makes them) of `listings` (plain arrays
        in `LISTING_COLUMNS`), of which `open_cases` have an open case, to the queue."""
        ids = listings["listing_id"].to_pylist()
        picked = [i for i, (listing, band) in enumerate(zip(ids, results["band"], strict=True))
                  if band != "low" or listing in open_cases]
        if not picked:
            return
        rows = taken(listings, np.array(picked, dtype=np.int64))
        now = datetime.now(UTC)
        references = registry_prices(Columns.of_arrays(rows), self.registry).tolist()
        payloads = _listing_records(rows)
        known = _seller_rows(sellers, {listing["seller_id"] for listing in payloads})
        items = []
        for i, reference, listing in zip(picked, references, payloads, strict=True):
            listing.update(known.get(listing["seller_id"], {}))
            items.append(ScoredListing(
                listing, float(results["score"][i]), results["band"][i], results["reasons"][i],
                results["model_version"][i], now,
                usd_per_unit=self.rates.get(listing["currency"]),
                reference=None if not np.isfinite(reference) else PriceReference(
                    listing["brand"], listing["category"], reference)))
        self.queue.record_scores(items, open_cases=open_cases)


def _listing_records(listings: Arrays) -> list[dict[str, Any]]:
    """Listings (plain arrays) as rows of Python values, `created_at` as a UTC `pd.Timestamp`."""
    rows = records(listings)
    for row in rows:
        row["created_at"] = pd.Timestamp(row["created_at"], tz="UTC")
    return rows


def _seller_rows(sellers: Columns, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """The `wanted` sellers' columns as the review queue's payload takes them."""
    ids = sellers.objects("seller_id")
    rows = [i for i, seller in enumerate(ids) if seller in wanted]
    if not rows:
        return {}
    registered = sellers.moments("registered_at", "registered_at", allow_missing=True)
    countries, verified = sellers.objects("country"), sellers.numbers("business_verified", bool)
    return {ids[i]: {"registered_at": pd.Timestamp(int(registered[i]), tz="UTC"),
                     "country": countries[i], "business_verified": bool(verified[i])}
            for i in rows}
