"""The promotion gate compares on listings neither model has seen, from the data as trained on."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from features.contract import Marketplace, load_marketplace, save_marketplace
from features.synthetic import SynthConfig, generate_marketplace
from training.config import BoosterConfig, SplitConfig, TrainingConfig
from training.registry import PromotionError, promote
from training.train import TrainResult, train

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mlflow-training")]

NAME = "gate-test-model"
FAST = BoosterConfig(n_estimators=60, early_stopping_rounds=10)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    market = generate_marketplace(SynthConfig(n_listings=12_000, seed=5))
    return save_marketplace(market, tmp_path_factory.mktemp("data") / "market")


def config(**split: float) -> TrainingConfig:
    return TrainingConfig(registered_model_name=NAME, booster=FAST, promotion_tolerance=0.5,
                          split=SplitConfig(**split) if split else SplitConfig())


@pytest.fixture(scope="module")
def versions(home: Path, dataset: Path) -> dict[str, TrainResult]:
    """`early`: the default split; `late`: trained on all but the last 6% of the span, and
    the champion (each test may run alone, on any worker)."""
    early = train(dataset, config())
    late = train(dataset, config(gap_days=0, validation_share=0.02, calibration_share=0.02,
                                 test_share=0.06))
    assert promote(config(), late.model_version).promoted  # the first: champion
    return {"early": early, "late": late}


def test_a_champion_trained_later_is_compared_only_on_listings_it_never_saw(
        versions: dict[str, TrainResult], dataset: Path) -> None:
    decision = promote(config(), versions["early"].model_version)
    client = MlflowClient()
    late_test_start = client.get_run(versions["late"].run_id).data.tags["test_start"]
    early_test_start = client.get_run(versions["early"].run_id).data.tags["test_start"]
    assert pd.Timestamp(late_test_start) > pd.Timestamp(early_test_start)
    listings = load_marketplace(dataset).listings
    unseen = int((listings["created_at"] >= pd.Timestamp(late_test_start)).sum())
    assert f"on {unseen} held-out listings (created from {late_test_start})" in decision.reason
    # the early model's own window would have held the late model's training listings
    assert int((listings["created_at"] >= pd.Timestamp(early_test_start)).sum()) > 2 * unseen


def test_data_with_no_listing_unseen_by_both_is_refused_saying_why(
        versions: dict[str, TrainResult], dataset: Path, tmp_path: Path) -> None:
    client = MlflowClient()
    client.set_registered_model_alias(NAME, "champion", versions["late"].model_version)
    champion = client.get_model_version_by_alias(NAME, "champion")
    champion_start = client.get_run(champion.run_id).data.tags["test_start"]
    market = load_marketplace(dataset)
    earlier = market.listings["created_at"] < pd.Timestamp(champion_start)
    kept = market.listings.loc[earlier]
    older = save_marketplace(Marketplace(
        kept, market.sellers, market.complaints.loc[
            market.complaints["listing_id"].isin(kept["listing_id"])
            & (market.complaints["filed_at"] < pd.Timestamp(champion_start))],
        market.brands, market.fx_rates), tmp_path / "older")
    with pytest.raises(PromotionError, match=re.escape(
            f"no labelled listings created at or after {champion_start} in {older}: the "
            f"champion, version {champion.version}, trained and calibrated on listings created "
            f"before {champion_start}")):
        promote(config(), versions["early"].model_version, data_path=older)


def test_a_dataset_changed_since_training_is_refused_unless_named(
        versions: dict[str, TrainResult], dataset: Path, tmp_path: Path) -> None:
    moved = shutil.copytree(dataset, tmp_path / "market")
    trained = train(moved, config())
    listings = pd.read_csv(moved / "listings.csv", dtype=str, keep_default_na=False)
    listings.loc[listings["label"] == "1", "label"] = "0"  # labels flipped in place
    listings.loc[listings.index[::50], "label"] = "1"
    listings.to_csv(moved / "listings.csv", index=False)
    with pytest.raises(PromotionError, match=r"changed since version \d+ was trained on it "
                                             r"\(listings differ\)"):
        promote(config(), trained.model_version)
    decided = promote(config(), trained.model_version, data_path=moved)  # the analyst's choice
    assert decided.candidate_pr_auc is not None


def test_promoting_the_champion_again_records_nothing(versions: dict[str, TrainResult]) -> None:
    client = MlflowClient()
    champion = client.get_model_version_by_alias(NAME, "champion")
    before = client.get_model_version(NAME, champion.version).tags
    decision = promote(config(), str(champion.version))
    assert not decision.promoted and "already the champion" in decision.reason
    assert client.get_model_version(NAME, champion.version).tags == before
    assert before["promotion.last"] == "promoted"
    assert json.loads(next(v for k, v in before.items() if k.startswith("promotion.2"))
                      )["decision"] == "promoted"


def test_a_candidate_below_the_champion_says_by_how_much(
        versions: dict[str, TrainResult], dataset: Path) -> None:
    weak = train(dataset, config().model_copy(update={
        "booster": BoosterConfig(n_estimators=1, num_leaves=2, early_stopping_rounds=1),
        "promotion_tolerance": 0.0}))
    decision = promote(config().model_copy(update={"promotion_tolerance": 0.0}),
                       weak.model_version)
    assert not decision.promoted
    gap = decision.champion_pr_auc - decision.candidate_pr_auc
    assert f"is {gap:.4f} below champion {decision.champion_pr_auc:.4f}, more than the " \
           "tolerance 0.0" in decision.reason
