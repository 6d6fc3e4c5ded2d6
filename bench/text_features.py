"""Time the text feature family: fit on the early listings, transform 100k, 300k and 1M listings.

Run from the repo root: `python -m bench.text_features [--listings 1000000]`.
Writes bench/results/text_features.json: fit seconds, listings per second of
`transform` per size (best of `--repeats`, plus one first call of a freshly
unpickled model on all listings), one-listing latency percentiles,
the process's peak memory and, as a sanity check, the later listings' AUC of the
learned scores. The machine is shared, so the load average is recorded too.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from features.synthetic import SynthConfig, generate_marketplace
from features.text import TextFeatures

RESULTS_PATH = Path(__file__).parent / "results" / "text_features.json"


def _best_rate(model: TextFeatures, listings: pd.DataFrame, repeats: int) -> dict[str, object]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.transform(listings)
        seconds.append(time.perf_counter() - started)
    best = min(seconds)
    return {"listings": len(listings), "seconds": [round(s, 2) for s in seconds],
            "listings_per_s": round(len(listings) / best)}


def _single_listing_ms(model: TextFeatures, listings: pd.DataFrame, n: int,
                       seed: int) -> dict[str, float]:
    rows = np.random.default_rng(seed).integers(0, len(listings), n)
    model.transform(listings.iloc[[0]])  # warm the per-token caches of the first call
    times = []
    for row in rows:
        one = listings.iloc[[row]]
        started = time.perf_counter()
        model.transform(one)
        times.append((time.perf_counter() - started) * 1000)
    return {"calls": n, "p50_ms": round(float(np.percentile(times, 50)), 3),
            "p99_ms": round(float(np.percentile(times, 99)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listings", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=200_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--single-calls", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    load_before = os.getloadavg()
    market = generate_marketplace(SynthConfig(n_listings=args.listings, seed=args.seed))
    listings = market.listings.sort_values("created_at", ignore_index=True)
    train = listings.iloc[:args.train_rows]
    model = TextFeatures(registry_brands=tuple(market.brands["brand"]))

    started = time.perf_counter()
    model.fit_transform(train, train["label"])
    fit_transform_s = time.perf_counter() - started
    started = time.perf_counter()
    TextFeatures(**model.get_params()).fit(train, train["label"])
    fit_s = time.perf_counter() - started

    # as loaded from the registry: no per-token or per-word cache yet
    cold = _best_rate(pickle.loads(pickle.dumps(model)), listings, 1)
    transform = [_best_rate(model, listings.iloc[-n:], args.repeats)
                 for n in args.sizes if n <= len(listings)]
    later = listings.iloc[args.train_rows:]
    scores = model.transform(later)
    quality = {
        name: {"auc": round(float(roc_auc_score(later["label"], scores[name])), 4),
               "average_precision": round(float(average_precision_score(
                   later["label"], scores[name])), 4)}
        for name in ("text__ngram_score", "text__cue_score", "text__brand_disguised")}
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "listings": len(listings),
        "train_rows": len(train),
        "fit_transform_s": round(fit_transform_s, 2),
        "fit_s": round(fit_s, 2),
        "n_folds": model.n_folds,
        "transform_unpickled_first_call": cold,
        "transform": transform,
        "single_listing": _single_listing_ms(model, later, args.single_calls, args.seed),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "later_listings_quality": quality,
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
