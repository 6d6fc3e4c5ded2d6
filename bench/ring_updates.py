"""Benchmark: the online ring index as the service keeps it current.

1. The taint index, one struck seller's listing added at a time.

The service adds each listing of a struck seller to the ring features' taint index as
it stores it (`TaintIndex.update`), and reads the index for every listing it scores
(both of its layers, in `RingFeatures.values`). This times both against indexes of
100k, 1M and 3M phrases (random shingles, as a large marketplace's index would hold),
adding up to 4,000 real listings of struck sellers from a synthetic marketplace one by one:
the update of each (mean, p50, p99, max: the max is a merge of the recent layer into
the large arrays; `merges` counts them), then the ring features of one listing at a time
read from the index so updated (its taints and its burst).

2. The burst index, which the service builds again (`build_burst_index`, a pass over
the seller table) when a listing brings a seller it has not seen: timed for seller
tables of a synthetic marketplace's sellers repeated 1, 10 and 100 times under new
ids over the same years (the share struck stays the marketplace's; registrations per
window grow with the table, as in a larger marketplace).

`python -m bench.ring_updates` writes bench/results/ring_updates.json.
"""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import machine_info

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "ring_updates.json"
SELLER_COPIES = (1, 10, 100)
BURST_ROUNDS = 3
NEW_SELLERS = 1_000
SIZES = (100_000, 1_000_000, 3_000_000)
UPDATES = 4_000
LOOKUPS = 200


def _large_index(size: int, like: Any) -> Any:
    """A one-layer taint index of `size` random shingles, tainted by 1,000 sellers."""
    from features.rings import NEVER, SellerCodes, TaintIndex

    rng = np.random.default_rng(0)
    shingles = np.unique(rng.integers(0, 2**63, size=size, dtype=np.int64).astype(np.uint64))
    n = len(shingles)
    sellers = SellerCodes()
    sellers.encode(np.array([f"bench-seller-{i}" for i in range(1000)], dtype=object))
    return TaintIndex(like.shingle_words, like.ignored, shingles,
                      rng.integers(0, 10**18, n), np.arange(n, dtype=np.int64) % 1000,
                      np.full(n, NEVER), np.full(n, -1, dtype=np.int64), sellers)


def _ms(values: list[float]) -> dict[str, float]:
    ms = np.asarray(values) * 1e3
    return {"mean_ms": round(float(ms.mean()), 3), "p50_ms": round(float(np.median(ms)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3), "max_ms": round(float(ms.max()), 1)}


def main() -> None:
    from features.rings import (
        RingFeatures,
        RingIndex,
        build_burst_index,
        build_taint_index,
        first_strikes,
        warm_up,
    )
    from features.synthetic import SynthConfig, generate_marketplace

    market = generate_marketplace(SynthConfig(n_listings=20_000, seed=1))
    rings = RingFeatures().fit(market.listings)
    strikes = first_strikes(market.complaints)
    listings = market.listings
    struck = listings[listings["seller_id"].isin(strikes.index)].reset_index(drop=True)
    template = build_taint_index(struck.iloc[:1], market.complaints,
                                 shingle_words=rings.shingle_words,
                                 ignored=rings.common_shingles_)
    bursts = build_burst_index(market.sellers, market.complaints,
                               window_hours=rings.burst_window_hours)
    queries = [listings.iloc[i:i + 1] for i in range(LOOKUPS)]
    warm_up()  # the compiled loops, as the service loads them before taking requests
    warm = _large_index(1000, template).update(struck.iloc[:1], strikes)  # first calls build caches
    rings.values(queries[0], RingIndex(warm, bursts))
    gc.collect()
    gc.freeze()  # as the service does once its model is loaded: no full collections timed
    results = []
    for size in SIZES:
        index = _large_index(size, template)
        updates, lookups, merges = [], [], 0
        for i in range(min(UPDATES, len(struck))):
            before = index
            started = time.perf_counter()
            index = index.update(struck.iloc[i:i + 1], strikes)
            updates.append(time.perf_counter() - started)
            merges += before.recent is not None and index.recent is None
        both = RingIndex(index, bursts)
        for query in queries:
            started = time.perf_counter()
            rings.values(query, both)
            lookups.append(time.perf_counter() - started)
        results.append({"indexed_phrases": size, "updates": len(updates), "merges": merges,
                        "update": _ms(updates), "one_listing_ring_features": _ms(lookups)})
        print(json.dumps(results[-1]), flush=True)
    bursts = _burst_rebuilds(market, rings.burst_window_hours)
    RESULTS_PATH.write_text(json.dumps({"machine": machine_info(), "taint_updates": results,
                                        "burst_rebuilds": bursts}, indent=2) + "\n")


def _burst_rebuilds(market: Any, window_hours: float) -> list[dict[str, Any]]:
    """`build_burst_index` over ever larger seller tables: copies of the marketplace's
    sellers and their complaints under new seller ids, each copy's moments 7 minutes after
    the previous copy's. The share struck stays the marketplace's; registrations per
    window grow with the copies, as a larger marketplace's do over the same years."""
    import pandas as pd

    from features.rings import build_burst_index

    moments = {"sellers": ["registered_at"], "complaints": ["filed_at", "resolved_at"]}
    step = pd.Timedelta(minutes=7)

    def copied(name: str, table: pd.DataFrame, copies: int) -> pd.DataFrame:
        return pd.concat([table.assign(seller_id=table["seller_id"] + f"-copy{k}",
                                       **{c: table[c] + k * step for c in moments[name]})
                          for k in range(copies)], ignore_index=True)

    out = []
    for copies in SELLER_COPIES:
        sellers = copied("sellers", market.sellers, copies)
        complaints = copied("complaints", market.complaints, copies)
        times = []
        for _ in range(BURST_ROUNDS):
            started = time.perf_counter()
            bursts = build_burst_index(sellers, complaints, window_hours=window_hours)
            times.append(time.perf_counter() - started)
        arrivals = market.sellers.iloc[:NEW_SELLERS].assign(
            seller_id=lambda t: t["seller_id"] + "-new")
        added = []
        for i in range(len(arrivals)):  # as the service keeps them, beside the built index
            started = time.perf_counter()
            bursts = bursts.with_sellers(arrivals.iloc[i:i + 1])
            added.append(time.perf_counter() - started)
        out.append({"sellers": len(sellers), "rebuild": _ms(times),
                    "new_seller_beside_the_index": _ms(added), "new_limit": bursts.new_limit})
        print(json.dumps(out[-1]), flush=True)
    return out


if __name__ == "__main__":
    main()
