"""`strikeout score --engine spark`: batch scoring on Apache Spark, with the pandas path's scores.

The job mirrors `serving.batch.score_dataset`. The driver checks the four small
tables with the data contract's own loader, builds the cross-seller ring index
from the struck sellers' listings and broadcasts both, with the registered model,
once. The listings are then partitioned by seller and sorted by seller within each
partition, so every seller's history is contiguous in one task; each task cuts its
rows into chunks of whole sellers, checks them against the contract and scores them
with the same `model.score` call as the pandas path: no feature is computed in
Spark SQL. The output is a Parquet folder of the score columns.

Paths are anything Spark reads (a local folder, `s3a://...`, `hdfs://...`): a
dataset folder holding `NAME.parquet` (a file or a folder of Parquet parts) or
`NAME.csv` for each table of the contract. It needs classic Spark (the driver
copies the small tables through the JVM's Hadoop file system), not Spark Connect.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from py4j.protocol import Py4JJavaError
from pyspark import SparkConf, SparkContext
from pyspark.broadcast import Broadcast
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from threadpoolctl import threadpool_limits

# The contract's per-chunk checks are private to features.contract; this module runs
# exactly them on each chunk (see `check_listing_rows`) rather than a copy of them.
from features.contract import (
    MAX_BAD_ROWS_SHOWN,
    TABLES,
    DataContractError,
    Marketplace,
    Problem,
    _convert,
    _cross_checks,
    _duplicate_keys,
    _Raw,
    load_marketplace,
)
from features.rings import RingIndex, first_strikes
from serving.batch import (
    RING_TEXT_COLUMNS,
    SCORE_COLUMNS,
    ScoringError,
    check_not_a_table,
    load_scorer,
    reasons_text,
)

LOCAL_MASTER = "local[*]"
SMALL_TABLES = ("sellers", "complaints", "brands", "fx_rates")
SCORE_SCHEMA = "listing_id string, score double, band string, model_version string, reasons string"
ROW = "_strikeout_row"  # the listing's order in the input, to score each chunk in file order
PROBLEMS_MARK = "strikeout-contract-problems:"  # carries a task's contract problems to the driver

log = logging.getLogger("strikeout.score.spark")

_ACCEPTED_TYPES: dict[str, tuple[type[T.DataType], ...]] = {
    "string": (T.StringType, T.IntegralType),
    "timestamp": (T.StringType, T.TimestampType, T.TimestampNTZType),
    "number": (T.StringType, T.NumericType),
    "integer": (T.StringType, T.NumericType),
    "boolean": (T.StringType, T.BooleanType),
}


@dataclass(frozen=True)
class SparkScoringConfig:
    """How the Spark job spreads the work; each default once.

    Attributes:
        master: Spark master URL; None means spark-submit's `--master`, else `local[*]`.
        partitions: tasks of the scoring stage; None means `tasks_per_core` per core.
        tasks_per_core: tasks per core of the cluster when `partitions` is None; more
            tasks than cores let fast tasks take over the work of slow ones.
        chunk_rows: listings a task gathers (whole sellers) before one model call;
            with the largest seller, this bounds a Python worker's memory.
    """

    master: str | None = None
    partitions: int | None = None
    tasks_per_core: int = 2
    chunk_rows: int = 200_000

    def __post_init__(self) -> None:
        if self.partitions is not None and self.partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {self.partitions}")
        if self.tasks_per_core < 1 or self.chunk_rows < 1:
            raise ValueError("tasks_per_core and chunk_rows must be >= 1")


@dataclass(frozen=True)
class SparkBatchSummary:
    listings_read: int
    listings_scored: int
    bands: dict[str, int]
    model_version: str
    out_path: str
    tasks: int  # of the scoring stage


@dataclass(frozen=True)
class ScoringBundle:
    """Everything a task needs besides its listings; broadcast once per job."""

    model: Any  # training's ListingRiskModel, which serving knows only through MLflow
    context: Marketplace  # the four small tables, listings empty
    ring_index: RingIndex
    listings_file: str
    since: pd.Timestamp | None


class DatasetError(DataContractError):
    """A broken data contract in a dataset named by URI (`Path` would fold `s3a://` to `s3a:/`)."""

    def __init__(self, location: str, problems: list[Problem]) -> None:
        super().__init__(location, problems)
        self.location = location
        self.args = (str(self.args[0]).replace(str(self.folder), location, 1),)


def spark_session(master: str | None = None) -> SparkSession:
    """The running session, or a new one on `master` (spark-submit's, else local[*])."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    SparkContext._ensure_initialized()  # joins spark-submit's JVM, so its --master is seen
    master = master or SparkConf().get("spark.master", LOCAL_MASTER)
    builder = SparkSession.builder.appName("strikeout-score").master(master)
    if master.startswith("local"):  # one machine: workers run this Python, nothing listens outside
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # read when the context starts
        builder = (builder.config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1"))
    return builder.getOrCreate()


class HadoopFiles:
    """The JVM's Hadoop file system: the paths, schemes and credentials Spark itself uses."""

    def __init__(self, spark: SparkSession) -> None:
        jvm, jsc = spark.sparkContext._jvm, spark.sparkContext._jsc
        if jvm is None or jsc is None:
            raise ScoringError("the Spark engine needs classic Spark with a JVM, not Spark Connect")
        self._jvm: Any = jvm
        self._conf = jsc.hadoopConfiguration()

    def _path(self, uri: str) -> tuple[Any, Any]:
        path = self._jvm.org.apache.hadoop.fs.Path(uri)
        return path, path.getFileSystem(self._conf)

    def exists(self, uri: str) -> bool:
        path, fs = self._path(uri)
        return bool(fs.exists(path))

    def is_dir(self, uri: str) -> bool:
        path, fs = self._path(uri)
        return bool(fs.exists(path) and fs.getFileStatus(path).isDirectory())

    def names(self, uri: str) -> list[str]:
        path, fs = self._path(uri)
        return [str(s.getPath().getName()) for s in fs.listStatus(path)]

    def qualified(self, uri: str) -> str:
        """`uri` in full: scheme, authority and absolute path (`file:/data/x` for `x`)."""
        path, fs = self._path(uri)
        return str(fs.makeQualified(path).toString())

    def copy_to_local(self, uri: str, local: Path) -> None:
        path, fs = self._path(uri)
        fs.copyToLocalFile(False, path, self._jvm.org.apache.hadoop.fs.Path(str(local)), True)


def child(location: str, name: str) -> str:
    return f"{location.rstrip('/')}/{name}"


def find_table_uri(files: HadoopFiles, location: str, name: str) -> str | None:
    """`NAME.parquet` (file or folder of parts) before `NAME.csv`, None if neither."""
    for suffix in (".parquet", ".csv"):
        uri = child(location, f"{name}{suffix}")
        if files.exists(uri):
            return uri
    return None


def load_small_tables(files: HadoopFiles, location: str) -> Marketplace:
    """The four small tables, copied to the driver and checked by the contract's own loader.

    They sit beside an empty listings table, so `load_marketplace` runs every check
    it runs on a whole dataset; the listings are checked chunk by chunk later.
    """
    if not files.is_dir(location):
        raise DatasetError(location, [Problem(location, "", "is not a folder")])
    with tempfile.TemporaryDirectory(prefix="strikeout-spark-") as scratch:
        staged = Path(scratch)
        problems = []
        for name in SMALL_TABLES:
            uri = find_table_uri(files, location, name)
            if uri is None:
                problems.append(Problem(f"{name}.csv", "", f"table missing: no {name}.csv or "
                                        f"{name}.parquet in {location}"))
                continue
            target = staged / uri.rsplit("/", 1)[1]
            files.copy_to_local(uri, target)
            if target.is_dir():  # a folder of Parquet parts becomes one file for the loader
                table = pq.read_table(target)
                target.rename(staged / f"{name}.parts")
                pq.write_table(table, target)
        if problems:
            raise DatasetError(location, problems)
        required = [c.name for c in TABLES["listings"].columns if c.required]
        pd.DataFrame(columns=required).to_csv(staged / "listings.csv", index=False)
        try:
            return load_marketplace(staged)
        except DataContractError as exc:
            raise DatasetError(location, exc.problems) from None


def read_listings(spark: SparkSession, uri: str) -> DataFrame:
    """The listings as Spark reads them (CSV as text), with the contract's columns checked."""
    if uri.endswith(".csv"):
        # every column as text, as the contract reads CSV; quotes doubled as pandas writes them
        frame = spark.read.csv(uri, header=True, multiLine=True, escape='"', mode="FAILFAST")
    else:
        frame = spark.read.parquet(uri)
    name = uri.rstrip("/").rsplit("/", 1)[1]
    fields = {f.name: f.dataType for f in frame.schema.fields}
    problems = []
    for column in TABLES["listings"].columns:
        if column.name not in fields:
            if column.required:
                problems.append(Problem(name, column.name, "required column is missing"))
            continue
        read_as = fields[column.name]
        if not isinstance(read_as, _ACCEPTED_TYPES[column.kind]):
            message = f"Spark reads it as {read_as.simpleString()}, not as a {column.kind}"
            problems.append(Problem(name, column.name, message))
    if problems:
        raise DatasetError(uri.rsplit("/", 1)[0], problems)
    wanted = [c for c in TABLES["listings"].column_names if c in fields]
    return frame.select(*wanted).withColumn(ROW, F.monotonically_increasing_id())


class _RowsByListing(_Raw):
    """Rows named by listing_id: a Spark task does not know a row's place in the file."""

    def row_names(self, mask: pd.Series | np.ndarray, column: str, key: str | None) -> tuple[
        tuple[str, ...], int
    ]:
        positions = np.flatnonzero(np.asarray(mask))
        names = []
        for pos in positions[:MAX_BAD_ROWS_SHOWN]:
            ident = f"listing_id {self.frame['listing_id'].iat[pos]!r}" if (
                "listing_id" in self.frame) else "a row"
            value = f": {self.frame[column].iat[pos]!r}" if (
                column in self.frame and column != "listing_id") else ""
            names.append(f"{ident}{value}")
        return tuple(names), len(positions)


def check_listing_rows(raw: pd.DataFrame, context: Marketplace, file_name: str) -> pd.DataFrame:
    """Listing rows converted and checked as `iter_listing_chunks` does a chunk of the file."""
    rows = _RowsByListing(Path(file_name), raw.reset_index(drop=True))
    problems: list[Problem] = []
    frame = _convert(rows, TABLES["listings"], problems)
    duplicate = _duplicate_keys(rows, TABLES["listings"], frame)
    if duplicate:
        problems.append(duplicate)
    raws = {"listings": rows, **{n: _Raw(Path(p.name), pd.DataFrame())
                                 for n, p in context.sources.items() if n != "listings"}}
    problems.extend(_cross_checks(raws, {**context.tables(), "listings": frame}))
    if problems:
        raise DataContractError(file_name, problems)
    return frame


def count_listings(listings: DataFrame, file_name: str) -> tuple[int, Problem | None]:
    """How many listings, and any listing_id held by two rows (a chunk sees only its sellers)."""
    per_id = listings.groupBy("listing_id").count()
    totals = per_id.agg(F.sum("count").alias("rows"),
                        F.count(F.when(F.col("count") > 1, True)).alias("repeated")).first()
    rows = int(totals["rows"] or 0) if totals else 0
    if not totals or not totals["repeated"]:
        return rows, None
    shown = [f"listing_id {r['listing_id']!r} ({r['count']} rows)"
             for r in per_id.where(F.col("count") > 1).orderBy("listing_id").limit(5).collect()]
    return rows, Problem(file_name, "listing_id", "duplicate listing_id", tuple(shown),
                         int(totals["repeated"]))


def score_chunk(job: ScoringBundle, chunk: pd.DataFrame, threads: int) -> pd.DataFrame:
    """Check and score a chunk of whole sellers, in input order, as the pandas path does."""
    chunk = chunk.sort_values(ROW, kind="stable").drop(columns=[ROW])
    try:
        listings = check_listing_rows(chunk, job.context, job.listings_file)
    except DataContractError as exc:
        # a plain message with the problems as JSON: the driver rebuilds the error from it
        found = json.dumps([asdict(p) for p in exc.problems])
        raise ValueError(PROBLEMS_MARK + found) from None
    targets = None if job.since is None else (listings["created_at"] >= job.since).to_numpy()
    if targets is not None and not targets.any():
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "score" else "str")
                             for c in SCORE_COLUMNS})
    with threadpool_limits(threads):
        result = job.model.score(replace(job.context, listings=listings), targets,
                                 ring_index=job.ring_index)
    result["reasons"] = result["reasons"].map(reasons_text)
    return result[list(SCORE_COLUMNS)].reset_index(drop=True)


def partition_scorer(bundle: Broadcast[ScoringBundle], chunk_rows: int, threads: int) -> Callable[
    [Iterator[pd.DataFrame]], Iterator[pd.DataFrame]
]:
    """The function of `mapInPandas`: a partition sorted by seller in, its scores out."""

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        job = bundle.value  # unpickled once per Python worker, then cached by PySpark
        held: list[pd.DataFrame] = []
        n_held = 0
        for batch in batches:
            held.append(batch)
            n_held += len(batch)
            if n_held < chunk_rows:
                continue
            rows = pd.concat(held, ignore_index=True)
            # the last seller may go on in the next batch: keep it for the next chunk
            seller = rows["seller_id"].to_numpy()
            cut = int(np.argmax(seller == seller[-1]))
            if cut:
                yield score_chunk(job, rows.iloc[:cut], threads)
            held, n_held = [rows.iloc[cut:]], len(rows) - cut
        if n_held:
            yield score_chunk(job, pd.concat(held, ignore_index=True), threads)

    return score_partition


def problems_in(error: Exception) -> list[Problem] | None:
    """The contract problems a task reported through `error`, None if it failed otherwise."""
    text = str(error)
    start = text.find(PROBLEMS_MARK)
    if start < 0:
        return None
    found, _ = json.JSONDecoder().raw_decode(text, start + len(PROBLEMS_MARK))
    return [Problem(**{**p, "rows": tuple(p["rows"])}) for p in found]


def root_cause(error: Exception, limit: int = 300) -> str:
    """The innermost cause of a Spark error (the parse or I/O failure itself), shortened."""
    cause = getattr(error, "java_exception", None)
    while cause is not None and cause.getCause() is not None:
        cause = cause.getCause()
    text = " ".join(str(cause.getMessage() if cause is not None else error).split())
    return text if len(text) <= limit else text[:limit] + "..."


@contextmanager
def job_settings(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Session settings for the job's length, then back to what they were."""
    before: dict[str, str | None] = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, earlier in before.items():
            if earlier is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, earlier)


def check_output(files: HadoopFiles, out_path: str) -> None:
    """Refuse to overwrite anything but an earlier Spark output."""
    if not files.exists(out_path):
        return
    if not files.is_dir(out_path):
        raise ScoringError(f"--out {out_path} is a file; the Spark engine writes a folder of parts")
    names = files.names(out_path)
    if names and "_SUCCESS" not in names:
        raise ScoringError(f"--out {out_path} is a folder that no Spark job wrote; "
                           "choose a new path or an earlier Spark output")


def build_ring_index(spark: SparkSession, model: Any, listings: DataFrame, context: Marketplace,
                     listings_file: str, location: str) -> RingIndex:
    """The cross-seller index from the struck sellers' listings, as the pandas path builds it."""
    struck = first_strikes(context.complaints).index
    struck_sellers = spark.createDataFrame([(s,) for s in struck], "seller_id string")
    raw = pd.DataFrame(
        listings.join(F.broadcast(struck_sellers), "seller_id", "left_semi").toPandas())
    raw = raw.sort_values(ROW, kind="stable").drop(columns=[ROW])
    try:
        rows = check_listing_rows(raw, context, listings_file)
    except DataContractError as exc:
        raise DatasetError(location, exc.problems) from None
    log.info("ring index from %d listings of %d struck sellers", len(rows), len(struck))
    return model.pipeline.ring_index(replace(context, listings=rows[list(RING_TEXT_COLUMNS)]))


def write_scores(spark: SparkSession, listings: DataFrame, bundle: ScoringBundle, partitions: int,
                 chunk_rows: int, out_path: str, location: str) -> dict[str, int]:
    """Score the listings, seller-partitioned, into `out_path`; return the count per band."""
    shared = spark.sparkContext.broadcast(bundle)
    threads = int(spark.sparkContext.getConf().get("spark.task.cpus", "1"))
    try:
        scores = (listings
                  .repartition(partitions, "seller_id")  # many sellers: even partitions
                  .sortWithinPartitions("seller_id")
                  .mapInPandas(partition_scorer(shared, chunk_rows, threads), SCORE_SCHEMA))
        scores.write.mode("overwrite").parquet(out_path)
    except (Py4JJavaError, PySparkException) as exc:  # a task's contract problems come back here
        problems = problems_in(exc)
        if problems is None:
            raise
        raise DatasetError(location, problems) from None
    finally:
        shared.destroy()
    bands = {"low": 0, "review": 0, "high": 0}
    for row in spark.read.parquet(out_path).groupBy("band").count().collect():
        bands[row["band"]] = int(row["count"])
    return bands


def score_dataset_spark(model_uri: str, data_path: str | Path, out_path: str | Path,
                        since: pd.Timestamp | None = None,
                        config: SparkScoringConfig | None = None,
                        spark: SparkSession | None = None) -> SparkBatchSummary:
    """Score every listing of `data_path` created at or after `since` (default: all) on Spark."""
    config = config or SparkScoringConfig()
    location, out_path = str(data_path), str(out_path)
    if out_path.rstrip("/").endswith(".csv"):
        raise ScoringError(f"the Spark engine writes a Parquet folder; --out {out_path} "
                           "ends in .csv")
    spark = spark or spark_session(config.master)
    files = HadoopFiles(spark)
    check_not_a_table(out_path, files.qualified(out_path), files.qualified(location))
    check_output(files, out_path)
    context = load_small_tables(files, location)
    listings_uri = find_table_uri(files, location, "listings")
    if listings_uri is None:
        raise DatasetError(location, [Problem("listings.csv", "", "table missing: no listings.csv "
                                              f"or listings.parquet in {location}")])
    listings_file = listings_uri.rsplit("/", 1)[1]
    context.sources["listings"] = Path(listings_file)
    model: Any = load_scorer(model_uri)  # it scores with its own fx rates and brand registry
    partitions = config.partitions or (
        config.tasks_per_core * spark.sparkContext.defaultParallelism)
    settings = {
        "spark.sql.session.timeZone": "UTC",  # Parquet timestamps reach pandas as UTC
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    with job_settings(spark, settings):
        started = time.perf_counter()
        listings = read_listings(spark, listings_uri)
        try:
            n_listings, duplicate = count_listings(listings, listings_file)
        except (Py4JJavaError, PySparkException) as exc:  # the first pass over the file
            raise DatasetError(location, [Problem(listings_file, "", "cannot be read by Spark: "
                                                  f"{root_cause(exc)}")]) from exc
        if duplicate:
            raise DatasetError(location, [duplicate])
        currencies = listings.select("currency").distinct().collect()
        try:
            model.check_priced([r["currency"] for r in currencies if r["currency"]])
        except ValueError as exc:  # training's UnpricedCurrency
            raise ScoringError(str(exc)) from exc
        log.info("%d listings in %s counted in %.1f s", n_listings, listings_uri,
                 time.perf_counter() - started)
        started = time.perf_counter()
        ring_index = build_ring_index(spark, model, listings, context, listings_file, location)
        log.info("ring index built in %.1f s", time.perf_counter() - started)
        started = time.perf_counter()
        bundle = ScoringBundle(model, context, ring_index, listings_file, since)
        bands = write_scores(spark, listings, bundle, partitions, config.chunk_rows, out_path,
                             location)
        log.info("scored in %d tasks and wrote %s in %.1f s", partitions, out_path,
                 time.perf_counter() - started)
    return SparkBatchSummary(n_listings, sum(bands.values()), bands, model.version, out_path,
                             partitions)
