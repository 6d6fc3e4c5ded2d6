"""Shared test factories: small, seeded, hand-made datasets in the data contract."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
os.environ.setdefault("DO_NOT_TRACK", "1")


def tiny_tables() -> dict[str, pd.DataFrame]:
    """A valid five-table dataset, as raw text columns, small enough to read in a test."""
    return {
        "listings": pd.DataFrame(
            {
                "listing_id": ["L1", "L2", "L3", "L4"],
                "seller_id": ["S1", "S1", "S2", "S2"],
                "created_at": ["2026-03-01T10:00:00Z", "2026-03-02T10:00:00Z",
                               "2026-03-03T10:00:00Z", "2026-03-04T10:00:00Z"],
                "title": ["Arvedo Grand 12 Tote", "AAA replica Arvedo bag", "",
                          "Case for Kathea 3"],
                "description": ["Authorized retailer.", "", "Used, see photos", ""],
                "brand": ["Arvedo", "Arvedo", "", "Generic"],
                "category": ["handbags", "handbags", "toys", "phone_accessories"],
                "price": ["1200.5", "80", "15", "9.99"],
                "currency": ["USD", "EUR", "USD", "GBP"],
                "quantity": ["1", "10", "2", "100"],
                "ships_from": ["US", "CN", "FR", "US"],
                "image_count": ["5", "1", "0", "3"],
                "label": ["0", "1", "0", "0"],
            }
        ),
        "sellers": pd.DataFrame(
            {
                "seller_id": ["S1", "S2"],
                "registered_at": ["2025-01-01T00:00:00Z", "2026-02-28T12:00:00Z"],
                "country": ["US", "CN"],
                "business_verified": ["true", "False"],
            }
        ),
        "complaints": pd.DataFrame(
            {
                "complaint_id": ["C1", "C2"],
                "listing_id": ["L2", "L9"],
                "seller_id": ["S1", "S2"],
                "brand": ["Arvedo", "Kathea"],
                "filed_at": ["2026-03-05T00:00:00Z", "2026-03-06T00:00:00Z"],
                "status": ["upheld", "pending"],
                "resolved_at": ["2026-03-07T00:00:00Z", ""],
            }
        ),
        "brands": pd.DataFrame(
            {"brand": ["Arvedo", "Kathea"], "category": ["handbags", "phone_accessories"],
             "reference_price": ["1355.05", "39.0"]}
        ),
        "fx_rates": pd.DataFrame(
            {"currency": ["USD", "EUR", "GBP"], "usd_per_unit": ["1.0", "1.08", "1.27"]}
        ),
    }


def write_tables(folder: Path, tables: dict[str, pd.DataFrame], fmt: str = "csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


@contextmanager
def write_lock_held(path: Path | str) -> Iterator[None]:
    """Another process's write transaction on the SQLite file at `path`, for the block."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    return write_tables(tmp_path / "tiny", tiny_tables())
