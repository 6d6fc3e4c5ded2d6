"""`strikeout evaluate`: the training report's figures and plots on any labelled dataset.

The model scores with the brand registry and exchange rates it was trained with
(`ListingRiskModel.own_tables`), as batch scoring and the service do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from features.contract import load_marketplace
from training.config import TrainingConfig
from training.model import load_listing_model
from training.report import NEW_SELLER_COLUMN, Evaluation, build_report, evaluate, write_images
from training.tracking import connect
from training.train import TrainingDataError, labelled


def evaluate_model(model_uri: str, data_path: Path, out_path: Path, capacity_share: float,
                   shap_sample: int | None = None) -> Evaluation:
    """Score every labelled listing of a dataset and write the HTML report (and its PNGs).

    `shap_sample`: rows explained in the SHAP summary; None takes the training config's default.
    """
    connect()
    model = load_listing_model(model_uri)
    market = model.own_tables(load_marketplace(data_path))  # as every scoring path does
    targets = labelled(market)
    features = model.pipeline.transform(market, targets)
    raw = model.raw_scores(features)
    p = model.calibrator.predict(raw)
    y = market.listings.loc[features.index, "label"].astype(int).to_numpy()
    if len(np.unique(y)) < 2:
        raise TrainingDataError("the labelled listings hold only one class; need both 0 and 1")
    evaluation = evaluate(y, p, market.listings.loc[features.index, "category"],
                          (features[NEW_SELLER_COLUMN] == 0).to_numpy(), capacity_share, raw=raw)
    where = f"{len(y):,} labelled listings of {data_path}, model {model_uri}"
    subject = f"{len(y):,} labelled listings of {Path(data_path).name}"
    sample_rows = TrainingConfig().shap_sample if shap_sample is None else shap_sample
    page, images = build_report(model, evaluation, features, where, subject, sample_rows)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    write_images(out_path.parent / f"{out_path.stem}_plots", images)
    return evaluation
