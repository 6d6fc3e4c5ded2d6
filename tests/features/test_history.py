"""Seller history is point-in-time: it equals a slow per-listing reference, ignores the future,
and depends only on the seller's own rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.columns import Columns, plain_arrays
from features.history import (
    EarlierListings,
    EventCodes,
    HistorySettings,
    history_values,
    listing_events,
    seller_history,
)
from features.price import GENERIC_BRANDS

T0 = pd.Timestamp("2026-01-01T00:00:00Z")
BRANDS = ["Arvedo", "arvedo ", "Briruvi", "Celo", "", "Generic"]
CATEGORIES = ["handbags", "watches", "toys"]


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def stamps(values: list[pd.Timestamp | None]) -> pd.Series:
    return pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[ns, UTC]")


def make_sellers(rows: list[tuple[str, float, bool]]) -> pd.DataFrame:
    return pd.DataFrame({
        "seller_id": pd.Series([r[0] for r in rows], dtype="str"),
        "registered_at": stamps([at(r[1]) for r in rows]),
        "country": pd.Series(["US"] * len(rows), dtype="str"),
        "business_verified": pd.Series([r[2] for r in rows], dtype=bool),
    })


def make_listings(rows: list[tuple[str, str, float, str, str, float, int, float]]) -> pd.DataFrame:
    """rows: (listing_id, seller_id, hour, brand, category, price_usd, quantity, price_ratio)."""
    return pd.DataFrame({
        "listing_id": pd.Series([r[0] for r in rows], dtype="str"),
        "seller_id": pd.Series([r[1] for r in rows], dtype="str"),
        "created_at": stamps([at(r[2]) for r in rows]),
        "brand": pd.Series([r[3] for r in rows], dtype="str"),
        "category": pd.Series([r[4] for r in rows], dtype="str"),
        "price_usd": pd.Series([r[5] for r in rows], dtype="float64"),
        "quantity": pd.Series([r[6] for r in rows], dtype="int64"),
        "price_ratio": pd.Series([r[7] for r in rows], dtype="float64"),
    })


def make_complaints(
        rows: list[tuple[str, str, str, str, float, str, float | None]]) -> pd.DataFrame:
    """rows: (complaint_id, listing_id, seller_id, brand, filed hour, status, resolved hour)."""
    return pd.DataFrame({
        "complaint_id": pd.Series([r[0] for r in rows], dtype="str"),
        "listing_id": pd.Series([r[1] for r in rows], dtype="str"),
        "seller_id": pd.Series([r[2] for r in rows], dtype="str"),
        "brand": pd.Series([r[3] for r in rows], dtype="str"),
        "filed_at": stamps([at(r[4]) for r in rows]),
        "status": pd.Series([r[5] for r in rows], dtype="str"),
        "resolved_at": stamps([None if r[6] is None else at(r[6]) for r in rows]),
    })


@st.composite
def marketplaces(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Small marketplaces on a coarse clock (whole hours, many ties) with every complaint state."""
    n_sellers = draw(st.integers(1, 4))
    seller_ids = [f"S{i}" for i in range(n_sellers)]
    sellers = make_sellers([(s, draw(st.integers(-500, 40)), draw(st.booleans()))
                            for s in seller_ids])
    hour = st.integers(0, 60)
    listing_rows = [
        (f"L{i}", draw(st.sampled_from(seller_ids)), draw(hour), draw(st.sampled_from(BRANDS)),
         draw(st.sampled_from(CATEGORIES)), draw(st.sampled_from([5.0, 20.0, 35.5, 100.0])),
         draw(st.integers(1, 50)), draw(st.sampled_from([0.1, 0.39, 0.4, 1.0, 2.5])))
        for i in range(draw(st.integers(1, 14)))
    ]
    listings = make_listings(listing_rows)
    complaint_rows = []
    for i in range(draw(st.integers(0, 12))):
        listing = draw(st.sampled_from(listing_rows))
        # brands also report listings that are not in the listings table
        listing_id = listing[0] if draw(st.booleans()) else f"X{draw(st.integers(0, 2))}"
        filed = draw(hour)
        status = draw(st.sampled_from(["upheld", "rejected", "pending"]))
        resolved = None if status == "pending" else filed + draw(st.integers(0, 30))
        complaint_rows.append((f"C{i}", listing_id, listing[1], draw(st.sampled_from(BRANDS[:4])),
                               filed, status, resolved))
    return listings, sellers, make_complaints(complaint_rows)


def reference(target: pd.Series, listings: pd.DataFrame, sellers: pd.DataFrame,
              complaints: pd.DataFrame, s: HistorySettings) -> dict[str, float]:
    """The features of one listing computed the slow, obvious way from filtered tables."""
    t, seller = target["created_at"], target["seller_id"]
    earlier = listings[(listings["seller_id"] == seller) & (listings["created_at"] < t)]
    mine = complaints[complaints["seller_id"] == seller]
    known_outcome = mine["resolved_at"].notna() & (mine["resolved_at"] < t)
    upheld = mine[known_outcome & (mine["status"] == "upheld")]
    brand_of = upheld["brand"].str.strip().str.casefold()
    per_brand = upheld.groupby(brand_of)["listing_id"].nunique()
    max_brand = int(per_brand.max()) if len(per_brand) else 0
    strikes = upheld["listing_id"].nunique()
    scoped = max_brand if s.strike_scope == "brand" else strikes
    strike_times = upheld.groupby("listing_id")["resolved_at"].min()
    row = sellers[sellers["seller_id"] == seller]
    age = max((t - row["registered_at"].iloc[0]) / pd.Timedelta(days=1), 0.0) if len(row) else 0
    named = earlier["brand"].str.strip().str.casefold()
    same_category = earlier[earlier["category"] == target["category"]]
    out = {
        "seller__account_age_days": age,
        "seller__business_verified": int(row["business_verified"].iloc[0]) if len(row) else 0,
        "seller__complaints_filed_before": int((mine["filed_at"] < t).sum()),
        "seller__complaints_upheld_before": len(upheld),
        "seller__complaints_rejected_before": int((known_outcome & (
            mine["status"] == "rejected")).sum()),
        "seller__complaints_pending": int(((mine["filed_at"] < t) & ~known_outcome).sum()),
        "seller__upheld_strikes_before": strikes,
        "seller__max_brand_strikes_before": max_brand,
        "seller__frozen": int(scoped >= s.strikes_to_freeze),
        "seller__days_since_last_strike": (t - strike_times.max()) / pd.Timedelta(days=1)
        if strikes else s.no_strike_days,
        "seller__listings_before": len(earlier),
        "seller__distinct_brands_before": named[~named.isin(GENERIC_BRANDS)].nunique(),
        "seller__distinct_categories_before": earlier["category"].nunique(),
        "seller__underpriced_share_before": float(
            (earlier["price_ratio"] < s.underpriced_ratio).mean()) if len(earlier) else 0.0,
        "seller__mean_quantity_before": float(earlier["quantity"].mean()) if len(earlier) else 0,
        "seller__max_quantity_before": float(earlier["quantity"].max()) if len(earlier) else 0,
        "seller__first_listing": int(len(earlier) == 0),
        "price__ratio_to_seller_history": target["price_usd"] / same_category["price_usd"].median()
        if len(same_category) else 1.0,
    }
    for days in s.velocity_windows_days:
        out[f"seller__listings_last_{days}d"] = int(
            (earlier["created_at"] >= t - pd.Timedelta(days=days)).sum())
    return out


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-9)


SCOPES = st.sampled_from([HistorySettings(), HistorySettings(strike_scope="all"),
                          HistorySettings(strikes_to_freeze=2, velocity_windows_days=(1,))])


@settings(max_examples=80, deadline=None)
@given(market=marketplaces(), s=SCOPES)
def test_every_feature_matches_the_slow_reference(market, s) -> None:
    listings, sellers, complaints = market
    features = seller_history(listings, listings, sellers, complaints, s)
    assert list(features.columns) == s.feature_names()
    assert not features.isna().any().any()
    expected = pd.DataFrame([reference(row, listings, sellers, complaints, s)
                             for _, row in listings.iterrows()], index=listings.index)
    assert_same(features, expected[s.feature_names()])


@settings(max_examples=60, deadline=None)
@given(market=marketplaces(), data=st.data())
def test_events_after_a_listing_leave_its_features_unchanged(market, data) -> None:
    listings, sellers, complaints = market
    cutoff = data.draw(st.sampled_from(sorted(set(listings["created_at"]))))
    hours = (cutoff - T0) / pd.Timedelta(hours=1)
    later = st.integers(int(hours), int(hours) + 50)
    sellers_ids = list(sellers["seller_id"])
    new_listings = make_listings([
        (f"N{i}", data.draw(st.sampled_from(sellers_ids)), data.draw(later), "Arvedo", "toys",
         1.0, 999, 0.01) for i in range(data.draw(st.integers(1, 5)))])
    new_complaints = make_complaints([
        (f"N{i}", data.draw(st.sampled_from(list(listings["listing_id"]))),
         data.draw(st.sampled_from(sellers_ids)), "Arvedo", (f := data.draw(later)), "upheld", f)
        for i in range(data.draw(st.integers(1, 5)))])
    # pending complaints get an outcome, and it is dated at or after the cutoff
    decided = complaints.copy()
    pending = decided["status"] == "pending"
    decided.loc[pending, "status"] = "upheld"
    decided.loc[pending, "resolved_at"] = decided.loc[pending, "filed_at"].where(
        decided.loc[pending, "filed_at"] >= cutoff, cutoff)
    grown_listings = pd.concat([listings, new_listings], ignore_index=True)
    grown_complaints = pd.concat([decided, new_complaints], ignore_index=True)

    targets = listings[listings["created_at"] <= cutoff]
    before = seller_history(targets, listings, sellers, complaints)
    after = seller_history(targets, grown_listings, sellers, grown_complaints)
    assert_same(after, before)


@settings(max_examples=60, deadline=None)
@given(market=marketplaces())
def test_one_listing_with_only_its_sellers_rows_equals_the_batch(market) -> None:
    listings, sellers, complaints = market
    batch = seller_history(listings, listings, sellers, complaints)
    for label, target in listings.iterrows():
        seller = target["seller_id"]
        # what the service reads: the seller's stored earlier listings and ledger complaints
        store = listings[(listings["seller_id"] == seller)
                         & (listings["created_at"] < target["created_at"])]
        ledger = complaints[complaints["seller_id"] == seller]
        one = seller_history(listings.loc[[label]], store, sellers[sellers["seller_id"] == seller],
                             ledger)
        assert_same(one, batch.loc[[label]])


@settings(max_examples=80, deadline=None)
@given(market=marketplaces(), s=SCOPES, data=st.data())
def test_listings_handed_over_as_events_give_the_batchs_features(market, s, data) -> None:
    """The online service's way: some listings turned into events in earlier calls (in
    blocks per seller, coded by codes that already hold other values), the rest given;
    and rows in the blocks that are not history (listings scored again), left out."""
    listings, sellers, complaints = market
    batch = seller_history(listings, listings, sellers, complaints, s)
    codes = EventCodes()
    codes.brands(([0, 1], ["Zed", "generic"]))
    codes.categories(([0], ["garden"]))
    as_events = np.array(data.draw(st.lists(st.booleans(), min_size=len(listings),
                                            max_size=len(listings))))
    # a listing "scored again": a stored row of its, a day older, not to be counted
    again = listings.assign(created_at=listings["created_at"] - pd.Timedelta(days=1))
    spare = np.array(data.draw(st.lists(st.booleans(), min_size=len(listings),
                                        max_size=len(listings))))
    blocks, left_out, row = [], [], 0
    for seller, rows in listings[as_events | spare].groupby("seller_id", sort=False):
        for part in np.array_split(rows.index.to_numpy(), data.draw(st.integers(1, 2))):
            if len(part):
                kept = [i for i in part if as_events[i]]
                extra = [i for i in part if spare[i]]
                table = Columns.of(pd.concat([listings.loc[kept], again.loc[extra]]))
                blocks.append((seller, listing_events(table, table.numbers("price_ratio"), s,
                                                      codes)))
                left_out.extend(range(row + len(kept), row + len(kept) + len(extra)))
                row += len(kept) + len(extra)
    earlier = EarlierListings(codes, [seller for seller, _ in blocks],
                              [events for _, events in blocks],
                              np.array(left_out, dtype=np.int64))
    given_rows = listings[~as_events]
    online = history_values(listings, given_rows, sellers, complaints, s, earlier)
    np.testing.assert_array_equal(online, batch.to_numpy())


def test_events_of_the_listings_need_the_earlier_listings_whose_codes_they_use() -> None:
    """Events coded by some `EventCodes` and swept with targets coded afresh would mix up
    brands and categories: they are refused."""
    sellers, listings = one_seller_market()
    table = Columns.of(listings)
    codes = EventCodes()
    codes.categories(([0], ["garden"]))  # "toys" gets code 1 here, 0 in fresh codes
    events = listing_events(table, table.numbers("price_ratio"), HistorySettings(), codes)
    with pytest.raises(ValueError, match="codes"):
        history_values(listings, listings, sellers, make_complaints([]), HistorySettings(),
                       events=events)
    given = history_values(listings, listings, sellers, make_complaints([]), HistorySettings(),
                           EarlierListings(codes), events)
    np.testing.assert_array_equal(given, seller_history(listings, listings, sellers,
                                                        make_complaints([])).to_numpy())


def one_seller_market() -> tuple[pd.DataFrame, pd.DataFrame]:
    sellers = make_sellers([("S0", -24.0, True)])
    listings = make_listings([(f"L{i}", "S0", float(i), "Arvedo", "toys", 10.0, 1, 1.0)
                              for i in range(10)] + [("T", "S0", 100.0, "Arvedo", "toys", 30.0,
                                                      1, 1.0)])
    return sellers, listings


def history_of_target(complaints: pd.DataFrame, s: HistorySettings | None = None) -> pd.Series:
    sellers, listings = one_seller_market()
    features = seller_history(listings, listings, sellers, complaints, s)
    return features.iloc[-1]


def test_a_complaint_resolved_after_the_listing_is_pending_not_upheld() -> None:
    row = history_of_target(make_complaints([("C0", "L0", "S0", "Arvedo", 50.0, "upheld", 150.0)]))
    assert row["seller__complaints_filed_before"] == 1
    assert row["seller__complaints_pending"] == 1
    assert row["seller__complaints_upheld_before"] == 0
    assert row["seller__upheld_strikes_before"] == 0


def test_an_outcome_at_the_very_moment_of_the_listing_is_not_yet_known() -> None:
    row = history_of_target(make_complaints([("C0", "L0", "S0", "Arvedo", 50.0, "upheld", 100.0),
                                             ("C1", "L1", "S0", "Arvedo", 100.0, "rejected",
                                              100.0)]))
    assert row["seller__complaints_filed_before"] == 1
    assert row["seller__complaints_pending"] == 1
    assert row["seller__upheld_strikes_before"] == 0


def test_several_complaints_about_one_listing_are_one_strike() -> None:
    row = history_of_target(make_complaints([
        ("C0", "L0", "S0", "Arvedo", 10.0, "upheld", 20.0),
        ("C1", "L0", "S0", "Arvedo", 11.0, "upheld", 30.0),
        ("C2", "L0", "S0", "Arvedo", 12.0, "upheld", 40.0),
    ]))
    assert row["seller__complaints_upheld_before"] == 3
    assert row["seller__upheld_strikes_before"] == 1
    assert row["seller__max_brand_strikes_before"] == 1
    # the strike dates from its first upholding
    assert row["seller__days_since_last_strike"] == pytest.approx(80 / 24)


def strike_series(brands: list[str], s: HistorySettings) -> pd.DataFrame:
    """One upheld complaint per listing L0..Ln, resolved at hour 10 * (i + 1); features of all."""
    sellers, listings = one_seller_market()
    complaints = make_complaints([(f"C{i}", f"L{i}", "S0", b, 0.0, "upheld", 10.0 * (i + 1))
                                  for i, b in enumerate(brands)])
    grid = make_listings([(f"G{h}", "S0", h + 0.5, "Arvedo", "toys", 10.0, 1, 1.0)
                          for h in range(0, 60, 10)])
    return seller_history(grid, listings, sellers, complaints, s)


def test_freeze_appears_exactly_at_the_third_strike_from_one_brand() -> None:
    features = strike_series(["Arvedo", "Celo", "Arvedo", "Celo", "Arvedo"], HistorySettings())
    # strikes resolve at hours 10..50; the grid asks at 0.5, 10.5, ..., 50.5
    assert list(features["seller__upheld_strikes_before"]) == [0, 1, 2, 3, 4, 5]
    assert list(features["seller__max_brand_strikes_before"]) == [0, 1, 1, 2, 2, 3]
    assert list(features["seller__frozen"]) == [0, 0, 0, 0, 0, 1]


def test_freeze_with_scope_all_counts_strikes_from_every_brand() -> None:
    features = strike_series(["Arvedo", "Celo", "Briruvi", "Celo"],
                             HistorySettings(strike_scope="all"))
    assert list(features["seller__frozen"]) == [0, 0, 0, 1, 1, 1]


def test_velocity_counts_listings_in_the_window_before_the_listing() -> None:
    sellers = make_sellers([("S0", -1000.0, False)])
    hours = [-24 * 40, -24 * 20, -24 * 6, -24 * 7, -1, 0, 0]
    listings = make_listings([(f"L{i}", "S0", h, "Arvedo", "toys", 10.0, 1, 1.0)
                              for i, h in enumerate(hours)])
    row = seller_history(listings, listings, sellers, make_complaints([])).iloc[-1]
    # the other listing at the same moment is not earlier; a listing exactly 7 days back is in
    assert row["seller__listings_before"] == 5
    assert row["seller__listings_last_7d"] == 3
    assert row["seller__listings_last_30d"] == 4


def test_price_ratio_uses_the_median_of_earlier_prices_in_the_same_category() -> None:
    sellers = make_sellers([("S0", -10.0, False)])
    listings = make_listings([
        ("L0", "S0", 0, "Arvedo", "toys", 10.0, 1, 1.0),
        ("L1", "S0", 1, "Arvedo", "toys", 30.0, 1, 1.0),
        ("L2", "S0", 2, "Arvedo", "toys", 1000.0, 1, 1.0),
        ("L3", "S0", 3, "Arvedo", "watches", 1.0, 1, 1.0),
        ("L4", "S0", 4, "Arvedo", "toys", 15.0, 1, 1.0),
        ("L5", "S0", 5, "Arvedo", "bags", 15.0, 1, 1.0),
    ])
    ratio = seller_history(listings, listings, sellers, make_complaints([]))[
        "price__ratio_to_seller_history"]
    assert list(ratio) == pytest.approx([1.0, 3.0, 50.0, 1.0, 0.5, 1.0])


def test_a_big_sellers_price_ratio_is_over_the_median_of_its_earlier_prices() -> None:
    rng = np.random.default_rng(5)
    n = 900
    prices = np.round(rng.lognormal(3, 1, n), 1)
    prices[rng.random(n) < 0.05] = np.nan  # no price in USD: left out of the median
    listings = make_listings([(f"L{i}", "S0", float(rng.integers(0, 400)),
                               "Acme", ["bags", "shoes", "toys"][rng.integers(0, 3)],
                               prices[i], 1, 1.0) for i in range(n)])
    listings.loc[listings["category"] == "toys", "price_usd"] = np.nan  # only unknown prices
    sellers = make_sellers([("S0", 0, True)])
    ratio = seller_history(listings, listings, sellers, make_complaints([]))[
        "price__ratio_to_seller_history"]
    for i in rng.choice(n, 150, replace=False):
        target = listings.iloc[i]
        earlier = listings[(listings["created_at"] < target["created_at"])
                           & (listings["category"] == target["category"])]["price_usd"]
        if not len(earlier):
            expected = 1.0
        elif earlier.isna().all():
            expected = np.nan
        else:
            expected = target["price_usd"] / earlier.median()
        np.testing.assert_equal(ratio.iloc[i], expected)


@pytest.mark.parametrize("order", ["rising", "falling", "equal", "zigzag"])
def test_every_listings_price_ratio_is_over_the_median_whatever_order_prices_come_in(
        order: str) -> None:
    """The running median (two heaps per category) against the median of the earlier
    prices, for every listing of three sellers whose prices rise, fall, repeat or
    alternate, across two categories listed in turn."""
    n = 61
    steps = np.arange(n, dtype=np.float64)
    prices = {"rising": 10 + steps, "falling": 100 - steps, "equal": np.full(n, 42.0),
              "zigzag": np.where(steps % 2 == 0, 10 + steps, 100 - steps)}[order]
    listings = make_listings([(f"L{s}-{i}", f"S{s}", float(i), "Acme",
                               ["bags", "shoes"][(i // 3) % 2], prices[i] + s, 1, 1.0)
                              for s in range(3) for i in range(n)])
    sellers = make_sellers([(f"S{s}", -1.0, False) for s in range(3)])
    ratio = seller_history(listings, listings, sellers, make_complaints([]))[
        "price__ratio_to_seller_history"]
    for i, target in listings.iterrows():
        earlier = listings[(listings["seller_id"] == target["seller_id"])
                           & (listings["created_at"] < target["created_at"])
                           & (listings["category"] == target["category"])]["price_usd"]
        expected = target["price_usd"] / earlier.median() if len(earlier) else 1.0
        np.testing.assert_equal(ratio.loc[i], expected)


def test_after_warm_up_scoring_compiles_nothing_more() -> None:
    """The service warms up before taking requests: its first listing must not compile."""
    from features import history

    history.warm_up()
    compiled = len(history._sweep_kernel().signatures)
    rng = np.random.default_rng(2)
    listings = make_listings([(f"L{i}", f"S{i % 3}", float(i), "Acme", "bags",
                               float(rng.integers(1, 90)), 2, 0.5) for i in range(12)])
    sellers = make_sellers([(f"S{i}", 0, bool(i % 2)) for i in range(3)])
    complaints = make_complaints([("C1", "L1", "S1", "Acme", 2.0, "upheld", 3.0)])
    seller_history(listings, listings, sellers, complaints)  # DataFrames: batch
    seller_history(listings.iloc[[4]], listings, sellers, complaints)  # one listing
    arrays = plain_arrays(listings)
    for name in ("created_at", "price_usd"):  # as zero-copy views of Arrow data come
        arrays[name].setflags(write=False)
    plain = Columns.of_arrays(arrays)
    history.history_values(plain, plain, Columns.of_arrays(plain_arrays(sellers)),
                           Columns.of_arrays(plain_arrays(complaints)), HistorySettings())
    history.history_values(plain.take(np.array([4])), plain,
                           Columns.of_arrays(plain_arrays(sellers)),
                           Columns.of_arrays(plain_arrays(complaints)), HistorySettings())
    assert len(history._sweep_kernel().signatures) == compiled == 1


def test_without_a_writable_cache_the_sweep_is_compiled_per_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only install with no user cache directory still scores (numba raises there)."""
    from numba.core import caching

    from features import history

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])  # nowhere to cache
    history._sweep_kernel.cache_clear()
    try:
        listings = make_listings([("L1", "S0", 1.0, "Acme", "bags", 10.0, 1, 1.0),
                                  ("L2", "S0", 2.0, "Acme", "bags", 30.0, 1, 1.0)])
        features = seller_history(listings, listings, make_sellers([("S0", 0, True)]),
                                  make_complaints([]))
        assert features["seller__listings_before"].tolist() == [0.0, 1.0]
        assert features["price__ratio_to_seller_history"].tolist() == [1.0, 3.0]
    finally:
        history._sweep_kernel.cache_clear()  # later tests get the cached sweep again


def test_an_unknown_seller_gets_the_new_account_fallbacks() -> None:
    sellers, listings = one_seller_market()
    stranger = make_listings([("Z", "S9", 5.0, "Arvedo", "toys", 10.0, 1, 1.0)])
    row = seller_history(stranger, listings, sellers, make_complaints([])).iloc[0]
    assert row["seller__account_age_days"] == 0
    assert row["seller__business_verified"] == 0
    assert row["seller__first_listing"] == 1
    assert row["price__ratio_to_seller_history"] == 1.0
    assert row["seller__days_since_last_strike"] == HistorySettings().no_strike_days


def test_result_is_indexed_like_the_targets_and_handles_no_targets() -> None:
    sellers, listings = one_seller_market()
    targets = listings.iloc[[5, 2]].set_axis(["b", "a"])
    features = seller_history(targets, listings, sellers, make_complaints([]))
    assert list(features.index) == ["b", "a"]
    assert list(features["seller__listings_before"]) == [5, 2]
    empty = seller_history(listings.iloc[:0], listings, sellers, make_complaints([]))
    assert empty.shape == (0, len(HistorySettings().feature_names()))


def test_bad_input_gets_a_clear_error() -> None:
    sellers, listings = one_seller_market()
    with pytest.raises(ValueError, match=r"listings is missing column\(s\) \['price_ratio'\]"):
        seller_history(listings, listings.drop(columns="price_ratio"), sellers,
                       make_complaints([]))
    naive = listings.assign(created_at=listings["created_at"].dt.tz_localize(None))
    with pytest.raises(TypeError, match="targets.created_at must be timezone-aware"):
        seller_history(naive, listings, sellers, make_complaints([]))
    with pytest.raises(ValueError, match="strike_scope"):
        HistorySettings(strike_scope="seller")  # type: ignore[arg-type]
