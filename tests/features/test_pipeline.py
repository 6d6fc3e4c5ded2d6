"""The pipeline gives a listing the same features in a batch and scored alone, as online.

Online, one listing is transformed with only its seller's rows (listings,
complaints, seller row) and the ring index of the whole marketplace; the
families then take their few-row paths (Python instead of Arrow kernels,
sorted medians instead of pandas' rolling median). Every value must equal the
batch's, bit for bit.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features import columns, rings
from features.columns import (
    FEW_TEXTS,
    Columns,
    plain_arrays,
    split_words,
    text_codes,
    text_dictionary,
)
from features.contract import Marketplace
from features.pipeline import FeaturePipeline
from features.synthetic import SynthConfig, generate_marketplace


@pytest.fixture(scope="module")
def fitted() -> tuple[FeaturePipeline, Marketplace]:
    market = generate_marketplace(SynthConfig(n_listings=6_000, seed=11))
    pipeline = FeaturePipeline().fit(market, market.listings["label"].to_numpy())
    return pipeline, market


def one_seller(market: Marketplace, seller: str, plain: bool = False) -> Marketplace:
    """What the service holds for one seller: its rows only, indexed from 0.

    `plain`: as the service hands them over, plain arrays instead of DataFrames.
    """
    def own(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame[frame["seller_id"] == seller].reset_index(drop=True)
        return Columns.of_arrays(plain_arrays(rows)) if plain else rows  # type: ignore[return-value]
    return Marketplace(own(market.listings), own(market.sellers), own(market.complaints),
                       market.brands, market.fx_rates)


@pytest.mark.parametrize("paths", ["few", "arrow", "plain"],
                         ids=["few-rows paths", "arrow paths", "plain arrays"])
def test_batch_and_one_at_a_time_features_are_identical(
        fitted: tuple[FeaturePipeline, Marketplace], paths: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline, market = fitted
    if paths == "arrow":  # every size through Arrow's kernels, as a big seller's rows go
        monkeypatch.setattr(columns, "FEW_ROWS", 1)
        monkeypatch.setattr(columns, "FEW_TEXTS", 1)
        monkeypatch.setattr(rings, "FEW_TEXTS", 1)
        monkeypatch.setattr(rings, "MEMO_VOCABULARY", 0)
    batch = pipeline.transform(market)
    ring_index = pipeline.ring_index(market)
    listings = market.listings
    rng = np.random.default_rng(5)
    picked = rng.choice(len(listings), 300, replace=False)
    # the biggest seller too, whose history takes the many-rows paths
    biggest = listings["seller_id"].value_counts().index[0]
    picked = np.append(picked, np.flatnonzero(listings["seller_id"] == biggest)[-3:])
    sizes, struck = [], 0
    for i in picked:
        own = one_seller(market, listings["seller_id"].iat[i], plain=paths == "plain")
        ids = Columns.of(own.listings).objects("listing_id")
        target = ids == listings["listing_id"].iat[i]
        alone = pipeline.transform(own, target, ring_index)
        assert list(alone.columns) == list(batch.columns)
        np.testing.assert_array_equal(alone.to_numpy(), batch.iloc[[i]].to_numpy(),
                                      err_msg=f"listing {listings['listing_id'].iat[i]}")
        sizes.append(len(own.listings))
        struck += bool(alone["seller__upheld_strikes_before"].iat[0] > 0)
    assert max(sizes) > 10 * min(sizes)
    assert struck  # and sellers with strikes


@pytest.mark.parametrize("paths", ["few", "arrow"])
def test_features_do_not_depend_on_the_order_of_rows(
        fitted: tuple[FeaturePipeline, Marketplace], paths: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Listings, sellers and complaints in any order give the same features, bit for bit,
    also where a seller listed several times at the same moment: the service hands its
    stored history over unsorted."""
    pipeline, market = fitted
    if paths == "arrow":
        monkeypatch.setattr(columns, "FEW_ROWS", 1)
        monkeypatch.setattr(columns, "FEW_TEXTS", 1)
        monkeypatch.setattr(rings, "FEW_TEXTS", 1)
        monkeypatch.setattr(rings, "MEMO_VOCABULARY", 0)
    listings = market.listings.sort_values(["seller_id", "created_at"], ignore_index=True)
    rng = np.random.default_rng(3)
    tied = np.flatnonzero((listings["seller_id"] == listings["seller_id"].shift()).to_numpy()
                          & (rng.random(len(listings)) < 0.3))
    created = listings["created_at"].copy()
    created.iloc[tied] = created.iloc[tied - 1].to_numpy()  # the moment of the one before
    tied_market = Marketplace(listings.assign(created_at=created), market.sellers,
                              market.complaints, market.brands, market.fx_rates)
    expected = pipeline.transform(tied_market)
    for seed in range(2):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(listings))
        shuffled = Marketplace(
            tied_market.listings.iloc[order].reset_index(drop=True),
            market.sellers.iloc[rng.permutation(len(market.sellers))].reset_index(drop=True),
            market.complaints.iloc[rng.permutation(len(market.complaints))].reset_index(
                drop=True), market.brands, market.fx_rates)
        got = pipeline.transform(shuffled)
        np.testing.assert_array_equal(got.to_numpy()[np.argsort(order)], expected.to_numpy())
    seller = listings["seller_id"].value_counts().index[0]  # one seller's rows, as online
    own = one_seller(tied_market, seller)
    target = np.zeros(len(own.listings), dtype=bool)
    target[-1] = True
    ring_index = pipeline.ring_index(tied_market)
    alone = pipeline.transform(own, target, ring_index).to_numpy()
    last = len(own.listings) - 1  # the target stays last; its history in any order
    order = np.r_[np.random.default_rng(7).permutation(last), last]
    reordered = Marketplace(own.listings.iloc[order].reset_index(drop=True), own.sellers,
                            own.complaints, market.brands, market.fx_rates)
    np.testing.assert_array_equal(pipeline.transform(reordered, target, ring_index).to_numpy(),
                                  alone)


def test_a_pickled_pipeline_gives_the_same_features(
        fitted: tuple[FeaturePipeline, Marketplace]) -> None:
    pipeline, market = fitted
    part = Marketplace(market.listings.iloc[:500], market.sellers, market.complaints,
                       market.brands, market.fx_rates)
    restored = pickle.loads(pickle.dumps(pipeline))
    assert not {"_reference_tables", "_columns"} & set(vars(restored))
    assert "_prices" not in vars(restored.price_)
    pd.testing.assert_frame_equal(restored.transform(part), pipeline.transform(part))


def test_a_pipeline_saved_with_its_columns_in_another_order_keeps_that_order(
        fitted: tuple[FeaturePipeline, Marketplace]) -> None:
    pipeline, market = fitted
    part = Marketplace(market.listings.iloc[:300], market.sellers, market.complaints,
                       market.brands, market.fx_rates)
    expected = pipeline.transform(part)
    reordered = pickle.loads(pickle.dumps(pipeline))
    reordered.feature_names_ = list(reversed(pipeline.feature_names_))
    got = reordered.transform(part)
    pd.testing.assert_frame_equal(got, expected[reordered.feature_names_])
    np.testing.assert_array_equal(reordered.values(part), got.to_numpy())


TRICKY = ["", " ", "a  b", "\u00a0lead\u2003trail\u3000", "x\u200by", "tab\tnew\nline",
          "\x1cfile\x1dsep\x85", "dup dup", "Ünï cödé", "a b c d e f g"]


def test_few_and_many_texts_are_coded_and_split_alike() -> None:
    texts = [TRICKY[i % len(TRICKY)] + str(i % 7) for i in range(3 * FEW_TEXTS)]
    for n in (5, FEW_TEXTS - 1, FEW_TEXTS, 3 * FEW_TEXTS):
        few = [pa.array(texts[:n][k::3], pa.large_string()) for k in range(3)]
        codes, values = text_codes(*few)
        arrow_codes, arrow_values = text_dictionary(*few)
        assert values == arrow_values.to_pylist()
        for a, b in zip(codes, arrow_codes, strict=True):
            np.testing.assert_array_equal(a, b)
        words, ids, owner = split_words(texts[:n])
        assert [[words[w] for w in ids[owner == t]] for t in range(n)] == [
            t.split() for t in texts[:n]]
    # a few-texts call and a many-texts call number words the same way
    small = split_words(TRICKY)
    large = split_words(TRICKY * FEW_TEXTS)
    assert small[0] == large[0]
    np.testing.assert_array_equal(small[1], large[1][:len(small[1])])


def test_columns_take_rows_and_added_columns() -> None:
    frame = pd.DataFrame({"t": ["a", None, "c", "d"], "x": [1.0, 2.0, 3.0, 4.0]},
                         index=[10, 11, 12, 13])
    columns = Columns(frame).with_columns(y=np.array([5.0, 6.0, 7.0, 8.0]))
    rows = columns.take(np.array([3, 1]))
    assert list(rows.index) == [13, 11]
    assert rows.texts("t").to_pylist() == ["d", ""]
    np.testing.assert_array_equal(rows.numbers("x"), [4.0, 2.0])
    np.testing.assert_array_equal(rows.numbers("y"), [8.0, 6.0])
    assert "y" in rows and "z" not in rows
    with pytest.raises(ValueError, match=r"missing column\(s\) \['z'\]"):
        rows.require("rows", ["x", "z"])


def test_a_few_rows_of_a_plain_table_read_as_objects_as_the_whole_column_does() -> None:
    texts = pa.array([f"L{i}" if i % 7 else None for i in range(64)], type=pa.large_string())
    few = np.array([60, 3, 7])  # fewer than 1/8 of the table: read alone
    alone = Columns.of_arrays({"t": texts}).take(few).objects("t")
    whole = Columns.of_arrays({"t": texts}).objects("t")[few]
    assert alone.dtype == whole.dtype == object
    assert alone.tolist() == whole.tolist() == ["L60", "L3", None]


def test_warm_up_builds_the_text_tables_a_first_request_would_wait_for() -> None:
    from features import normalize

    normalize._translation.cache_clear()
    normalize._invisible.cache_clear()
    FeaturePipeline().warm_up()
    assert normalize._translation.cache_info().currsize == 1
    assert normalize._invisible.cache_info().currsize == 1


def test_a_training_rows_own_label_does_not_shape_its_price_features() -> None:
    """The learned retail price is a quantile of genuine listings' prices: in-sample, a
    counterfeit row would be compared with a reference made without it and a genuine one
    with a reference made with it. Out-of-fold, flipping a row's label leaves its own
    price features as they were (the other rows' may move: it is their training data)."""
    from features.price import BRAND_CATEGORY
    from features.price import FEATURE_NAMES as PRICE

    market = generate_marketplace(SynthConfig(n_listings=4_000, seed=5))
    y = market.listings["label"].to_numpy().astype(int)
    before = FeaturePipeline().fit_transform(market, y)
    learned = np.flatnonzero((before["price__reference_source"] == BRAND_CATEGORY).to_numpy())
    assert len(learned) >= 5  # rows compared with a learned (brand, category) price
    for row in learned[:: len(learned) // 5][:5]:
        flipped = y.copy()
        flipped[row] = 1 - flipped[row]
        after = FeaturePipeline().fit_transform(market, flipped)
        pd.testing.assert_series_equal(after.iloc[row][list(PRICE)], before.iloc[row][list(PRICE)])
