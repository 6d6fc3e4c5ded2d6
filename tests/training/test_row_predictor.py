"""LightGBM's single-row path gives `Booster.predict`'s values exactly, missing values too."""

from __future__ import annotations

import pickle
import threading

import lightgbm as lgb
import numpy as np
import pytest

from training.row_predictor import RowPredictor


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 12))
    X[rng.random(X.shape) < 0.1] = np.nan  # LightGBM routes missing values its own way
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 3]) * X[:, 5].clip(0) > 0.3).astype(int)
    return lgb.train({"objective": "binary", "num_leaves": 15, "verbose": -1, "seed": 1},
                     lgb.Dataset(X, y), num_boost_round=60)


def rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 12)) * 3
    X[rng.random(X.shape) < 0.2] = np.nan
    X[0] = np.nan
    X[-1] = [np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, np.nan, 5, 5, 5, 5, 5]
    return X


def test_each_row_scores_exactly_as_booster_predict(booster: lgb.Booster) -> None:
    X = rows(500, seed=4)
    expected = booster.predict(X, num_threads=1)
    predictor = RowPredictor(booster)
    got = np.array([predictor.predict(row) for row in X])
    np.testing.assert_array_equal(got, expected)
    # rows handed over as slices of a wider matrix, or as another dtype, are copied right
    wide = np.hstack([X, np.ones((len(X), 3))])
    got = np.array([predictor.predict(wide[i, :12]) for i in range(len(X))])
    np.testing.assert_array_equal(got, expected)
    as_float32 = np.clip(X, -1e30, 1e30).astype(np.float32)
    np.testing.assert_array_equal(
        [predictor.predict(row) for row in as_float32],
        booster.predict(as_float32.astype(np.float64), num_threads=1))


def test_threads_sharing_one_predictor_each_get_their_own_rows_value(
        booster: lgb.Booster) -> None:
    X = rows(400, seed=5)
    expected = booster.predict(X, num_threads=1)
    predictor = RowPredictor(booster)
    results: dict[int, list[float]] = {}

    def work(k: int) -> None:
        results[k] = [predictor.predict(X[i]) for i in range(k, len(X), 4)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        np.testing.assert_array_equal(results[k], expected[k::4])


def test_a_row_of_the_wrong_width_is_refused(booster: lgb.Booster) -> None:
    predictor = RowPredictor(booster)
    with pytest.raises(ValueError, match="a row of 12 features"):
        predictor.predict(np.zeros(11))
    with pytest.raises(ValueError, match="a row of 12 features"):
        predictor.predict(np.zeros((1, 12)))


def test_a_model_holding_one_pickles_without_it(booster: lgb.Booster) -> None:
    from training.model import ListingRiskModel

    model = ListingRiskModel.__new__(ListingRiskModel)
    model.booster = booster
    one = rows(1, seed=6)
    before = model.raw_scores(one)
    assert "_row_predictor" in model.__dict__
    again = pickle.loads(pickle.dumps(model))
    assert "_row_predictor" not in again.__dict__
    np.testing.assert_array_equal(again.raw_scores(one), before)
    np.testing.assert_array_equal(before, booster.predict(one, num_threads=1))


def test_an_untrimmed_early_stopped_booster_keeps_to_booster_predict() -> None:
    """LightGBM keeps the number of trees to predict with on the booster, so a later
    `predict` asking for another number would move a single-row set-up made for the best
    iteration: such a booster does not get one, and the model scores its rows as before."""
    from training.model import ListingRiskModel

    rng = np.random.default_rng(8)
    X = rng.normal(size=(2000, 6))
    y = (X[:, 0] + rng.normal(scale=2.0, size=2000) > 0).astype(int)
    kept = lgb.train({"objective": "binary", "num_leaves": 31, "verbose": -1, "seed": 1},
                     lgb.Dataset(X[:1500], y[:1500]), num_boost_round=200,
                     valid_sets=[lgb.Dataset(X[1500:], y[1500:])], keep_training_booster=True,
                     callbacks=[lgb.early_stopping(5, verbose=False)])
    booster = pickle.loads(pickle.dumps(kept))  # as a model loaded from a file would be
    assert 0 < booster.best_iteration < booster.current_iteration()  # untrimmed
    with pytest.raises(ValueError, match="fewer trees than it holds"):
        RowPredictor(booster)
    model = ListingRiskModel.__new__(ListingRiskModel)
    model.booster = booster
    rows_ = rng.normal(size=(20, 6))
    expected = booster.predict(rows_, num_threads=1)
    booster.predict(rows_[:2], num_iteration=-1)  # another call asks for every tree
    np.testing.assert_array_equal([model.raw_scores(r[None, :])[0] for r in rows_], expected)
    assert "_row_predictor" not in model.__dict__


def test_a_model_whose_booster_is_replaced_scores_one_row_with_the_new_one(
        booster: lgb.Booster) -> None:
    from training.model import ListingRiskModel

    model = ListingRiskModel.__new__(ListingRiskModel)
    model.booster = booster
    one = rows(1, seed=9)
    model.raw_scores(one)
    other = lgb.train({"objective": "binary", "num_leaves": 4, "verbose": -1, "seed": 2},
                      lgb.Dataset(rows(400, seed=10), np.r_[np.ones(200), np.zeros(200)]),
                      num_boost_round=5)
    model.booster = other
    np.testing.assert_array_equal(model.raw_scores(one), other.predict(one, num_threads=1))
