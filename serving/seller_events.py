"""Sellers' stored listings as one model's seller-history features read them, kept between requests.

Seller-history features read every earlier listing of the seller. Turning a stored
listing into what the features read (`features.history.ListingEvents`: its moment,
coded brand and category, price in USD and price ratio) cost more than the features'
sweep itself, on every request, and depends on the listing and the model alone. So the
online scorer keeps each seller's listings in that form and turns into events only
the rows it has not seen.

History rows are facts, written once and never removed (`serving.history_store`), so
a seller's events are current when they cover as many rows as the store holds for
the seller (`CachedSeller.count`), and what is new is the rows whose listing they do
not cover yet. Those are nearly always among the seller's newest rows, which the
history cache keeps apart; when they are not (the cache folded them into the seller's
columns), they are looked for among all the seller's rows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from features.columns import Arrays, text_codes
from features.history import EarlierListings, EventCodes, ListingEvents
from serving.history_store import CACHE_ROWS, CachedSeller, history_listings, stacked

MAX_CODES = 200_000  # distinct brands and categories coded before the codes start afresh
MAX_SELLERS = 100_000  # about 1.3 KB each besides their rows


class SellerEvents:
    """One seller's stored listings as events, and the row of each listing among them.

    Grown in place, into arrays with room to spare (doubled when full): a seller of many
    listings gains one on nearly every request, and copying all its rows each time made
    that cost grow with the seller. `events` are views of the rows so far, which later
    growth leaves as they are.
    """

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self._room = _no_events()

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def events(self) -> ListingEvents:
        n = len(self.rows)
        return ListingEvents(*(column[:n] for column in self._room))

    def extend(self, listing_ids: list[str], events: ListingEvents) -> None:
        """Add listings (ids not held yet) with their events, a row each."""
        start, end = len(self.rows), len(self.rows) + len(listing_ids)
        if end > len(self._room.created):
            size = max(end, 2 * len(self._room.created), 8)
            room = ListingEvents(*(np.empty(size, dtype=column.dtype) for column in self._room))
            for old, column in zip(self._room, room, strict=True):
                column[:start] = old[:start]
            self._room = room
        for column, values in zip(self._room, events, strict=True):
            column[start:end] = values
        self.rows.update(zip(listing_ids, range(start, end), strict=True))


class SellerEventsCache:
    """Each recently scored seller's stored listings as events of one model.

    `derive(listings, codes)` turns listings (the contract's columns, as plain arrays)
    into events coded by `codes`: the model's `FeaturePipeline.listing_events`. The
    least recently used sellers are dropped past `max_rows` rows or `max_sellers`
    sellers, and everything once the codes hold `max_codes` brands and categories
    (listing systems send any text). A row takes 41 bytes of events, up to twice that
    with the room a seller keeps to grow into, besides its entry among the seller's
    listing ids.
    Not thread-safe: one thread scores.
    """

    def __init__(self, derive: Callable[[Arrays, EventCodes], ListingEvents],
                 max_rows: int = CACHE_ROWS, max_sellers: int = MAX_SELLERS,
                 max_codes: int = MAX_CODES) -> None:
        self.derive = derive
        self.max_rows = max_rows
        self.max_sellers = max_sellers
        self.max_codes = max_codes
        self.rows = 0
        self.codes = EventCodes()
        self._sellers: OrderedDict[str, SellerEvents] = OrderedDict()

    def earlier(self, history: Mapping[str, CachedSeller], scoring: Mapping[str, str]
                ) -> tuple[EarlierListings, frozenset[str]]:
        """The sellers' stored listings (`history`, as the history store read them) as
        events, less the listings in `scoring` (listing id -> its seller: a listing scored
        again is not its own history); and which of `scoring` are stored.

        A listing is its seller's: one sent with another seller than the one it was
        stored with is not stored as sent (the store keeps the first), and stays in the
        history of the seller that stored it, as it is in the store's."""
        if self.codes.n_brands + self.codes.n_categories > self.max_codes:
            self.clear()
        self._bring_up_to_date(history)
        sellers, blocks, first = [], [], {}
        rows = 0
        for seller in history:
            events = self._sellers[seller].events
            sellers.append(seller)
            blocks.append(events)
            first[seller] = rows
            rows += len(events.created)
        stored, left_out = [], []
        for listing, seller in scoring.items():
            entry = self._sellers.get(seller) if seller in first else None
            row = None if entry is None else entry.rows.get(listing)
            if row is not None:
                stored.append(listing)
                left_out.append(first[seller] + row)
        self._trim(keep=len(history))
        return (EarlierListings(self.codes, sellers, blocks, np.array(left_out, dtype=np.int64)),
                frozenset(stored))

    def clear(self) -> None:
        self._sellers.clear()
        self.rows = 0
        self.codes = EventCodes()

    def _bring_up_to_date(self, history: Mapping[str, CachedSeller]) -> None:
        """Events for the rows not covered yet, of all the sellers in one call of `derive`
        (a call costs far more than a row)."""
        base: dict[str, SellerEvents] = {}
        whole: list[CachedSeller] = []
        newest: list[Sequence[Any]] = []  # the usual case: the new rows are unfolded
        folded: list[Arrays] = []  # ... else looked for among all the seller's rows
        for seller, cached in history.items():
            entry = self._sellers.get(seller)
            if entry is not None and entry.count == cached.count:
                self._sellers.move_to_end(seller)
                continue
            if entry is not None and entry.count < cached.count:
                rows = cached.unfolded(without=entry.rows)
                if entry.count + len(rows) == cached.count:
                    base[seller] = entry
                    newest.extend(rows)
                    continue
                uncovered = history_listings([cached], exclude=entry.rows)
                if entry.count + len(uncovered["listing_id"]) == cached.count:
                    base[seller] = entry
                    folded.append(uncovered)
                    continue
            base[seller] = SellerEvents()  # derived whole
            whole.append(cached)
        if not base:
            return
        listings = stacked(history_listings([*whole, CachedSeller(0, 0, None, tuple(newest))]),
                           *folded)
        self._extend(base, listings, self.derive(listings, self.codes))

    def stored(self, listings: Arrays, events: ListingEvents, codes: EventCodes) -> None:
        """`listings` (plain arrays) have just been stored, every one of them by this
        scorer, after `earlier` read their sellers: add `events` (theirs, a row each, coded
        by `codes`, as the model computed them to score them) to the sellers held, so
        that the next request need not derive them from the stored rows.

        A seller's events then cover the rows the store holds for it, as the count rule
        wants; when another writer stored rows of the seller meanwhile, the count tells,
        and `earlier` looks for them as for any new row.
        """
        if codes is not self.codes:  # the codes started afresh since: nothing to add to
            return
        sellers = listings["seller_id"].to_pylist()
        base = {seller: self._sellers[seller] for seller in set(sellers)
                if seller in self._sellers}
        if base:
            self._extend(base, listings, events)
            self._trim(keep=len(base))

    def _extend(self, base: Mapping[str, SellerEvents], listings: Arrays,
                events: ListingEvents) -> None:
        """Add `listings` with their `events` (a row each) to the events of their sellers
        in `base` (held already, or new and empty for a seller derived whole); the sellers
        become the most recently used."""
        (sellers,), names = text_codes(listings["seller_id"])
        order = np.argsort(sellers, kind="stable")
        bounds = np.cumsum([0, *np.bincount(sellers, minlength=len(names))])
        listing_ids = listings["listing_id"].to_pylist()
        for code, seller in enumerate(names):
            if seller not in base:
                continue
            at = order[bounds[code]:bounds[code + 1]]
            old = self._sellers.pop(seller, None)
            self.rows -= 0 if old is None else old.count
            entry = self._sellers[seller] = base[seller]
            entry.extend([listing_ids[i] for i in at], events.take(at))
            self.rows += entry.count

    @property
    def sellers(self) -> list[str]:
        """The sellers held, least recently used first."""
        return list(self._sellers)

    def _trim(self, keep: int) -> None:
        """Drop least recently used sellers past the limits, never the `keep` most recent."""
        while ((self.rows > self.max_rows or len(self._sellers) > self.max_sellers)
               and len(self._sellers) > keep):
            _, dropped = self._sellers.popitem(last=False)
            self.rows -= dropped.count


def _no_events() -> ListingEvents:
    none = np.zeros(0, dtype=np.int64)
    return ListingEvents(none, none, none, np.zeros(0, dtype=bool), none,
                         np.zeros(0, dtype=np.float64))
