"""`strikeout labels export`: reviewers' decisions as a dataset that the contract loads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from features.contract import load_marketplace
from serving.labels import LabelExportError, export_labels
from serving.queue import PriceReference, ReviewQueue
from tests.serving.queue_data import T0, complain, hours, listing, open_queue, score


@pytest.fixture
def queue(sqlite_url: str) -> Iterator[ReviewQueue]:
    opened = open_queue(sqlite_url)
    yield opened
    opened.close()


def decide(queue: ReviewQueue, case_id: str | None, decision: str, at_h: float = 1) -> None:
    assert case_id is not None
    queue.decide(case_id, decision, reviewer="reviewer/r1", at=T0 + hours(at_h))  # type: ignore[arg-type]


def test_decided_cases_become_a_labelled_dataset(queue: ReviewQueue, tmp_path: Path) -> None:
    fake = score(queue, "fake", 0.95, "high", price=89.0, quantity=20)
    complain(queue.ledger, "fake")
    genuine = score(queue, "genuine", 0.55, "review", seller="S2", price=79.0, currency="EUR",
                    usd_per_unit=1.08, reference=PriceReference("Kathea", "handbags", 120.0),
                    brand="Kathea", title="Kathea Mini — 東京 edition")
    escalated = score(queue, "unsure", 0.6, "review", seller="S3")
    score(queue, "waiting", 0.7, "review")
    decide(queue, fake, "counterfeit")
    decide(queue, genuine, "not_counterfeit")
    decide(queue, escalated, "escalate")
    complain(queue.ledger, "elsewhere", seller="S9")  # decided in the queue, never scored
    [unscored] = [c.case_id for c in queue.available(at=T0 + hours(2)) if c.band is None]
    decide(queue, unscored, "counterfeit")
    complain(queue.ledger, "other-brand-case", seller="S1", brand="Tempora")

    result = export_labels(queue.ledger, tmp_path / "labels")
    assert (result.listings, result.counterfeit, result.not_counterfeit) == (2, 1, 1)
    assert (result.skipped_unscored, result.skipped_no_seller) == (1, 0)

    market = load_marketplace(tmp_path / "labels")
    listings = market.listings.set_index("listing_id")
    assert listings.loc["fake", "label"] == 1 and listings.loc["genuine", "label"] == 0
    assert listings.loc["genuine", "title"] == "Kathea Mini — 東京 edition"
    assert listings.loc["genuine", "currency"] == "EUR" and listings.loc["fake", "quantity"] == 20
    assert listings.loc["fake", "created_at"] == pd.Timestamp("2026-03-09T12:00:00Z")
    assert sorted(market.sellers["seller_id"]) == ["S1", "S2"]
    assert not market.sellers["business_verified"].any()
    # every complaint against an exported seller, with its state now
    complaints = market.complaints.set_index("listing_id")
    assert complaints.loc["fake", "status"] == "upheld"
    assert complaints.loc["other-brand-case", "status"] == "pending"
    assert "elsewhere" not in complaints.index
    assert set(market.fx_rates["currency"]) == {"USD", "EUR"}
    assert market.fx_rates.set_index("currency").loc["EUR", "usd_per_unit"] == 1.08
    brands = market.brands.set_index(["brand", "category"])["reference_price"]
    assert brands.to_dict() == {("Arvedo", "handbags"): 1355.05, ("Kathea", "handbags"): 120.0}


def test_parquet_and_the_latest_decision_of_a_listing(queue: ReviewQueue, tmp_path: Path) -> None:
    first = score(queue, "L1", 0.9, "high")
    decide(queue, first, "not_counterfeit")
    complain(queue.ledger, "L1", at=T0 + hours(2))  # reported later: a new case
    [again] = [c.case_id for c in queue.available(at=T0 + hours(3))]
    decide(queue, again, "counterfeit", at_h=3)
    result = export_labels(queue.ledger, tmp_path / "out", "parquet")
    assert (tmp_path / "out" / "listings.parquet").is_file()
    assert (result.listings, result.counterfeit) == (1, 1)
    assert load_marketplace(tmp_path / "out").listings["label"].tolist() == [1]


def test_listings_without_their_sellers_columns_are_skipped(queue: ReviewQueue,
                                                              tmp_path: Path) -> None:
    bare = {k: v for k, v in listing("L1", seller="S7").items()
            if k not in ("registered_at", "country", "business_verified")}
    case_id = queue.record_score(bare, 0.9, "high", [], "m/1", T0)
    decide(queue, case_id, "counterfeit")
    result = export_labels(queue.ledger, tmp_path / "out")
    assert (result.listings, result.skipped_no_seller) == (0, 1)
    assert load_marketplace(tmp_path / "out").listings.empty


def test_an_empty_ledger_exports_an_empty_valid_dataset(queue: ReviewQueue,
                                                         tmp_path: Path) -> None:
    result = export_labels(queue.ledger, tmp_path / "out")
    assert result.listings == 0
    market = load_marketplace(tmp_path / "out")
    assert market.listings.empty and market.complaints.empty


def test_refuses_a_folder_that_holds_a_dataset_in_either_format(
        queue: ReviewQueue, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_labels(queue.ledger, out, "parquet")
    with pytest.raises(LabelExportError, match="listings.parquet"):
        export_labels(queue.ledger, out, "csv")
    before = (out / "listings.parquet").read_bytes()
    with pytest.raises(LabelExportError, match="already holds a dataset"):
        export_labels(queue.ledger, out, "parquet")  # nor overwrites one of its own format
    assert (out / "listings.parquet").read_bytes() == before
    with pytest.raises(LabelExportError, match="format must be csv or parquet"):
        export_labels(queue.ledger, tmp_path / "x", "json")  # type: ignore[arg-type]
    (tmp_path / "file").write_text("x")
    with pytest.raises(LabelExportError, match="not a folder"):
        export_labels(queue.ledger, tmp_path / "file")
