"""Seller history as of each listing's own `created_at`: what was known then, and nothing later.

`seller_history(targets, listings, sellers, complaints)` is the one function for a
batch of a million listings and for one listing scored online. Every count is
"events strictly before `as_of`" (the target's `created_at`): a listing is known
from its `created_at`, a complaint from `filed_at`, its outcome from
`resolved_at`. An event at exactly `as_of` is not yet known. Each seller's
features read only that seller's own rows, so the online call (the seller's
stored listings and ledger complaints) gives the same numbers as the batch.

Vectorized: events are packed into one sortable int64 key (group, moment rank;
`features.timeline`) so "how many events of this seller before this moment" is
two binary searches, and sums, maxima and medians over those events are read
from prefix arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer

from features.columns import MISSING_NS, Columns, require_columns, text_codes
from features.price import GENERIC_BRANDS
from features.timeline import Timeline, distinct, group_running_max, moment_ranks, run_starts

NS_PER_DAY = 86_400 * 10**9
SMALL_WINDOWS = 4096  # up to this many prices in all, medians are sorted in Python

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
                   settings: HistorySettings) -> np.ndarray:
    """The features of `seller_history` as one float64 array, a row per target."""
    for frame, name, needed in ((targets, "targets", TARGET_COLUMNS),
                                (listings, "listings", LISTING_COLUMNS),
                                (sellers, "sellers", SELLER_COLUMNS),
                                (complaints, "complaints", COMPLAINT_COLUMNS)):
        require_columns(frame, f"seller_history: {name}", needed)
    targets, listings, sellers, complaints = map(
        Columns.of, (targets, listings, sellers, complaints))

    (target_seller, listing_seller, complaint_seller, seller_seller), _ = text_codes(
        targets.texts("seller_id"), listings.texts("seller_id"), complaints.texts("seller_id"),
        sellers.texts("seller_id"))
    if len(distinct(seller_seller)) != len(seller_seller):
        raise ValueError("seller_history: sellers has duplicate seller_id values")
    as_of = targets.moments("created_at", "targets.created_at")
    created = listings.moments("created_at", "listings.created_at")
    filed = complaints.moments("filed_at", "complaints.filed_at")
    resolved = complaints.moments("resolved_at", "complaints.resolved_at", allow_missing=True)
    window_starts = [as_of - d * NS_PER_DAY for d in settings.velocity_windows_days]
    (as_of_rank, created_rank, filed_rank, resolved_rank, *window_ranks), stride = moment_ranks(
        as_of, created, filed, resolved, *window_starts)

    # Targets in (seller, moment) order make every binary search below nearly sequential.
    order = np.lexsort((as_of, target_seller))
    query = _Query(target_seller[order], as_of[order], as_of_rank[order],
                   [r[order] for r in window_ranks])
    events = _Events(stride, listing_seller, created_rank, complaint_seller, resolved,
                     filed_rank, resolved_rank)
    columns: dict[str, np.ndarray] = {}
    columns.update(_account(query, seller_seller, sellers))
    columns.update(_complaints(query, events, complaints, settings))
    (target_category, listing_category), _ = text_codes(targets.texts("category"),
                                                        listings.texts("category"))
    columns.update(_listing_activity(query, events, listings, listing_category, settings))
    columns["price__ratio_to_seller_history"] = _ratio_to_own_prices(
        query, events, target_category[order], listing_category,
        targets.numbers("price_usd")[order], listings)

    names = settings.feature_names()
    out = np.empty((len(order), len(names)), dtype=np.float64)
    # one conversion of every column to float64 (as assigning each would cast), one scatter
    out[order] = np.array([columns[name] for name in names], dtype=np.float64).T
    return out


@dataclass(frozen=True)
class _Query:
    """The targets sorted by (seller, as_of): who asks, and the ranks of the moments asked."""

    seller: np.ndarray
    as_of: np.ndarray
    as_of_rank: np.ndarray
    window_start_ranks: Sequence[np.ndarray]


@dataclass(frozen=True)
class _Events:
    """The history tables as integer arrays: seller codes and shared-clock ranks of moments."""

    stride: np.int64
    listing_seller: np.ndarray
    created_rank: np.ndarray
    complaint_seller: np.ndarray
    resolved: np.ndarray
    filed_rank: np.ndarray
    resolved_rank: np.ndarray


def _running_count(codes: np.ndarray) -> np.ndarray:
    """For each element, how many elements so far (itself included) share its code."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(run_starts(ordered))
    position = np.arange(len(codes)) - np.repeat(starts, np.diff(starts, append=len(codes)))
    out = np.empty(len(codes), dtype=np.int64)
    out[order] = position + 1
    return out


def _first_per(rank: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Positions of the earliest event (lowest rank) of each distinct key."""
    order = np.lexsort((rank, key))
    return order[run_starts(key[order])]


def _last(values: np.ndarray, first: np.ndarray, count: np.ndarray, fallback: float) -> np.ndarray:
    """values[first + count - 1] where count > 0, else fallback."""
    out = np.full(len(first), fallback, dtype=np.float64)
    seen = count > 0
    out[seen] = values[first[seen] + count[seen] - 1]
    return out


def _account(query: _Query, seller_code: np.ndarray,
             sellers: Columns) -> dict[str, np.ndarray]:
    n_codes = int(max(query.seller.max(initial=-1), seller_code.max(initial=-1))) + 1
    registered = np.full(n_codes, MISSING_NS, dtype=np.int64)
    registered[seller_code] = sellers.moments("registered_at", "sellers.registered_at")
    verified = np.zeros(n_codes, dtype=np.float64)
    verified[seller_code] = sellers.numbers("business_verified", bool)
    reg = registered[query.seller]
    known = reg != MISSING_NS
    age = np.zeros(len(reg), dtype=np.float64)
    age[known] = np.maximum(query.as_of[known] - reg[known], 0) / NS_PER_DAY
    # business_verified is the seller table's current flag: the contract keeps no history of it.
    return {"seller__account_age_days": age, "seller__business_verified": verified[query.seller]}


def _complaints(query: _Query, events: _Events, complaints: Columns,
                settings: HistorySettings) -> dict[str, np.ndarray]:
    """Complaint counts by what was known at as_of, and strikes: distinct upheld listings."""
    codes, statuses = complaints.dictionary("status")
    resolved = events.resolved != MISSING_NS
    upheld = np.array([v == "upheld" for v in statuses], dtype=bool)[codes] & resolved
    rejected = np.array([v == "rejected" for v in statuses], dtype=bool)[codes] & resolved
    names = ("filed", "upheld", "rejected")
    if len(codes):
        # one timeline of the three kinds of event, a group per (seller, kind): one sort
        kinds = ((np.ones(len(codes), dtype=bool), events.filed_rank),
                 (upheld, events.resolved_rank), (rejected, events.resolved_rank))
        line = Timeline(np.concatenate([events.complaint_seller[mask] * 3 + kind
                                        for kind, (mask, _) in enumerate(kinds)]),
                        np.concatenate([rank[mask] for mask, rank in kinds]), events.stride)
        counts = {name: line.before(query.seller * 3 + kind, query.as_of_rank)[1]
                  for kind, name in enumerate(names)}
    else:  # no complaints (most sellers online): none before any moment
        counts = dict.fromkeys(names, np.zeros(len(query.seller), dtype=np.int64))
    out = {
        "seller__complaints_filed_before": counts["filed"],
        "seller__complaints_upheld_before": counts["upheld"],
        "seller__complaints_rejected_before": counts["rejected"],
        # resolved_at >= filed_at: whatever was resolved before as_of was also filed before it
        "seller__complaints_pending": counts["filed"] - counts["upheld"] - counts["rejected"],
    }

    if not upheld.any():  # no strike: none before any moment
        none = counts["upheld"]
        out.update({
            "seller__upheld_strikes_before": none,
            "seller__max_brand_strikes_before": np.zeros(len(none), dtype=np.float64),
            "seller__frozen": np.zeros(len(none), dtype=np.float64),
            "seller__days_since_last_strike": np.full(len(none), settings.no_strike_days,
                                                      dtype=np.float64),
        })
        return out

    seller, rank = events.complaint_seller[upheld], events.resolved_rank[upheld]
    listing = complaints.dictionary("listing_id")[0][upheld]
    brand = _brand_codes(complaints.dictionary("brand"))[0][upheld]
    n_listings, n_brands = listing.max(initial=0) + 1, brand.max(initial=0) + 1
    # a strike is dated by its listing's first upholding
    strike = _first_per(rank, seller * n_listings + listing)
    strikes = Timeline(seller[strike], rank[strike], events.stride)
    first, count = strikes.before(query.seller, query.as_of_rank)
    strike_ns = events.resolved[upheld][strike][strikes.order].astype(np.float64)
    last_strike = _last(strike_ns, first, count, np.nan)
    days_since = np.where(count > 0, (query.as_of - last_strike) / NS_PER_DAY,
                          settings.no_strike_days)

    # a listing upheld for two brands is a strike from each of them
    branded = _first_per(rank, (seller * n_brands + brand) * n_listings + listing)
    line = Timeline(seller[branded], rank[branded], events.stride)
    running = _running_count((seller * n_brands + brand)[branded][line.order])
    most = group_running_max(running, line.group).astype(np.float64)
    bfirst, bcount = line.before(query.seller, query.as_of_rank)
    max_brand = _last(most, bfirst, bcount, 0.0)

    scoped = max_brand if settings.strike_scope == "brand" else count
    out.update({
        "seller__upheld_strikes_before": count,
        "seller__max_brand_strikes_before": max_brand,
        "seller__frozen": (scoped >= settings.strikes_to_freeze).astype(np.float64),
        "seller__days_since_last_strike": days_since,
    })
    return out


def _listing_activity(query: _Query, events: _Events, listings: Columns,
                      category: np.ndarray, settings: HistorySettings) -> dict[str, np.ndarray]:
    line = Timeline(events.listing_seller, events.created_rank, events.stride)
    first, count = line.before(query.seller, query.as_of_rank)
    out: dict[str, np.ndarray] = {"seller__listings_before": count}
    for days, start in zip(settings.velocity_windows_days, query.window_start_ranks, strict=True):
        # the events before as_of end at first + count
        out[f"seller__listings_last_{days}d"] = first + count - line.end(query.seller, start)

    brand, generic = _brand_codes(listings.dictionary("brand"))
    out["seller__distinct_brands_before"] = _distinct_before(
        line, first, count, events.listing_seller, brand, ~generic[brand])
    out["seller__distinct_categories_before"] = _distinct_before(
        line, first, count, events.listing_seller, category, np.ones(len(category), dtype=bool))

    underpriced = listings.numbers("price_ratio") < settings.underpriced_ratio
    sums = line.prefix_sum(underpriced)
    seen = np.maximum(count, 1)
    out["seller__underpriced_share_before"] = (sums[first + count] - sums[first]) / seen
    # capped so the running maximum's group lift stays inside int64
    quantity = np.minimum(listings.numbers("quantity", np.int64), 2**31 - 1)
    totals = line.prefix_sum(quantity)
    out["seller__mean_quantity_before"] = (totals[first + count] - totals[first]) / seen
    out["seller__max_quantity_before"] = _last(line.group_cummax(quantity).astype(np.float64),
                                               first, count, 0.0)
    out["seller__first_listing"] = count == 0
    return out


def _brand_codes(brands: tuple[np.ndarray, list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Codes of brands compared trimmed and case-folded, and per code whether it is generic.

    `brands` is a coded column (`Columns.dictionary`).
    """
    codes, values = brands
    merged: dict[str, int] = {}
    code_of = np.array([merged.setdefault(v.strip().casefold(), len(merged)) for v in values],
                       dtype=np.int64)
    generic = np.array([key in GENERIC_BRANDS for key in merged], dtype=bool)
    return code_of[codes], generic


def _distinct_before(line: Timeline, first: np.ndarray, count: np.ndarray, seller: np.ndarray,
                     codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """How many distinct values (where `mask`) each seller had used before as_of.

    `line` is the listings' timeline (`seller`, `codes` and `mask` hold a value per
    listing) and `first`, `count` each target's events before as_of on it. A value
    counts where it first appears on its seller's line, which is in moment order, so
    that first appearance is its earliest.
    """
    key = np.where(mask, seller * (codes.max(initial=0) + 1) + codes, -1)[line.order]
    order = np.argsort(key, kind="stable")  # stable: each run starts at its first appearance
    ordered = key[order]
    new = np.zeros(len(key) + 1, dtype=np.int64)
    new[1:][order[run_starts(ordered) & (ordered >= 0)]] = 1
    seen = np.cumsum(new)
    return seen[first + count] - seen[first]


def _window_medians(prices: np.ndarray, group: np.ndarray, first: np.ndarray,
                    count: np.ndarray) -> np.ndarray:
    """Median of each window `prices[first:first + count]` (a prefix of a run of `group`).

    NaN is skipped, as pandas' rolling median does (a window of only NaN: NaN); the
    median of an even count is the mean of the two middle values. Few values: sorted
    in Python; many: one pandas rolling median over every prefix of every group.
    """
    if int(count.sum()) <= SMALL_WINDOWS:
        out = []
        for start, n in zip(first.tolist(), count.tolist(), strict=True):
            values = sorted(v for v in prices[start:start + n].tolist() if v == v)
            half = len(values) // 2
            out.append(np.nan if not values else values[half] if len(values) % 2
                       else (values[half - 1] + values[half]) / 2)
        return np.array(out, dtype=np.float64)
    starts = np.searchsorted(group, group, side="left").astype(np.int64)
    window = pd.Series(prices).rolling(_PrefixWindows(group_start=starts), min_periods=1)
    return window.median().to_numpy()[first + count - 1]


class _PrefixWindows(BaseIndexer):
    """Rolling windows that start at each row's group start: an expanding window per group."""

    def get_window_bounds(self, num_values: int = 0, min_periods: int | None = None,
                          center: bool | None = None, closed: str | None = None,
                          step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.group_start, np.arange(1, num_values + 1, dtype=np.int64)


def _ratio_to_own_prices(query: _Query, events: _Events, target_category: np.ndarray,
                         listing_category: np.ndarray, price: np.ndarray,
                         listings: Columns) -> np.ndarray:
    """This price over the median price of the seller's earlier listings in the same category."""
    n_categories = max(target_category.max(initial=0), listing_category.max(initial=0)) + 1
    target_group = query.seller * n_categories + target_category
    group = events.listing_seller * n_categories + listing_category
    line = Timeline(group, events.created_rank, events.stride)
    prices = listings.numbers("price_usd")[line.order]
    first, count = line.before(target_group, query.as_of_rank)
    median = np.ones(len(count), dtype=np.float64)
    seen = np.flatnonzero(count > 0)
    median[seen] = _window_medians(prices, line.group, first[seen], count[seen])
    return np.where(count > 0, price / median, 1.0)
