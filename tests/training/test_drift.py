"""Population stability: zero for the same distribution, large for a shifted one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.drift import drift_table, psi


def test_psi_is_zero_for_identical_and_small_for_resampled_data() -> None:
    rng = np.random.default_rng(0)
    a = rng.lognormal(3, 1, 20_000)
    assert psi(a, a) == 0.0
    assert psi(a, rng.lognormal(3, 1, 20_000)) < 0.01


def test_psi_flags_a_shift_and_a_new_category() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 10_000)
    assert psi(a, rng.normal(1, 1, 10_000)) > 0.2
    flags = np.zeros(5_000)
    assert psi(flags, np.r_[np.zeros(4_000), np.ones(1_000)]) > 0.2  # a 0/1 feature starts firing


def test_drift_table_flags_only_the_shifted_columns() -> None:
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"price__x": rng.normal(0, 1, 5_000), "text__y": rng.random(5_000)})
    current = pd.DataFrame({"price__x": rng.normal(0, 1, 5_000), "text__y": rng.random(5_000) ** 3})
    table = drift_table(reference, current, threshold=0.2).set_index("feature")
    assert bool(table.loc["text__y", "drifted"]) and not bool(table.loc["price__x", "drifted"])
