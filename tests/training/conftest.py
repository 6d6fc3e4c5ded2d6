"""What the training tests share: a temporary MLflow store per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary STRIKEOUT_HOME (its MLflow store); MLflow's process-wide URIs are put
    back afterwards."""
    from mlflow.tracking._model_registry import utils as registry
    from mlflow.tracking._tracking_service import utils as tracking

    path = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setattr(tracking, "_tracking_uri", tracking._tracking_uri)
    mp.setattr(registry, "_registry_uri", registry._registry_uri)
    mp.setenv("STRIKEOUT_HOME", str(path))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield path
    mp.undo()
