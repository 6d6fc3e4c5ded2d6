"""Listings per second of batch scoring: the pandas path against Spark in local mode.

`python -m bench.spark_scoring [--sizes 1000000] [--partitions 2 4 8 16] [--repeat 2]`
trains a small model in a temporary STRIKEOUT_HOME, generates each dataset (Parquet),
scores it with `serving.batch.score_dataset` and with
`serving.spark_scoring.score_dataset_spark` on `local[N]` (N = the machine's cores) at
each partition count, `--repeat` rounds in turn, checks that every run wrote the pandas
path's scores, and writes bench/results/spark_scoring.json.

Spark's session start and a warm-up job (Python workers importing the packages)
are timed apart from the measured jobs. Other jobs may share the machine's cores, so
each run records the load average and the CPU seconds of this process and all its
children (the JVM and its Python workers): wall time varies with the load, CPU time
much less.
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
import psutil
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


def cpu_seconds() -> dict[tuple[int, float], float]:
    """CPU seconds of this process and of each living descendant (JVM, Python workers).

    Keyed by (pid, start time): a pid may be reused by a new process during a run.
    """
    me = psutil.Process()
    found = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            found[(proc.pid, proc.create_time())] = times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return found


def timed_run(engine: str, n: int, run: Callable[[], object]) -> dict[str, object]:
    """Wall and CPU seconds of one run; CPU counts the processes alive at its end.

    Spark stops idle Python workers after a minute, so a process's CPU is counted
    from its value at the start of the run, or from zero if it started during the run.
    """
    before = load()
    cpu = cpu_seconds()
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    used = sum(t - cpu.get(key, 0.0) for key, t in cpu_seconds().items())
    return {"engine": engine, "listings": n, "seconds": round(seconds, 1),
            "listings_per_s": round(n / seconds), "cpu_seconds": round(used, 1),
            "load_average_before": before, "load_average_after": load()}


def medians(runs: list[dict[str, object]]) -> list[dict[str, object]]:
    """Median wall and CPU seconds per (engine, listings, partitions)."""
    frame = pd.DataFrame(runs)
    if "partitions" not in frame:
        frame["partitions"] = None
    keys = ["engine", "listings", frame["partitions"].fillna(0).astype(int).rename("partitions")]
    table = frame.groupby(keys, sort=False).agg(
        runs=("seconds", "size"), median_seconds=("seconds", "median"),
        median_cpu_seconds=("cpu_seconds", "median")).reset_index()
    table["median_listings_per_s"] = (table["listings"] / table["median_seconds"]).round()
    return json.loads(table.to_json(orient="records"))


def measure(spark: SparkSession, model_uri: str, n: int, partitions: list[int], repeat: int,
            seed: int, scratch: Path) -> list[dict[str, object]]:
    started = time.perf_counter()
    market = generate_marketplace(SynthConfig(n_listings=n, seed=seed))
    data = save_marketplace(market, scratch / f"data-{n}", fmt="parquet")
    del market
    print(f"{n:,} listings generated in {time.perf_counter() - started:.0f} s", flush=True)
    pandas_out = scratch / f"pandas-{n}.parquet"
    runs: list[dict[str, object]] = []
    for _ in range(repeat):
        runs.append(timed_run("pandas", n, lambda: score_dataset(model_uri, data, pandas_out)))
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
    parser.add_argument("--repeat", type=int, default=2, help="rounds over all engines")
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
                for run in measure(spark, model_uri, n, args.partitions, args.repeat, args.seed,
                                   scratch)]
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
        "medians": medians(runs),
        "runs": runs,
    }
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
