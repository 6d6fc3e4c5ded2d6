"""The store: settings, SQLite durability settings, migrations, bounded retries."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from features.contract import load_marketplace
from serving.history_store import HistoryStore
from serving.ledger.ledger import ComplaintFiling, Ledger
from serving.ledger.store import (
    MIGRATIONS_PATH,
    SCHEMA_VERSION_TABLE,
    LedgerBusyError,
    LedgerStore,
    database_url,
)
from serving.settings import LedgerSettings, ServingSettings
from tests.conftest import write_lock_held


def test_settings_defaults_environment_and_closed(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.delenv("STRIKEOUT_LEDGER_URL", raising=False)
    monkeypatch.setenv("STRIKEOUT_HOME", str(tmp_path))
    monkeypatch.setenv("STRIKEOUT_STRIKE_SCOPE", "all")
    settings = ServingSettings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert (settings.strike_scope, settings.strikes_to_freeze) == ("all", 3)
    monkeypatch.setenv("STRIKEOUT_LEDGER_URL", "postgresql://u@db/ledger")
    assert LedgerSettings().database_url == "postgresql://u@db/ledger"
    with pytest.raises(ValidationError, match="strike_scope"):
        LedgerSettings(strike_scope="seller")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="Extra inputs"):
        LedgerSettings(strikes=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="frozen"):
        settings.home = tmp_path  # type: ignore[misc]


def test_postgres_urls_use_psycopg() -> None:
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_runs_in_wal_with_full_sync(sqlite_url: str) -> None:
    store = LedgerStore(sqlite_url)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        store.close()


def test_background_checkpoints_take_the_wal_copies_off_the_writers(
        sqlite_url: str, tiny_dataset: Path) -> None:
    """With checkpoints in the background, no commit of this store copies the log back
    (SQLite's `wal_autocheckpoint` is off on its connections): a thread of its own does,
    and what was written reads back whole."""
    store = LedgerStore(sqlite_url)
    history = HistoryStore(store)
    try:
        store.checkpoint_in_background(0.05)
        assert store.checkpointer is not None
        for engine in (store.engine, store._unsynced_engine):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        listings = load_marketplace(tiny_dataset).listings
        for i in range(30):
            history.add(listings=listings.assign(listing_id=listings["listing_id"] + f"-{i}"))
        taken = store.checkpointer.checkpoints
        deadline = time.monotonic() + 10
        while store.checkpointer.checkpoints < taken + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.checkpointer.checkpoints >= taken + 2
        assert len(history.listings(listings["seller_id"].unique())) == 30 * len(listings)
    finally:
        store.close()
    assert store.checkpointer is not None and not store.checkpointer._thread.is_alive()


def test_ledger_writes_wait_for_the_disk_and_history_writes_do_not(ledger_url: str) -> None:
    postgres = not ledger_url.startswith("sqlite")
    # the test server does not sync by default (fast tests): these sessions do
    store = LedgerStore(ledger_url.replace("options=", "options=-csynchronous_commit%3Don%20")
                        if postgres else ledger_url)
    setting = "SHOW synchronous_commit" if postgres else "PRAGMA synchronous"
    synced, unsynced = ("on", "off") if postgres else (2, 1)  # SQLite: FULL, NORMAL
    try:
        assert store.write(lambda tx: tx.conn.exec_driver_sql(setting).scalar()) == synced
        with store.unsynced_write() as conn:
            assert conn.exec_driver_sql(setting).scalar() == unsynced
        with store.read() as conn:
            assert conn.exec_driver_sql(setting).scalar() == synced
        with store.engine.begin() as conn:  # the setting stayed with the unsynced write
            assert conn.exec_driver_sql(setting).scalar() == synced
    finally:
        store.close()


def _migration_heads() -> list[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    return list(ScriptDirectory.from_config(config).get_heads())


def test_migrations_run_once_and_reopen_is_a_no_op(ledger_url: str) -> None:
    first = Ledger.open(LedgerSettings(ledger_url=ledger_url))
    first.file_complaint(ComplaintFiling("L1", "S1", "Arvedo"), actor="b")
    first.close()
    again = Ledger.open(LedgerSettings(ledger_url=ledger_url))
    try:
        with again.store.read() as conn:
            versions = conn.execute(sa.text(f"SELECT version_num FROM {SCHEMA_VERSION_TABLE}"))
            assert sorted(versions.scalars().all()) == sorted(_migration_heads())
        assert again.verify().events == 1
    finally:
        again.close()


def test_a_held_write_lock_gives_a_bounded_busy_error(tmp_path: Path) -> None:
    Ledger.open(LedgerSettings(home=tmp_path)).close()
    with write_lock_held(tmp_path / "ledger.sqlite"):
        ledger = Ledger.open(LedgerSettings(home=tmp_path, busy_timeout_s=0.05, write_attempts=2))
        with pytest.raises(LedgerBusyError, match="after 2 attempts"):
            ledger.file_complaint(ComplaintFiling("L1", "S1", "Arvedo"), actor="b")
    ledger.file_complaint(ComplaintFiling("L1", "S1", "Arvedo"), actor="b")
    assert ledger.verify().events == 1
    ledger.close()


def test_a_write_gives_up_at_its_deadline_whatever_attempts_remain(tmp_path: Path) -> None:
    """Over HTTP a busy answer must come before the request's own timeout (60 s)."""
    Ledger.open(LedgerSettings(home=tmp_path)).close()
    with write_lock_held(tmp_path / "ledger.sqlite"):
        ledger = Ledger.open(LedgerSettings(home=tmp_path, busy_timeout_s=0.05,
                                            write_attempts=10_000, write_deadline_s=0.3))
        with pytest.raises(LedgerBusyError) as busy:
            ledger.file_complaint(ComplaintFiling("L1", "S1", "Arvedo"), actor="b")
        attempts = int(str(busy.value).split("after ")[1].split(" attempts")[0])
        assert 1 < attempts < 10_000
    ledger.close()


def test_no_attempt_waits_for_the_lock_past_the_deadline(tmp_path: Path,
                                                         tiny_dataset: Path) -> None:
    """SQLite's busy wait applies to each attempt; it is cut to the time the deadline
    leaves, so a first attempt cannot hold a request for the whole busy timeout."""
    Ledger.open(LedgerSettings(home=tmp_path)).close()
    with write_lock_held(tmp_path / "ledger.sqlite"):
        ledger = Ledger.open(LedgerSettings(home=tmp_path, busy_timeout_s=30.0,
                                            write_deadline_s=0.5))
        with pytest.raises(LedgerBusyError) as busy:
            ledger.file_complaint(ComplaintFiling("L1", "S1", "Arvedo"), actor="b")
        waited = float(str(busy.value).split(" in ")[1].split(" s:")[0])
        assert waited < 5.0  # the deadline's 0.5 s and a little, not the busy timeout's 30
        history = HistoryStore(ledger.store)  # the service's unsynced writes are cut too
        started = time.monotonic()
        with pytest.raises((sa.exc.OperationalError, sqlite3.OperationalError), match="locked"):
            history.add(listings=load_marketplace(tiny_dataset).listings.head(1))
        assert time.monotonic() - started < 5.0
    ledger.close()
