"""The model the service scores with: loaded from MLflow, swapped in when its alias moves.

`ModelSlot` resolves the configured URI (`models:/name@champion`) to a version, loads
that exact version (`models:/name/3`, so an alias moving mid-load cannot mix two
versions), builds what scores with it and swaps it in with one assignment. Requests
take the current scorer when their batch starts, so a reload never fails one: batches
already running finish with the old version, the next ones use the new, and every
response names the version that scored it.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from serving.batch import ScoringError, load_scorer

log = logging.getLogger("strikeout.service.model")
S = TypeVar("S")
RETRY_S = 5.0  # while no model could be loaded yet


class ModelUnavailable(RuntimeError):
    """The model URI cannot be resolved or loaded now."""


@dataclass(frozen=True)
class Reload:
    version: str
    previous: str | None
    changed: bool


def pinned(uri: str) -> tuple[str, str]:
    """(URI of one exact version, its version name) for a URI that may name an alias."""
    if not uri.startswith("models:/"):
        return uri, uri  # runs:/ or a path: nothing moves under it
    path = uri.removeprefix("models:/")
    if "@" not in path:
        return uri, path
    name, alias = path.split("@", 1)
    try:
        version = MlflowClient().get_model_version_by_alias(name, alias).version
    except MlflowException as exc:
        raise ModelUnavailable(f"cannot resolve {uri}: {exc.message}") from exc
    return f"models:/{name}/{version}", f"{name}/{version}"


class ModelSlot(Generic[S]):
    """Holds the scorer built from the current model version and replaces it when it changes.

    Args:
        uri: MLflow model URI, usually `models:/<name>@champion`.
        build: makes the scorer for a freshly loaded model (the ring index is built here).
        poll_s: how often to check the alias; 0 never checks (reload on demand only).
        on_swap: called with (new version, previous version) after each swap.
    """

    def __init__(self, uri: str, build: Callable[[object], S], poll_s: float,
                 on_swap: Callable[[str, str | None], None] = lambda new, old: None) -> None:
        self.uri = uri
        self.build = build
        self.poll_s = poll_s
        self.on_swap = on_swap
        self.current: S | None = None
        self.version: str | None = None
        self.error: str | None = None
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reload(self) -> Reload:
        """Load the version the URI names now, unless it is the one already scoring."""
        with self._load_lock:
            previous = self.version
            uri, version = pinned(self.uri)
            if version == previous and self.current is not None:
                return Reload(version, previous, changed=False)
            try:
                model = load_scorer(uri)
            except ScoringError as exc:
                raise ModelUnavailable(str(exc)) from exc
            model.version = version  # type: ignore[attr-defined]
            scorer = self.build(model)
            self.current, self.version, self.error = scorer, version, None
            del scorer, model
            _settle_heap()
            self.on_swap(version, previous)
            log.info("scoring with model %s (was %s)", version, previous)
            return Reload(version, previous, changed=True)

    def start(self) -> None:
        """Load in the background, then keep checking every `poll_s` (if > 0)."""
        self._thread = threading.Thread(target=self._run, name="strikeout-model", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.reload()
            except Exception as exc:  # keep serving the model we have; say why
                self.error = str(exc)
                log.error("model %s not loaded: %s", self.uri, exc)
            if self.current is not None and self.poll_s <= 0:
                return
            wait = self.poll_s if self.current is not None else RETRY_S
            self._stop.wait(wait)


def _settle_heap() -> None:
    """Free the old model and move the new one out of the collector's way.

    Full collections walk every tracked object; a loaded model is millions of them, and
    walking them paused workers for 150-360 ms. Frozen objects are never walked.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
