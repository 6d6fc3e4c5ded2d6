"""Ledger fixtures: a real SQLite file per test, and a real PostgreSQL server per test run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.ledger.ledger import Ledger
from serving.settings import LedgerSettings
from tests.postgres import PostgresUnavailable, ThrowawayPostgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """One throwaway PostgreSQL server for the whole run (per xdist worker), started lazily."""
    try:
        server = ThrowawayPostgres()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: ThrowawayPostgres) -> str:
    """A fresh, empty schema on the throwaway server."""
    return postgres_server.create_schema()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest) -> str:
    """The same test on a SQLite file and on a PostgreSQL database."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(fixture)


def open_ledger(url: str, **rules: object) -> Ledger:
    return Ledger.open(LedgerSettings(ledger_url=url, **rules))  # type: ignore[arg-type]


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    opened = open_ledger(ledger_url)
    yield opened
    opened.close()
