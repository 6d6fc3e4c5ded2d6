"""`strikeout drift`: population stability of every feature and of the score, reference vs current.

The current population is a dataset folder or, through a function the caller passes,
the listings the service scored (`strikeout drift --served`); either way its features
come from the model's own pipeline, exactly as the reference's.

PSI = sum over bins of (current% - reference%) * ln(current% / reference%), with the
bins cut at the reference's deciles (a feature with few distinct values gets one
bin per value). Common reading: < 0.1 stable, 0.1-0.2 moderate, > 0.2 act.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import Marketplace, load_marketplace
from training.model import ListingRiskModel, load_listing_model
from training.tracking import connect

SCORE = "score"
SHARE_FLOOR = 1e-4  # an empty bin would make PSI infinite


class EmptyPopulation(ValueError):
    """A population to compare holds no listings: no distribution to compare."""


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


# A marketplace and which of its listings to compare (None: all); the others are history.
Population = tuple[Marketplace, np.ndarray | None]

# What `drift_report` announces through `progress`, in order, each as it starts.
STEPS = ("loading the model", "current population", "reference features", "current features",
         "stability index")


def features_and_scores(model: ListingRiskModel, market: Marketplace,
                        targets: np.ndarray | None = None) -> pd.DataFrame:
    """The model's features of the target listings (default: all) and their calibrated score,
    read with the model's own fx rates and brand registry, as every scoring path reads them."""
    features = model.pipeline.transform(model.own_tables(market), targets)
    return features.assign(**{SCORE: model.scores(features)})


def drift_report(model_uri: str, reference_path: Path,
                 current: Path | Callable[[ListingRiskModel], Population], threshold: float,
                 progress: Callable[[str], None] = lambda _: None) -> pd.DataFrame:
    """PSI of every feature of `model_uri`'s pipeline and of its score, reference vs current.

    Args:
        model_uri: MLflow URI of the model whose pipeline and score are compared.
        reference_path: dataset folder of the reference population (the training data).
        current: a dataset folder, or a function that builds the current population from
            the loaded model (the service's scored listings need its brand and fx tables).
        threshold: PSI above which a column is flagged.
        progress: called with each of `STEPS` as it starts.
    """
    progress(STEPS[0])
    connect()
    model = load_listing_model(model_uri)
    progress(STEPS[1])  # first, so that an empty or invalid current population fails early
    market, targets = current(model) if callable(current) else (load_marketplace(current), None)
    if not (len(market.listings) if targets is None else int(np.count_nonzero(targets))):
        raise EmptyPopulation(f"the current population ({current}) holds no listings")
    progress(STEPS[2])
    reference_market = load_marketplace(reference_path)
    if reference_market.listings.empty:
        raise EmptyPopulation(f"the reference dataset {reference_path} holds no listings")
    reference = features_and_scores(model, reference_market)
    progress(STEPS[3])
    current_features = features_and_scores(model, market, targets)
    progress(STEPS[4])
    return drift_table(reference, current_features, threshold)
