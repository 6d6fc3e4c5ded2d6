"""`strikeout train`: a step bar on stderr, and nothing at all there with --quiet."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.contract import save_marketplace
from features.synthetic import SynthConfig, generate_marketplace
from strikeout.cli import app
from training import train as train_module
from training.config import TrainingConfig
from training.train import STEPS, Progress, TrainResult

METRICS = dict.fromkeys(
    ("test_pr_auc", "test_roc_auc", "test_recall_at_90_precision", "test_precision_at_capacity",
     "test_ece_before_calibration", "test_ece", "test_brier_before_calibration", "test_brier"),
    0.5)


@pytest.fixture
def steps_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`train` replaced by one that only walks its steps, chattering on stderr as MLflow does."""
    seen: list[str] = []

    def walk(data_path: Path, config: TrainingConfig, progress: Progress = lambda _: None,
             register: bool = True) -> TrainResult:
        for step in STEPS:
            progress(step)
            seen.append(step)
        print("Successfully registered model 'strikeout-listing-risk'.", file=sys.stderr)
        if data_path.name == "broken":
            raise ValueError("the test slice holds no counterfeit listings")
        return TrainResult("run-1", "7", "models:/m-1", METRICS, Path("report.html"))

    monkeypatch.setattr(train_module, "train", walk)
    return seen


def test_the_bar_walks_every_step_and_quiet_keeps_stderr_empty(
        steps_only: list[str], tmp_path: Path) -> None:
    loud = CliRunner().invoke(app, ["train", "--data", str(tmp_path)])
    assert loud.exit_code == 0, loud.stderr
    assert steps_only == list(STEPS)
    assert f"train: {len(STEPS)}/{len(STEPS)} steps" in loud.stderr and "done" in loud.stderr
    assert "[train]" not in loud.stderr
    quiet = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--quiet"])
    assert quiet.exit_code == 0
    assert quiet.stderr == ""
    assert quiet.stdout == loud.stdout
    assert "strikeout-listing-risk version 7 (alias challenger), run run-1" in quiet.stdout


def test_quiet_shows_what_was_held_back_when_the_job_fails(
        steps_only: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "broken"), "--quiet"])
    assert result.exit_code == 2
    assert "Successfully registered model" in result.stderr
    assert "error: the test slice holds no counterfeit listings" in result.stderr
    assert "steps" not in result.stderr


@pytest.fixture
def mlflow_globals_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's `connect()` sets MLflow's process-wide URIs and MLFLOW_TRACKING_URI; the
    other tests of this process get theirs back."""
    from mlflow.tracking._model_registry import utils as registry
    from mlflow.tracking._tracking_service import utils as tracking

    monkeypatch.setattr(tracking, "_tracking_uri", tracking._tracking_uri)
    monkeypatch.setattr(registry, "_registry_uri", registry._registry_uri)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.mark.slow
def test_a_real_quiet_training_prints_only_its_result(
        tmp_path: Path, mlflow_globals_restored: None) -> None:
    market = generate_marketplace(SynthConfig(n_listings=6_000, seed=3))
    data = save_marketplace(market, tmp_path / "data")
    config = tmp_path / "config.toml"
    config.write_text("shap_sample = 100\n[booster]\nn_estimators = 40\n"
                      "early_stopping_rounds = 10\n")
    env = {"STRIKEOUT_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": None}
    result = CliRunner().invoke(app, ["train", "--data", str(data), "--config", str(config),
                                      "--quiet"], env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # MLflow's registry messages and warnings are held back
    assert result.stdout.startswith("strikeout-listing-risk version 1 (alias challenger)")
