"""`strikeout card`: the model card (models/README.md), from the champion's MLflow run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from training.config import REGISTERED_MODEL_NAME
from training.tracking import connect


def _key_metrics(capacity_share: float) -> tuple[tuple[str, str], ...]:
    """Metric keys and their labels; the capacity is the run's own, as configs change it."""
    return (
        ("pr_auc", "PR-AUC"), ("roc_auc", "ROC-AUC"),
        ("recall_at_90_precision", "recall at 90% precision"),
        ("precision_at_capacity",
         f"precision at the review capacity (top {capacity_share * 100:g}%)"),
        ("ece", "expected calibration error"), ("brier", "Brier score"),
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _new_seller_weakness(metrics: dict[str, float]) -> list[str]:
    """The new-seller line of the known weaknesses, only when they do rank worse than overall."""
    new_sellers, overall = metrics.get("test_new_sellers_pr_auc"), metrics.get("test_pr_auc")
    if new_sellers is None or overall is None or not new_sellers < overall:
        return []
    return [f"- New sellers: no history to read, so the model leans on price and text "
            f"(PR-AUC {_fmt(new_sellers)} vs {_fmt(overall)} overall)."]


NO_COUNTERFEITS = "n/a (no counterfeits in the test slice)"


def _test_categories(metrics: dict[str, float]) -> list[str]:
    """Every category of the test slice.

    Read from the ECE keys as well as the PR-AUC ones: a category whose test listings hold no
    counterfeit has no PR-AUC (nor recall) logged, only its ECE, and would vanish otherwise.
    """
    prefix = "test_category_"
    return sorted({key.removeprefix(prefix).removesuffix(suffix)
                   for key in metrics for suffix in ("_pr_auc", "_ece")
                   if key.startswith(prefix) and key.endswith(suffix)})


def _category_row(metrics: dict[str, float], category: str) -> str:
    """One row of the by-category table; the ranking metrics of a category without
    counterfeits say why they are missing rather than a bare n/a."""
    def metric(key: str) -> float | None:
        return metrics.get(f"test_category_{category}_{key}")

    no_counterfeits = metric("pr_auc") is None
    ranking = [NO_COUNTERFEITS if no_counterfeits else _fmt(metric(key))
               for key in ("pr_auc", "recall_at_90_precision")]
    return f"| {category} | {' | '.join(ranking)} | {_fmt(metric('ece'))} |"


def _weakest_categories(metrics: dict[str, float], categories: list[str]) -> str:
    """The known-weaknesses line of the two lowest-PR-AUC categories. It says that only
    categories with counterfeits in the test slice are ranked: the others have no PR-AUC,
    and a reader should not take them for strong."""
    ranked = sorted((c for c in categories if f"test_category_{c}_pr_auc" in metrics),
                    key=lambda c: metrics[f"test_category_{c}_pr_auc"])
    return ("- Weakest categories on this test slice (ranking only those with counterfeits "
            f"in it): {', '.join(ranked[:2]) or 'none has any'}.")


def render_card(alias: str = "champion", name: str = REGISTERED_MODEL_NAME) -> str:
    """The card of the version `alias` names under the registered model `name`."""
    connect()
    client = MlflowClient()
    version = client.get_model_version_by_alias(name, alias)
    if version.run_id is None:
        raise MlflowException(f"{name} v{version.version} (@{alias}) has no MLflow run to describe")
    run = client.get_run(version.run_id)
    m, tags = run.data.metrics, run.data.tags
    config = json.loads(Path(mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="config.json")).read_text())
    data = json.loads(Path(mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="data_fingerprint.json")).read_text())
    split = json.loads(Path(mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="split.json")).read_text())
    categories = _test_categories(m)

    trained_on = datetime.fromtimestamp(run.info.start_time / 1000, UTC)
    lines = [
        f"# Model card: {name} v{version.version} (@{alias})",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `strikeout card` from MLflow run "
        f"`{run.info.run_id}`, trained {trained_on:%Y-%m-%d} "
        f"by {tags.get('trained_by', 'unknown')}. "
        f"Feature set version {tags.get('feature_set_version')}.",
        "",
        "## Intended use",
        "Ranks new and edited marketplace listings by the calibrated probability that they are "
        "counterfeit or infringing, so that reviewers see the riskiest first and listing systems "
        "can hold `high` listings for review. It is a triage aid: a score alone never takes a "
        "listing down or strikes a seller; reviewers and brands' upheld complaints do.",
        "Not for: judging sellers outside the marketplace it was trained on, or categories and "
        "brands it has never seen without watching `strikeout drift` first.",
        "",
        "## Data",
        f"- listings: {data['rows']['listings']:,}, sellers: {data['rows']['sellers']:,}, "
        f"complaints: {data['rows']['complaints']:,}; created {data['time_range'][0]} to "
        f"{data['time_range'][1]}; label rate {data['positive_rate']:.2%}.",
        f"- time split: train {split['train'][0]} to {split['train'][1]}, then (after a "
        f"{config['split']['gap_days']}-day label-delay gap) validation, calibration and a "
        f"held-out test slice {split['test'][0]} to {split['test'][1]}.",
        "- labels come from review decisions and upheld complaints; some counterfeits are never "
        "caught, so measured precision is a lower bound.",
        "",
        "## Metrics on the held-out test slice",
        "| metric | all listings | sellers with no history |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {_fmt(m.get(f'test_{key}'))} "
              f"| {_fmt(m.get(f'test_new_sellers_{key}'))} |"
              for key, label in _key_metrics(config["review_capacity_share"])]
    lines += [
        "",
        f"Calibration ({tags.get('calibration_method')}): ECE "
        f"{_fmt(m.get('test_ece_before_calibration'))} before, {_fmt(m.get('test_ece'))} after; "
        f"Brier {_fmt(m.get('test_brier_before_calibration'))} before, "
        f"{_fmt(m.get('test_brier'))} after.",
        "",
        "### By category",
        "| category | PR-AUC | recall at 90% precision | ECE |",
        "|---|---|---|---|",
    ]
    lines += [_category_row(m, c) for c in categories]
    bands = config["bands"]
    lines += [
        "",
        "## Thresholds",
        f"- `review` at score >= {bands['review']}, `high` at score >= {bands['high']} "
        "(stored with the model; notebook 2 shows the cost of each choice). A frozen "
        "seller's listings are always `high`.",
        "",
        "## Known weaknesses",
        *_new_seller_weakness(m),
        "- New brands: a brand absent from the registry and from training has only a learned "
        "category price as reference, and disguised spellings of it are not recognised.",
        "- Stealth listings that copy genuine wording and price near retail are found mostly "
        "through seller history and shared phrases with struck sellers; the first listings of "
        "a new ring are the hardest.",
        _weakest_categories(m, categories),
        "- Tactics drift: retrain when `strikeout drift` flags the score or text features.",
        "",
    ]
    return "\n".join(lines)


def write_card(out_path: Path, alias: str = "champion",
               name: str = REGISTERED_MODEL_NAME) -> Path:
    """Write the card of `name@alias`; `name` is the training config's
    `registered_model_name`, which a config may set to other than the default."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render_card(alias, name), encoding="utf-8")
    return out_path
