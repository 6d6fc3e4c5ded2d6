"""Time split: train on the past, then validation, calibration and test slices later in time.

A gap after the training slice leaves out listings whose labels could not yet be
known when the training slice closed (a brand's complaint takes days to arrive).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.config import SplitConfig


@dataclass(frozen=True)
class TimeSplit:
    """Boolean masks over the listings, and the time bounds of each slice."""

    train: np.ndarray
    validation: np.ndarray
    calibration: np.ndarray
    test: np.ndarray
    bounds: dict[str, tuple[pd.Timestamp, pd.Timestamp]]


def time_split(created_at: pd.Series, config: SplitConfig) -> TimeSplit:
    start, end = created_at.min(), created_at.max()
    span = end - start
    test_start = end - span * config.test_share
    calibration_start = test_start - span * config.calibration_share
    validation_start = calibration_start - span * config.validation_share
    train_end = validation_start - pd.Timedelta(days=config.gap_days)
    if train_end <= start:
        raise ValueError(
            f"the data span {span} is too short for a {config.gap_days}-day gap "
            "and the later slices")
    t = created_at
    masks = {
        "train": (t < train_end).to_numpy(),
        "validation": ((t >= validation_start) & (t < calibration_start)).to_numpy(),
        "calibration": ((t >= calibration_start) & (t < test_start)).to_numpy(),
        "test": (t >= test_start).to_numpy(),
    }
    bounds = {
        "train": (start, train_end),
        "validation": (validation_start, calibration_start),
        "calibration": (calibration_start, test_start),
        "test": (test_start, end),
    }
    return TimeSplit(**masks, bounds=bounds)
