"""Training configuration: every default once, in one closed, typed object.

`strikeout train --config FILE` reads a JSON or TOML file holding any subset of
these fields; unknown fields are an error that names them.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

REGISTERED_MODEL_NAME = "strikeout-listing-risk"


class Closed(BaseModel):
    """Unknown fields and values of the wrong type are refused, not guessed at.

    Strict: in lax mode `true` passes as 1 (a one-tree model), `false` as a max_depth of
    0 and `"50"` as 50. Ints pass where floats go, strings as the literals, tables as
    the sections; a float where an int goes is refused even when whole (`31.0`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SplitConfig(Closed):
    """Time split: train, then (after a label-delay gap) validation, calibration and test."""

    gap_days: float = Field(
        default=7.0, ge=0, le=3650, allow_inf_nan=False,
        description="label delay left out between train and the later slices (at most 10 years)")
    validation_share: float = Field(
        default=0.12, gt=0, lt=0.5,
        description="share of the time span for early stopping")
    calibration_share: float = Field(
        default=0.12, gt=0, lt=0.5,
        description="share of the time span for calibration")
    test_share: float = Field(
        default=0.16, gt=0, lt=0.5,
        description="share of the time span held out for the report and the promotion gate")

    @model_validator(mode="after")
    def _leaves_training(self) -> SplitConfig:
        if self.validation_share + self.calibration_share + self.test_share >= 0.8:
            raise ValueError(
                "validation, calibration and test shares must leave >= 20% for training")
        return self


class BoosterConfig(Closed):
    """LightGBM parameters (see lightgbm.LGBMClassifier)."""

    n_estimators: int = Field(default=600, ge=1)
    learning_rate: float = Field(default=0.05, gt=0, le=1, allow_inf_nan=False)
    num_leaves: int = Field(default=31, ge=2, le=131_072)  # LightGBM's own bound
    max_depth: int = Field(
        default=6, ge=-1,
        description="deepest a tree may grow (-1 or 0: no limit). LightGBM's contributions, the "
                    "service's reasons, cost time in proportion to depth squared; at 6 they "
                    "cost ~40% less than unlimited with no loss of PR-AUC (README)")
    min_child_samples: int = Field(default=40, ge=1)
    subsample: float = Field(default=0.8, gt=0, le=1)
    subsample_freq: int = Field(default=1, ge=0)
    colsample_bytree: float = Field(default=0.8, gt=0, le=1)
    reg_lambda: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    positive_weight: Annotated[float, Field(gt=0, allow_inf_nan=False)] | Literal[
        "balanced"] = Field(
        default=3.0,
        description="weight of positives in training (> 0, or 'balanced'); the calibrator "
                    "undoes the shift")
    early_stopping_rounds: int = Field(default=50, ge=1)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class BandConfig(Closed):
    """Score thresholds stored with the model.

    Band `review` at or above `review`, band `high` at or above `high`.
    """

    review: float = Field(default=0.3, gt=0, lt=1)
    high: float = Field(default=0.7, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> BandConfig:
        if self.review >= self.high:
            raise ValueError("band threshold 'review' must be below 'high'")
        return self


class TrainingConfig(Closed):
    split: SplitConfig = SplitConfig()
    booster: BoosterConfig = BoosterConfig()
    bands: BandConfig = BandConfig()
    calibration: Literal["auto", "isotonic", "sigmoid"] = "auto"
    review_capacity_share: float = Field(
        default=0.01, gt=0, lt=1,
        description="share of listings the reviewers can look at (precision@capacity)")
    promotion_tolerance: float = Field(
        default=0.01, ge=0, lt=1,
        description="a challenger may lose at most this much PR-AUC to the champion")
    registered_model_name: str = Field(
        default=REGISTERED_MODEL_NAME, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        description="MLflow registered model: letters, digits, '_', '.', '-'")
    experiment_name: str = Field(default="strikeout", min_length=1, max_length=200,
                                 pattern=r"^\S.*$")
    shap_sample: int = Field(default=2000, ge=100,
                             description="rows explained in the SHAP summary")


class ConfigError(ValueError):
    """A training config file that cannot be used; the message names the file and the field."""


def load_config(path: Path | None) -> TrainingConfig:
    """Read a JSON or TOML training config; no path means all defaults."""
    if path is None:
        return TrainingConfig()
    try:
        text = Path(path).read_text(encoding="utf-8")
        raw = tomllib.loads(text) if Path(path).suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from exc
    try:
        return TrainingConfig.model_validate(raw)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{path}: {details}") from exc
