"""One small real training run: what its evaluation report is built from, what `strikeout
evaluate` says of the model, and what its model card says."""

from __future__ import annotations

import html
import inspect
import itertools
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from features.contract import load_marketplace, save_marketplace
from features.synthetic import SynthConfig, generate_marketplace
from training import train as train_module
from training.card import render_card, write_card
from training.config import BoosterConfig, TrainingConfig
from training.evaluate import ModelEvaluation, evaluate_model
from training.train import TrainResult, train

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mlflow-training")]

CONFIG = TrainingConfig(booster=BoosterConfig(n_estimators=30, early_stopping_rounds=10),
                        calibration="sigmoid", review_capacity_share=0.025, shap_sample=100)


CHAMPION_URI = f"models:/{CONFIG.registered_model_name}@champion"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    market = generate_marketplace(SynthConfig(n_listings=4_000, seed=3))
    return save_marketplace(market, tmp_path_factory.mktemp("data") / "market")


@pytest.fixture(scope="module")
def report_calls(home: Path, dataset: Path
                 ) -> Iterator[tuple[TrainResult, list[dict[str, Any]]]]:
    """Trains CONFIG once, recording the arguments `build_report` is called with."""
    calls: list[dict[str, Any]] = []
    real = train_module.build_report

    def recording(*args: Any, **kwargs: Any) -> tuple[str, dict[str, bytes]]:
        bound = inspect.signature(real).bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append(bound.arguments)
        return real(*args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(train_module, "build_report", recording)
    result = train(dataset, CONFIG)
    mp.undo()
    MlflowClient().set_registered_model_alias(CONFIG.registered_model_name, "champion",
                                              result.model_version)
    yield result, calls


def test_the_report_explains_as_many_rows_as_the_config_asks(
        report_calls: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    _, calls = report_calls
    [call] = calls
    assert call["sample_rows"] == CONFIG.shap_sample


def test_the_report_header_names_no_cross_fitted_briers_when_none_were_fitted(
        report_calls: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    _, calls = report_calls
    where = calls[0]["where"]
    assert where.endswith("calibration: sigmoid"), where  # set explicitly: nothing cross-fitted


def test_the_report_names_its_run_and_data_and_carries_the_runs_caveats(
        report_calls: tuple[TrainResult, list[dict[str, Any]]], dataset: Path) -> None:
    """A report read outside MLflow (attached, downloaded) still says what it describes."""
    result, calls = report_calls
    where, caveats = calls[0]["where"], tuple(calls[0]["caveats"])
    assert f"run {result.run_id} on {dataset.resolve()} (4,000 listings" in where, where
    assert caveats == result.caveats and caveats  # 4,000 listings: a small test slice
    page = result.report_path.read_text(encoding="utf-8")
    assert html.escape(f"run {result.run_id}") in page
    assert all(html.escape(caveat) in page for caveat in caveats)


STEPS = itertools.count(1)


def set_pr_auc(run_id: str, overall: float, new_sellers: float) -> None:
    """Overwrite the run's latest PR-AUCs (a later step wins), to write the card both ways."""
    client, step, now_ms = MlflowClient(), next(STEPS), int(time.time() * 1000)
    client.log_metric(run_id, "test_pr_auc", overall, timestamp=now_ms, step=step)
    client.log_metric(run_id, "test_new_sellers_pr_auc", new_sellers, timestamp=now_ms, step=step)


def test_the_card_names_the_runs_own_review_capacity(
        report_calls: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    card = render_card(alias="champion")
    assert "| precision at the review capacity (top 2.5%) |" in card
    assert "top 1%" not in card


def test_the_card_calls_new_sellers_a_weakness_only_when_they_rank_worse(
        report_calls: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    result, _ = report_calls
    set_pr_auc(result.run_id, overall=0.6, new_sellers=0.8)
    assert "New sellers" not in render_card(alias="champion")
    set_pr_auc(result.run_id, overall=0.6, new_sellers=0.4)
    assert ("- New sellers: no history to read, so the model leans on price and text "
            "(PR-AUC 0.400 vs 0.600 overall).") in render_card(alias="champion")


def test_the_card_lists_a_category_without_counterfeits_and_ranks_only_the_others(
        report_calls: tuple[TrainResult, list[dict[str, Any]]]) -> None:
    """A category whose test listings hold no counterfeit has an ECE but no PR-AUC logged."""
    result, _ = report_calls
    MlflowClient().log_metric(result.run_id, "test_category_antiques_ece", 0.004)
    card = render_card(alias="champion")
    na = "n/a (no counterfeits in the test slice)"
    assert f"| antiques | {na} | {na} | 0.004 |" in card
    [weakest] = [line for line in card.splitlines() if line.startswith("- Weakest categories")]
    assert "(ranking only those with counterfeits in it)" in weakest
    assert "antiques" not in weakest


OTHER_NAME = "strikeout-card-other-model"


def test_a_card_written_for_another_registered_name_describes_that_model(
        report_calls: tuple[TrainResult, list[dict[str, Any]]], dataset: Path,
        tmp_path: Path) -> None:
    """A config's `registered_model_name` names a model other than the default one."""
    default, _ = report_calls
    other = train(dataset, CONFIG.model_copy(update={"registered_model_name": OTHER_NAME,
                                                     "review_capacity_share": 0.05}))
    MlflowClient().set_registered_model_alias(OTHER_NAME, "champion", other.model_version)
    card = write_card(tmp_path / "README.md", "champion", name=OTHER_NAME).read_text()
    assert card.startswith(f"# Model card: {OTHER_NAME} v{other.model_version} (@champion)\n")
    assert other.run_id in card and default.run_id not in card
    assert CONFIG.registered_model_name not in card
    assert "| precision at the review capacity (top 5%) |" in card


@pytest.fixture(scope="module")
def evaluated_on_its_training_data(
        report_calls: tuple[TrainResult, list[dict[str, Any]]], dataset: Path,
        tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelEvaluation, str]:
    """The champion evaluated through its alias on the dataset it was trained on: what
    `evaluate_model` returns, and the report's HTML."""
    out = tmp_path_factory.mktemp("evaluate") / "report.html"
    summary = evaluate_model(CHAMPION_URI, dataset, out, CONFIG.review_capacity_share,
                             CONFIG.shap_sample)
    return summary, out.read_text(encoding="utf-8")


def test_an_evaluation_through_an_alias_names_the_version_and_run_it_scored(
        report_calls: tuple[TrainResult, list[dict[str, Any]]],
        evaluated_on_its_training_data: tuple[ModelEvaluation, str]) -> None:
    trained, _ = report_calls
    summary, page = evaluated_on_its_training_data
    model = summary.model
    assert (model.name, model.version, model.run_id) == (
        CONFIG.registered_model_name, trained.model_version, trained.run_id)
    assert (f"model {CONFIG.registered_model_name} version {trained.model_version}, "
            f"run {trained.run_id} (from {CHAMPION_URI})") in page


def test_an_evaluation_on_the_training_data_counts_the_listings_the_model_saw(
        report_calls: tuple[TrainResult, list[dict[str, Any]]], dataset: Path,
        evaluated_on_its_training_data: tuple[ModelEvaluation, str]) -> None:
    trained, _ = report_calls
    summary, page = evaluated_on_its_training_data
    test_start = MlflowClient().get_run(trained.run_id).data.tags["test_start"]
    listings = load_marketplace(dataset).listings
    created = listings.loc[listings["label"].notna(), "created_at"]
    before = int((created < pd.Timestamp(test_start)).sum())
    assert 0 < before < len(created)
    caveat = (f"{before:,} of {len(created):,} listings were created before this model's "
              f"held-out slice began ({test_start}): the model trained or calibrated on "
              f"listings of that time, so its figures on them are optimistic")
    assert summary.caveats == (caveat,)
    assert html.escape(caveat) in page


def test_an_evaluation_on_listings_all_from_the_held_out_start_has_no_caveat(
        report_calls: tuple[TrainResult, list[dict[str, Any]]], dataset: Path,
        tmp_path: Path) -> None:
    trained, _ = report_calls
    test_start = pd.Timestamp(MlflowClient().get_run(trained.run_id).data.tags["test_start"])
    market = load_marketplace(dataset)
    listings = market.listings.copy()  # earlier listings stay, unlabelled: seller history
    listings["label"] = listings["label"].astype("Int64").where(
        listings["created_at"] >= test_start)
    later = save_marketplace(replace(market, listings=listings), tmp_path / "later")
    out = tmp_path / "later.html"
    summary = evaluate_model(CHAMPION_URI, later, out, CONFIG.review_capacity_share,
                             CONFIG.shap_sample)
    assert summary.caveats == ()
    assert summary.model.run_id == trained.run_id  # the run was found: it says nothing
    assert "held-out slice began" not in out.read_text(encoding="utf-8")
