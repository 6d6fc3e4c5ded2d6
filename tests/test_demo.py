"""`make demo`'s example request: what it prints for the user to send must be accepted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from serving.scoring_api import ScoreRequest
from strikeout.demo import _write_example_request


def test_the_demo_example_request_is_a_valid_score_body_of_a_new_counterfeit_listing(
        tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo-request.json"

    _write_example_request(tiny_dataset, out)

    request = ScoreRequest.model_validate_json(out.read_text())  # what /score validates
    (listing,) = request.listings
    assert listing.listing_id == "demo-L2"  # the tiny dataset's one counterfeit, a fresh id
    assert (listing.seller_id, listing.title, listing.description) == (
        "S1", "AAA replica Arvedo bag", "")  # an empty description stays text
    assert (listing.price, listing.currency, listing.quantity) == (80.0, "EUR", 10)
    assert abs(listing.created_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert "label" not in json.loads(out.read_text())["listings"][0]
