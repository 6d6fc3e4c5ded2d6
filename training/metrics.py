"""The figures every run reports: ranking quality at the reviewers' capacity, and calibration."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    roc_auc_score,
)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Mean |observed rate - mean score| over equal-count score bins, weighted by bin size."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    error = 0.0
    for chunk in np.array_split(order, min(bins, len(y))):
        if len(chunk):
            error += len(chunk) * abs(y[chunk].mean() - p[chunk].mean())
    return float(error / len(y))


def recall_at_precision(y: np.ndarray, p: np.ndarray, precision: float = 0.9) -> float:
    prec, rec, _ = precision_recall_curve(y, p)
    ok = prec >= precision
    return float(rec[ok].max()) if ok.any() else 0.0


def precision_at_share(y: np.ndarray, p: np.ndarray, share: float) -> float:
    """Precision among the top `share` of listings by score (the review queue's capacity)."""
    k = max(1, int(round(len(p) * share)))
    top = np.argsort(-np.asarray(p), kind="stable")[:k]
    return float(np.asarray(y)[top].mean())


def lowest_threshold_within(p: np.ndarray, max_flagged: float) -> float | None:
    """The lowest score threshold flagging at most `max_flagged` listings (score >= threshold).

    Searched over the distinct scores themselves, so that a fixed grid cannot hide a threshold
    between its last step and the top score. None when the listings tied at the top score
    alone exceed `max_flagged`.
    """
    ordered = np.sort(np.asarray(p, dtype=float))
    thresholds = np.unique(ordered)
    flagged = len(ordered) - np.searchsorted(ordered, thresholds, side="left")
    fits = flagged <= max_flagged  # flagged falls as the threshold rises
    return float(thresholds[fits][0]) if fits.any() else None


def score_report(y: np.ndarray, p: np.ndarray, capacity_share: float) -> dict[str, float]:
    """PR-AUC, ROC-AUC, recall at 90% precision, precision at capacity, ECE and Brier.

    The ranking metrics are NaN when the slice holds only one class.
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    out = {"n": float(len(y)), "positive_rate": float(y.mean()) if len(y) else float("nan")}
    both = len(y) > 0 and 0 < y.sum() < len(y)
    out["pr_auc"] = float(average_precision_score(y, p)) if both else float("nan")
    out["roc_auc"] = float(roc_auc_score(y, p)) if both else float("nan")
    out["recall_at_90_precision"] = recall_at_precision(y, p) if both else float("nan")
    out["precision_at_capacity"] = (
        precision_at_share(y, p, capacity_share) if len(y) else float("nan"))
    out["ece"] = expected_calibration_error(y, p)
    out["brier"] = float(brier_score_loss(y, p)) if len(y) else float("nan")
    return out
