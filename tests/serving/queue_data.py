"""Scored listings for the review-queue tests: contract rows with their seller's columns."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from serving.ledger.ledger import ComplaintFiling, Ledger
from serving.queue import PriceReference, ReviewQueue, ScoredListing
from serving.settings import LedgerSettings

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
ARVEDO_REFERENCE = PriceReference("Arvedo", "handbags", 1355.05)


def listing(listing_id: str, *, seller: str = "S1", brand: str = "Arvedo",
            category: str = "handbags", price: float = 100.0, currency: str = "USD",
            quantity: int = 1, title: str | None = None, **extra: Any) -> dict[str, Any]:
    """A listing in the data contract's columns, plus its seller's three columns."""
    return {
        "listing_id": listing_id, "seller_id": seller, "created_at": "2026-03-09T12:00:00Z",
        "title": title or f"{brand} Grand 12 Tote {listing_id}",
        "description": "Brand new, never used. Ships fast.", "brand": brand,
        "category": category, "price": price, "currency": currency, "quantity": quantity,
        "ships_from": "CN", "image_count": 2, "registered_at": "2026-02-01T00:00:00Z",
        "country": "CN", "business_verified": False, **extra,
    }


REASONS = [
    {"signal": "price__ratio_to_reference", "text": "price 93% below the brand's reference",
     "contribution": 1.8},
    {"signal": "text__replica_terms", "text": "title says 'AAA quality'", "contribution": 0.9},
]


def score(queue: ReviewQueue, listing_id: str, score: float, band: str, *,
          at: datetime = T0, open_cases: Collection[str] = (), **fields: Any) -> str | None:
    """Record one score for a listing built by `listing`; returns its case id."""
    rate = fields.pop("usd_per_unit", None)
    reference = fields.pop("reference", ARVEDO_REFERENCE)
    scored = ScoredListing(listing(listing_id, **fields), score, band,  # type: ignore[arg-type]
                           REASONS, "strikeout-listing-risk/1", at,
                           usd_per_unit=rate, reference=reference)
    return queue.record_scores([scored], open_cases=open_cases)[0]


def complain(ledger: Ledger, listing_id: str, *, seller: str = "S1", brand: str = "Arvedo",
             at: datetime = T0) -> str:
    filed = ledger.file_complaint(ComplaintFiling(listing_id, seller, brand, "counterfeit copy"),
                                  actor=f"brand:{brand}/k", at=at)
    return filed.complaint.complaint_id


def open_queue(url: str, **settings: Any) -> ReviewQueue:
    return ReviewQueue.open(LedgerSettings(ledger_url=url, **settings))


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
