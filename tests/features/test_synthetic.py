"""The synthetic marketplace: in the contract, internally consistent, realistic in shape."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import Marketplace, load_marketplace, save_marketplace
from features.synthetic import SynthConfig, generate_marketplace, generate_with_truth

SMALL = SynthConfig(n_listings=8_000, seed=11, ring_count=5)  # more rings: steadier shares


@pytest.fixture(scope="module")
def generated() -> tuple[Marketplace, pd.DataFrame]:
    return generate_with_truth(SMALL)


@pytest.fixture(scope="module")
def market(generated: tuple[Marketplace, pd.DataFrame]) -> Marketplace:
    return generated[0]


@pytest.fixture(scope="module")
def truth(generated: tuple[Marketplace, pd.DataFrame]) -> pd.DataFrame:
    return generated[1]


def freeze_times(complaints: pd.DataFrame, strikes: int = 3) -> pd.Series:
    """Per seller, the resolution of its `strikes`-th upheld complaint from one brand."""
    upheld = complaints[complaints["status"] == "upheld"].sort_values("resolved_at")
    rank = upheld.groupby(["seller_id", "brand"]).cumcount()
    return upheld[rank == strikes - 1].groupby("seller_id")["resolved_at"].min()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_saved_dataset_loads_back_unchanged(market: Marketplace, tmp_path: Path,
                                            fmt: str) -> None:
    loaded = load_marketplace(save_marketplace(market, tmp_path / fmt, fmt=fmt))
    for name, frame in market.tables().items():
        pd.testing.assert_frame_equal(loaded.tables()[name], frame, check_dtype=False)
    assert str(loaded.listings["created_at"].dtype) == "datetime64[ns, UTC]"
    assert loaded.listings["label"].isin([0, 1]).all()


def test_listing_count_and_keys(market: Marketplace) -> None:
    listings = market.listings
    assert len(listings) == SMALL.n_listings
    assert listings["listing_id"].is_unique
    assert listings["seller_id"].isin(market.sellers["seller_id"]).all()
    assert listings["currency"].isin(market.fx_rates["currency"]).all()
    assert (listings["price"] > 0).all() and (listings["quantity"] >= 1).all()
    assert not market.brands.duplicated(["brand", "category"]).any()


def test_nobody_lists_before_registering(market: Marketplace) -> None:
    registered = market.listings["seller_id"].map(
        market.sellers.set_index("seller_id")["registered_at"])
    assert (market.listings["created_at"] >= registered).all()


def test_frozen_sellers_list_nothing_after_the_freeze(market: Marketplace) -> None:
    freeze = freeze_times(market.complaints)
    assert len(freeze) >= 3, "the sample should contain frozen sellers"
    listed = market.listings["created_at"]
    frozen_at = market.listings["seller_id"].map(freeze)
    assert not (listed > frozen_at).any()


def test_complaints_are_consistent(market: Marketplace) -> None:
    c = market.complaints
    assert set(c["status"]) == {"upheld", "rejected", "pending"}
    pending = c["status"] == "pending"
    assert c.loc[pending, "resolved_at"].isna().all()
    assert c.loc[~pending, "resolved_at"].notna().all()
    assert (c.loc[~pending, "resolved_at"] >= c.loc[~pending, "filed_at"]).all()
    listings = market.listings.set_index("listing_id")
    assert c["listing_id"].isin(listings.index).all()
    target = listings.loc[c["listing_id"]]
    assert (c["seller_id"].to_numpy() == target["seller_id"].to_numpy()).all()
    assert (c["filed_at"].to_numpy() >= target["created_at"].to_numpy()).all()
    assert c["complaint_id"].is_unique


def test_some_complaints_target_lawful_listings_and_most_of_those_fail(
        market: Marketplace, truth: pd.DataFrame) -> None:
    fake = market.complaints["listing_id"].map(truth.set_index("listing_id")["counterfeit"])
    lawful = market.complaints[~fake.astype(bool)]
    assert len(lawful) > 10
    decided = lawful[lawful["status"] != "pending"]
    assert (decided["status"] == "rejected").mean() > 0.7


def test_each_ring_shares_phrases_and_registers_in_bursts(market: Marketplace,
                                                          truth: pd.DataFrame) -> None:
    listings = market.listings.merge(truth, on="listing_id")
    sellers = market.sellers.set_index("seller_id")
    rings = listings[listings["ring"] >= 0]
    assert rings["ring"].nunique() == SMALL.rings
    for ring, group in rings.groupby("ring"):
        accounts = group["seller_id"].unique()
        assert len(accounts) >= 2, f"ring {ring} lists from one account only"
        sentences = group[["seller_id", "description"]].assign(
            sentence=group["description"].str.split(r"(?<=[.!?]) |(?<=\d) (?=[A-Z])",
                                                     regex=True)).explode("sentence")
        sharing = sentences.groupby("sentence")["seller_id"].nunique()
        assert (sharing >= 2).any(), f"ring {ring} shares no phrase across accounts"
        home = sellers.loc[accounts, "country"]
        assert home.nunique() == 1, f"ring {ring} registers from several countries"
        assert group["ships_from"].nunique() == 1
    first = sellers.loc[rings["seller_id"].unique(), "registered_at"].groupby(
        rings.drop_duplicates("seller_id").set_index("seller_id")["ring"]).apply(
        lambda r: r.sort_values().iloc[:3].agg(lambda s: s.max() - s.min()))
    assert (first <= pd.Timedelta(hours=6)).all(), "a ring's first accounts register together"


def test_rings_carry_on_under_other_accounts_after_freezes(market: Marketplace,
                                                          truth: pd.DataFrame) -> None:
    freeze = freeze_times(market.complaints)
    listings = market.listings.merge(truth, on="listing_id")
    ring_of = listings.drop_duplicates("seller_id").set_index("seller_id")["ring"]
    frozen = [s for s in freeze.index if ring_of.get(s, -1) >= 0]
    assert frozen
    registered = market.sellers.set_index("seller_id")["registered_at"]
    carried_on = opened_after = 0
    for account in frozen:
        ring = listings[listings["ring"] == ring_of[account]]
        later = ring[(ring["created_at"] > freeze[account]) & (ring["seller_id"] != account)]
        carried_on += int(len(later) > 0)
        opened_after += int((registered[later["seller_id"].unique()] > freeze[account]).any())
    assert carried_on >= len(frozen) // 2
    assert opened_after >= 1, "rings open new accounts after a freeze"


def test_positives_every_month_at_a_realistic_rate(market: Marketplace) -> None:
    listings = market.listings
    assert 0.03 <= listings["label"].mean() <= 0.08
    month = listings["created_at"].dt.strftime("%Y-%m")
    assert month.nunique() >= 6
    assert (listings.groupby(month)["label"].sum() > 0).all()


def test_labels_are_noisy(truth: pd.DataFrame, market: Marketplace) -> None:
    label = market.listings["label"].to_numpy()
    fake = truth["counterfeit"].to_numpy()
    assert ((fake == 1) & (label == 0)).sum() > 0, "some counterfeits are never caught"
    assert ((fake == 0) & (label == 1)).sum() > 0, "some lawful listings are flagged"
    assert (label[fake] == 1).mean() > 0.6


def test_counterfeiters_shift_tactics_over_time(market: Marketplace, truth: pd.DataFrame) -> None:
    third = pd.qcut(market.listings["created_at"].astype("int64"), 3, labels=False)
    fakes = truth[truth["counterfeit"]].assign(third=third)
    share = fakes.groupby("third")["intent"].apply(
        lambda s: s.isin(["obfuscated", "stealth"]).mean())
    assert share[2] > share[0] + 0.1
    assert set(fakes["intent"]) == {"blatant", "obfuscated", "inspired", "stealth"}


def test_new_brands_appear_later(market: Marketplace) -> None:
    listings = market.listings[market.listings["brand"].isin(market.brands["brand"])]
    first = listings.groupby("brand")["created_at"].min()
    assert (first > listings["created_at"].min() + pd.Timedelta(days=40)).any()


def test_lawful_look_alikes_exist(market: Marketplace) -> None:
    listings = market.listings
    accessory = listings["title"].str.contains(r"\b(?:compatible with|for|fits)\b", regex=True) & (
        listings["brand"].isin(["Generic", "Unbranded", ""]))
    assert accessory.sum() > 50
    assert listings.loc[accessory, "label"].mean() < 0.05
    used = listings["title"].str.contains("pre-owned|used", regex=True)
    assert used.sum() > 50 and listings.loc[used, "label"].mean() < 0.05
    assert (listings["quantity"] >= 100).sum() > 20


def test_counterfeit_tactics_show_in_text(market: Marketplace, truth: pd.DataFrame) -> None:
    text = market.listings["title"] + " " + market.listings["description"]
    intent = truth["intent"]
    cues = text.str.contains(r"replica|AAA|1:1|mirror|copy|top batch|OG quality|best version|UA q",
                              case=False, regex=True)
    assert cues[intent == "blatant"].mean() > 0.9
    assert cues[intent.isin(["new", "used", "resale"])].mean() < 0.01
    odd = market.listings["title"].str.contains(r"[^\x00-\x7f]", regex=True)
    assert odd[intent == "obfuscated"].mean() > 0.05
    assert odd[intent != "obfuscated"].mean() < 0.01


def test_many_small_sellers_and_a_few_large_ones(market: Marketplace) -> None:
    per_seller = market.listings["seller_id"].value_counts()
    assert per_seller.median() <= 6
    assert per_seller.max() >= 20 * per_seller.median()


def test_descriptions_repeat_like_real_ones(market: Marketplace) -> None:
    sentences = market.listings["description"].str.split(". ", regex=False).explode()
    assert sentences.value_counts().head(100).sum() > 0.8 * len(sentences)


def test_same_seed_same_marketplace_other_seed_differs() -> None:
    config = SynthConfig(n_listings=1_500, seed=5)
    a, b = generate_marketplace(config), generate_marketplace(config)
    for name in a.tables():
        pd.testing.assert_frame_equal(a.tables()[name], b.tables()[name])
    c = generate_marketplace(SynthConfig(n_listings=1_500, seed=6))
    assert not a.listings["title"].equals(c.listings["title"])
    assert not np.allclose(a.listings["price"], c.listings["price"])


def test_progress_reports_every_listing() -> None:
    seen: list[int] = []
    generate_marketplace(SynthConfig(n_listings=500, seed=1), progress=seen.append)
    assert seen and seen[-1] == 500 and seen == sorted(seen)


def test_invalid_config_names_the_problem() -> None:
    with pytest.raises(ValueError, match="n_listings must be >= 1"):
        SynthConfig(n_listings=0)
    with pytest.raises(ValueError, match="false_positive_rate must be within"):
        SynthConfig(false_positive_rate=1.5)
    with pytest.raises(ValueError, match="start_date"):
        SynthConfig(start_date="soon")


def test_every_knob_is_documented_with_its_default() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "synthetic-marketplace.md").read_text()
    for knob in dataclasses.fields(SynthConfig):
        row = f"| `{knob.name}` |"
        assert row in doc, f"docs/synthetic-marketplace.md does not describe {knob.name}"
        if not isinstance(knob.default, tuple):
            assert f"{row} `{knob.default!r}` |" in doc, f"{knob.name}: default out of date"
