"""Calibration of the booster's raw probability on a later slice: isotonic or sigmoid.

The booster is trained with up-weighted positives, so its raw output is not a
probability; the calibrator, fitted on a slice the booster never saw, maps it
back. `auto` picks the method with the lower Brier score in 2-fold cross-fitting
on the calibration slice (choosing on the fitted data would always favour isotonic).
"""

from __future__ import annotations

from typing import Literal, cast

import numpy as np
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import StratifiedKFold

Method = Literal["isotonic", "sigmoid"]
EPS = 1e-6
TIE_BREAK = 1e-6
FOLDS = 2  # `auto` cross-fits each candidate in this many stratified folds


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p / (1 - p))


class Calibrator:
    """Maps the booster's raw probability to a calibrated probability."""

    def __init__(self, method: Method) -> None:
        self.method = method

    def fit(self, raw: np.ndarray, y: np.ndarray) -> Calibrator:
        if self.method == "isotonic":
            self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
        else:
            self.model_ = LogisticRegression(C=1e6).fit(_logit(raw).reshape(-1, 1), y)
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "isotonic":
            # Isotonic steps tie whole blocks of listings; a vanishing share of the raw
            # score keeps the booster's ranking inside each step without moving calibration.
            stepped = np.clip(_isotonic_predict(self.model_, raw), 0.0, 1.0)
            return (1 - TIE_BREAK) * stepped + TIE_BREAK * np.clip(raw, 0.0, 1.0)
        # LogisticRegression.predict_proba's own arithmetic, without its input checks,
        # which cost more than the sum itself for the service's few rows
        logistic = self.model_
        return expit(_logit(raw) * logistic.coef_[0, 0] + logistic.intercept_[0])


def _isotonic_predict(isotonic: IsotonicRegression, raw: np.ndarray) -> np.ndarray:
    """`IsotonicRegression.predict` (clipping out of bounds) of a float64 vector, computed
    as it does: scipy's linear interp1d hands float64 to `np.interp`. Its input checks
    and wrappers cost ~0.14 ms a call, a hundred times the sum of the service's few rows."""
    steps = isotonic.y_thresholds_
    if len(steps) == 1:  # a single step: scikit-learn predicts it everywhere
        return steps.repeat(len(raw))
    # beyond the fitted range np.interp holds the end steps, as clipping to it does
    return np.interp(raw, isotonic.X_thresholds_, steps)


def fewest_per_class(method: str) -> int:
    """The listings of each class the calibration slice needs for `method`: a fit needs
    both classes, and `auto` fits on folds of the slice, which hold a class in every fold
    only with at least FOLDS of it (with one, scikit-learn fails on the fold without it)."""
    return FOLDS if method == "auto" else 1


def choose_and_fit(raw: np.ndarray, y: np.ndarray, method: str = "auto",
                   seed: int = 0) -> tuple[Calibrator, dict[str, float]]:
    """Fit the requested calibrator, or under `auto` the one with the lower cross-fitted Brier."""
    candidates: tuple[Method, ...] = (
        ("isotonic", "sigmoid") if method == "auto" else (cast(Method, method),))
    briers: dict[str, float] = {}
    if len(candidates) > 1:
        folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
        for name in candidates:
            out = np.empty(len(y))
            for fit_idx, eval_idx in folds.split(raw, y):
                fitted = Calibrator(name).fit(raw[fit_idx], y[fit_idx])
                out[eval_idx] = fitted.predict(raw[eval_idx])
            briers[name] = float(brier_score_loss(y, out))
        best = min(candidates, key=briers.__getitem__)
    else:
        best = candidates[0]
    return Calibrator(best).fit(raw, y), briers
