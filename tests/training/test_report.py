"""The evaluation report's plots: reliability bins that show the scores that matter, and titles
that name what was evaluated."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from training import report
from training.report import (
    MIN_BIN_LISTINGS,
    calibration_png,
    histogram_png,
    pr_curve_png,
    reliability_bins,
    shap_png,
)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[plt.Figure]:
    """The figures the report draws, kept open for the test instead of turned into PNG bytes."""
    figures: list[plt.Figure] = []
    monkeypatch.setattr(report, "_png", lambda fig: figures.append(fig) or b"")
    yield figures
    for fig in figures:
        plt.close(fig)


def overconfident_middle() -> tuple[np.ndarray, np.ndarray]:
    """Most listings near 0 and well calibrated; 300 scored ~0.54 of which only 29% are fakes;
    200 scored ~0.95, 95% fakes; 5 stray listings scored ~0.75."""
    rng = np.random.default_rng(0)
    groups = [  # (listings, score low, score high, counterfeits)
        (9_500, 0.0, 0.03, 143), (300, 0.52, 0.56, 87), (200, 0.93, 0.97, 190), (5, 0.74, 0.76, 5)]
    p = np.concatenate([rng.uniform(lo, hi, n) for n, lo, hi, _ in groups])
    y = np.concatenate([np.r_[np.ones(k), np.zeros(n - k)] for n, _, _, k in groups])
    return y.astype(int), p


def test_the_shap_plot_is_the_same_every_time_and_leaves_numpys_random_state_alone(
        drawn: list[plt.Figure]) -> None:
    rng = np.random.default_rng(1)
    features = pd.DataFrame(rng.normal(size=(400, 3)), columns=["price", "text", "seller"])
    contributions = features.to_numpy() * [0.5, 2.0, 1.0]
    np.random.seed(7)  # as other libraries do; shap then warns it will stop using it
    before = np.random.get_state()[1].copy()
    shap_png(contributions, features, "400 sampled listings")
    shap_png(contributions, features, "400 sampled listings")
    assert np.array_equal(np.random.get_state()[1], before)
    first, second = ([c.get_offsets().data.copy() for c in fig.axes[0].collections]
                     for fig in drawn)
    assert len(first) == len(second) > 0
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_reliability_bins_are_equal_width_and_count_their_listings() -> None:
    y, p = overconfident_middle()
    bins = reliability_bins(y, p)
    assert bins["bin_low"].tolist() == [0.0, 0.5, 0.7, 0.9]  # empty bins are left out
    assert bins["listings"].tolist() == [9_500, 300, 5, 200]
    middle = bins.set_index("bin_low").loc[0.5]
    assert middle["mean_score"] == pytest.approx(0.54, abs=0.005)
    assert middle["observed_rate"] == pytest.approx(0.29)


def test_a_score_of_one_falls_in_the_top_bin() -> None:
    bins = reliability_bins(np.array([1, 1]), np.array([0.95, 1.0]))
    assert bins["bin_low"].tolist() == [0.9] and bins["listings"].tolist() == [2]


def test_calibration_plot_shows_the_overconfident_middle_and_marks_sparse_bins(
        drawn: list[plt.Figure]) -> None:
    y, p = overconfident_middle()
    calibration_png(y, p, None, "test slice")
    ax = drawn[0].axes[0]
    connected = next(line for line in ax.get_lines() if line.get_label() == "calibrated")
    points = np.column_stack(connected.get_data())
    # the miscalibration at ~0.54 is a point of its own, not averaged with the top scores
    assert np.isclose(points, [0.54, 0.29], atol=0.005).all(axis=1).any()
    hollow = [line for line in ax.get_lines() if line.get_markerfacecolor() == "none"]
    assert [tuple(np.round(np.column_stack(line.get_data())[0], 2)) for line in hollow] == [
        (0.75, 1.0)]  # the 5 stray listings: drawn, but hollow and off the line
    assert len(points) == 3
    counts = {text.get_text() for text in ax.texts}
    assert {"9,500", "300", "200", "5"} <= counts
    assert "equal-width" in ax.get_xlabel() and f"< {MIN_BIN_LISTINGS} listings" in ax.get_title()


def test_plot_titles_name_what_was_evaluated(drawn: list[plt.Figure]) -> None:
    y, p = overconfident_middle()
    subject = "10,005 labelled listings of march"
    pr_curve_png({"strikeout": (y, p)}, subject)
    calibration_png(y, p, p, subject)
    histogram_png(y, p, subject)
    titles = [fig.axes[0].get_title() for fig in drawn]
    assert len(titles) == 3
    assert all(subject in title and "test slice" not in title for title in titles)
