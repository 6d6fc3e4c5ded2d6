"""Sellers' stored listings kept as events between requests: always the stored rows' events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.columns import Arrays, Columns
from features.contract import load_marketplace
from features.history import (
    EarlierListings,
    EventCodes,
    HistorySettings,
    ListingEvents,
    listing_events,
)
from serving.history_store import LISTING_COLUMNS, HistoryStore, taken
from serving.ledger.ledger import Ledger
from serving.seller_events import SellerEvents, SellerEventsCache

BRANDS = ["Arvedo", " arvedo", "Briruvi", "Generic", "Celo"]
CATEGORIES = ["handbags", "watches", "toys"]


def derive(listings: Arrays, codes: EventCodes) -> ListingEvents:
    """Events without a model: USD is the listed price, the price ratio a function of it."""
    table = Columns.of_arrays({**listings, "price_usd": listings["price"]})
    return listing_events(table, table.numbers("price") / 50.0, HistorySettings(), codes)


def rows(events: ListingEvents) -> list[tuple[float, ...]]:
    """Event rows in a fixed order (blocks hold them in no particular order)."""
    return sorted(zip(*(column.tolist() for column in events), strict=True))


def history_blocks(earlier: EarlierListings) -> list[ListingEvents]:
    """Each seller's block of events less the rows `earlier` leaves out."""
    sizes = [len(events.created) for events in earlier.events]
    starts = np.cumsum([0, *sizes])
    keep = np.ones(starts[-1], dtype=bool)
    keep[earlier.left_out] = False
    return [events.take(np.flatnonzero(keep[start:start + size]))
            for events, start, size in zip(earlier.events, starts[:-1], sizes, strict=True)]


@pytest.mark.parametrize("max_codes", [3, 1_000])  # the codes start afresh .. never
@pytest.mark.parametrize("max_rows", [4, 10_000])  # sellers dropped .. all kept
@pytest.mark.parametrize("fold_rows", [1, 3, 32])  # new rows folded into columns at once .. never
def test_the_events_are_those_of_the_stored_rows_after_every_write(
        ledger: Ledger, tiny_dataset: Path, fold_rows: int, max_rows: int,
        max_codes: int) -> None:
    """Rows written by this worker and another, in any order of time, read after every
    write with and without listings being scored: each seller's events equal those made
    afresh from the snapshot's rows, the listings being scored are named stored exactly
    when they are, and a row becomes events once unless its seller was dropped."""
    rng = np.random.default_rng(fold_rows * max_rows)
    template = load_marketplace(tiny_dataset).listings[list(LISTING_COLUMNS)].iloc[[0]]
    n = 70
    listings = pd.concat([template] * n, ignore_index=True).assign(
        listing_id=[f"L{i:03d}" for i in rng.permutation(n)],
        seller_id=rng.choice(["S1", "S2", "S3"], size=n, p=[0.6, 0.3, 0.1]),
        brand=rng.choice(BRANDS, size=n), category=rng.choice(CATEGORIES, size=n),
        price=rng.uniform(1, 200, size=n).round(2), quantity=rng.integers(1, 9, size=n),
        created_at=template["created_at"].iloc[0] + pd.to_timedelta(
            rng.integers(0, 48, size=n), unit="h"))
    worker = HistoryStore(ledger.store, fold_rows=fold_rows)
    other = HistoryStore(ledger.store)  # another worker or replica on the same database
    derived: list[int] = []

    def counted(listings: Arrays, codes: EventCodes) -> ListingEvents:
        derived.append(len(listings["listing_id"]))
        return derive(listings, codes)

    cache = SellerEventsCache(counted, max_rows=max_rows, max_codes=max_codes)
    codes_used: list[EventCodes] = []
    held: set[str] = set()
    dropped = False
    for start in range(0, n, 6):
        (worker if rng.random() < 0.5 else other).add(listings=listings.iloc[start:start + 6])
        written = listings.iloc[:start + 6]
        unwritten = list(listings["listing_id"].iloc[start + 6:start + 8])
        scoring = {*rng.choice(written["listing_id"], size=2), *unwritten}
        for sellers, without in ((["S1"], set()), (["S2", "S1", "S3"], scoring)):
            snap = worker.snapshot(sellers, scoring=without)
            owner = dict(zip(listings["listing_id"], listings["seller_id"], strict=True))
            earlier, stored = cache.earlier(snap.history,
                                            {listing: owner[listing] for listing in without})
            assert earlier.codes is cache.codes
            # within its bound, or holding only the sellers of this call
            assert cache.rows <= max_rows or set(cache.sellers) == set(earlier.sellers)
            if codes_used and codes_used[-1] is earlier.codes:  # not a reset of the codes
                dropped |= bool(held - set(cache.sellers))
            held = set(cache.sellers)
            codes_used.append(earlier.codes)
            assert list(earlier.sellers) == [s for s in sellers if s in snap.history]
            expected = written[written["seller_id"].isin(sellers)]
            assert stored == set(expected["listing_id"]) & without
            afresh = snap.listings  # the stored rows, without those being scored
            owners = np.array(afresh["seller_id"].to_pylist())
            for seller, events in zip(earlier.sellers, history_blocks(earlier), strict=True):
                mine = taken(afresh, np.flatnonzero(owners == seller))
                assert rows(events) == rows(derive(mine, earlier.codes)), seller
                assert len(events.created) == (
                    (expected["seller_id"] == seller) & ~expected["listing_id"].isin(without)
                ).sum()
    if max_codes > n:  # codes that start afresh drop every seller at each call
        assert dropped == (max_rows < n)  # sellers were dropped when over the bound
    if max_codes > n and max_rows > n:  # nothing dropped: each row became events once,
        assert sum(derived) == n  # also when the history cache had folded it already
    # listing systems send any brand: past the limit the codes start afresh
    assert (len({id(codes) for codes in codes_used}) > 1) == (max_codes < 5)



def test_a_seller_grown_in_place_keeps_every_view_handed_out_as_it_was() -> None:
    """Events handed out for one request still read the rows of that moment after the
    seller has grown (and its arrays moved) many times since."""
    seller = SellerEvents()
    handed = []
    total = 0
    for k in range(40):
        n = k % 3 + 1
        created = np.arange(total, total + n, dtype=np.int64)
        seller.extend([f"L{i}" for i in created],
                      ListingEvents(created, created % 5 - 1, created % 2, created % 3 == 0,
                                    created + 1, created * 0.5))
        total += n
        handed.append((total, seller.events))
    for count, events in handed:
        expected = np.arange(count, dtype=np.int64)
        np.testing.assert_array_equal(events.created, expected)
        np.testing.assert_array_equal(events.price, expected * 0.5)
        np.testing.assert_array_equal(events.underpriced, expected % 3 == 0)
    assert seller.rows == {f"L{i}": i for i in range(total)}


def test_a_listing_sent_with_another_seller_stays_in_the_history_of_the_seller_that_stored_it(
        ledger: Ledger, tiny_dataset: Path) -> None:
    """The store keeps a listing id's first row: sent again with another seller, the
    listing is not stored as sent, and stays in its storing seller's history."""
    template = load_marketplace(tiny_dataset).listings[list(LISTING_COLUMNS)].iloc[[0]]
    rows = pd.concat([template] * 3, ignore_index=True).assign(
        listing_id=["L1", "L2", "L3"], seller_id=["A", "A", "B"])
    store = HistoryStore(ledger.store)
    store.add(listings=rows)
    cache = SellerEventsCache(derive)
    snap = store.snapshot(["A", "B"])
    for scoring, stored, kept in (({"L1": "B"}, set(), {"A": 2, "B": 1}),
                                  ({"L1": "A"}, {"L1"}, {"A": 1, "B": 1}),
                                  ({"L1": "A", "L3": "B", "L9": "B"}, {"L1", "L3"},
                                   {"A": 1, "B": 0})):
        earlier, found = cache.earlier(snap.history, scoring)
        assert found == stored
        counts = [len(events.created) for events in history_blocks(earlier)]
        assert dict(zip(earlier.sellers, counts, strict=True)) == kept
