"""The promotion gate: `champion` moves to a candidate only if not worse on the same slice."""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sklearn.metrics import average_precision_score

from features.contract import Marketplace, load_marketplace
from training.config import TrainingConfig
from training.model import load_listing_model
from training.tracking import connect

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


def holdout_targets(market: Marketplace, start: str, end: str) -> np.ndarray:
    t = market.listings["created_at"]
    labelled = market.listings["label"].notna() if "label" in market.listings else t.isna()
    return ((t >= pd.Timestamp(start)) & (t <= pd.Timestamp(end)) & labelled).to_numpy()


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
    elif str(champion.version) == str(candidate.version):
        decision = PromotionDecision(False, str(candidate.version), str(champion.version),
                                     None, None,
                                     f"version {candidate.version} is already the champion")
    else:
        if candidate.run_id is None:
            raise PromotionError(f"model version {candidate.version} of {name} has no MLflow run "
                                 "to read its held-out slice from")
        run = client.get_run(candidate.run_id)
        tags = run.data.tags
        path = data_path or Path(tags.get("data_path", ""))
        if not Path(path).is_dir():
            raise PromotionError(f"--data {path} is not a folder" if data_path else
                                 f"the candidate's dataset {path} is gone; pass --data DIR")
        market = load_marketplace(path)
        targets = holdout_targets(market, tags["test_start"], tags["test_end"])
        if not targets.any():
            raise PromotionError(
                "the candidate's held-out slice has no labelled listings in that data")
        classes = set(market.listings.loc[targets, "label"].astype(int))
        if classes != {0, 1}:
            raise PromotionError(
                f"the candidate's held-out slice holds only label {classes.pop()} listings "
                f"({int(targets.sum())} of them) in that data: PR-AUC compares nothing "
                f"without both counterfeit and genuine listings")
        cand = pr_auc_of(model_uri(name, candidate.version), market, targets)
        champ = pr_auc_of(model_uri(name, champion.version), market, targets)
        ok = cand >= champ - config.promotion_tolerance
        verdict = "not worse than" if ok else "worse than"
        reason = (f"candidate PR-AUC {cand:.4f} is {verdict} champion {champ:.4f} within the "
                  f"tolerance {config.promotion_tolerance} on {int(targets.sum())} held-out "
                  f"listings ({tags['test_start']} to {tags['test_end']})")
        decision = PromotionDecision(ok, str(candidate.version), str(champion.version), cand, champ,
                                     reason)

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
