"""Listings per second of batch scoring: the pandas path against Spark in local mode.

`python -m bench.spark_scoring [--sizes 1000000] [--partitions 2 4 8 16]` trains a
small model in a temporary STRIKEOUT_HOME, generates each dataset (Parquet), scores it
once with `serving.batch.score_dataset` and once per partition count with
`serving.spark_scoring.score_dataset_spark` on `local[N]` (N = the machine's cores),
checks that both wrote the same scores, and writes bench/results/spark_scoring.json.

Spark's session start and a warm-up job (Python workers importing the packages)
are timed apart from the measured jobs. The machine's load average is recorded
beside every figure, since other jobs may share its cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from bench.machine import machine_info
from features.contract import save_marketplace
from features.synthetic import SynthConfig, generate_marketplace
from serving.batch import score_dataset
from serving.spark_scoring import SparkScoringConfig, score_dataset_spark
from training.config import TrainingConfig
from training.tracking import connect
from training.train import train

RESULTS_PATH = Path(__file__).parent / "results" / "spark_scoring.json"
TRAIN_LISTINGS = 30_000
WARM_UP_LISTINGS = 5_000


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def local_spark(cores: int) -> SparkSession:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (SparkSession.builder.master(f"local[{cores}]").appName("strikeout-bench")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.memory", "4g")
            .getOrCreate())


def same_scores(a: Path, b: Path) -> float:
    """The largest score difference between two outputs (they must hold the same listings)."""
    left = pd.read_parquet(a).set_index("listing_id").sort_index()
    right = pd.read_parquet(b).set_index("listing_id").sort_index()
    if not left.index.equals(right.index) or not (left["band"] == right["band"]).all():
        raise AssertionError(f"{a} and {b} hold different listings or bands")
    return float(np.abs(left["score"].to_numpy() - right["score"].to_numpy()).max())


def timed_run(engine: str, n: int, run: Callable[[], object]) -> dict[str, object]:
    before = load()
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    return {"engine": engine, "listings": n, "seconds": round(seconds, 1),
            "listings_per_s": round(n / seconds), "load_average_before": before,
            "load_average_after": load()}


def measure(spark: SparkSession, model_uri: str, n: int, partitions: list[int], seed: int,
            scratch: Path) -> list[dict[str, object]]:
    started = time.perf_counter()
    market = generate_marketplace(SynthConfig(n_listings=n, seed=seed))
    data = save_marketplace(market, scratch / f"data-{n}", fmt="parquet")
    del market
    print(f"{n:,} listings generated in {time.perf_counter() - started:.0f} s", flush=True)
    pandas_out = scratch / f"pandas-{n}.parquet"
    runs = [timed_run("pandas", n, lambda: score_dataset(model_uri, data, pandas_out))]
    print(json.dumps(runs[-1]), flush=True)
    for p in partitions:
        out = scratch / f"spark-{n}-{p}.parquet"
        config = SparkScoringConfig(partitions=p)
        run = timed_run("spark", n, lambda c=config, o=out: score_dataset_spark(
            model_uri, data, o, config=c, spark=spark))
        run["partitions"] = p
        run["max_score_difference_to_pandas"] = same_scores(pandas_out, out)
        runs.append(run)
        print(json.dumps(runs[-1]), flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--partitions", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="strikeout-bench-spark-") as tmp:
        scratch = Path(tmp)
        os.environ["STRIKEOUT_HOME"] = str(scratch / "home")
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        connect()
        train_data = save_marketplace(
            generate_marketplace(SynthConfig(n_listings=TRAIN_LISTINGS, seed=args.seed + 1)),
            scratch / "train", fmt="parquet")
        trained = train(train_data, TrainingConfig())
        model_uri = f"models:/{TrainingConfig().registered_model_name}/{trained.model_version}"

        started = time.perf_counter()
        spark = local_spark(cores)
        session_s = time.perf_counter() - started
        warm = save_marketplace(
            generate_marketplace(SynthConfig(n_listings=WARM_UP_LISTINGS, seed=args.seed + 2)),
            scratch / "warm", fmt="parquet")
        started = time.perf_counter()
        score_dataset_spark(model_uri, warm, scratch / "warm.parquet", spark=spark)
        warm_up_s = time.perf_counter() - started

        runs = [run for n in args.sizes
                for run in measure(spark, model_uri, n, args.partitions, args.seed, scratch)]
        spark.stop()
    result = {
        "what": "listings scored per second, whole job (read, contract checks, ring index, "
                "features, LightGBM, reasons, Parquet write); Spark on local[cores]",
        "command": "python -m bench.spark_scoring " + " ".join(sys.argv[1:]),
        "machine": machine,
        "input": "synthetic dataset folder written as Parquet (features.synthetic, seed "
                 f"{args.seed}); model trained on {TRAIN_LISTINGS:,} other synthetic listings",
        "spark": {"master": f"local[{cores}]", "session_start_s": round(session_s, 1),
                  f"warm_up_job_{WARM_UP_LISTINGS}_listings_s": round(warm_up_s, 1),
                  "chunk_rows": SparkScoringConfig().chunk_rows},
        "runs": runs,
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
