"""Where runs and models go: an embedded SQLite MLflow store under STRIKEOUT_HOME by default.

`MLFLOW_TRACKING_URI` overrides it, so analysts can point at a shared server;
`mlflow ui --backend-store-uri <uri>` on the same URI shows the runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
from mlflow.entities import Experiment, LifecycleStage
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TrackingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRIKEOUT_", extra="ignore", frozen=True)

    home: Path = Field(default=Path(".strikeout"), description="folder for the embedded stores")

    @property
    def embedded_uri(self) -> str:
        return f"sqlite:///{self.home.resolve() / 'mlflow.db'}"

    @property
    def tracking_uri(self) -> str:
        return os.environ.get("MLFLOW_TRACKING_URI") or self.embedded_uri

    @property
    def artifact_root(self) -> Path:
        return self.home.resolve() / "mlartifacts"


def connect(settings: TrackingSettings | None = None) -> str:
    """Point MLflow at the tracking store (creating the embedded one if needed); return its URI."""
    settings = settings or TrackingSettings()
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


class ExperimentError(ValueError):
    """An experiment MLflow cannot log runs to; the message names it and the fix. A
    ValueError: `strikeout train` prints those as an `error:` line, not a traceback."""


def use_experiment(name: str, settings: TrackingSettings | None = None) -> str:
    """The experiment's id; a new experiment on the embedded store keeps artifacts under home.

    A deleted experiment keeps its name (MLflow makes no new one under it) and refuses
    runs, so it is refused here, before training spends its minutes.
    """
    settings = settings or TrackingSettings()
    embedded = mlflow.get_tracking_uri() == settings.embedded_uri
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        # a shared server keeps its own default location
        location = settings.artifact_root.as_uri() if embedded else None
        return mlflow.create_experiment(name, artifact_location=location)
    if experiment.lifecycle_stage == LifecycleStage.DELETED:
        raise ExperimentError(_deleted(experiment, settings.embedded_uri if embedded else None))
    return experiment.experiment_id


def _deleted(experiment: Experiment, embedded_uri: str | None) -> str:
    """What to do about a deleted experiment. The restore command reads the store from
    MLFLOW_TRACKING_URI, which names the embedded store only if the user sets it so."""
    store = f"MLFLOW_TRACKING_URI={embedded_uri} " if embedded_uri else ""
    return (f"experiment {experiment.name!r} is deleted in MLflow: restore it ({store}mlflow "
            f"experiments restore --experiment-id {experiment.experiment_id}) or choose "
            "another experiment_name")
