"""Service configuration: every default once, read from `STRIKEOUT_*` environment variables.

`LedgerSettings` is what the strike ledger needs (where it lives, the strike rule);
`ServingSettings` adds what the scoring service needs on top. Build them where they
are used (`LedgerSettings()`), never at import.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

StrikeScope = Literal["brand", "all"]
LEDGER_FILE_NAME = "ledger.sqlite"
TRACKING_FILE_NAME = "mlflow.db"  # where `strikeout train` keeps runs and models


class LedgerSettings(BaseSettings):
    """The strike ledger: its database and the "strike out" rule."""

    model_config = SettingsConfigDict(env_prefix="STRIKEOUT_", extra="forbid", frozen=True)

    home: Path = Field(
        default=Path(".strikeout"),
        description="Folder for strikeout's local state; the SQLite ledger lives here.",
    )
    ledger_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the ledger database; a postgresql:// URL lets several "
        "replicas share one ledger. Unset: a SQLite file in `home`.",
    )
    strikes_to_freeze: int = Field(
        default=3, ge=1, description="Upheld strikes in scope at which a seller is frozen."
    )
    strike_scope: StrikeScope = Field(
        default="brand",
        description="'brand': count each brand's strikes separately (the rule as written); "
        "'all': count strikes from all brands together.",
    )
    busy_timeout_s: float = Field(
        default=30.0, gt=0, description="How long a SQLite writer waits for the write lock."
    )
    write_attempts: int = Field(
        default=8, ge=1,
        description="Attempts of one write transaction on busy/serialization errors.",
    )
    write_deadline_s: float = Field(
        default=20.0, gt=0,
        description="A write held up by a lock gives up busy this long after its first "
        "attempt began (a 503 with Retry-After over HTTP): no attempt waits for a SQLite "
        "lock past it, whatever busy_timeout_s says, so a request hears back well inside "
        "BentoML's 60 s.",
    )
    review_lease_minutes: float = Field(
        default=30.0, gt=0,
        description="How long a reviewer's claim on a review case lasts; when it runs out "
        "the case returns to the queue.",
    )
    review_batch: int = Field(
        default=10, ge=1, le=200,
        description="Cases a reviewer claims at once when the request does not say.",
    )
    review_age_boost_hours: float = Field(
        default=24.0, gt=0,
        description="Waiting time that lifts a review case by one band's worth of priority, "
        "so that no case starves (docs: serving/queue.py).",
    )

    @property
    def database_url(self) -> str:
        """`ledger_url`, or the SQLite file under `home` when it is not set."""
        if self.ledger_url:
            return self.ledger_url
        return f"sqlite:///{(self.home / LEDGER_FILE_NAME).resolve()}"


class ServingSettings(LedgerSettings):
    """The scoring service: the ledger's settings plus the model and the HTTP server."""

    model_uri: str = Field(
        default="models:/strikeout-listing-risk@champion",
        description="MLflow URI of the model the service scores with.",
    )
    host: str = Field(default="127.0.0.1", description="Interface the service listens on.")
    port: int = Field(default=3000, ge=1, le=65535, description="Port the service listens on.")
    workers: int = Field(default=1, ge=1, description="Worker processes of the service.")
    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking (and registry) URI the model is loaded from. Unset: "
        "MLFLOW_TRACKING_URI, else the embedded store `home`/mlflow.db that training writes.",
    )
    model_poll_s: float = Field(
        default=30.0, ge=0,
        description="How often the service checks whether the model alias moved; 0: never "
        "(POST /admin/reload still works).",
    )
    max_listings_per_request: int = Field(
        default=1000, ge=1, description="Listings one /score request may hold; more is a 413.")
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Largest request body; larger is a 413.")
    max_batch_listings: int = Field(
        default=1000, ge=1,
        description="Most listings scored together in one pass of the model: concurrent "
        "requests waiting for the scorer are taken together up to this many.",
    )
    batch_linger_ms: float = Field(
        default=3.0, ge=0, le=1000,
        description="How long the scorer's next pass may wait for as many requests as its "
        "last pass took: under load, larger passes cost less per listing "
        "(serving/batcher.py); after a pass of one request nothing waits. 0: never.",
    )
    switch_interval_ms: float = Field(
        default=20.0, gt=0, le=1000,
        description="Python's thread switch interval in each worker (sys.setswitchinterval; "
        "Python's default is 5 ms): how long the scoring thread may keep the interpreter "
        "while the event-loop thread waits for it. Fewer hand-offs cost less CPU.",
    )
    max_waiting_listings: int = Field(
        default=4000, ge=1,
        description="Listings allowed to wait for the scorer; past this a request is refused "
        "at once with 503 and Retry-After instead of queueing without bound.",
    )
    retry_after_s: int = Field(
        default=1, ge=1, description="Retry-After of a request refused for overload.")
    ring_refresh_s: float = Field(
        default=5.0, gt=0,
        description="How often the cross-seller ring index picks up what other replicas "
        "stored and strikes recorded since (the service's own listings count at once).",
    )
    wal_checkpoint_s: float = Field(
        default=1.0, ge=0,
        description="SQLite ledger: each worker checkpoints the write-ahead log this often in "
        "a thread of its own, not in whichever write on the request path finds the log long "
        "(serving/ledger/checkpoints.py). 0: SQLite's own checkpoints.",
    )
    warm_sellers: int = Field(
        default=5000, ge=0,
        description="Sellers, the most recently active, whose stored listings a worker "
        "reads into its caches when it loads a model, at start and on each reload, before "
        "the model scores (it also computes the text values of the latest 20,000 stored "
        "listings): their first requests then cost what later ones do. 0: only the "
        "compiled code is warmed.",
    )
    connection_max_age_s: float = Field(
        default=5.0, ge=0,
        description="A keep-alive connection in use this long gets `Connection: close` on "
        "its next response, so that clients reconnect and connections spread over the "
        "workers again (serving/connections.py); 0: never.",
    )
    auth_cache_s: float = Field(
        default=10.0, ge=0,
        description="How long /score remembers a checked API key without asking the database "
        "(so a revoked key still scores for up to this long).",
    )

    @property
    def model_tracking_uri(self) -> str:
        """`tracking_uri`, MLFLOW_TRACKING_URI, or the embedded store under `home`."""
        if self.tracking_uri:
            return self.tracking_uri
        return os.environ.get("MLFLOW_TRACKING_URI") or (
            f"sqlite:///{self.home.resolve() / TRACKING_FILE_NAME}")


# STRIKEOUT_* variables read outside these settings: by the notebooks and the test suite
READ_ELSEWHERE = frozenset({"STRIKEOUT_NOTEBOOK_DATA", "STRIKEOUT_TRAINING_CONFIG",
                            "STRIKEOUT_PG_BIN", "STRIKEOUT_DOCS_SCREENSHOTS"})


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """`STRIKEOUT_*` variables that nothing reads, each with the setting it most looks
    like: a misspelt setting would otherwise be left at its default without a word."""
    environ = os.environ if environ is None else environ
    known = {f"STRIKEOUT_{name.upper()}" for name in ServingSettings.model_fields}
    known |= READ_ELSEWHERE
    out = []
    for name in sorted(n for n in environ if n.upper().startswith("STRIKEOUT_")):
        if name.upper() not in known:
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1)
            out.append(f"{name}" + (f" (did you mean {close[0]}?)" if close else ""))
    return out
