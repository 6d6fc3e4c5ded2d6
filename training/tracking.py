"""Where runs and models go: an embedded SQLite MLflow store under STRIKEOUT_HOME by default.

`MLFLOW_TRACKING_URI` overrides it, so analysts can point at a shared server;
`mlflow ui --backend-store-uri <uri>` on the same URI shows the runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
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


def use_experiment(name: str, settings: TrackingSettings | None = None) -> str:
    """The experiment's id; a new experiment on the embedded store keeps artifacts under home."""
    settings = settings or TrackingSettings()
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if mlflow.get_tracking_uri() == settings.embedded_uri:  # a shared server keeps its own default
        location = settings.artifact_root.as_uri()
    return mlflow.create_experiment(name, artifact_location=location)
