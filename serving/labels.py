"""`strikeout labels export`: what reviewers decided, as a dataset in the data contract.

Each review case decided `counterfeit` (label 1) or `not_counterfeit` (label 0) whose
listing the service scored (the case keeps the listing as it was scored) is one row of
`listings`; a listing decided more than once keeps its latest decision. The other tables
come from the same cases and the ledger: `sellers` from the sellers' columns that came
with the scored listings, `complaints` from the ledger (every complaint against an
exported seller, as it stands now: features only look at what was known before each
listing's `created_at`), `brands` from the reference prices the listings were compared
with, `fx_rates` from the rates the listings were priced at. The folder is loaded back
with `load_marketplace` before the export returns, so what it writes is a valid dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa

from features.contract import (
    TABLES,
    Marketplace,
    check_new_dataset_folder,
    load_marketplace,
    save_marketplace,
)
from serving.ledger.cases import FINAL_DECISIONS, review_cases_table, snapshot_of
from serving.ledger.ledger import Ledger

Format = Literal["csv", "parquet"]
LABELS = {"counterfeit": 1, "not_counterfeit": 0}


class LabelExportError(ValueError):
    """The export cannot be written where it was asked to go."""


@dataclass(frozen=True)
class LabelExport:
    out_path: Path
    listings: int
    counterfeit: int
    not_counterfeit: int
    sellers: int
    complaints: int
    skipped_unscored: int
    skipped_no_seller: int


def export_labels(ledger: Ledger, out_path: Path | str, fmt: Format = "csv") -> LabelExport:
    """Write the reviewed listings and their context tables into `out_path`."""
    out_path = Path(out_path)
    if fmt not in ("csv", "parquet"):
        raise LabelExportError(f"format must be csv or parquet, got {fmt!r}")
    try:
        check_new_dataset_folder(out_path)
    except ValueError as exc:
        raise LabelExportError(str(exc)) from None

    cases = review_cases_table.c
    with ledger.store.read() as conn:
        decided = conn.execute(
            sa.select(cases.listing_id, cases.decision, cases.snapshot)
            .where(cases.status == "decided", cases.decision.in_(FINAL_DECISIONS))
            .order_by(cases.decided_at, cases.updated_seq)).all()
        seller_rows = conn.execute(
            sa.select(cases.seller_id, cases.snapshot)
            .where(cases.snapshot.is_not(None)).order_by(cases.updated_seq)).all()

    sellers: dict[str, dict[str, Any]] = {}
    for row in seller_rows:  # latest snapshot wins
        seller = (snapshot_of(row.snapshot) or {}).get("seller")
        if seller:
            sellers[row.seller_id] = {"seller_id": row.seller_id, **seller}
    listings: dict[str, dict[str, Any]] = {}
    brands: dict[tuple[str, str], float] = {}
    fx: dict[str, float] = {}
    unscored = no_seller = 0
    for row in decided:  # oldest first, so a later decision replaces an earlier one
        snapshot = snapshot_of(row.snapshot)
        if snapshot is None:
            unscored += 1
            continue
        listing = snapshot["listing"]
        if listing["seller_id"] not in sellers:
            no_seller += 1
            continue
        listings[row.listing_id] = {**listing, "label": LABELS[row.decision]}
        price = snapshot["price"]
        fx[price["currency"]] = price["usd_per_unit"]
        if price.get("reference"):
            ref = price["reference"]
            brands[(ref["brand"], ref["category"])] = ref["price_usd"]

    seller_ids = sorted({x["seller_id"] for x in listings.values()})
    market = Marketplace(
        listings=_listings_frame(list(listings.values())),
        sellers=_sellers_frame([sellers[s] for s in seller_ids]),
        complaints=ledger.complaints_frame(seller_ids),
        brands=pd.DataFrame({
            "brand": pd.Series([b for b, _ in brands], dtype="str"),
            "category": pd.Series([c for _, c in brands], dtype="str"),
            "reference_price": pd.Series(list(brands.values()), dtype="float64")}),
        fx_rates=pd.DataFrame({"currency": pd.Series(list(fx), dtype="str"),
                               "usd_per_unit": pd.Series(list(fx.values()), dtype="float64")}),
    )
    save_marketplace(market, out_path, fmt)
    loaded = load_marketplace(out_path)
    labels = loaded.listings["label"]
    return LabelExport(
        out_path=out_path, listings=len(loaded.listings), counterfeit=int((labels == 1).sum()),
        not_counterfeit=int((labels == 0).sum()), sellers=len(loaded.sellers),
        complaints=len(loaded.complaints), skipped_unscored=unscored,
        skipped_no_seller=no_seller)


def _listings_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = [c.name for c in TABLES["listings"].columns]
    frame = pd.DataFrame(rows, columns=columns)
    kinds = {c.name: c.kind for c in TABLES["listings"].columns}
    return pd.DataFrame({name: _typed(frame[name], kinds[name]) for name in columns})


def _sellers_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = [c.name for c in TABLES["sellers"].columns]
    frame = pd.DataFrame(rows, columns=columns)
    kinds = {c.name: c.kind for c in TABLES["sellers"].columns}
    return pd.DataFrame({name: _typed(frame[name], kinds[name]) for name in columns})


def _typed(values: pd.Series, kind: str) -> pd.Series:
    """A column in its contract type (the types `load_marketplace` gives)."""
    if kind == "timestamp":
        return pd.to_datetime(values, utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    if kind == "integer":
        return values.astype("int64")
    if kind == "number":
        return values.astype("float64")
    if kind == "boolean":
        return values.astype("bool")
    return values.astype("str")
