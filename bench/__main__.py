"""`make bench`: every benchmark in turn; each writes its figures to bench/results/.

Run one alone with `python -m bench.<name>` (see each module's docstring for options).
The machines are shared: read each result with the load average recorded beside it.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "bench.synth",              # generator speed: 100k and 1M listings
    "bench.features",           # pipeline: 100k/300k/1M throughput, memory, one listing online
    "bench.text_features",      # the text family alone
    "bench.history_features",   # seller history + rings alone
    "bench.ring_updates",       # the online ring index: struck listings added, new sellers
    "bench.model_quality",      # strikeout vs baselines, ablation, 250k training time
    "bench.ledger_stress",      # decided complaints/s on SQLite and PostgreSQL
    "bench.service",            # scoring endpoint latency and throughput vs a plain FastAPI app
    "bench.listing_cost",       # one new listing in-process, each one's fastest of 5 rounds
    "bench.ring_refresh",       # a worker picking up what other replicas stored
    "bench.big_sellers",        # one new listing of a seller of 1k-64k listings, online
    "bench.spark_scoring",      # Spark local vs the pandas batch path
)


def main() -> None:
    only = sys.argv[1:]
    failed = []
    for name in BENCHMARKS:
        if only and name.removeprefix("bench.") not in only:
            continue
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, "-m", name], check=False).returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
