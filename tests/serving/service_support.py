"""Shared by the service tests: one small model trained per test process, fresh ledgers.

Training is the slow part (the real `training.train.train`, on a small synthetic
marketplace), so `model_world()` does it once per process; the service tests all run
in one xdist group to share it. Each test module gets its own ledger database with the
dataset's complaints and (part of) its listings imported, and its own API keys.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

# BentoML's /metrics merges per-process files; prometheus_client must see this directory
# before it is first imported, which is why it is set when this module is imported.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="strikeout-test-prometheus-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

from features.contract import Marketplace, load_marketplace, save_marketplace  # noqa: E402
from features.synthetic import SynthConfig, generate_marketplace  # noqa: E402
from serving.history_store import HistoryStore, import_listings  # noqa: E402
from serving.keys import create_key  # noqa: E402
from serving.ledger.ledger import Ledger  # noqa: E402
from serving.settings import ServingSettings  # noqa: E402

MODEL_NAME = "strikeout-listing-risk"
LISTINGS = 8_000
SEED = 5
CUT_QUANTILE = 0.85  # history imported before this moment; later listings are scored


@dataclass(frozen=True)
class ModelWorld:
    """A trained, registered model (alias `champion`) and the dataset it was trained on."""

    home: Path
    data_path: Path
    market: Marketplace
    version: str
    model_uri: str

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.home / 'mlflow.db'}"


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (or, with None, remove) environment variables for the block."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@cache
def model_world() -> ModelWorld:
    """Train and register a small model once per process; it becomes `champion`."""
    from mlflow.tracking import MlflowClient

    from training.config import BoosterConfig, TrainingConfig
    from training.train import train

    home = Path(tempfile.mkdtemp(prefix="strikeout-service-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    market = generate_marketplace(SynthConfig(n_listings=LISTINGS, seed=SEED))
    data_path = save_marketplace(market, home / "data")
    config = TrainingConfig(booster=BoosterConfig(n_estimators=80, early_stopping_rounds=20),
                            shap_sample=100)
    with environment(STRIKEOUT_HOME=str(home), MLFLOW_TRACKING_URI=None):
        result = train(data_path, config)
        MlflowClient().set_registered_model_alias(MODEL_NAME, "champion", result.model_version)
    return ModelWorld(home, data_path, load_marketplace(data_path), f"{MODEL_NAME}/"
                      f"{result.model_version}", result.model_uri)


def cut_moment(market: Marketplace) -> pd.Timestamp:
    return market.listings["created_at"].quantile(CUT_QUANTILE)


def before(market: Marketplace, moment: pd.Timestamp) -> Marketplace:
    """The marketplace with only the listings created before `moment` (all sellers)."""
    early = market.listings[market.listings["created_at"] < moment]
    return Marketplace(early, market.sellers, market.complaints, market.brands, market.fx_rates)


def later_listings(market: Marketplace, moment: pd.Timestamp) -> pd.DataFrame:
    """The listings from `moment` on, oldest first, without label."""
    rows = market.listings[market.listings["created_at"] >= moment]
    return rows.drop(columns=["label"]).sort_values(["created_at", "listing_id"])


@dataclass(frozen=True)
class LedgerWorld:
    """A ledger database holding a dataset's complaints and history, and one key per role."""

    url: str
    keys: dict[str, str]

    def settings(self, **overrides: Any) -> ServingSettings:
        return ServingSettings(ledger_url=self.url, **overrides)

    def open(self) -> Ledger:
        return Ledger.open(self.settings())


def make_ledger(folder: Path, world: ModelWorld, history: Marketplace) -> LedgerWorld:
    """A fresh SQLite ledger with all the dataset's complaints and `history` as online history."""
    url = f"sqlite:///{folder / 'ledger.sqlite'}"
    ledger = Ledger.open(ServingSettings(ledger_url=url))
    try:
        ledger.import_history(world.data_path)
        import_listings(HistoryStore(ledger.store), history)
        keys = {role: create_key(ledger.store, role).key
                for role in ("scorer", "admin", "reviewer")}
        keys["brand"] = create_key(ledger.store, "brand", "Arvedo").key
    finally:
        ledger.close()
    return LedgerWorld(url, keys)


def service_environment(world: ModelWorld, ledger: LedgerWorld, **settings: str
                        ) -> dict[str, str | None]:
    """STRIKEOUT_* variables that point the service at this model and ledger."""
    return {"STRIKEOUT_HOME": str(world.home), "STRIKEOUT_LEDGER_URL": ledger.url,
            "MLFLOW_TRACKING_URI": None,
            **{f"STRIKEOUT_{k.upper()}": v for k, v in settings.items()}}


def listing_json(row: pd.Series | dict[str, Any]) -> dict[str, Any]:
    """A contract listing row as /score's JSON."""
    row = dict(row)
    out = {k: row[k] for k in ("listing_id", "seller_id", "title", "description", "brand",
                               "category", "currency", "ships_from")}
    out["created_at"] = pd.Timestamp(row["created_at"]).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out["price"] = float(row["price"])
    out["quantity"] = int(row["quantity"])
    out["image_count"] = int(row["image_count"])
    return out


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
