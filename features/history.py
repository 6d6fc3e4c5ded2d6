"""Seller history as of each listing's own `created_at`: what was known then, and nothing later.

`seller_history(targets, listings, sellers, complaints)` is the one function for a
batch of a million listings and for one listing scored online. Every count is
"events strictly before `as_of`" (the target's `created_at`): a listing is known
from its `created_at`, a complaint from `filed_at`, its outcome from
`resolved_at`. An event at exactly `as_of` is not yet known. Each seller's
features read only that seller's own rows, so the online call (the seller's
stored listings and ledger complaints) gives the same numbers as the batch.

One pass: every event line (listings, complaint filings, outcomes, strikes) is
sorted by (seller, moment), the targets by (seller, as_of), and a loop compiled by
numba walks each seller's events up to each target's moment, keeping counts,
sums, maxima and a running median of each category's prices as it goes. The same
loop serves a million listings and one: NumPy's calls cost microseconds each,
which was most of the time of one listing scored online.

What a listing adds to its seller's later history depends on the listing and the
fitted pipeline alone (`ListingEvents`: its moment, coded brand and category, price
and price ratio). The online service keeps its sellers' stored listings in that form
from one request to the next and hands them over as `EarlierListings`, coded by the
same `EventCodes`; the sweep is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from features.columns import MISSING_NS, Columns, require_columns, text_codes
from features.compiled import compiled
from features.price import GENERIC_BRANDS
from features.timeline import distinct, run_starts

NS_PER_DAY = 86_400 * 10**9
QUANTITY_CAP = 2**31 - 1

TARGET_COLUMNS = ("seller_id", "created_at", "brand", "category", "price_usd", "quantity")
LISTING_COLUMNS = (*TARGET_COLUMNS, "price_ratio")
SELLER_COLUMNS = ("seller_id", "registered_at", "business_verified")
COMPLAINT_COLUMNS = ("listing_id", "seller_id", "brand", "filed_at", "status", "resolved_at")


@dataclass(frozen=True)
class HistorySettings:
    """The knobs of the seller-history family; each default lives here."""

    strikes_to_freeze: int = 3
    strike_scope: Literal["brand", "all"] = "brand"
    underpriced_ratio: float = 0.4
    velocity_windows_days: tuple[int, ...] = (7, 30)
    no_strike_days: float = 3650.0  # days since last strike for a seller who has none

    def __post_init__(self) -> None:
        if self.strikes_to_freeze < 1:
            raise ValueError(f"strikes_to_freeze must be >= 1, got {self.strikes_to_freeze}")
        if self.strike_scope not in ("brand", "all"):
            raise ValueError(f"strike_scope must be 'brand' or 'all', got {self.strike_scope!r}")
        if not self.underpriced_ratio > 0:
            raise ValueError(f"underpriced_ratio must be > 0, got {self.underpriced_ratio}")
        windows = self.velocity_windows_days
        if len(set(windows)) != len(windows) or any(int(d) != d or d < 1 for d in windows):
            raise ValueError(
                f"velocity_windows_days must be distinct whole days >= 1, got {windows}")

    def feature_names(self) -> list[str]:
        """The output columns, in order."""
        return [
            "seller__account_age_days",
            "seller__business_verified",
            "seller__complaints_filed_before",
            "seller__complaints_upheld_before",
            "seller__complaints_rejected_before",
            "seller__complaints_pending",
            "seller__upheld_strikes_before",
            "seller__max_brand_strikes_before",
            "seller__frozen",
            "seller__days_since_last_strike",
            "seller__listings_before",
            *(f"seller__listings_last_{d}d" for d in self.velocity_windows_days),
            "seller__distinct_brands_before",
            "seller__distinct_categories_before",
            "seller__underpriced_share_before",
            "seller__mean_quantity_before",
            "seller__max_quantity_before",
            "seller__first_listing",
            "price__ratio_to_seller_history",
        ]


def seller_history(targets: pd.DataFrame | Columns, listings: pd.DataFrame | Columns,
                   sellers: pd.DataFrame | Columns, complaints: pd.DataFrame | Columns,
                   settings: HistorySettings | None = None) -> pd.DataFrame:
    """Seller-history features of each target as of its own `created_at`.

    Args:
        targets: the listings to featurize (`TARGET_COLUMNS`).
        listings: every known listing (`LISTING_COLUMNS`); may hold the targets and later
            listings, which are ignored per target (only `created_at < as_of` counts).
        sellers: the seller table of the data contract.
        complaints: the complaints table of the data contract (the strike ledger).
        settings: thresholds and windows; `HistorySettings()` when omitted.

    Returns:
        One row per target, indexed like `targets`, columns `settings.feature_names()`,
        all float64 and never NaN: a seller without history or unknown to `sellers` gets
        zeros (a new, unverified account) and a price ratio of 1.
    """
    settings = settings or HistorySettings()
    values = history_values(targets, listings, sellers, complaints, settings)
    # (feature, listing) memory is pandas' own column layout, and the array is ours: no copy
    return pd.DataFrame(values, index=Columns.of(targets).index,
                        columns=settings.feature_names(), copy=False)


def history_values(targets: pd.DataFrame | Columns, listings: pd.DataFrame | Columns,
                   sellers: pd.DataFrame | Columns, complaints: pd.DataFrame | Columns,
                   settings: HistorySettings, earlier: EarlierListings | None = None,
                   events: ListingEvents | None = None) -> np.ndarray:
    """The features of `seller_history` as one float64 array, a row per target.

    `earlier` adds listings already turned into events (the online service's stored
    history) to `listings`. `events` are `listings` themselves as events, coded by
    `earlier.codes`, when the caller has them (`listing_events`).
    """
    for frame, name, needed in ((targets, "targets", TARGET_COLUMNS),
                                (listings, "listings", LISTING_COLUMNS),
                                (sellers, "sellers", SELLER_COLUMNS),
                                (complaints, "complaints", COMPLAINT_COLUMNS)):
        require_columns(frame, f"seller_history: {name}", needed)
    if events is not None and earlier is None:
        raise ValueError("seller_history: events of the listings come with the earlier "
                         "listings whose codes they use")
    targets, listings, sellers, complaints = map(
        Columns.of, (targets, listings, sellers, complaints))
    earlier = earlier or EarlierListings()

    (target_seller, listing_seller, complaint_seller, seller_seller), seller_ids = text_codes(
        targets.texts("seller_id"), listings.texts("seller_id"), complaints.texts("seller_id"),
        sellers.texts("seller_id"))
    if len(distinct(seller_seller)) != len(seller_seller):
        raise ValueError("seller_history: sellers has duplicate seller_id values")
    code_of = {seller: code for code, seller in enumerate(seller_ids)}
    earlier_seller = [np.full(len(events.created), code_of.setdefault(seller, len(code_of)))
                      for seller, events in zip(earlier.sellers, earlier.events, strict=True)]
    n_codes = len(code_of)
    # own, writable arrays: the compiled sweep has one signature (a read-only array,
    # as pandas may hand out, would make it compile another)
    as_of = np.array(targets.moments("created_at", "targets.created_at"))
    registered = np.full(n_codes, MISSING_NS, dtype=np.int64)
    registered[seller_seller] = sellers.moments("registered_at", "sellers.registered_at")
    # business_verified is the seller table's current flag: the contract keeps no history of it.
    verified = np.zeros(n_codes, dtype=np.float64)
    verified[seller_seller] = sellers.numbers("business_verified", bool)

    codes = earlier.codes
    if events is None:
        events = listing_events(listings, listings.numbers("price_ratio"), settings, codes)
    events = stacked_events([events, *earlier.events])
    listing_seller = np.concatenate([listing_seller, *earlier_seller])
    order = np.lexsort((events.created, listing_seller))  # each seller's listings, oldest first
    if len(earlier.left_out):  # rows of the blocks, which come after the listings' own
        keep = np.ones(len(listing_seller), dtype=bool)
        keep[len(listings) + earlier.left_out] = False
        order = order[keep[order]]
    target_category = codes.categories(targets.dictionary("category"))

    out = np.empty((len(as_of), len(settings.feature_names())), dtype=np.float64)
    _sweep_kernel()(
        np.lexsort((as_of, target_seller)), target_seller, as_of, target_category,
        np.array(targets.numbers("price_usd")), listing_seller[order],
        *(column[order] for column in events),
        *_complaint_events(complaints, complaint_seller), registered, verified,
        np.array(settings.velocity_windows_days, dtype=np.int64) * NS_PER_DAY,
        codes.n_brands, codes.n_categories,
        int(settings.strikes_to_freeze), settings.strike_scope == "brand",
        float(settings.no_strike_days), out)
    return out


class ListingEvents(NamedTuple):
    """Listings as the seller-history sweep reads them, a row per listing, in any order.

    Brands and categories are coded by an `EventCodes`; a listing's row depends on the
    listing and the fitted pipeline alone (its price in USD and its price ratio).
    """

    created: np.ndarray  # int64 UTC nanoseconds
    brand: np.ndarray  # int64; -1: a generic brand, not counted as a brand
    category: np.ndarray  # int64
    underpriced: np.ndarray  # bool: price ratio under `HistorySettings.underpriced_ratio`
    quantity: np.ndarray  # int64, capped: a seller's quantities sum exactly in float64
    price: np.ndarray  # float64, USD

    def take(self, rows: np.ndarray) -> ListingEvents:
        return ListingEvents(*(column[rows] for column in self))


def stacked_events(parts: Sequence[ListingEvents]) -> ListingEvents:
    """The rows of `parts` one after another."""
    if len(parts) == 1:
        return parts[0]
    return ListingEvents(*(np.concatenate(column) for column in zip(*parts, strict=True)))


class EventCodes:
    """Codes of listings' brands and categories that hold from one call to the next.

    Brands are compared trimmed and case-folded, and generic brands are -1 (never
    counted as brands); categories as they are written. A value keeps the code it got
    first, so events coded in one call can be swept with targets coded in a later one.
    Not for concurrent use.
    """

    def __init__(self) -> None:
        self._brands: dict[str, int] = {}
        self._categories: dict[str, int] = {}

    @property
    def n_brands(self) -> int:
        return len(self._brands)

    @property
    def n_categories(self) -> int:
        return len(self._categories)

    def brands(self, coded: tuple[np.ndarray, list[str]]) -> np.ndarray:
        """Codes of a coded column (`Columns.dictionary`) of brands."""
        codes, values = coded
        return np.array([self._brand(value) for value in values], dtype=np.int64)[codes]

    def categories(self, coded: tuple[np.ndarray, list[str]]) -> np.ndarray:
        """Codes of a coded column (`Columns.dictionary`) of categories."""
        codes, values = coded
        known = self._categories
        return np.array([known.setdefault(value, len(known)) for value in values],
                        dtype=np.int64)[codes]

    def _brand(self, value: str) -> int:
        key = value.strip().casefold()
        return -1 if key in GENERIC_BRANDS else self._brands.setdefault(key, len(self._brands))


@dataclass(frozen=True)
class EarlierListings:
    """Sellers' listings already turned into events, a block per seller, all coded by `codes`.

    `left_out` are rows of the blocks (numbered through them, block after block) that are
    not history after all: the online service's listings scored again, which are not
    their own history. Leaving them out of the sweep costs less than copying the blocks
    without them.
    """

    codes: EventCodes = field(default_factory=EventCodes)
    sellers: Sequence[str] = ()
    events: Sequence[ListingEvents] = ()
    left_out: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def listing_events(listings: Columns, price_ratio: np.ndarray, settings: HistorySettings,
                   codes: EventCodes) -> ListingEvents:
    """`listings` (with `price_usd`) as events; `price_ratio` is the price family's."""
    return ListingEvents(
        created=np.array(listings.moments("created_at", "listings.created_at")),
        brand=codes.brands(listings.dictionary("brand")),
        category=codes.categories(listings.dictionary("category")),
        underpriced=np.asarray(price_ratio < settings.underpriced_ratio),
        quantity=np.minimum(listings.numbers("quantity", np.int64), QUANTITY_CAP),
        price=np.array(listings.numbers("price_usd"), dtype=np.float64))


def warm_up() -> None:
    """Load the compiled sweep now (from numba's cache on disk, or compiling it).

    A long-running process calls this while it starts: the first listing it scores then
    waits for nothing, and numba's objects exist before the process hides its long-lived
    ones from the garbage collector (`gc.freeze`); made later, they slowed every
    collection, and with them every listing.
    """
    def table(texts: Sequence[str], moments: Sequence[str] = (), numbers: Sequence[str] = (),
              flags: Sequence[str] = ()) -> Columns:
        arrays: dict[str, Any] = {name: pa.array([], type=pa.large_string()) for name in texts}
        arrays.update({name: np.zeros(0, dtype=np.int64) for name in moments})
        arrays.update({name: np.zeros(0, dtype=np.float64) for name in numbers})
        arrays.update({name: np.zeros(0, dtype=bool) for name in flags})
        return Columns.of_arrays(arrays)

    listings = table(("seller_id", "brand", "category"), ("created_at",),
                     ("price_usd", "price_ratio", "quantity"))
    history_values(listings, listings, table(("seller_id",), ("registered_at",), (),
                                             ("business_verified",)),
                   table(("listing_id", "seller_id", "brand", "status"),
                         ("filed_at", "resolved_at")), HistorySettings())


class _ComplaintEvents(NamedTuple):
    """The complaint table as four event lines, each sorted by (seller, moment)."""

    filed_seller: np.ndarray
    filed: np.ndarray
    decided_seller: np.ndarray  # outcomes, dated by resolved_at
    decided: np.ndarray
    decided_upheld: np.ndarray  # else rejected
    strike_seller: np.ndarray  # strikes: a listing's first upholding
    strike: np.ndarray
    branded_seller: np.ndarray  # strikes per brand: a (brand, listing)'s first upholding
    branded: np.ndarray
    branded_brand: np.ndarray
    n_brands: int


def _complaint_events(complaints: Columns, seller: np.ndarray) -> _ComplaintEvents:
    """Filings, outcomes and strikes of the complaints (`seller`: their seller codes)."""
    if not len(seller):  # most sellers scored online: a dozen array calls saved
        none = np.zeros(0, dtype=np.int64)
        return _ComplaintEvents(none, none, none, none, np.zeros(0, dtype=bool), none, none,
                                none, none, none, 1)
    filed = complaints.moments("filed_at", "complaints.filed_at")
    resolved = complaints.moments("resolved_at", "complaints.resolved_at", allow_missing=True)
    codes, statuses = complaints.dictionary("status")
    known = resolved != MISSING_NS
    upheld = np.array([v == "upheld" for v in statuses], dtype=bool)[codes] & known
    rejected = np.array([v == "rejected" for v in statuses], dtype=bool)[codes] & known
    by_filing = np.lexsort((filed, seller))
    decided = np.flatnonzero(upheld | rejected)
    decided = decided[np.lexsort((resolved[decided], seller[decided]))]
    up = np.flatnonzero(upheld)
    up_seller, up_time = seller[up], resolved[up]
    listing = complaints.dictionary("listing_id")[0][up]
    brand = _brand_codes(complaints.dictionary("brand"))[up]
    n_listings, n_brands = int(listing.max(initial=0)) + 1, int(brand.max(initial=0)) + 1
    # a strike is dated by its listing's first upholding; a listing upheld for two brands
    # is a strike from each of them
    strike = _by_seller_and_time(up_seller, up_time,
                                 _first_per(up_time, up_seller * n_listings + listing))
    branded = _by_seller_and_time(up_seller, up_time, _first_per(
        up_time, (up_seller * n_brands + brand) * n_listings + listing))
    return _ComplaintEvents(
        seller[by_filing], filed[by_filing], seller[decided], resolved[decided],
        upheld[decided], up_seller[strike], up_time[strike], up_seller[branded],
        up_time[branded], brand[branded], n_brands)


def _first_per(moment: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Positions of the earliest event of each distinct key."""
    order = np.lexsort((moment, key))
    return order[run_starts(key[order])]


def _by_seller_and_time(seller: np.ndarray, moment: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return rows[np.lexsort((moment[rows], seller[rows]))]


def _brand_codes(brands: tuple[np.ndarray, list[str]]) -> np.ndarray:
    """Codes of brands (a coded column, `Columns.dictionary`) compared trimmed and case-folded."""
    codes, values = brands
    merged: dict[str, int] = {}
    return np.array([merged.setdefault(v.strip().casefold(), len(merged)) for v in values],
                    dtype=np.int64)[codes]


@cache
def _sweep_kernel() -> Callable[..., None]:
    """`_sweep` compiled (once per process; `features.compiled`)."""
    return compiled(_sweep)


def _sweep(target_order, target_seller, as_of, target_category, target_price,
           l_seller, l_created, l_brand, l_category, l_underpriced, l_quantity, l_price,
           f_seller, f_time, d_seller, d_time, d_upheld, s_seller, s_time,
           b_seller, b_time, b_brand, n_strike_brands,
           registered, verified, windows_ns, n_brands, n_categories,
           strikes_to_freeze, scope_brand, no_strike_days, out):
    """Fill `out` (a row per target, `HistorySettings.feature_names` order) in one pass.

    Targets are taken seller by seller, oldest first; every event line (listings,
    filings, outcomes, strikes) is sorted by (seller, moment) and read up to the
    target's `as_of`, strictly before it, so nothing at or after that moment is seen.
    Each seller's state starts from nothing. The median of the seller's earlier prices
    in a category one of its targets is in is kept by two heaps (in the category's
    segment of `lower` and of `upper`): the lower half of the prices in a max-heap, the
    upper half negated in another, so adding a price costs O(log n). Keeping the prices
    sorted instead moved half of them on every insert: online, where each request sweeps
    the seller's whole history, that cost O(n^2) per request (0.14 s for a seller of
    16,000 listings in one category). The median is the same arithmetic either way: the
    middle price, or the mean of the two middle prices.
    """

    def push(heap, base, size, value):  # into the max-heap heap[base:base + size]
        i = size
        heap[base + i] = value
        while i > 0:
            parent = (i - 1) // 2
            if heap[base + parent] >= heap[base + i]:
                break
            heap[base + parent], heap[base + i] = heap[base + i], heap[base + parent]
            i = parent

    def pop(heap, base, size):  # the top of the max-heap heap[base:base + size]
        top = heap[base]
        last = size - 1
        heap[base] = heap[base + last]
        i = 0
        while True:
            child = 2 * i + 1
            if child >= last:
                break
            if child + 1 < last and heap[base + child + 1] > heap[base + child]:
                child += 1
            if heap[base + i] >= heap[base + child]:
                break
            heap[base + i], heap[base + child] = heap[base + child], heap[base + i]
            i = child
        return top

    n_listings, n_windows = len(l_seller), len(windows_ns)
    brand_seen = np.zeros(n_brands, dtype=np.bool_)
    in_category = np.zeros(n_categories, dtype=np.int64)  # the seller's listings so far
    n_lower = np.zeros(n_categories, dtype=np.int64)  # ... of which with a price, lower half
    n_upper = np.zeros(n_categories, dtype=np.int64)  # ... and upper half
    wanted = np.zeros(n_categories, dtype=np.bool_)  # a target's category: its median kept
    segment = np.zeros(n_categories, dtype=np.int64)  # where the category's heaps start
    unplaced = np.zeros(n_categories, dtype=np.int64)  # listings of a segment not yet placed
    lower = np.empty(n_listings, dtype=np.float64)  # max-heaps of the lower halves
    upper = np.empty(n_listings, dtype=np.float64)  # max-heaps of the upper halves, negated
    brand_strikes = np.zeros(n_strike_brands, dtype=np.int64)
    window = np.zeros(n_windows, dtype=np.int64)
    li = fi = di = si = bi = 0
    k = 0
    while k < len(target_order):
        g = target_seller[target_order[k]]
        while li < n_listings and l_seller[li] < g:
            li += 1
        while fi < len(f_seller) and f_seller[fi] < g:
            fi += 1
        while di < len(d_seller) and d_seller[di] < g:
            di += 1
        while si < len(s_seller) and s_seller[si] < g:
            si += 1
        while bi < len(b_seller) and b_seller[bi] < g:
            bi += 1
        first_listing, first_branded, first_target = li, bi, k
        end = li
        while end < n_listings and l_seller[end] == g:
            end += 1
        # lay out one segment of the heaps per category of the seller's listings
        for j in range(li, end):
            unplaced[l_category[j]] += 1
        start = 0
        for j in range(li, end):
            c = l_category[j]
            if unplaced[c]:  # the category's first listing: place its segment
                segment[c] = start
                start += unplaced[c]
                unplaced[c] = 0
        # only the categories of the seller's targets need a median (online: one)
        last_target = k
        while last_target < len(target_order) and target_seller[target_order[last_target]] == g:
            wanted[target_category[target_order[last_target]]] = True
            last_target += 1
        for w in range(n_windows):
            window[w] = li
        listed = distinct_brands = distinct_categories = underpriced = 0
        quantity_sum, quantity_max = 0.0, 0
        filed = upheld = rejected = strikes = most_brand_strikes = 0
        last_strike = 0
        while k < len(target_order) and target_seller[target_order[k]] == g:
            row = target_order[k]
            t = as_of[row]
            while li < end and l_created[li] < t:
                b = l_brand[li]
                if b >= 0 and not brand_seen[b]:
                    brand_seen[b] = True
                    distinct_brands += 1
                c = l_category[li]
                if in_category[c] == 0:
                    distinct_categories += 1
                in_category[c] += 1
                p = l_price[li]
                if p == p and wanted[c]:  # NaN prices take no part in the median
                    base = segment[c]
                    if n_lower[c] == 0 or p <= lower[base]:
                        push(lower, base, n_lower[c], p)
                        n_lower[c] += 1
                    else:
                        push(upper, base, n_upper[c], -p)
                        n_upper[c] += 1
                    # the lower half holds the middle price: as many as the upper, or one more
                    if n_lower[c] > n_upper[c] + 1:
                        push(upper, base, n_upper[c], -pop(lower, base, n_lower[c]))
                        n_lower[c] -= 1
                        n_upper[c] += 1
                    elif n_upper[c] > n_lower[c]:
                        push(lower, base, n_lower[c], -pop(upper, base, n_upper[c]))
                        n_upper[c] -= 1
                        n_lower[c] += 1
                underpriced += l_underpriced[li]
                quantity_sum += l_quantity[li]
                quantity_max = max(quantity_max, l_quantity[li]) if listed else l_quantity[li]
                listed += 1
                li += 1
            while fi < len(f_seller) and f_seller[fi] == g and f_time[fi] < t:
                filed += 1
                fi += 1
            while di < len(d_seller) and d_seller[di] == g and d_time[di] < t:
                if d_upheld[di]:
                    upheld += 1
                else:
                    rejected += 1
                di += 1
            while si < len(s_seller) and s_seller[si] == g and s_time[si] < t:
                strikes += 1
                last_strike = s_time[si]
                si += 1
            while bi < len(b_seller) and b_seller[bi] == g and b_time[bi] < t:
                brand_strikes[b_brand[bi]] += 1
                most_brand_strikes = max(most_brand_strikes, brand_strikes[b_brand[bi]])
                bi += 1

            since = registered[g]
            out[row, 0] = 0.0 if since == MISSING_NS else max(t - since, 0) / NS_PER_DAY
            out[row, 1] = verified[g]
            out[row, 2] = filed
            out[row, 3] = upheld
            out[row, 4] = rejected
            out[row, 5] = filed - upheld - rejected
            out[row, 6] = strikes
            out[row, 7] = most_brand_strikes
            scoped = most_brand_strikes if scope_brand else strikes
            out[row, 8] = 1.0 if scoped >= strikes_to_freeze else 0.0
            out[row, 9] = ((np.float64(t) - np.float64(last_strike)) / NS_PER_DAY if strikes
                           else no_strike_days)
            out[row, 10] = listed
            for w in range(n_windows):
                begin = t - windows_ns[w]
                while window[w] < li and l_created[window[w]] < begin:
                    window[w] += 1
                out[row, 11 + w] = li - window[w]
            col = 11 + n_windows
            seen = max(listed, 1)
            out[row, col] = distinct_brands
            out[row, col + 1] = distinct_categories
            out[row, col + 2] = underpriced / seen
            out[row, col + 3] = quantity_sum / seen
            out[row, col + 4] = quantity_max if listed else 0.0
            out[row, col + 5] = 1.0 if listed == 0 else 0.0
            c = target_category[row]
            if in_category[c] == 0:
                out[row, col + 6] = 1.0
            else:
                base = segment[c]
                if n_lower[c] == 0:
                    median = np.nan
                elif n_lower[c] > n_upper[c]:
                    median = lower[base]
                else:
                    median = (lower[base] + -upper[base]) / 2
                out[row, col + 6] = target_price[row] / median
            k += 1
        # forget this seller: reset what its events touched
        for j in range(first_listing, end):
            if l_brand[j] >= 0:
                brand_seen[l_brand[j]] = False
            in_category[l_category[j]] = 0
            n_lower[l_category[j]] = n_upper[l_category[j]] = 0
        for j in range(first_target, k):
            wanted[target_category[target_order[j]]] = False
        for j in range(first_branded, bi):
            brand_strikes[b_brand[j]] = 0
