"""Train -> register -> promote -> score on a temporary MLflow store, and behavioural checks."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import lightgbm
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from features.contract import Marketplace, load_marketplace, save_marketplace
from features.synthetic import SynthConfig, generate_marketplace
from training.config import BoosterConfig, SplitConfig, TrainingConfig
from training.registry import PromotionError, promote
from training.split import time_split
from training.train import (
    INTEGER_SCHEMA_HINT,
    STEPS,
    TrainingDataError,
    TrainResult,
    fit_booster,
    train,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mlflow-training")]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    market = generate_marketplace(SynthConfig(n_listings=20_000, seed=11))
    return save_marketplace(market, tmp_path_factory.mktemp("data") / "market")


@pytest.fixture(scope="module")
def training_run(home: Path, dataset: Path
                 ) -> tuple[TrainResult, list[warnings.WarningMessage]]:
    """A training run and every warning it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(dataset, TrainingConfig())
    return result, list(caught)


@pytest.fixture(scope="module")
def trained(training_run: tuple[TrainResult, list[warnings.WarningMessage]]) -> TrainResult:
    return training_run[0]


def test_training_does_not_warn_of_missing_integers_the_contract_rules_out(
        training_run: tuple[TrainResult, list[warnings.WarningMessage]]) -> None:
    messages = [str(w.message) for w in training_run[1]]
    assert not [m for m in messages if re.match(INTEGER_SCHEMA_HINT, m)]


def test_run_logs_metrics_artifacts_and_registers_challenger(trained: TrainResult) -> None:
    client = MlflowClient()
    run = client.get_run(trained.run_id)
    for key in ("test_pr_auc", "test_roc_auc", "test_recall_at_90_precision",
                "test_precision_at_capacity", "test_ece", "test_brier",
                "test_ece_before_calibration", "test_new_sellers_pr_auc"):
        assert key in run.data.metrics, key
    assert any(k.startswith("test_category_") for k in run.data.metrics)
    assert run.data.tags["feature_set_version"]
    artifacts = {a.path for a in client.list_artifacts(trained.run_id)}
    assert {"evaluation_report.html", "plots", "config.json", "data_fingerprint.json"} <= artifacts
    plots = {Path(a.path).name for a in client.list_artifacts(trained.run_id, "plots")}
    assert plots == {"pr_curve.png", "calibration_curve.png", "score_histogram.png",
                     "feature_importance.png", "shap_summary.png"}
    html = trained.report_path.read_text()
    assert "data:image/png;base64," in html and "Sellers with no history" in html
    version = client.get_model_version_by_alias("strikeout-listing-risk", "challenger")
    assert str(version.version) == trained.model_version
    fingerprint = json.loads(Path(mlflow.artifacts.download_artifacts(
        run_id=trained.run_id, artifact_path="data_fingerprint.json")).read_text())
    assert fingerprint["rows"]["listings"] == 20_000
    assert trained.caveats == () and "caveats" not in run.data.tags  # enough counterfeits


def test_a_test_slice_with_few_counterfeits_is_a_caveat_of_the_run() -> None:
    from training.train import MIN_TEST_COUNTERFEITS, _small_test_slice

    few = np.r_[np.ones(MIN_TEST_COUNTERFEITS - 1), np.zeros(500)]
    [caveat] = _small_test_slice(few)
    assert f"only {MIN_TEST_COUNTERFEITS - 1} counterfeit listings of 529" in caveat
    assert _small_test_slice(np.r_[few, 1]) == ()


def _one_counterfeit_to_calibrate(market: Marketplace) -> Marketplace:
    """`market` with every counterfeit of the default calibration slice but one relabelled."""
    listings = market.listings.copy()
    has_label = listings["label"].notna().to_numpy()
    split = time_split(listings.loc[has_label, "created_at"], SplitConfig())
    calibration = listings.index[np.flatnonzero(has_label)[split.calibration]]
    counterfeits = calibration[listings.loc[calibration, "label"] == 1]
    assert len(counterfeits) > 1
    listings.loc[counterfeits[1:], "label"] = 0
    return Marketplace(listings, market.sellers, market.complaints, market.brands,
                       market.fx_rates)


def test_a_calibration_slice_with_one_counterfeit_is_refused_before_the_features(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`auto` cross-fits the calibrator in 2 stratified folds: with one counterfeit a fold
    has none, and scikit-learn's error came after the features and the booster. A single
    sigmoid or isotonic fit needs only one."""
    from training import train as train_module

    saved = save_marketplace(generate_marketplace(SynthConfig(n_listings=3_000, seed=11)),
                             tmp_path / "market")
    data = save_marketplace(_one_counterfeit_to_calibrate(load_marketplace(saved)),
                            tmp_path / "one")
    steps: list[str] = []
    with pytest.raises(TrainingDataError) as refused:
        train(data, TrainingConfig(), progress=steps.append)
    assert str(refused.value) == (
        'the calibration slice holds only 1 counterfeit listing; calibration = "auto" '
        "cross-fits in 2 folds and needs at least 2: add data, raise calibration_share, or "
        'set calibration to "sigmoid" or "isotonic"')
    assert steps == [STEPS[0]]  # the dataset was loaded, no feature built

    class FeaturesReached(Exception):
        pass

    def features_reached(*args: object, **kwargs: object) -> None:
        raise FeaturesReached

    monkeypatch.setattr(train_module, "FeaturePipeline", features_reached)
    for method in ("sigmoid", "isotonic"):
        with pytest.raises(FeaturesReached):
            train(data, TrainingConfig(calibration=method))


def test_a_deleted_experiment_is_refused_before_any_work(home: Path, tmp_path: Path) -> None:
    """MLflow refused the run only at `start_run`, after a whole training."""
    from mlflow.entities import ViewType
    from typer.testing import CliRunner

    from strikeout.cli import app
    from training.tracking import ExperimentError, connect

    connect()
    gone = mlflow.create_experiment("gone")
    mlflow.delete_experiment(gone)
    steps: list[str] = []
    missing = tmp_path / "never-read"  # the dataset is not even looked at
    with pytest.raises(ExperimentError) as refused:
        train(missing, TrainingConfig(experiment_name="gone"), progress=steps.append)
    assert str(refused.value).startswith(
        "experiment 'gone' is deleted in MLflow: restore it (MLFLOW_TRACKING_URI=sqlite:///")
    assert str(refused.value).endswith(
        f"mlflow experiments restore --experiment-id {gone}) or choose another experiment_name")
    assert steps == []
    assert MlflowClient().search_runs([gone], run_view_type=ViewType.ALL) == []

    config = tmp_path / "config.toml"
    config.write_text('experiment_name = "gone"\n')
    result = CliRunner().invoke(app, ["train", "--data", str(missing), "--config", str(config),
                                      "--quiet"])
    assert result.exit_code == 2, result.output
    assert "error: experiment 'gone' is deleted in MLflow: restore it" in result.stderr


def test_model_beats_chance_and_is_calibrated(trained: TrainResult) -> None:
    m = trained.metrics
    assert m["test_pr_auc"] > 3 * m["test_positive_rate"]
    assert m["test_ece"] < 0.03
    assert m["test_ece"] <= m["test_ece_before_calibration"]


def test_first_model_becomes_champion_and_gate_refuses_a_worse_one(
        trained: TrainResult, dataset: Path) -> None:
    first = promote(TrainingConfig())
    assert first.promoted and first.candidate_version == trained.model_version
    weak_config = TrainingConfig(
        booster=BoosterConfig(n_estimators=1, num_leaves=2, early_stopping_rounds=1),
        promotion_tolerance=0.0)
    weak = train(dataset, weak_config)
    decision = promote(weak_config)
    assert not decision.promoted
    assert decision.candidate_pr_auc < decision.champion_pr_auc
    client = MlflowClient()
    champion = client.get_model_version_by_alias("strikeout-listing-risk", "champion")
    assert str(champion.version) == trained.model_version
    tags = client.get_model_version("strikeout-listing-risk", weak.model_version).tags
    assert tags["promotion.last"] == "refused"
    record = json.loads(next(v for k, v in tags.items() if k.startswith("promotion.2")))
    assert record["champion_pr_auc"] == pytest.approx(decision.champion_pr_auc)

    market = load_marketplace(dataset)  # a slice without a counterfeit compares nothing
    genuine = save_marketplace(Marketplace(market.listings.assign(label=0), market.sellers,
                                           market.complaints, market.brands, market.fx_rates),
                               dataset.parent / "genuine")
    with pytest.raises(PromotionError, match="only label 0"):
        promote(weak_config, data_path=genuine)
    assert str(client.get_model_version_by_alias("strikeout-listing-risk", "champion").version
               ) == trained.model_version


def _model(trained: TrainResult):
    return mlflow.pyfunc.load_model(trained.model_uri).unwrap_python_model()


def _one_listing_market(market: Marketplace, listing: dict) -> Marketplace:
    listings = pd.concat([market.listings, pd.DataFrame([listing])], ignore_index=True)
    listings["created_at"] = listings["created_at"].astype("datetime64[ns, UTC]")
    return Marketplace(listings, market.sellers, market.complaints, market.brands, market.fx_rates)


def test_replica_far_under_reference_scores_higher_than_at_retail(
        trained: TrainResult, dataset: Path) -> None:
    market = load_marketplace(dataset)
    ref = market.brands.iloc[0]
    seller = market.sellers.iloc[0]
    base = {
        "seller_id": seller["seller_id"], "created_at": market.listings["created_at"].max(),
        "description": "Brand new in box.", "brand": ref["brand"], "category": ref["category"],
        "currency": "USD", "quantity": 1, "ships_from": seller["country"], "image_count": 4,
    }
    retail = {**base, "listing_id": "RETAIL", "title": f"{ref['brand']} classic {ref['category']}",
              "price": float(ref["reference_price"])}
    replica = {**base, "listing_id": "REPLICA",
               "title": f"{ref['brand']} classic {ref['category']} replica AAA quality",
               "price": float(ref["reference_price"]) * 0.1}
    model = _model(trained)
    scores = {}
    for listing in (retail, replica):
        m = _one_listing_market(market, listing)
        scored = model.score(m, (m.listings["listing_id"] == listing["listing_id"]).to_numpy())
        scores[listing["listing_id"]] = float(scored["score"].iloc[0])
    assert scores["REPLICA"] > scores["RETAIL"]


def test_reasons_of_rows_explained_before_are_remembered_and_the_same(
        trained: TrainResult, dataset: Path) -> None:
    """A row explained before (a listing scored again unchanged) gets the same reasons
    without LightGBM's contributions again; a new booster forgets them; the memory is
    bounded and stays out of the pickled model."""
    import pickle

    from training import model as model_module

    model = _model(trained)
    features = model.pipeline.transform(load_marketplace(dataset)).to_numpy()[:40]
    fresh = model.reasons(features)
    assert any(fresh)
    calls = []
    booster = model.booster
    predict = booster.predict

    def counted(values, **kwargs):
        calls.append(len(values))
        return predict(values, **kwargs)

    booster.predict = counted
    try:
        again = model.reasons(np.concatenate([features[::-1], features[:1] + 1.0]))
    finally:
        del booster.predict
    assert again[:40] == fresh[::-1]
    assert calls == [1]  # only the row not seen before
    again[0].clear()  # what a caller does to its lists leaves the memory as it was
    assert model.reasons(features[-1:]) == fresh[-1:]
    assert "_reasons_memo" not in pickle.loads(pickle.dumps(model)).__dict__
    model.booster = lightgbm.Booster(model_str=booster.model_to_string())
    assert len(model.reasons_memo) == 0  # another booster, other contributions
    limit = model_module.REASONS_MEMO_ROWS
    model_module.REASONS_MEMO_ROWS = 10
    try:
        model.reasons(features)
        assert len(model.reasons_memo) == 10
    finally:
        model_module.REASONS_MEMO_ROWS = limit


def test_renaming_a_seller_everywhere_changes_nothing(trained: TrainResult, dataset: Path) -> None:
    market = load_marketplace(dataset)
    seller = market.complaints["seller_id"].value_counts().index[0]
    rename = {seller: "S-renamed-everywhere"}
    renamed = Marketplace(
        market.listings.assign(seller_id=market.listings["seller_id"].replace(rename)),
        market.sellers.assign(seller_id=market.sellers["seller_id"].replace(rename)),
        market.complaints.assign(seller_id=market.complaints["seller_id"].replace(rename)),
        market.brands, market.fx_rates)
    model = _model(trained)
    targets = (market.listings["seller_id"] == seller).to_numpy()
    before = model.score(market, targets)["score"].to_numpy()
    after = model.score(renamed, targets)["score"].to_numpy()
    np.testing.assert_allclose(before, after, rtol=0, atol=1e-12)


def test_batch_scoring_in_chunks_matches_the_in_memory_model(
        trained: TrainResult, dataset: Path, tmp_path: Path) -> None:
    from serving.batch import score_dataset

    out = tmp_path / "scores.parquet"
    summary = score_dataset(trained.model_uri, dataset, out, chunk_rows=3_000)
    assert summary.listings_scored == summary.listings_read == 20_000
    batch = pd.read_parquet(out).set_index("listing_id")
    assert list(batch.columns) == ["score", "band", "model_version", "reasons"]
    market = load_marketplace(dataset)
    whole = _model(trained).score(market).set_index("listing_id")
    np.testing.assert_allclose(batch.loc[whole.index, "score"], whole["score"], rtol=0, atol=1e-12)
    assert (batch.loc[whole.index, "band"] == whole["band"]).all()
    flagged = batch["band"] != "low"
    assert flagged.any() and (batch.loc[flagged, "reasons"] != "").all()
    assert (batch.loc[~flagged, "reasons"].fillna("") == "").all()


def test_every_path_scores_with_the_models_own_fx_rates_and_brand_registry(
        trained: TrainResult, dataset: Path, tmp_path: Path) -> None:
    """A dataset whose tables changed after training scores as the service scores it (the
    service has only the model's tables); a currency the model cannot price is refused
    before any score is written."""
    from serving.batch import ScoringError, score_dataset
    from training.evaluate import evaluate_model
    from training.model import UnpricedCurrency

    market = load_marketplace(dataset)
    fx = market.fx_rates.copy()
    fx["usd_per_unit"] = fx["usd_per_unit"] * 1.4
    brands = market.brands.copy()
    brands["reference_price"] = brands["reference_price"] * 0.1
    moved = save_marketplace(Marketplace(market.listings, market.sellers, market.complaints,
                                         brands, fx), tmp_path / "moved")
    scores = {}
    for name, data in (("trained", dataset), ("moved", moved)):
        score_dataset(trained.model_uri, data, tmp_path / f"{name}.parquet", chunk_rows=5_000)
        scores[name] = pd.read_parquet(tmp_path / f"{name}.parquet").set_index("listing_id")
    pd.testing.assert_frame_equal(scores["moved"], scores["trained"].loc[scores["moved"].index])
    first = evaluate_model(trained.model_uri, dataset, tmp_path / "a.html", 0.05)
    second = evaluate_model(trained.model_uri, moved, tmp_path / "b.html", 0.05)
    assert first.overall == second.overall

    listings = market.listings.copy()
    listings.loc[listings.index[:2], "currency"] = "XAU"
    gold = pd.concat([fx, pd.DataFrame({"currency": ["XAU"], "usd_per_unit": [2400.0]})],
                     ignore_index=True)
    unpriced = save_marketplace(Marketplace(listings, market.sellers, market.complaints,
                                            brands, gold), tmp_path / "unpriced")
    with pytest.raises(ScoringError, match="XAU .*" + listings["listing_id"].iloc[0]):
        score_dataset(trained.model_uri, unpriced, tmp_path / "gold.parquet")
    assert not (tmp_path / "gold.parquet").exists()
    with pytest.raises(UnpricedCurrency, match="XAU"):
        evaluate_model(trained.model_uri, unpriced, tmp_path / "c.html", 0.05)
    from training.drift import drift_report

    unmoved = drift_report(trained.model_uri, dataset, moved, threshold=0.1)
    assert unmoved["psi"].max() == pytest.approx(0.0, abs=1e-9)  # the model's tables
    from typer.testing import CliRunner

    from strikeout.cli import app

    for pair in ((dataset, unpriced), (unpriced, dataset)):  # an error line, not drift's exit 1
        result = CliRunner().invoke(app, ["drift", "--model", trained.model_uri, "--quiet",
                                          "--reference", str(pair[0]), "--current", str(pair[1])])
        assert result.exit_code == 2 and "error: listings in XAU" in result.output, result.output


def test_score_command_refuses_an_unknown_output_format(trained: TrainResult, dataset: Path,
                                                        tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from strikeout.cli import app

    result = CliRunner().invoke(app, ["score", "--data", str(dataset), "--out",
                                      str(tmp_path / "scores.xlsx"), "--model", trained.model_uri])
    assert result.exit_code == 2
    assert "--out must end in .csv or .parquet" in result.output


@pytest.mark.parametrize("max_depth", [2, 4])
def test_trees_grow_no_deeper_than_max_depth(max_depth: int) -> None:
    """The depth limit reaches LightGBM: the service's reasons cost time with depth."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(2000, 6)), columns=[f"f{i}" for i in range(6)])
    y = ((X["f0"] * X["f1"] + X["f2"] ** 2 + rng.normal(scale=0.5, size=2000)) > 1).to_numpy(int)
    config = TrainingConfig(booster=BoosterConfig(n_estimators=20, max_depth=max_depth))
    booster = fit_booster(config, X.iloc[:1500], y[:1500], X.iloc[1500:], y[1500:])

    def depth(node: dict) -> int:
        if "leaf_index" in node:
            return 0
        return 1 + max(depth(node["left_child"]), depth(node["right_child"]))

    depths = [depth(tree["tree_structure"]) for tree in booster.dump_model()["tree_info"]]
    assert max(depths) == max_depth  # reached, never passed (31 leaves would go deeper)
