"""Ring features are point-in-time, equal a slow reference, and find a planted ring."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from features import rings as rings_module
from features.normalize import fold
from features.rings import (
    FEATURE_NAMES,
    RingFeatures,
    RingIndex,
    TaintIndex,
    build_burst_index,
    build_taint_index,
    first_strikes,
)

T0 = pd.Timestamp("2026-01-01T00:00:00Z")
PHRASES = [
    "Contact shop No. 888604",
    "contact SHOP no 888604!",  # the same shingle after normalization
    "C\u043entact\u00a0shop N\u043e.\u200b 888604",  # Cyrillic o, no-break and zero-width spaces
    "Ships from our store, returns accepted within 30 days.",
    "Our warehouse no. 386661 ships daily.",
    "Join group 590808 for new arrivals",
    "Dofen Grand 51 Hoodie",
    "bag",
    "",
]
COUNTRIES = ["US", "CN", "FR"]


def at(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def stamps(values: list[pd.Timestamp | None]) -> pd.Series:
    return pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[ns, UTC]")


def text(values: list[str]) -> pd.Series:
    return pd.Series(values, dtype="str")


def make_sellers(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """rows: (seller_id, country, registered hour)."""
    return pd.DataFrame({
        "seller_id": text([r[0] for r in rows]),
        "registered_at": stamps([at(r[2]) for r in rows]),
        "country": text([r[1] for r in rows]),
        "business_verified": pd.Series([False] * len(rows), dtype=bool),
    })


def make_listings(rows: list[tuple[str, str, float, str, str]]) -> pd.DataFrame:
    """rows: (listing_id, seller_id, created hour, title, description)."""
    return pd.DataFrame({
        "listing_id": text([r[0] for r in rows]),
        "seller_id": text([r[1] for r in rows]),
        "created_at": stamps([at(r[2]) for r in rows]),
        "title": text([r[3] for r in rows]),
        "description": text([r[4] for r in rows]),
    })


def make_complaints(rows: list[tuple[str, str, str, float, str, float | None]]) -> pd.DataFrame:
    """rows: (complaint_id, listing_id, seller_id, filed hour, status, resolved hour)."""
    return pd.DataFrame({
        "complaint_id": text([r[0] for r in rows]),
        "listing_id": text([r[1] for r in rows]),
        "seller_id": text([r[2] for r in rows]),
        "brand": text(["Dofen"] * len(rows)),
        "filed_at": stamps([at(r[3]) for r in rows]),
        "status": text([r[4] for r in rows]),
        "resolved_at": stamps([None if r[5] is None else at(r[5]) for r in rows]),
    })


def rings(**params: object) -> RingFeatures:
    defaults: dict[str, object] = {"common_min_sellers": 3, "common_seller_share": 0.0}
    return RingFeatures(**{**defaults, **params})  # type: ignore[arg-type]


PHRASE = st.lists(st.sampled_from(PHRASES), max_size=3).map(" ".join)


@st.composite
def marketplaces(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Small marketplaces whose texts are drawn from a few shared phrases, on a coarse clock."""
    seller_ids = [f"S{i}" for i in range(draw(st.integers(1, 6)))]
    sellers = make_sellers([(s, draw(st.sampled_from(COUNTRIES)), draw(st.integers(-100, 40)))
                            for s in seller_ids])
    hour = st.integers(0, 24)
    listings = make_listings([
        (f"L{i}", draw(st.sampled_from(seller_ids)), draw(hour), draw(PHRASE), draw(PHRASE))
        for i in range(draw(st.integers(1, 12)))])
    complaint_rows = []
    for i in range(draw(st.integers(0, 8))):
        filed = draw(hour)
        status = draw(st.sampled_from(["upheld", "upheld", "rejected", "pending"]))
        resolved = None if status == "pending" else filed + draw(st.integers(0, 6))
        complaint_rows.append((f"C{i}", f"L{i}", draw(st.sampled_from(seller_ids)), filed,
                               status, resolved))
    return listings, sellers, make_complaints(complaint_rows)


def words(value: str) -> list[str]:
    return [p for w in value.split() for p in re.split(r"[\W_]+", fold(w)) if p]


def shingles(row: pd.Series, k: int) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for field in ("title", "description"):
        w = words(row[field])
        out |= {tuple(w[i:i + k]) for i in range(len(w) - k + 1)}
    return out


def reference(targets: pd.DataFrame, listings: pd.DataFrame, sellers: pd.DataFrame,
              complaints: pd.DataFrame, fit_on: pd.DataFrame, model: RingFeatures) -> pd.DataFrame:
    """The ring features computed from their definitions, one listing at a time."""
    k = model.shingle_words
    users: dict[tuple[str, ...], set[str]] = {}
    for _, row in fit_on.iterrows():
        for s in shingles(row, k):
            users.setdefault(s, set()).add(row["seller_id"])
    threshold = max(model.common_min_sellers,
                    np.ceil(model.common_seller_share * fit_on["seller_id"].nunique()))
    common = {s for s, who in users.items() if len(who) >= threshold}
    upheld = complaints[(complaints["status"] == "upheld") & complaints["resolved_at"].notna()]
    first_strike = upheld.groupby("seller_id")["resolved_at"].min()
    window = pd.Timedelta(hours=model.burst_window_hours)
    seller_rows = sellers.set_index("seller_id")
    out = []
    for _, target in targets.iterrows():
        t, me = target["created_at"], target["seller_id"]
        mine = shingles(target, k) - common
        tainted = 0
        for s in mine:
            tainted += any(
                other["seller_id"] != me and other["seller_id"] in first_strike
                and max(other["created_at"], first_strike[other["seller_id"]]) < t
                and s in shingles(other, k)
                for _, other in listings.iterrows())
        size = struck = 0
        if me in seller_rows.index:
            me_row = seller_rows.loc[me]
            for sid, other in seller_rows.iterrows():
                if (sid != me and other["country"] == me_row["country"]
                        and abs(other["registered_at"] - me_row["registered_at"]) <= window
                        and other["registered_at"] < t):
                    size += 1
                    struck += sid in first_strike and first_strike[sid] < t
        out.append({"ring__tainted_shingles": tainted,
                    "ring__tainted_share": tainted / max(len(mine), 1),
                    "ring__burst_size": size, "ring__burst_struck": struck})
    return pd.DataFrame(out, index=targets.index, columns=list(FEATURE_NAMES))


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(market=marketplaces(), k=st.sampled_from([1, 2, 4]),
       window=st.sampled_from([0.0, 10.0, 48.0]))
def test_features_match_the_slow_reference(market, k, window) -> None:
    listings, sellers, complaints = market
    model = rings(shingle_words=k, burst_window_hours=window).fit(listings)
    features = model.transform(listings, listings, sellers, complaints)
    assert_same(features, reference(listings, listings, sellers, complaints, listings, model))


@settings(max_examples=60, deadline=None)
@given(market=marketplaces(), data=st.data())
def test_events_after_a_listing_leave_its_features_unchanged(market, data) -> None:
    listings, sellers, complaints = market
    model = rings(shingle_words=2).fit(listings)
    cutoff = data.draw(st.sampled_from(sorted(set(listings["created_at"]))))
    hours = int((cutoff - T0) / pd.Timedelta(hours=1))
    later = st.integers(hours, hours + 50)
    known = list(sellers["seller_id"])
    newcomers = make_sellers([(f"N{i}", data.draw(st.sampled_from(COUNTRIES)), data.draw(later))
                              for i in range(data.draw(st.integers(0, 3)))])
    everyone = known + list(newcomers["seller_id"])
    new_listings = make_listings([
        (f"N{i}", data.draw(st.sampled_from(everyone)), data.draw(later), data.draw(PHRASE),
         data.draw(PHRASE)) for i in range(data.draw(st.integers(0, 5)))])
    new_complaints = make_complaints([
        (f"N{i}", "L0", data.draw(st.sampled_from(everyone)), (f := data.draw(later)), "upheld",
         f + data.draw(st.integers(0, 5))) for i in range(data.draw(st.integers(0, 5)))])
    decided = complaints.copy()
    pending = decided["status"] == "pending"
    decided.loc[pending, "status"] = "upheld"
    decided.loc[pending, "resolved_at"] = decided.loc[pending, "filed_at"].where(
        decided.loc[pending, "filed_at"] >= cutoff, cutoff)

    targets = listings[listings["created_at"] <= cutoff]
    before = model.transform(targets, listings, sellers, complaints)
    after = model.transform(
        targets, pd.concat([listings, new_listings], ignore_index=True),
        pd.concat([sellers, newcomers], ignore_index=True),
        pd.concat([decided, new_complaints], ignore_index=True))
    assert_same(after, before)


@settings(max_examples=40, deadline=None)
@given(market=marketplaces())
def test_one_listing_at_a_time_equals_the_batch(market) -> None:
    listings, sellers, complaints = market
    model = rings(shingle_words=2).fit(listings)
    index = model.build_index(listings, sellers, complaints)
    batch = model.transform(listings, index=index)
    for label in listings.index:
        assert_same(model.transform(listings.loc[[label]], index=index), batch.loc[[label]])


@settings(max_examples=40, deadline=None)
@given(market=marketplaces(), split=st.integers(0, 12))
def test_updating_the_taint_index_equals_rebuilding_it(market, split) -> None:
    listings, _, complaints = market
    old, new = listings.iloc[:split], listings.iloc[split:]
    ignored = rings(shingle_words=2).fit(listings).common_shingles_
    updated = build_taint_index(old, complaints, shingle_words=2, ignored=ignored).update(
        new, first_strikes(complaints))
    rebuilt = build_taint_index(listings, complaints, shingle_words=2, ignored=ignored)
    assert_same_taints(updated.whole(), rebuilt)


def assert_same_taints(index: TaintIndex, rebuilt: TaintIndex) -> None:
    assert index.recent is None and len(index) == len(rebuilt)
    np.testing.assert_array_equal(index.shingles, rebuilt.shingles)
    np.testing.assert_array_equal(index.first_ns, rebuilt.first_ns)
    np.testing.assert_array_equal(index.second_ns, rebuilt.second_ns)
    # which of two sellers tainted at the same moment comes first is arbitrary
    assert ({frozenset(p) for p in zip(index.first_seller, index.second_seller, strict=True)}
            == {frozenset(p) for p in zip(rebuilt.first_seller, rebuilt.second_seller,
                                          strict=True)})


@settings(max_examples=40, deadline=None)
@given(market=marketplaces(), cuts=st.lists(st.integers(0, 12), max_size=4),
       min_recent=st.sampled_from([0, 4096]))
def test_updating_in_several_steps_equals_rebuilding(market, cuts, min_recent) -> None:
    # min_recent 0: the recent layer is merged into the large arrays every few updates;
    # 4096: every update stays in the recent layer
    listings, sellers, complaints = market
    model = rings(shingle_words=2).fit(listings)
    built = model.build_index(listings, sellers, complaints)
    bounds = [*sorted(cuts), len(listings)]
    index = build_taint_index(listings.iloc[:bounds[0]], complaints, shingle_words=2,
                              ignored=model.common_shingles_)
    saved = rings_module.MIN_RECENT_SHINGLES
    rings_module.MIN_RECENT_SHINGLES = min_recent
    try:
        for start, end in zip(bounds, bounds[1:], strict=False):
            index = index.update(listings.iloc[start:end], first_strikes(complaints))
            assert index.recent is None or len(index.recent.shingles) <= index.recent_limit
    finally:
        rings_module.MIN_RECENT_SHINGLES = saved
    assert len(index) == len(built.taint)
    assert_same_taints(index.whole(), built.taint)
    # the features read both layers as they read the one of a rebuilt index
    layered = RingIndex(index, built.bursts)
    expected = model.transform(listings, index=built)
    assert_same(model.transform(listings, index=layered), expected)
    # one listing at a time: a layer may answer alone when the other holds none of its shingles
    for label in listings.index:
        assert_same(model.transform(listings.loc[[label]], index=layered), expected.loc[[label]])


def test_a_recent_layer_past_its_limit_is_merged_into_the_large_arrays(monkeypatch) -> None:
    listings = make_listings([(f"L{i}", f"S{i % 3}", 100.0 + i, f"Dofen Grand {i} Hoodie",
                               f"Contact shop No. {i} now") for i in range(40)])
    complaints = make_complaints([(f"C{s}", "L0", f"S{s}", 50.0, "upheld", 60.0)
                                  for s in range(3)])
    strikes = first_strikes(complaints)
    index = build_taint_index(listings.iloc[:20], complaints, shingle_words=2)
    large = len(index.shingles)
    index = index.update(listings.iloc[20:21], strikes)
    assert index.recent is not None and len(index.shingles) == large  # the large arrays kept
    monkeypatch.setattr(rings_module, "MIN_RECENT_SHINGLES", 0)
    for i in range(21, 40):
        index = index.update(listings.iloc[i:i + 1], strikes)
        if index.recent is None:
            break
    assert index.recent is None and len(index.shingles) > large  # merged in


def planted_ring() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Five CN accounts registered within 10 hours sharing a signature; R0 is struck at hour 200."""
    rng = np.random.default_rng(7)
    ring = [(f"R{i}", "CN", 1000.0 + 2 * i) for i in range(5)]
    crowd = [(f"P{i}", str(rng.choice(COUNTRIES)), float(h))
             for i, h in enumerate(rng.uniform(0, 3000, 40))]
    # a CN account registered a month later and an FR one in the same hours
    crowd += [("LATE", "CN", 1800.0), ("FRENCH", "FR", 1003.0)]
    sellers = make_sellers(ring + crowd)
    boilerplate = "Ships from our store, returns accepted within 30 days."
    rows = [(f"RL{i}", f"R{i}", 1100.0 + i, f"Dofen Grand {i} Hoodie",
             f"{boilerplate} Contact shop No. 888604") for i in range(5)]
    rows += [(f"PL{i}", s[0], 1100.0 + i, f"Celo Neo {i} Watch", boilerplate)
             for i, s in enumerate(crowd)]
    listings = make_listings(rows)
    complaints = make_complaints([("C0", "RL0", "R0", 1150.0, "upheld", 1200.0)])
    return listings, sellers, complaints


@settings(max_examples=60, deadline=None)
@given(market=marketplaces(), cuts=st.lists(st.integers(0, 6), max_size=3))
def test_sellers_added_beside_a_built_burst_index_count_as_in_a_rebuilt_one(market,
                                                                           cuts) -> None:
    listings, sellers, complaints = market
    model = rings(shingle_words=2).fit(listings)
    full = model.build_index(listings, sellers, complaints)
    struck = sellers["seller_id"].isin(first_strikes(complaints).index)
    later = sellers[~struck].reset_index(drop=True)  # only sellers never struck come later
    bounds = [*sorted(min(c, len(later)) for c in cuts), len(later)]
    bursts = build_burst_index(pd.concat([sellers[struck], later.iloc[:bounds[0]]]),
                               complaints, window_hours=model.burst_window_hours)
    for start, end in zip(bounds, bounds[1:], strict=False):
        if end > start:
            bursts = bursts.with_sellers(later.iloc[start:end])
    assert bursts.new_count == len(later) - bounds[0]
    layered = model.transform(listings, index=RingIndex(full.taint, bursts))
    assert_same(layered, model.transform(listings, index=full))


def planted_ring_copied_late() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                        RingFeatures, pd.DataFrame]:
    """The planted ring, its fitted features, and the four unstruck ring accounts listing
    the struck account's signature at hour 1300."""
    listings, sellers, complaints = planted_ring()
    model = rings(common_min_sellers=10).fit(listings)
    late = make_listings([(f"X{i}", f"R{i}", 1300.0, "Dofen Hoodie", "Contact shop No. 888604")
                          for i in range(1, 5)])
    return listings, sellers, complaints, model, late


def test_ring_accounts_added_after_the_build_see_their_struck_neighbour() -> None:
    listings, sellers, complaints, model, late = planted_ring_copied_late()
    full = model.build_index(listings, sellers, complaints)
    ring = sellers["seller_id"].isin([f"R{i}" for i in range(1, 5)])
    bursts = build_burst_index(sellers[~ring], complaints,
                               window_hours=model.burst_window_hours).with_sellers(sellers[ring])
    layered = model.transform(late, index=RingIndex(full.taint, bursts))
    assert list(layered["ring__burst_struck"]) == [1, 1, 1, 1]
    assert list(layered["ring__burst_size"]) == [4, 4, 4, 4]  # R0 and the three others
    assert_same(layered, model.transform(late, index=full))


def test_a_seller_already_in_the_burst_index_is_refused() -> None:
    listings, sellers, complaints = planted_ring()
    bursts = build_burst_index(sellers.iloc[:10], complaints, window_hours=48)
    bursts = bursts.with_sellers(sellers.iloc[10:12])
    for again in (sellers.iloc[[3]], sellers.iloc[[11]], sellers.iloc[[12, 12]]):
        with pytest.raises(ValueError, match="already in the index"):
            bursts.with_sellers(again)


def test_taints_still_in_the_recent_layer_are_seen() -> None:
    listings, sellers, complaints, model, late = planted_ring_copied_late()
    built = model.build_index(listings, sellers, complaints)
    struck = listings["seller_id"] == "R0"
    index = build_taint_index(listings[~struck], complaints, shingle_words=model.shingle_words,
                              ignored=model.common_shingles_).update(
        listings[struck], first_strikes(complaints))
    assert index.recent is not None and len(index.shingles) == 0  # all in the recent layer
    layered = model.transform(late, index=RingIndex(index, built.bursts))
    assert (layered["ring__tainted_shingles"] > 0).all()
    assert_same(layered, model.transform(late, index=built))
    # and the large arrays are read too when the recent layer holds something else
    other = make_listings([("RX", "R0", 1250.0, "Plain cotton socks in grey wool",
                            "Soft and warm for every winter day")])
    index = built.taint.update(other, first_strikes(complaints))
    assert index.recent is not None and len(index.shingles) == len(built.taint)
    layered = model.transform(late, index=RingIndex(index, built.bursts))
    assert (layered["ring__tainted_shingles"] > 0).all()


def test_a_phrase_in_both_layers_counts_from_its_earliest_taint_by_another_seller() -> None:
    """A phrase tainted early in the large arrays and again later in the recent layer:
    each listing counts it from the earliest taint by a seller other than its own,
    whichever layer holds it, exactly as a rebuilt one-layer index counts it."""
    phrase = "Contact shop No. 888604 for more"
    listings = make_listings([
        ("A1", "A", 100.0, "Dofen Grand Hoodie", phrase),  # tainted at A's strike, hour 150
        ("B1", "B", 300.0, "Celo Neo Watch", phrase),  # tainted at hour 300 (B struck at 200)
        ("C0", "C", 120.0, "Plain cotton socks", phrase),  # before any taint
        ("C1", "C", 200.0, "Plain cotton socks", phrase),  # after A's taint only
        ("A2", "A", 250.0, "Dofen Grand Hoodie", phrase),  # A's own taint does not count
        ("A3", "A", 400.0, "Dofen Grand Hoodie", phrase),  # B's does
    ])
    complaints = make_complaints([("CA", "A1", "A", 120.0, "upheld", 150.0),
                                  ("CB", "B1", "B", 150.0, "upheld", 200.0)])
    model = rings(shingle_words=2, common_min_sellers=10).fit(listings)
    built = model.build_index(listings, make_sellers([("A", "CN", 0.0), ("B", "CN", 0.0),
                                                      ("C", "CN", 0.0)]), complaints)
    early = listings["listing_id"] == "A1"
    layered = build_taint_index(listings[early], complaints, shingle_words=2,
                                ignored=model.common_shingles_).update(
        listings[listings["listing_id"] == "B1"], first_strikes(complaints))
    assert layered.recent is not None and len(layered.shingles) > 0
    targets = listings.set_index("listing_id").loc[["C0", "C1", "A2", "A3"]].reset_index()
    counted = model.transform(targets, index=RingIndex(layered, built.bursts))
    assert_same(counted, model.transform(targets, index=built))
    tainted = counted["ring__tainted_shingles"].tolist()
    assert tainted[0] == tainted[2] == 0 and tainted[1] > 0 and tainted[3] == tainted[1]


def test_a_planted_ring_is_found_once_one_account_is_struck() -> None:
    listings, sellers, complaints = planted_ring()
    model = rings(common_min_sellers=10).fit(listings)  # the ring's 5 accounts stay distinctive
    late = make_listings([(f"X{i}", f"R{i}", 1300.0, "Dofen Hoodie", "Contact shop No. 888604")
                          for i in range(1, 5)]
                         + [("XP", "P0", 1300.0, "Dofen Hoodie", "Contact shop No. 888604")])
    index = model.build_index(pd.concat([listings, late], ignore_index=True), sellers,
                              complaints)
    before = model.transform(listings.iloc[1:5], index=index)
    after = model.transform(late, index=index)
    # before the strike: the burst is there, nobody in it is struck, nothing is tainted
    assert list(before["ring__burst_size"]) == [4, 4, 4, 4]
    assert list(before["ring__burst_struck"]) == [0, 0, 0, 0]
    assert list(before["ring__tainted_shingles"]) == [0, 0, 0, 0]
    # after it: the other four accounts see one struck burst member and a tainted signature
    assert list(after["ring__burst_struck"])[:4] == [1, 1, 1, 1]
    assert (after["ring__tainted_shingles"].iloc[:4] > 0).all()
    # a stranger copying the signature is tainted too, but is in no burst with the ring
    assert after["ring__tainted_shingles"].iloc[4] > 0
    assert after["ring__burst_struck"].iloc[4] == 0
    # the struck account is not tainted by its own phrase
    own = model.transform(make_listings([("Y", "R0", 1300.0, "", "Contact shop No. 888604")]),
                          index=index)
    assert own["ring__tainted_shingles"].iloc[0] == 0


def test_a_taint_counts_only_strictly_before_the_listing() -> None:
    sellers = make_sellers([("A", "US", 0.0), ("B", "FR", 500.0)])
    listings = make_listings([("LA", "A", 10.0, "", "Contact shop No. 888604")])
    complaints = make_complaints([("C0", "LA", "A", 11.0, "upheld", 20.0)])
    model = rings().fit(listings)
    targets = make_listings([(f"T{h}", "B", h, "", "Contact shop No. 888604")
                             for h in (10.0, 19.0, 20.0, 20.001)])
    tainted = model.transform(targets, listings, sellers, complaints)["ring__tainted_shingles"]
    # A's phrase is tainted from its strike at hour 20, not from its listing at hour 10
    assert list(tainted) == [0, 0, 0, 1]


def test_a_burst_neighbour_counts_as_struck_only_strictly_after_its_strike() -> None:
    sellers = make_sellers([("A", "US", 0.0), ("B", "US", 1.0)])
    listings = make_listings([("LA", "A", 10.0, "", "bag")])
    complaints = make_complaints([("C0", "LA", "A", 11.0, "upheld", 20.0)])
    model = rings().fit(listings)
    targets = make_listings([(f"T{h}", "B", h, "", "bag") for h in (19.0, 20.0, 20.001)])
    features = model.transform(targets, listings, sellers, complaints)
    assert list(features["ring__burst_size"]) == [1, 1, 1]
    assert list(features["ring__burst_struck"]) == [0, 0, 1]


def test_a_phrase_in_both_title_and_description_counts_once() -> None:
    sellers = make_sellers([("A", "US", 0.0), ("B", "FR", 500.0)])
    listings = make_listings([("LA", "A", 10.0, "", "Contact shop No. 888604")])
    complaints = make_complaints([("C0", "LA", "A", 11.0, "upheld", 20.0)])
    model = rings().fit(listings)
    target = make_listings([("T", "B", 30.0, "Contact shop No. 888604",
                             "contact SHOP no 888604 fast shipping")])
    features = model.transform(target, listings, sellers, complaints).iloc[0]
    # distinct 4-word shingles: "contact shop no 888604" (in both), "shop no 888604 fast",
    # "no 888604 fast shipping"; the first is tainted
    assert features["ring__tainted_shingles"] == 1
    assert features["ring__tainted_share"] == pytest.approx(1 / 3)


def test_boilerplate_used_by_many_sellers_is_not_a_ring_phrase() -> None:
    listings, sellers, complaints = planted_ring()
    model = rings(common_min_sellers=10).fit(listings)
    boilerplate = "Ships from our store, returns accepted within 30 days."
    target = make_listings([("B", "P1", 1500.0, "", boilerplate)])
    features = model.transform(target, listings, sellers, complaints)
    assert features["ring__tainted_shingles"].iloc[0] == 0
    assert features["ring__tainted_share"].iloc[0] == 0
    # the same phrase counts when boilerplate is not learned away
    strict = rings(common_min_sellers=10_000).fit(listings)
    assert strict.transform(target, listings, sellers, complaints)[
        "ring__tainted_shingles"].iloc[0] > 0
    # and the taint index does not hold boilerplate at all: it would only take room
    index = model.build_index(listings, sellers, complaints).taint
    assert len(model.common_shingles_) and len(index.shingles)
    assert not np.isin(index.shingles, model.common_shingles_).any()
    assert len(strict.build_index(listings, sellers, complaints).taint) > len(index)


def test_transformer_follows_scikit_learn_conventions() -> None:
    listings, sellers, complaints = planted_ring()
    model = RingFeatures(shingle_words=3)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.transform(listings, listings, sellers, complaints)
    model.fit(listings)
    assert hasattr(model, "common_shingles_")
    assert list(model.get_feature_names_out()) == list(FEATURE_NAMES)
    out = model.set_output(transform="pandas").transform(listings, listings, sellers, complaints)
    assert list(out.columns) == list(FEATURE_NAMES)
    assert out.index.equals(listings.index)
    assert not out.isna().any().any()
    # the fitted transformer travels inside the model: a pickled copy gives the same features
    again = pickle.loads(pickle.dumps(model))
    assert_same(again.transform(listings, listings, sellers, complaints), out)


def test_an_unknown_seller_has_no_burst_and_is_still_scored() -> None:
    listings, sellers, complaints = planted_ring()
    model = rings(common_min_sellers=10).fit(listings)
    stranger = make_listings([("Z", "NOBODY", 1300.0, "", "Contact shop No. 888604")])
    row = model.transform(stranger, listings, sellers, complaints).iloc[0]
    assert row["ring__burst_size"] == 0 and row["ring__burst_struck"] == 0
    assert row["ring__tainted_shingles"] == 1 and row["ring__tainted_share"] == 1.0


def test_bad_input_gets_a_clear_error() -> None:
    listings, sellers, complaints = planted_ring()
    model = rings().fit(listings)
    with pytest.raises(ValueError, match="needs index= or all of listings"):
        model.transform(listings)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['title'\]"):
        model.transform(listings.drop(columns="title"), listings, sellers, complaints)
    other = rings(shingle_words=2).fit(listings).build_index(listings, sellers, complaints)
    with pytest.raises(ValueError, match="2-word shingles"):
        model.transform(listings, index=other)
    other = rings(common_min_sellers=10_000).fit(listings).build_index(listings, sellers,
                                                                     complaints)
    with pytest.raises(ValueError, match="another fit"):
        model.transform(listings, index=other)


def test_first_strikes_are_each_sellers_earliest_upheld_outcome() -> None:
    rng = np.random.default_rng(4)
    n = 400
    resolved = pd.Series(pd.to_datetime(rng.integers(1.6e18, 1.7e18, n), utc=True))
    resolved[rng.random(n) < 0.1] = pd.NaT
    complaints = pd.DataFrame({
        "seller_id": rng.choice([f"S{i}" for i in range(40)], n),
        "status": rng.choice(["upheld", "rejected", "pending"], n, p=[0.5, 0.3, 0.2]),
        "resolved_at": resolved.astype("datetime64[ns, UTC]")})
    upheld = complaints[(complaints["status"] == "upheld") & complaints["resolved_at"].notna()]
    expected = pd.Series(upheld["resolved_at"].to_numpy(dtype="datetime64[ns]").view(np.int64),
                         index=upheld["seller_id"].to_numpy(dtype=object)).groupby(level=0).min()
    pd.testing.assert_series_equal(first_strikes(complaints), expected)
    assert first_strikes(complaints.iloc[:0]).empty


def test_after_warm_up_the_taint_lookup_compiles_nothing_more() -> None:
    """The service warms up before taking requests: its first listing must not compile."""
    from features import rings as ring_module

    ring_module.warm_up()
    kernels = (ring_module._shingle_kernel(), ring_module._taint_kernel(),
               ring_module._burst_kernel(), ring_module._listing_taints_kernel(),
               ring_module._earliest_kernel(), ring_module._merge_kernel())
    compiled = [len(kernel.signatures) for kernel in kernels]
    listings, sellers, complaints = planted_ring()
    many = pd.concat([listings] * 40, ignore_index=True)  # past the few-texts paths
    model = rings(common_min_sellers=10).fit(many)
    index = model.build_index(many, sellers, complaints)
    model.transform(many, index=index)
    model.transform(listings.iloc[[3]], index=index)
    # a listing at a time added to the index and looked up beside it, as the service does
    strikes = first_strikes(complaints)
    taint = index.taint.update(listings.iloc[[0]], strikes).update(listings.iloc[[0]], strikes)
    assert taint.recent is not None
    model.transform(listings.iloc[[3]], index=RingIndex(taint, index.bursts))
    assert [len(kernel.signatures) for kernel in kernels] == compiled == [1] * len(kernels)


def test_shingle_hashes_stay_as_saved_models_know_them() -> None:
    """A fitted model keeps its boilerplate shingles as hashes: the hashing must never change."""
    from features.rings import ListingTexts

    texts = ListingTexts(make_listings([("L", "S", 0.0, "Contact shop No. 888604",
                                         "ships daily from store")]), 2)
    assert texts.sets.start.tolist() == [0, 3, 6]
    assert texts.sets.hashes.tolist() == [
        6397905960386964976, 8819294499872650047, 7845102141314847121,  # contact shop, ...
        6641716835651210005, 17518344075076293935, 3490400584343718604]  # ships daily, ...


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=40, unique=True),
       st.integers(min_value=0, max_value=40))
def test_memoized_word_hashes_equal_hashing_anew(words: list[str], known: int) -> None:
    """A request's words come from the memo (some known from earlier calls, some new);
    a batch's are hashed in one pass: both give the same parts and hashes."""
    from features import rings as module

    module._PART_HASHES.clear()
    module._word_parts(words[:known])  # earlier requests saw these
    n_parts, hashes = module._word_parts(words)
    expected_parts, expected_hashes = module._hash_parts(words)
    assert n_parts.tolist() == expected_parts.tolist()
    assert hashes.tolist() == expected_hashes.tolist()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="ab c.Ä", max_size=16), min_size=1, max_size=30, unique=True),
       st.integers(min_value=0, max_value=30), st.integers(min_value=1, max_value=4))
def test_remembered_shingles_equal_shingling_anew(texts: list[str], known: int,
                                                  shingle_words: int) -> None:
    """A request's texts come from the memo of shingles (some known from earlier calls,
    some new, some known for other shingle lengths); a batch's are shingled in one pass:
    both give the same shingles, text by text."""
    from features import rings as module

    module._SHINGLES.clear()
    module._remembered_shingles(texts[:known], shingle_words)  # earlier requests saw these
    module._remembered_shingles(texts[known:], shingle_words + 1)  # another model's
    remembered = module._remembered_shingles(texts, shingle_words)
    anew = module._shingled(texts, shingle_words)
    assert remembered.start.tolist() == anew.start.tolist()
    assert remembered.hashes.tolist() == anew.hashes.tolist()


def test_seller_codes_never_change_once_given() -> None:
    """A taint index and its updates share one numbering: a code, once given, keeps its
    seller, so an older index still names the sellers it named."""
    from features.rings import SellerCodes

    codes = SellerCodes()
    first = codes.encode(np.array(["S2", "S1", "S2"], dtype=object))
    assert first.tolist() == [0, 1, 0]
    later = codes.encode(np.array(["S3", "S1"], dtype=object))
    assert later.tolist() == [2, 1]
    assert codes.decode(first).tolist() == ["S2", "S1", "S2"]
    assert codes.lookup(np.array(["S1", "S9"], dtype=object)).tolist() == [1, -1]
    assert codes.decode(np.array([2, -1])).tolist() == ["S3", ""]


TAINTS = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3),
                            st.sampled_from([1, 2, 3, rings_module.NEVER])), max_size=30)


def taint_arrays(taints: list[tuple[int, int, int]]) -> tuple[np.ndarray, ...]:
    return (np.array([t[0] for t in taints], dtype=np.uint64),
            np.array([t[1] for t in taints], dtype=np.int64),
            np.array([t[2] for t in taints], dtype=np.int64))


@settings(max_examples=200, deadline=None)
@given(TAINTS)
def test_each_shingle_keeps_its_earliest_taint_and_the_earliest_by_another_seller(
        taints: list[tuple[int, int, int]]) -> None:
    """Taints at the same moment count in the order they came (NEVER is no taint)."""
    expected: dict[int, list[tuple[int, int]]] = {}
    for shingle, seller, moment in sorted(taints, key=lambda t: (t[0], t[2])):  # stable
        if moment == rings_module.NEVER:
            continue
        kept = expected.setdefault(shingle, [])
        if not kept or (len(kept) == 1 and seller != kept[0][1]):
            kept.append((moment, seller))
    layer = rings_module._earliest_kernel()(*taint_arrays(taints))
    rows = [(s, [(f_ns, f_code), (s_ns, s_code)]) for s, f_ns, f_code, s_ns, s_code
            in zip(*(column.tolist() for column in layer), strict=True)]
    assert rows == [(s, [*kept, *[(rings_module.NEVER, -1)] * (2 - len(kept))])
                    for s, kept in sorted(expected.items())]


@settings(max_examples=200, deadline=None)
@given(TAINTS, TAINTS)
def test_merging_two_layers_equals_reducing_their_taints_together(
        older: list[tuple[int, int, int]], newer: list[tuple[int, int, int]]) -> None:
    earliest, merge = rings_module._earliest_kernel(), rings_module._merge_kernel()
    merged = merge(*earliest(*taint_arrays(older)), *earliest(*taint_arrays(newer)))
    together = earliest(*taint_arrays(older + newer))
    assert [column.tolist() for column in merged] == [column.tolist() for column in together]
