"""Benchmark: one new listing of a seller who already has many, scored online.

A marketplace's largest sellers list the most, so their listings are a large share of
the scoring service's requests. The seller-history features read all of the seller's
earlier listings on every request (point in time: nothing is aggregated ahead), so
what a request costs as the seller grows is measured here, on the model and ledger of
`bench.service` (its home, trained once).

For each size, a seller is stored with that many listings (copies of the marketplace's
later listings under new ids, created over the year before), then `REQUESTS` new
listings of that seller are scored one per call through `OnlineScorer.score_columns`,
the service's whole path (history lookup, features, model, band, reasons for flagged
listings, storing the listing). The first call reads the seller's rows into the
caches and is reported apart; the figures are milliseconds per call.

`python -m bench.big_sellers [--home DIR]` writes bench/results/big_sellers.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bench.machine import machine_info
from bench.service import (
    home_of_service_model,
    percentiles,
    prepare_ledger,
    remove_ledger,
    scoring_worker,
)

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "big_sellers.json"
SIZES = (1_000, 4_000, 16_000, 64_000)
REQUESTS = 200


def seller_listings(later: pd.DataFrame, seller_id: str, n: int, start: pd.Timestamp,
                    step: pd.Timedelta) -> pd.DataFrame:
    """`n` listings of `seller_id`, one every `step` from `start`: the marketplace's later
    listings in turn, under new ids."""
    rows = later.iloc[[i % len(later) for i in range(n)]].reset_index(drop=True)
    return rows.assign(
        listing_id=[f"{seller_id}-{start.value}-{i:07d}" for i in range(n)],
        seller_id=seller_id, created_at=start + step * pd.RangeIndex(n))


def time_seller(scorer: Any, history: Any, later: pd.DataFrame, n: int) -> dict[str, Any]:
    """Store a seller with `n` listings, then time scoring its new ones one at a time."""
    from features.columns import plain_arrays
    from serving.history_store import LISTING_COLUMNS, SELLER_COLUMNS

    seller_id = f"bench-big-{n}"
    now = pd.Timestamp("2030-01-01", tz="UTC")
    year_ago = now - pd.Timedelta(days=365)
    seller = pd.DataFrame({"seller_id": [seller_id],
                           "registered_at": [year_ago - pd.Timedelta(days=30)],
                           "country": ["DE"], "business_verified": [False]})
    history.add(sellers=seller, listings=seller_listings(later, seller_id, n, year_ago,
                                                         pd.Timedelta(days=365) / n))
    new = seller_listings(later.iloc[n % len(later):], seller_id, REQUESTS + 1, now,
                          pd.Timedelta(seconds=1))
    no_sellers = plain_arrays(seller.iloc[:0], SELLER_COLUMNS)  # the seller is stored
    requests = [plain_arrays(new.iloc[[i]], LISTING_COLUMNS) for i in range(len(new))]
    started = time.perf_counter()
    scorer.score_columns(requests[0], no_sellers)
    first = time.perf_counter() - started
    times = []
    for request in requests[1:]:
        started = time.perf_counter()
        scorer.score_columns(request, no_sellers)
        times.append(time.perf_counter() - started)
    return {"seller_listings": n, "first_call_ms": round(first * 1000, 1), **percentiles(times)}


def main() -> None:
    home, setup, model = home_of_service_model(__doc__, "big-sellers")
    url, _, later = prepare_ledger(home, Path(setup["data_path"]))
    ledger, _, _, scorer, _ = scoring_worker(url, model, warm_sellers=0)
    try:
        cases = [time_seller(scorer, scorer.history, later, n) for n in SIZES]
    finally:
        ledger.close()
        remove_ledger(url)
    result = {"machine": machine_info(), "requests_per_seller": REQUESTS, "sellers": cases}
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
