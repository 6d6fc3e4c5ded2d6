"""One small real training run: what its evaluation report is built from and what its model
card says."""

from __future__ import annotations

import inspect
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from features.contract import save_marketplace
from features.synthetic import SynthConfig, generate_marketplace
from training import train as train_module
from training.card import render_card
from training.config import BoosterConfig, TrainingConfig
from training.train import TrainResult, train

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mlflow-training")]

CONFIG = TrainingConfig(booster=BoosterConfig(n_estimators=30, early_stopping_rounds=10),
                        calibration="sigmoid", review_capacity_share=0.025, shap_sample=100)


@pytest.fixture(scope="module")
def report_calls(home: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[TrainResult, list[dict[str, Any]]]]:
    """Trains CONFIG once, recording the arguments `build_report` is called with."""
    market = generate_marketplace(SynthConfig(n_listings=4_000, seed=3))
    data = save_marketplace(market, tmp_path_factory.mktemp("data") / "market")
    calls: list[dict[str, Any]] = []
    real = train_module.build_report

    def recording(*args: Any, **kwargs: Any) -> tuple[str, dict[str, bytes]]:
        bound = inspect.signature(real).bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append(bound.arguments)
        return real(*args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(train_module, "build_report", recording)
    result = train(data, CONFIG)
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
