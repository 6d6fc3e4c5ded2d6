"""`strikeout train`: features, time split, LightGBM, calibration, report, MLflow registry."""

from __future__ import annotations

import getpass
import hashlib
import json
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from features.contract import Marketplace, load_marketplace
from features.pipeline import FEATURE_SET_VERSION, FeaturePipeline, FeatureSettings
from training.calibration import FOLDS, choose_and_fit, fewest_per_class
from training.config import TrainingConfig
from training.model import LISTING_COLUMNS, SELLER_COLUMNS, ListingRiskModel
from training.report import (
    NEW_SELLER_COLUMN,
    Evaluation,
    build_report,
    evaluate,
    write_images,
)
from training.split import TimeSplit, time_split
from training.tracking import connect, use_experiment

Progress = Callable[[str], None]
# What `train` announces through `progress`, in order, each as it starts.
STEPS = ("loading dataset", "building features", "training LightGBM",
         "evaluating on the test slice", "logging to MLflow")
# The start of MLflow's warning about integer columns in an inferred schema (a regex).
INTEGER_SCHEMA_HINT = r"Hint: Inferred schema contains integer column"


class TrainingDataError(ValueError):
    """The dataset loads but cannot train a model (no labels, one class, too short)."""


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_version: str
    model_uri: str
    metrics: dict[str, float]
    report_path: Path
    caveats: tuple[str, ...] = ()  # what makes the run's figures less than they look


def labelled(market: Marketplace) -> np.ndarray:
    """The listings with a label (training and evaluation need both classes among them)."""
    if "label" not in market.listings:
        raise TrainingDataError("listings has no 'label' column: training and evaluation "
                                "need labelled listings")
    mask = market.listings["label"].notna().to_numpy()
    y = market.listings.loc[mask, "label"].astype(int)
    if y.nunique() < 2:
        raise TrainingDataError("the labelled listings hold only one class; need both 0 and 1")
    return mask


def fingerprint(market: Marketplace) -> dict[str, object]:
    """Enough to recognise the data a model was trained on."""
    listings = market.listings
    hashes = {}
    for name, path in market.sources.items():
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        hashes[name] = digest.hexdigest()[:16]
    label = listings["label"] if "label" in listings else pd.Series(dtype=float)
    return {
        "rows": {n: len(f) for n, f in market.tables().items()},
        "time_range": [str(listings["created_at"].min()), str(listings["created_at"].max())],
        "positive_rate": float(label.mean()) if len(label) else None,
        "file_sha256_16": hashes,
    }


def input_example(market: Marketplace, n: int = 3) -> pd.DataFrame:
    rows = market.listings.head(n)[list(LISTING_COLUMNS)]
    sellers = market.sellers.set_index("seller_id").loc[rows["seller_id"], list(SELLER_COLUMNS)]
    example = pd.concat([rows.reset_index(drop=True), sellers.reset_index(drop=True)], axis=1)
    for col in ("created_at", "registered_at"):
        example[col] = example[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return example


def fit_booster(config: TrainingConfig, X_train: pd.DataFrame, y_train: np.ndarray,
                X_val: pd.DataFrame, y_val: np.ndarray) -> lgb.Booster:
    b = config.booster
    if b.positive_weight == "balanced":
        weight_pos = (len(y_train) - y_train.sum()) / max(1, y_train.sum())
    else:
        weight_pos = float(b.positive_weight)
    params = {
        "objective": "binary", "learning_rate": b.learning_rate, "num_leaves": b.num_leaves,
        "max_depth": b.max_depth,
        "min_child_samples": b.min_child_samples, "subsample": b.subsample,
        "subsample_freq": b.subsample_freq, "colsample_bytree": b.colsample_bytree,
        "reg_lambda": b.reg_lambda, "seed": b.seed, "deterministic": True,
        "force_row_wise": True, "verbosity": -1, "metric": "average_precision",
    }
    train_set = lgb.Dataset(X_train, y_train, weight=np.where(y_train == 1, weight_pos, 1.0),
                            free_raw_data=False)
    val_set = lgb.Dataset(X_val, y_val, reference=train_set)
    return lgb.train(params, train_set, num_boost_round=b.n_estimators, valid_sets=[val_set],
                     callbacks=[lgb.early_stopping(b.early_stopping_rounds, verbose=False)])


def train(data_path: Path, config: TrainingConfig, progress: Progress = lambda _: None,
          register: bool = True) -> TrainResult:
    """Train, evaluate and log a model; `progress` is called with each of `STEPS` as it starts.

    What would refuse the run (the experiment, the data) is checked before any features.
    """
    started = time.perf_counter()
    connect()
    experiment_id = use_experiment(config.experiment_name)
    progress(STEPS[0])
    market = load_marketplace(data_path)
    has_label = labelled(market)
    listings = market.listings
    split = time_split(listings.loc[has_label, "created_at"], config.split)
    slices = {name: _full_mask(has_label, getattr(split, name))
              for name in ("train", "validation", "calibration", "test")}
    y_all = listings["label"].fillna(0).astype(int).to_numpy()
    for name, mask in slices.items():
        if y_all[mask].sum() == 0:
            raise TrainingDataError(f"the {name} slice holds no counterfeit listings; "
                                    "more data or a different split is needed")
    _check_calibration_slice(y_all[slices["calibration"]], config.calibration)
    caveats = _small_test_slice(y_all[slices["test"]])

    progress(STEPS[1])
    pipeline = FeaturePipeline(FeatureSettings(seed=config.booster.seed))
    X_train = pipeline.fit_transform(market, y_all[slices["train"]], slices["train"])
    later = slices["validation"] | slices["calibration"] | slices["test"]
    X_later = pipeline.transform(market, later)
    X = {name: X_later.loc[listings.index[slices[name]]]
         for name in ("validation", "calibration", "test")}
    y = {name: y_all[mask] for name, mask in slices.items()}

    progress(STEPS[2])
    booster = fit_booster(config, X_train, y["train"], X["validation"], y["validation"])
    raw_cal = np.asarray(booster.predict(X["calibration"].to_numpy(), num_threads=0))
    calibrator, briers = choose_and_fit(raw_cal, y["calibration"], config.calibration,
                                        config.booster.seed)
    model = ListingRiskModel(pipeline, booster, calibrator, config.bands,
                             market.fx_rates.copy(), market.brands.copy())

    progress(STEPS[3])
    raw_test = np.asarray(booster.predict(X["test"].to_numpy(), num_threads=0))
    p_test = calibrator.predict(raw_test)
    test_rows = listings.loc[X["test"].index]
    new_seller = (X["test"][NEW_SELLER_COLUMN] == 0).to_numpy()
    evaluation = evaluate(y["test"], p_test, test_rows["category"], new_seller,
                          config.review_capacity_share, raw=raw_test)
    evaluation.extra.update({
        "best_iteration": float(booster.best_iteration),
        **{f"calibration_cv_brier_{k}": v for k, v in briers.items()},
    })

    progress(STEPS[4])
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params(_flat_params(config))
        mlflow.set_tags({
            "feature_set_version": FEATURE_SET_VERSION, "data_path": str(Path(data_path).resolve()),
            "calibration_method": calibrator.method, "trained_by": getpass.getuser(),
            "test_start": str(split.bounds["test"][0]), "test_end": str(split.bounds["test"][1]),
        })
        mlflow.log_dict(config.model_dump(mode="json"), "config.json")
        data_print = fingerprint(market)
        mlflow.log_dict(data_print, "data_fingerprint.json")
        mlflow.log_dict({k: [str(a), str(b)] for k, (a, b) in split.bounds.items()}, "split.json")
        metrics = evaluation.flat_metrics()
        metrics["train_seconds"] = time.perf_counter() - started
        mlflow.log_metrics(metrics)
        if caveats:
            mlflow.set_tag("caveats", " ".join(caveats))
        data = (f"{Path(data_path).resolve()} ({len(market.listings):,} listings, "
                f"files {data_print['file_sha256_16']})")
        report_path = _log_report(model, evaluation, X["test"], split, briers,
                                  config.shap_sample, f"run {run.info.run_id} on {data}",
                                  caveats)
        example = input_example(market)
        with warnings.catch_warnings():
            # MLflow hints that integer columns cannot hold missing values at inference;
            # the contract's (quantity, image_count) are required, and loading checks it
            warnings.filterwarnings("ignore", INTEGER_SCHEMA_HINT, UserWarning)
            model_info = mlflow.pyfunc.log_model(
                name="model", python_model=model,
                signature=infer_signature(example, model.predict(None, example)),
                input_example=example,
                registered_model_name=config.registered_model_name if register else None,
            )
    version = str(model_info.registered_model_version) if register else "unregistered"
    if register:
        client = MlflowClient()
        client.set_registered_model_alias(config.registered_model_name, "challenger", version)
        client.set_model_version_tag(config.registered_model_name, version, "run_id",
                                     run.info.run_id)
    return TrainResult(run.info.run_id, version, model_info.model_uri, metrics, report_path,
                       caveats)


MIN_TEST_COUNTERFEITS = 30


def _small_test_slice(y_test: np.ndarray) -> tuple[str, ...]:
    """A caveat when the held-out slice has too few counterfeits for its figures (and the
    promotion gate, which compares on it) to mean much."""
    found = int(y_test.sum())
    if found >= MIN_TEST_COUNTERFEITS:
        return ()
    return (f"the test slice holds only {found} counterfeit listings of {len(y_test):,}: its "
            f"figures, and promotion decisions made on it, are rough (at least "
            f"{MIN_TEST_COUNTERFEITS} wanted; more data or a larger test_share)",)


def _check_calibration_slice(y_cal: np.ndarray, method: str) -> None:
    """Refuse a calibration slice too small for `method` now, not as scikit-learn's error
    after the features and the booster are built."""
    need = fewest_per_class(method)
    for label, kind in ((1, "counterfeit"), (0, "genuine")):
        found = int((y_cal == label).sum())
        if found >= need:
            continue
        holds = (f"only {found} {kind} listing{'s' * (found != 1)}" if found
                 else f"no {kind} listings")
        why = (f'calibration = "auto" cross-fits in {FOLDS} folds and needs at least {need}'
               if method == "auto" else f'calibration = "{method}" needs at least {need}')
        fixes = "add data or raise calibration_share"
        if found >= fewest_per_class("sigmoid"):  # enough for a single fit
            fixes = ('add data, raise calibration_share, or set calibration to "sigmoid" or '
                     '"isotonic"')
        raise TrainingDataError(f"the calibration slice holds {holds}; {why}: {fixes}")


def _full_mask(base: np.ndarray, sub: np.ndarray) -> np.ndarray:
    out = np.zeros(len(base), dtype=bool)
    out[np.flatnonzero(base)[sub]] = True
    return out


def _flat_params(config: TrainingConfig) -> dict[str, object]:
    flat: dict[str, object] = {}
    for section, values in config.model_dump(mode="json").items():
        if isinstance(values, dict):
            flat.update({f"{section}.{k}": v for k, v in values.items()})
        else:
            flat[section] = values
    return flat


def _log_report(model: ListingRiskModel, evaluation: Evaluation, X_test: pd.DataFrame,
                split: TimeSplit, briers: dict[str, float], shap_sample: int, source: str,
                caveats: tuple[str, ...]) -> Path:
    """The run's HTML report, which names its run and data (`source`): a page read
    outside MLflow must say what it describes; the caveats come before the figures."""
    where = (f"{source}; test slice {split.bounds['test'][0]} to {split.bounds['test'][1]}; "
             f"calibration: {model.calibrator.method}")
    if briers:  # only `calibration = "auto"` cross-fits the methods to choose one
        where += f" (cross-fitted Brier {briers})"
    page, images = build_report(model, evaluation, X_test, where, "test slice", shap_sample,
                                caveats)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for path in write_images(folder / "plots", images):
            mlflow.log_artifact(str(path), "plots")
        report = folder / "evaluation_report.html"
        report.write_text(page, encoding="utf-8")
        mlflow.log_artifact(str(report))
        (folder / "metrics_by_category.json").write_text(
            json.dumps(evaluation.by_category.to_dict(orient="index"), indent=1))
        mlflow.log_artifact(str(folder / "metrics_by_category.json"))
    return Path(mlflow.get_artifact_uri("evaluation_report.html").removeprefix("file://"))
