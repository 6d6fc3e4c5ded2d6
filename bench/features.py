"""Feature pipeline throughput, memory and online latency.

`python -m bench.features` fits the pipeline on 200k listings of a 1M-listing synthetic
marketplace, then times `transform` of the first 100k, 300k and 1M listings (each
with its full history, as batch scoring does), with peak resident memory, and one
listing at a time in-process with its seller's rows only and the shared ring index.
One at a time is timed two ways, alternating: plain arrays in and a bare feature
matrix out (`FeaturePipeline.values`), as the service does, and DataFrames in and out
(`transform`). Warm, with the loaded objects frozen out of the garbage collector's
sight as the service does; wall clock and the thread's CPU time, whose tail a busy
machine inflates less. Writes bench/results/features.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.machine import machine_info, reset_peak_memory, status_kb
from features.columns import Columns, plain_arrays
from features.contract import Marketplace
from features.pipeline import FeaturePipeline
from features.synthetic import SynthConfig, generate_marketplace

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "features.json"
WARM_UP = 50  # listings transformed before the timed ones


def first(market: Marketplace, n: int) -> Marketplace:
    listings = market.listings.sort_values("created_at").head(n).reset_index(drop=True)
    return Marketplace(listings, market.sellers, market.complaints, market.brands, market.fx_rates)


def online_latency_ms(pipeline: FeaturePipeline, market: Marketplace, samples: int,
                      seed: int, plain: bool) -> dict[str, float]:
    """One listing at a time with only its seller's rows, as the service scores it.

    `plain`: the seller's tables as plain arrays (`Columns.of_arrays`) and the features
    as a bare matrix (`FeaturePipeline.values`), which is what the service does; otherwise
    DataFrames in and out (`transform`).
    """
    # a copy, as a freshly loaded model: memos start cold (`features.key_memo`), so the
    # path timed second does not find the texts the first one read
    pipeline = pickle.loads(pickle.dumps(pipeline))
    listings = market.listings
    ring_index = pipeline.ring_index(market)
    by_seller = listings.groupby("seller_id").indices
    complaints = market.complaints.groupby("seller_id").indices
    sellers = market.sellers.set_index("seller_id", drop=False)

    def table(frame: pd.DataFrame) -> Any:
        return Columns.of_arrays(plain_arrays(frame)) if plain else frame

    features = pipeline.values if plain else pipeline.transform
    rng = np.random.default_rng(seed)
    times, cpu_times = [], []
    picked = rng.choice(len(listings), samples + WARM_UP, replace=False)
    # as the service runs: long-lived objects frozen out of the collector's sight after
    # loading (gc.freeze), caches warm (the first listings are not timed)
    gc.collect()
    gc.freeze()
    for k, i in enumerate(picked):
        seller = listings["seller_id"].iat[i]
        rows = listings.iloc[by_seller[seller]].reset_index(drop=True)
        one = Marketplace(table(rows), table(sellers.loc[[seller]].reset_index(drop=True)),
                          table(market.complaints.iloc[complaints.get(seller, [])]
                                .reset_index(drop=True)),
                          market.brands, market.fx_rates)
        target = (rows["listing_id"] == listings["listing_id"].iat[i]).to_numpy()
        started, cpu_started = time.perf_counter(), time.thread_time()
        features(one, target, ring_index)
        if k >= WARM_UP:
            cpu_times.append(time.thread_time() - cpu_started)
            times.append(time.perf_counter() - started)
    ms, cpu_ms = np.asarray(times) * 1e3, np.asarray(cpu_times) * 1e3
    # CPU time beside wall clock: on a shared machine the wall clock's tail is mostly waiting
    return {"tables": "plain arrays -> values (as the service)" if plain
            else "DataFrames -> transform",
            "samples": samples, "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 2),
            "cpu_p99_ms": round(float(np.percentile(cpu_ms, 99)), 2),
            "largest_seller_listings": int(max(len(rows) for rows in by_seller.values()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listings", type=int, default=1_000_000)
    parser.add_argument("--train", type=int, default=200_000)
    parser.add_argument("--online-samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    market = generate_marketplace(SynthConfig(n_listings=args.listings, seed=args.seed))
    training = first(market, args.train)
    pipeline = FeaturePipeline()
    started = time.perf_counter()
    pipeline.fit(training, training.listings["label"].to_numpy())
    fit_s = time.perf_counter() - started

    sizes = [n for n in (100_000, 300_000, 1_000_000) if n <= args.listings]
    batch = []
    for n in sizes:
        part = first(market, n)
        reset_peak_memory()
        started = time.perf_counter()
        features = pipeline.transform(part)
        seconds = time.perf_counter() - started
        batch.append({"listings": n, "seconds": round(seconds, 2),
                      "listings_per_s": round(n / seconds),
                      "peak_resident_mb": round(status_kb("VmHWM") / 1024),
                      "features": features.shape[1]})
        print(batch[-1], flush=True)
    # both kinds of tables in turn, twice, so that a busy moment hits both alike
    online_market = first(market, sizes[0])
    online = [online_latency_ms(pipeline, online_market, args.online_samples, args.seed + k,
                                plain) for k in range(2) for plain in (True, False)]
    print(online)
    result = {"machine": machine_info(), "fit_listings": args.train, "fit_seconds": round(fit_s, 1),
              "transform": batch, "online_one_listing": online}
    RESULTS_PATH.parent.mkdir(exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
