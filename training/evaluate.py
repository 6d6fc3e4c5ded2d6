"""`strikeout evaluate`: the training report's figures and plots on any labelled dataset.

The model scores with the brand registry and exchange rates it was trained with
(`ListingRiskModel.own_tables`), as batch scoring and the service do.

A report names the registered version and the training run it evaluated, not only the
URI as typed: an alias moves, and a saved report must stay traceable. The alias is
resolved once and that exact version loaded (as the service's `serving.champion.pinned`
does), so the version named is the version scored even if the alias moves meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from features.contract import load_marketplace
from training.config import TrainingConfig
from training.model import load_listing_model
from training.report import NEW_SELLER_COLUMN, Evaluation, build_report, evaluate, write_images
from training.tracking import connect
from training.train import TrainingDataError, labelled


@dataclass(frozen=True)
class EvaluatedModel:
    """The model an evaluation scored: the URI as given, and the registered model version
    and MLflow run behind it when the registry and tracking store know them."""

    uri: str
    name: str | None = None
    version: str | None = None
    run_id: str | None = None

    def __str__(self) -> str:
        run = f", run {self.run_id}" if self.run_id else ""
        if self.version is None:
            return f"{self.uri}{run}" if run else self.uri
        return f"{self.name} version {self.version}{run} (from {self.uri})"


@dataclass(frozen=True)
class ModelEvaluation:
    """What `evaluate_model` returns: the figures, the exact model they are of, and what
    makes them less than they look (the CLI prints each caveat as a warning)."""

    evaluation: Evaluation
    model: EvaluatedModel
    caveats: tuple[str, ...] = ()

    @property
    def overall(self) -> dict[str, float]:
        return self.evaluation.overall


def pin_model(model_uri: str) -> tuple[str, EvaluatedModel]:
    """(URI of one exact model to load, what it is) for `model_uri`.

    `models:/name@alias` and `models:/name/3` are looked up in the registry once: the version
    found is the one loaded, and its run is the one named. Any other URI (`runs:/`, a logged
    model's `models:/m-...`, a path) names one model that cannot move; its run is the one
    its MLmodel file records, if any. MLflow errors of the registry lookup pass through.
    """
    name, alias, version = _registry_parts(model_uri)
    if name is None:
        return model_uri, EvaluatedModel(model_uri, run_id=_logged_run_id(model_uri))
    client = MlflowClient()
    found = (client.get_model_version_by_alias(name, alias) if alias is not None
             else client.get_model_version(name, str(version)))
    pinned = f"models:/{name}/{found.version}"
    return pinned, EvaluatedModel(model_uri, name, str(found.version), found.run_id or None)


def _registry_parts(model_uri: str) -> tuple[str | None, str | None, str | None]:
    """(name, alias, version) of a `models:/name@alias` or `models:/name/<number>` URI;
    Nones for any other URI (stages and `latest` are resolved by MLflow when loading)."""
    if not model_uri.startswith("models:/"):
        return None, None, None
    path = model_uri.removeprefix("models:/")
    if "/" not in path and "@" in path:
        name, alias = path.rsplit("@", 1)
        return name, alias, None
    name, _, suffix = path.partition("/")
    if suffix.isdigit():
        return name, None, suffix
    return None, None, None


def _logged_run_id(model_uri: str) -> str | None:
    """The run a model's MLmodel file names; None when it names none or cannot be read
    (loading the model then says why, if it cannot be loaded either)."""
    try:
        return mlflow.models.get_model_info(model_uri).run_id or None
    except (MlflowException, OSError):
        return None


def held_out_start(run_id: str | None) -> tuple[pd.Timestamp, str] | None:
    """When the training run's held-out slice began (its `test_start` tag, parsed and as
    written). None for a model without such a run (logged outside `strikeout train`):
    nothing is then known of what it trained on, and nothing is said."""
    if run_id is None:
        return None
    try:
        tag = MlflowClient().get_run(run_id).data.tags.get("test_start")
    except MlflowException:
        return None
    if tag is None:
        return None
    try:
        return pd.Timestamp(tag), tag
    except ValueError:
        return None


def seen_in_training(created_at: pd.Series, run_id: str | None) -> tuple[str, ...]:
    """A caveat when evaluated listings were created before the model's held-out slice
    began: the model was fitted or calibrated on listings of that time (perhaps on these
    very ones), so its figures on them flatter it."""
    start = held_out_start(run_id)
    if start is None:
        return ()
    moment, written = start
    before = int((created_at < moment).sum())
    if before == 0:
        return ()
    return (f"{before:,} of {len(created_at):,} listings were created before this model's "
            f"held-out slice began ({written}): the model trained or calibrated on listings "
            f"of that time, so its figures on them are optimistic",)


def evaluate_model(model_uri: str, data_path: Path, out_path: Path, capacity_share: float,
                   shap_sample: int | None = None) -> ModelEvaluation:
    """Score every labelled listing of a dataset and write the HTML report (and its PNGs).

    `shap_sample`: rows explained in the SHAP summary; None takes the training config's default.
    """
    connect()
    pinned, evaluated = pin_model(model_uri)
    model = load_listing_model(pinned)
    market = model.own_tables(load_marketplace(data_path))  # as every scoring path does
    targets = labelled(market)
    features = model.pipeline.transform(market, targets)
    raw = model.raw_scores(features)
    p = model.calibrator.predict(raw)
    rows = market.listings.loc[features.index]
    y = rows["label"].astype(int).to_numpy()
    if len(np.unique(y)) < 2:
        raise TrainingDataError("the labelled listings hold only one class; need both 0 and 1")
    evaluation = evaluate(y, p, rows["category"], (features[NEW_SELLER_COLUMN] == 0).to_numpy(),
                          capacity_share, raw=raw)
    caveats = seen_in_training(rows["created_at"], evaluated.run_id)
    where = f"{len(y):,} labelled listings of {data_path}; model {evaluated}"
    subject = f"{len(y):,} labelled listings of {Path(data_path).name}"
    sample_rows = TrainingConfig().shap_sample if shap_sample is None else shap_sample
    page, images = build_report(model, evaluation, features, where, subject, sample_rows,
                                caveats)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    write_images(out_path.parent / f"{out_path.stem}_plots", images)
    return ModelEvaluation(evaluation, evaluated, caveats)
