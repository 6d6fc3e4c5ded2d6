"""A training config file is read strictly: a value of the wrong type is refused naming the
field, never turned into another value; what JSON and TOML hold for a field still loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from strikeout.cli import app
from training.config import ConfigError, TrainingConfig, load_config


@pytest.mark.parametrize(("config", "field", "message"), [
    ({"booster": {"n_estimators": True}}, "booster.n_estimators", "valid integer"),
    ({"booster": {"n_estimators": "50"}}, "booster.n_estimators", "valid integer"),
    ({"booster": {"max_depth": False}}, "booster.max_depth", "valid integer"),
    ({"booster": {"num_leaves": 31.0}}, "booster.num_leaves", "valid integer"),
    ({"booster": {"learning_rate": True}}, "booster.learning_rate", "valid number"),
    ({"booster": {"learning_rate": "0.1"}}, "booster.learning_rate", "valid number"),
    ({"bands": {"review": "0.2"}}, "bands.review", "valid number"),
    ({"split": {"gap_days": True}}, "split.gap_days", "valid number"),
    ({"shap_sample": "500"}, "shap_sample", "valid integer"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_the_field(
        tmp_path: Path, config: dict, field: str, message: str) -> None:
    """Lax mode took `true` as 1 (a one-tree model), `false` as 0 and "50" as 50."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=f"{path}: {field}: Input should be a {message}"):
        load_config(path)


def test_a_toml_boolean_for_a_number_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[booster]\nn_estimators = true\nlearning_rate = false\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value) == (
        f"{path}: booster.n_estimators: Input should be a valid integer; "
        "booster.learning_rate: Input should be a valid number")


def test_the_command_prints_the_refusal_as_an_error_line(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"booster": {"n_estimators": True}}))
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--config", str(path)],
                                env={"STRIKEOUT_HOME": str(home), "MLFLOW_TRACKING_URI": None})
    assert result.exit_code == 2
    assert f"error: {path}: booster.n_estimators: Input should be a valid integer" in (
        result.stderr), result.output
    assert not home.exists()  # refused before any run


def test_what_json_and_toml_hold_for_each_field_still_loads(tmp_path: Path) -> None:
    """Ints for floats, strings for the literals, tables for the sections: strict mode
    refuses none of them."""
    toml = tmp_path / "config.toml"
    toml.write_text(
        'calibration = "sigmoid"\nexperiment_name = "nightly"\nshap_sample = 500\n'
        "review_capacity_share = 0.02\npromotion_tolerance = 0\n"
        "[split]\ngap_days = 3\ntest_share = 0.2\n"
        '[booster]\nlearning_rate = 1\nsubsample = 1\ncolsample_bytree = 1\nreg_lambda = 0\n'
        'positive_weight = 5\nmax_depth = -1\n'
        "[bands]\nreview = 0.25\nhigh = 0.8\n")
    json_path = tmp_path / "config.json"
    json_path.write_text(json.dumps({
        "calibration": "sigmoid", "experiment_name": "nightly", "shap_sample": 500,
        "review_capacity_share": 0.02, "promotion_tolerance": 0,
        "split": {"gap_days": 3, "test_share": 0.2},
        "booster": {"learning_rate": 1, "subsample": 1, "colsample_bytree": 1,
                    "reg_lambda": 0, "positive_weight": 5, "max_depth": -1},
        "bands": {"review": 0.25, "high": 0.8}}))
    from_toml, from_json = load_config(toml), load_config(json_path)
    assert from_toml == from_json
    assert from_toml.booster.learning_rate == 1.0 and from_toml.split.gap_days == 3.0
    assert from_toml.booster.positive_weight == 5.0 and from_toml.promotion_tolerance == 0.0
    json_path.write_text(json.dumps({"booster": {"positive_weight": "balanced"}}))
    assert load_config(json_path).booster.positive_weight == "balanced"


def test_a_config_written_back_from_a_model_dump_loads_as_it_was(tmp_path: Path) -> None:
    """The notebook writes a config back from `model_dump(mode="json")`."""
    config = TrainingConfig.model_validate(
        {**TrainingConfig().model_dump(), "bands": {"review": 0.2, "high": 0.9}})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    assert load_config(path) == config
