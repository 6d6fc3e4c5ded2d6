"""`strikeout drift`: population stability of every feature and of the score between two datasets.

PSI = sum over bins of (current% - reference%) * ln(current% / reference%), with the
bins cut at the reference's deciles (a feature with few distinct values gets one
bin per value). Common reading: < 0.1 stable, 0.1-0.2 moderate, > 0.2 act.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from features.contract import load_marketplace
from training.tracking import connect

SCORE = "score"
SHARE_FLOOR = 1e-4  # an empty bin would make PSI infinite


def binner(reference: np.ndarray, bins: int = 10) -> Callable[[np.ndarray], np.ndarray]:
    """Bin numbers: the reference's deciles, or one bin per distinct value (plus 'other')."""
    values = np.unique(reference)
    if len(values) <= bins:
        def by_value(x: np.ndarray) -> np.ndarray:
            where = np.clip(np.searchsorted(values, x), 0, len(values) - 1)
            return np.where(values[where] == x, where, len(values))
        return by_value
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    return lambda x: np.searchsorted(edges, x, side="right")


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    reference = np.asarray(reference, dtype=float)
    current = np.asarray(current, dtype=float)
    to_bin = binner(reference, bins)
    ref_bins, cur_bins = to_bin(reference), to_bin(current)
    size = int(max(ref_bins.max(initial=0), cur_bins.max(initial=0))) + 1
    ref = np.bincount(ref_bins, minlength=size)
    cur = np.bincount(cur_bins, minlength=size)
    ref_share = np.maximum(ref / max(ref.sum(), 1), SHARE_FLOOR)
    cur_share = np.maximum(cur / max(cur.sum(), 1), SHARE_FLOOR)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def drift_table(reference: pd.DataFrame, current: pd.DataFrame, threshold: float,
                bins: int = 10) -> pd.DataFrame:
    """One row per column: PSI, whether it passes `threshold`, and the two means."""
    rows = []
    for column in reference.columns:
        ref, cur = reference[column].to_numpy(), current[column].to_numpy()
        value = psi(ref, cur, bins)
        rows.append({"feature": column, "psi": value, "drifted": value > threshold,
                     "reference_mean": float(np.mean(ref)), "current_mean": float(np.mean(cur))})
    return pd.DataFrame(rows).sort_values("psi", ascending=False, ignore_index=True)


def features_and_scores(model: object, data_path: Path) -> pd.DataFrame:
    market = load_marketplace(data_path)
    features = model.pipeline.transform(market)  # type: ignore[attr-defined]
    return features.assign(**{SCORE: model.scores(features)})  # type: ignore[attr-defined]


def drift_report(model_uri: str, reference_path: Path, current_path: Path, threshold: float,
                 progress: Callable[[str], None] = lambda _: None) -> pd.DataFrame:
    """PSI of every feature of `model_uri`'s pipeline and of its score, reference vs current."""
    connect()
    model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    progress(f"features of {reference_path}")
    reference = features_and_scores(model, reference_path)
    progress(f"features of {current_path}")
    current = features_and_scores(model, current_path)
    return drift_table(reference, current, threshold)
