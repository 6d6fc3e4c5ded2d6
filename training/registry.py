"""The promotion gate: `champion` moves to a candidate only if not worse on the same slice."""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.metrics import average_precision_score

from features.contract import Marketplace, load_marketplace
from training.config import TrainingConfig
from training.model import load_listing_model
from training.tracking import connect
from training.train import fingerprint

CHAMPION, CHALLENGER = "champion", "challenger"


class PromotionError(ValueError):
    """The promotion cannot be decided (no such version, no held-out slice)."""


@dataclass(frozen=True)
class PromotionDecision:
    promoted: bool
    candidate_version: str
    champion_version: str | None
    candidate_pr_auc: float | None
    champion_pr_auc: float | None
    reason: str


def model_uri(name: str, version: str) -> str:
    return f"models:/{name}/{version}"


def holdout_targets(market: Marketplace, start: pd.Timestamp) -> np.ndarray:
    """The labelled listings created at or after `start`."""
    t = market.listings["created_at"]
    labelled = market.listings["label"].notna() if "label" in market.listings else t.isna()
    return ((t >= start) & labelled).to_numpy()


def pr_auc_of(version_uri: str, market: Marketplace, targets: np.ndarray) -> float:
    model = load_listing_model(version_uri)
    scored = model.score(market, targets, with_reasons=False)
    y = market.listings.loc[scored.index, "label"].astype(int).to_numpy()
    return float(average_precision_score(y, scored["score"].to_numpy()))


def promote(config: TrainingConfig, version: str | None = None,
            data_path: Path | None = None) -> PromotionDecision:
    """Move `champion` to `version` (default: the `challenger`) if it passes the gate."""
    connect()
    client = MlflowClient()
    name = config.registered_model_name
    try:
        candidate = (client.get_model_version(name, version) if version
                     else client.get_model_version_by_alias(name, CHALLENGER))
    except MlflowException as exc:
        raise PromotionError(f"no model version {version or '@' + CHALLENGER} of {name}: "
                             f"{exc.message}") from exc
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        champion = None

    if champion is None:
        decision = PromotionDecision(True, str(candidate.version), None, None, None,
                                     "no champion yet: the first model becomes champion")
    elif str(champion.version) == str(candidate.version):  # nothing to decide or record
        return PromotionDecision(False, str(candidate.version), str(champion.version), None,
                                 None, f"version {candidate.version} is already the champion")
    else:
        decision = _gate(client, config, candidate, champion, data_path)

    now = datetime.now(UTC)
    record = {
        "decision": "promoted" if decision.promoted else "refused",
        "by": getpass.getuser(), "at": now.isoformat(timespec="seconds"),
        "candidate_pr_auc": decision.candidate_pr_auc, "champion_pr_auc": decision.champion_pr_auc,
        "champion_version": decision.champion_version, "reason": decision.reason,
    }
    # the record first: an alias that moved without its record would be unexplained
    client.set_model_version_tag(name, candidate.version,
                                 f"promotion.{now.strftime('%Y%m%dT%H%M%S.%fZ')}",
                                 json.dumps(record))
    client.set_model_version_tag(name, candidate.version, "promotion.last", record["decision"])
    if decision.promoted:
        client.set_registered_model_alias(name, CHAMPION, candidate.version)
    return decision


def _gate(client: MlflowClient, config: TrainingConfig, candidate: ModelVersion,
          champion: ModelVersion, data_path: Path | None) -> PromotionDecision:
    """Compare the two versions' PR-AUC on listings neither was fitted or calibrated on.

    Those are the labelled listings created from the later of the two held-out slices'
    starts: a champion trained later than the candidate may have trained on the candidate's
    test listings, and would win on listings it has seen. Read from the candidate's dataset
    as it was trained on (its files' fingerprint), unless `data_path` names other data
    (newer listings, say: every listing after that start is unseen by both).
    """
    name = config.registered_model_name
    tags = _run_tags(client, candidate)
    path = data_path or Path(tags.get("data_path", ""))
    if not Path(path).is_dir():
        raise PromotionError(f"--data {path} is not a folder" if data_path else
                             f"the candidate's dataset {path} is gone; pass --data DIR")
    market = load_marketplace(path)
    if data_path is None:
        _check_unchanged(client, candidate, market, path)
    own_start = pd.Timestamp(tags["test_start"])
    champion_start = pd.Timestamp(_run_tags(client, champion)["test_start"])
    start = max(own_start, champion_start)
    targets = holdout_targets(market, start)
    if not targets.any():
        why = (f"the champion, version {champion.version}, trained and calibrated on listings "
               f"created before {champion_start}, after the candidate's held-out slice began "
               f"({own_start})" if champion_start > own_start else
               f"the candidate's held-out slice starts at {own_start}")
        raise PromotionError(f"no labelled listings created at or after {start} in {path}: "
                             f"{why}; pass --data with labelled listings created after {start}")
    classes = set(market.listings.loc[targets, "label"].astype(int))
    if classes != {0, 1}:
        raise PromotionError(
            f"the held-out slice holds only label {classes.pop()} listings "
            f"({int(targets.sum())} of them) in that data: PR-AUC compares nothing "
            f"without both counterfeit and genuine listings")
    cand = pr_auc_of(model_uri(name, candidate.version), market, targets)
    champ = pr_auc_of(model_uri(name, champion.version), market, targets)
    ok = cand >= champ - config.promotion_tolerance
    if cand >= champ:
        verdict = f"is not below champion {champ:.4f}"
    else:
        within = "within" if ok else "more than"
        verdict = (f"is {champ - cand:.4f} below champion {champ:.4f}, {within} the "
                   f"tolerance {config.promotion_tolerance}")
    reason = (f"candidate PR-AUC {cand:.4f} {verdict}, on {int(targets.sum())} held-out "
              f"listings (created from {start})")
    return PromotionDecision(ok, str(candidate.version), str(champion.version), cand, champ,
                             reason)


def _run_tags(client: MlflowClient, version: ModelVersion) -> dict[str, str]:
    """The tags of the run that trained `version`, which say its data and held-out slice."""
    try:
        tags = client.get_run(version.run_id).data.tags if version.run_id else {}
    except MlflowException as exc:
        raise PromotionError(f"model version {version.version}'s MLflow run cannot be read "
                             f"({exc.message})") from exc
    if "test_start" not in tags:
        raise PromotionError(
            f"model version {version.version} has no MLflow run of `strikeout train` to read "
            f"its held-out slice from, so no listings are known to be unseen by it (a "
            f"champion made elsewhere: move the alias in MLflow by hand)")
    return dict(tags)


def _check_unchanged(client: MlflowClient, version: ModelVersion, market: Marketplace,
                     path: Path) -> None:
    """Refuse a dataset whose files changed since `version` was trained on them: its
    held-out labels may no longer be the ones the model was held out from."""
    try:
        logged = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/data_fingerprint.json")
        then: dict[str, str] = logged["file_sha256_16"]
    except (MlflowException, OSError, KeyError, TypeError) as exc:
        raise PromotionError(f"version {version.version}'s run has no data fingerprint to "
                             f"check {path} against ({exc}); pass --data DIR") from exc
    now = cast(dict[str, str], fingerprint(market)["file_sha256_16"])
    changed = sorted(n for n in set(then) | set(now) if then.get(n) != now.get(n))
    if changed:
        raise PromotionError(
            f"the candidate's dataset {path} changed since version {version.version} was "
            f"trained on it ({', '.join(changed)} differ); pass --data DIR to compare on "
            f"data of your choice")
