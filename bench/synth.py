"""Time the synthetic marketplace: generate, then write CSV and Parquet, at 100k and 1M listings.

Run from the repo root: `python -m bench.synth [--sizes 100000 1000000]`.
Writes bench/results/synth.json (seconds and listings per second per step).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from features.contract import save_marketplace
from features.synthetic import SynthConfig, generate_marketplace

RESULTS_PATH = Path(__file__).parent / "results" / "synth.json"


def _timed(step: str, n: int, started: float) -> dict[str, float | str]:
    seconds = time.perf_counter() - started
    return {"step": step, "seconds": round(seconds, 2),
            "listings_per_s": round(n / seconds) if seconds > 0 else float("inf")}


def measure(n_listings: int, seed: int) -> dict[str, object]:
    """Generate once, then write it as CSV and as Parquet into a scratch folder."""
    started = time.perf_counter()
    market = generate_marketplace(SynthConfig(n_listings=n_listings, seed=seed))
    steps = [_timed("generate", n_listings, started)]
    with tempfile.TemporaryDirectory() as scratch:
        for fmt in ("csv", "parquet"):
            started = time.perf_counter()
            folder = save_marketplace(market, Path(scratch) / fmt, fmt=fmt)
            steps.append(_timed(f"write_{fmt}", n_listings, started))
            steps[-1]["megabytes"] = round(sum(
                p.stat().st_size for p in folder.iterdir()) / 1e6, 1)
    return {"listings": n_listings, "sellers": len(market.sellers),
            "complaints": len(market.complaints),
            "positive_rate": round(float(market.listings["label"].mean()), 4), "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    runs = [measure(n, args.seed) for n in args.sizes]
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()},
              "runs": runs}
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
