"""Figures the reviewers' capacity is planned with."""

from __future__ import annotations

import numpy as np

from training.metrics import lowest_threshold_within


def test_lowest_threshold_within_finds_distinct_scores_above_the_last_grid_step() -> None:
    # four listings above 0.99, each its own score: a 0.01 grid flags all four at 0.99
    p = np.r_[np.full(1_000, 0.001), [0.991, 0.993, 0.9956, 0.998]]
    assert lowest_threshold_within(p, max_flagged=2) == 0.9956
    assert lowest_threshold_within(p, max_flagged=2.5) == 0.9956


def test_lowest_threshold_within_is_the_lowest_score_when_everything_fits() -> None:
    p = np.array([0.2, 0.1, 0.4])
    assert lowest_threshold_within(p, max_flagged=3) == 0.1


def test_lowest_threshold_within_is_none_when_the_top_score_ties_exceed_capacity() -> None:
    p = np.r_[np.full(10, 0.3), np.full(3, 0.97)]
    assert lowest_threshold_within(p, max_flagged=2) is None
