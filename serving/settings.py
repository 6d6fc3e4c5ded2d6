"""Service configuration: every default once, read from `STRIKEOUT_*` environment variables.

`LedgerSettings` is what the strike ledger needs (where it lives, the strike rule);
`ServingSettings` adds what the scoring service needs on top. Build them where they
are used (`LedgerSettings()`), never at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

StrikeScope = Literal["brand", "all"]
LEDGER_FILE_NAME = "ledger.sqlite"


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
