"""Benchmark: a worker's ring index picking up what other replicas stored.

Every `ring_refresh_s` (5 s by default) each worker of the service reads the sellers
and listings other workers or replicas stored since its last look (`RingState.refresh`).
That runs on the scoring thread, so whatever it costs is a stall of every request
waiting for that worker. This times it in two cases, on the model and ledger of
`bench.service` (its home, trained once):

1. Another replica stored 10 new sellers, with the marketplace's seller table as it is
   and grown by 50,000 and 200,000 sellers (registered years earlier, outside every
   burst window).
2. Another replica stored 700 and 3,500 listings (about 1 and 5 seconds of the other
   worker at the single-listing load), copies of the marketplace's later listings under
   new ids: about a sixth of them are struck sellers', whose phrases the index takes in.

Each case is timed `ROUNDS` times; the figures are milliseconds per refresh.

`python -m bench.ring_refresh [--home DIR]` writes bench/results/ring_refresh.json.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.machine import machine_info
from bench.service import home_of_service_model, prepare_ledger, remove_ledger

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "ring_refresh.json"
EXTRA_SELLERS = (0, 50_000, 200_000)
NEW_SELLERS = 10
OTHER_LISTINGS = (700, 3_500)
ROUNDS = 5


def old_sellers(n: int) -> pd.DataFrame:
    """`n` sellers registered in 2015: outside every burst window of the marketplace."""
    return pd.DataFrame({
        "seller_id": [f"bench-old-{i:08d}" for i in range(n)],
        "registered_at": pd.Timestamp("2015-01-01", tz="UTC") + pd.to_timedelta(
            np.arange(n), unit="s"),
        "country": "DE", "business_verified": False})


def timed_refreshes(ring: Any, other: Any, table: str, rows: pd.DataFrame, key: str
                    ) -> dict[str, float]:
    """Each round, `other` (another replica's history store) stores `rows` into `table`
    under new `key`s, then `ring` refreshes, timed."""
    times = []
    for round_ in range(ROUNDS):
        other.add(**{table: rows.assign(**{key: rows[key] + f"~{len(rows)}-{round_}"})})
        started = time.perf_counter()
        ring.refresh(force=True)
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
            "rounds": ROUNDS}


def main() -> None:
    home, setup, model = home_of_service_model(__doc__, "ring-refresh")

    from serving.history_store import HistoryStore
    from serving.ledger.ledger import Ledger
    from serving.online import RingState
    from serving.settings import ServingSettings

    sellers_cases, listings_cases = [], []
    for extra in EXTRA_SELLERS:
        url, _, later = prepare_ledger(home, Path(setup["data_path"]))
        settings = ServingSettings(ledger_url=url)
        here, there = Ledger.open(settings), Ledger.open(settings)
        try:
            other = HistoryStore(there.store)
            other.add(sellers=old_sellers(extra))
            ring = RingState(model, HistoryStore(here.store), here, settings.ring_refresh_s)
            sellers_cases.append({
                "sellers_stored": len(ring.sellers), "new_sellers": NEW_SELLERS,
                **timed_refreshes(ring, other, "sellers", old_sellers(NEW_SELLERS), "seller_id")})
            for count in OTHER_LISTINGS if extra == 0 else ():
                listings_cases.append({
                    "listings_stored_by_another_replica": count,
                    **timed_refreshes(ring, other, "listings", later.iloc[:count], "listing_id")})
        finally:
            here.close()
            there.close()
            remove_ledger(url)
    result = {"machine": machine_info(), "refresh_after_new_sellers": sellers_cases,
              "refresh_after_new_listings": listings_cases}
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
