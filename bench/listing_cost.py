"""Benchmark: what one new listing costs in-process, told apart from the machine's hiccups.

The in-process figure of `bench.service` (one new listing: history lookup, features,
model and band) is one pass over 1,000 listings, and on a shared machine its p99 is
mostly the machine's: scored in the same order in two processes, one listing's time in
one hardly predicts its time in the other. Here the same single new listings are scored
in the same order in `--rounds` fresh processes, one after another, each over a fresh
copy of the same ledger, as `bench.service` measures them (without reasons; each
listing stored after it is timed). Each listing's fastest time over the rounds is taken
as its own cost: the machine rarely slows the same listing in every round.

Reported: each round's p50 and p99, and the p50, p90 and p99 of the listings' own costs,
for all and apart for listings whose seller holds a strike (their phrases go into the
ring index before they are scored) and the others.

`python -m bench.listing_cost [--home DIR] [--rounds 5] [--listings 1000]` (`--home` as in
`bench.service`, whose model it scores with) writes bench/results/listing_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import machine_info
from bench.service import (
    listing_bodies,
    prepare_ledger,
    remove_ledger,
    scoring_worker,
    service_home,
)

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "listing_cost.json"
WARM_LISTINGS = 20  # scored first in every round, not timed: first calls build caches


def one_round(home: Path, listings: int, out: Path) -> None:
    """Score `listings` single new listings one at a time over a fresh ledger; write each
    one's time and whether its seller holds a strike to `out`."""
    from serving.scoring_api import ScoreRequest, listing_arrays

    url, _, later = prepare_ledger(home, home / "data")
    ledger, model, ring, scorer, _ = scoring_worker(url)
    try:
        requests = [ScoreRequest.model_validate_json(body).listings
                    for body in listing_bodies(later, 1, listings + WARM_LISTINGS)]
        for request in requests[:WARM_LISTINGS]:
            scorer.score_columns(*listing_arrays(request))
        times, struck = [], []
        for request in requests[WARM_LISTINGS:]:
            struck.append(request[0].seller_id in ring.struck)
            started = time.perf_counter()
            batch = scorer.prepare(*listing_arrays(request))
            result = model.score_columns(batch.market, with_reasons=False,
                                         ring_index=ring.index, earlier=batch.earlier)
            times.append(time.perf_counter() - started)
            scorer.store(batch, result["events"])
    finally:
        ledger.close()
        remove_ledger(url)
    out.write_text(json.dumps({"times_s": times, "struck": struck}))


def summary(times_ms: np.ndarray) -> dict[str, float]:
    p50, p90, p99 = np.percentile(times_ms, [50, 90, 99])
    return {"p50_ms": round(float(p50), 3), "p90_ms": round(float(p90), 3),
            "p99_ms": round(float(p99), 3), "n": int(len(times_ms))}


def costs(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each round's spread, and the listings' own costs (fastest over the rounds)."""
    times = np.array([r["times_s"] for r in rounds]) * 1000  # round x listing
    struck = np.array(rounds[0]["struck"], dtype=bool)
    own = times.min(axis=0)
    between = np.corrcoef(times[0], times[1])[0, 1] if len(times) > 1 else None
    return {
        "rounds": [{"p50_ms": round(float(np.percentile(t, 50)), 3),
                    "p99_ms": round(float(np.percentile(t, 99)), 3)} for t in times],
        "correlation_of_first_two_rounds": None if between is None else round(float(between), 3),
        "own_cost": summary(own),
        "own_cost_seller_struck": summary(own[struck]) if struck.any() else None,
        "own_cost_seller_not_struck": summary(own[~struck]) if (~struck).any() else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=None,
                        help="a home where bench.service trained its model (reused)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--listings", type=int, default=1000)
    parser.add_argument("--one-round", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 2 or args.listings < 100:
        parser.error("--rounds must be at least 2 and --listings at least 100")
    if args.one_round is not None:  # a round, in a process of its own (given --home)
        if args.home is None:
            parser.error("--one-round needs --home")
        os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", STRIKEOUT_HOME=str(args.home))
        one_round(args.home, args.listings, args.one_round)
        return
    home, setup = service_home(args.home, "listing-cost")
    rounds = []
    with tempfile.TemporaryDirectory() as scratch:
        for k in range(args.rounds):
            out = Path(scratch) / f"round-{k}.json"
            subprocess.run([sys.executable, "-m", "bench.listing_cost", "--home", str(home),
                            "--listings", str(args.listings), "--one-round", str(out)],
                           check=True)
            rounds.append(json.loads(out.read_text()))
    result = {"machine": machine_info(), "model_version": setup["version"],
              "listings": args.listings, **costs(rounds)}
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
