"""The calibrators map raw booster output to probabilities, as their scikit-learn models do."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from training.calibration import (
    FOLDS,
    TIE_BREAK,
    Calibrator,
    _logit,
    choose_and_fit,
    fewest_per_class,
)


@pytest.fixture()
def raw_and_labels() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    raw = rng.beta(0.6, 2.0, 20_000)
    truth = expit(1.3 * _logit(raw) + 0.8)  # the booster over-weights positives' odds
    return raw, (rng.random(len(raw)) < truth).astype(int)


def test_sigmoid_predicts_exactly_what_its_logistic_regression_does(
        raw_and_labels: tuple[np.ndarray, np.ndarray]) -> None:
    raw, y = raw_and_labels
    sigmoid = Calibrator("sigmoid").fit(raw, y)
    expected = sigmoid.model_.predict_proba(_logit(raw).reshape(-1, 1))[:, 1]
    np.testing.assert_array_equal(sigmoid.predict(raw), expected)
    np.testing.assert_array_equal(sigmoid.predict(raw[:1]), expected[:1])


def test_isotonic_predicts_exactly_what_its_isotonic_regression_does(
        raw_and_labels: tuple[np.ndarray, np.ndarray]) -> None:
    raw, y = raw_and_labels
    isotonic = Calibrator("isotonic").fit(raw[:10_000], y[:10_000])
    # later raw scores, some outside the fitted range on either side (clipped)
    later = np.concatenate([raw[10_000:], [-0.5, 0.0, 1.0, 1.5]])
    stepped = isotonic.model_.predict(later)
    expected = ((1 - TIE_BREAK) * np.clip(stepped, 0.0, 1.0)
                + TIE_BREAK * np.clip(later, 0.0, 1.0))
    np.testing.assert_array_equal(isotonic.predict(later), expected)
    np.testing.assert_array_equal(isotonic.predict(later[:1]), expected[:1])


def test_isotonic_fitted_to_one_step_predicts_that_step() -> None:
    isotonic = Calibrator("isotonic").fit(np.array([0.2, 0.2, 0.2]), np.array([0, 1, 1]))
    later = np.array([0.1, 0.2, 0.9])
    expected = ((1 - TIE_BREAK) * isotonic.model_.predict(later)
                + TIE_BREAK * np.clip(later, 0.0, 1.0))
    np.testing.assert_array_equal(isotonic.predict(later), expected)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibrated_scores_match_observed_rates(
        raw_and_labels: tuple[np.ndarray, np.ndarray], method: str) -> None:
    raw, y = raw_and_labels
    calibrator, _ = choose_and_fit(raw[:10_000], y[:10_000], method)
    p, later = calibrator.predict(raw[10_000:]), y[10_000:]
    assert ((p >= 0) & (p <= 1)).all()
    bins = np.clip((p * 10).astype(int), 0, 9)
    # expected calibration error: a score is the rate of positives among listings scored so
    ece = sum(abs(p[bins == b].mean() - later[bins == b].mean()) * (bins == b).mean()
              for b in np.unique(bins))
    assert ece < 0.02


@pytest.mark.filterwarnings("ignore:The least populated class")  # sklearn, before its error
@pytest.mark.parametrize("method", ["auto", "isotonic", "sigmoid"])
def test_each_method_fits_a_slice_holding_as_few_of_each_class_as_it_is_said_to_need(
        method: str) -> None:
    """`train` refuses a calibration slice by `fewest_per_class`, before the features: one
    counterfeit fails `auto` (a fold without any) but not a single fit."""
    need = fewest_per_class(method)
    raw = np.random.default_rng(5).random(300)
    for label in (0, 1):
        y = np.full(len(raw), 1 - label)
        y[:need] = label
        calibrator, _ = choose_and_fit(raw, y, method)
        assert ((calibrator.predict(raw) >= 0) & (calibrator.predict(raw) <= 1)).all()
    if method == "auto":
        assert need == FOLDS == 2
        y = np.zeros(len(raw), dtype=int)
        y[:need - 1] = 1
        with pytest.raises(ValueError, match="at least 2 classes"):
            choose_and_fit(raw, y, method)
    else:
        assert need == 1
