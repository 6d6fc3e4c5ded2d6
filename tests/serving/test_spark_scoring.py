"""The Spark path scores every listing exactly as the pandas path does, and checks its input."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from features.contract import load_marketplace, save_marketplace
from features.synthetic import SynthConfig, generate_marketplace
from serving.batch import ScoringError, score_dataset
from serving.spark_scoring import DatasetError, SparkScoringConfig, score_dataset_spark
from strikeout.cli import app
from training.config import BoosterConfig, TrainingConfig
from training.tracking import connect
from training.train import train

pytestmark = [
    pytest.mark.spark, pytest.mark.slow, pytest.mark.xdist_group("spark"),
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("STRIKEOUT_HOME", str(path))
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    connect()
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    market = generate_marketplace(SynthConfig(n_listings=4_000, seed=21))
    return save_marketplace(market, tmp_path_factory.mktemp("data") / "csv")


@pytest.fixture(scope="module")
def model_uri(home: Path, dataset: Path) -> str:
    small = TrainingConfig(booster=BoosterConfig(n_estimators=40), shap_sample=100)
    result = train(dataset, small)
    return f"models:/{small.registered_model_name}/{result.model_version}"


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """Local Spark on two cores: workers run this Python, nothing listens beyond loopback.

    Arrow batches of 250 rows: sellers then span batches, as they do at scale.
    """
    mp = pytest.MonkeyPatch()
    mp.setenv("PYSPARK_PYTHON", sys.executable)
    mp.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    session = (SparkSession.builder.master("local[2]").appName("strikeout-test")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "250")
               .getOrCreate())
    yield session
    session.stop()
    mp.undo()


def _by_listing(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path).set_index("listing_id").sort_index()


def _assert_same_scores(pandas_out: Path, spark_out: Path) -> None:
    expected, got = _by_listing(pandas_out), _by_listing(spark_out)
    assert got.index.is_unique
    assert list(got.index) == list(expected.index)
    np.testing.assert_allclose(got["score"], expected["score"], rtol=0, atol=1e-9)
    assert (got["band"] == expected["band"]).all()
    assert (got["reasons"] == expected["reasons"]).all()
    assert (got["model_version"] == expected["model_version"]).all()


def test_spark_scores_every_listing_as_the_pandas_path(
        model_uri: str, dataset: Path, spark: SparkSession, tmp_path: Path) -> None:
    pandas_summary = score_dataset(model_uri, dataset, tmp_path / "pandas.parquet",
                                   chunk_rows=1_000)
    summary = score_dataset_spark(model_uri, dataset, tmp_path / "spark.parquet",
                                  config=SparkScoringConfig(chunk_rows=700), spark=spark)
    _assert_same_scores(tmp_path / "pandas.parquet", tmp_path / "spark.parquet")
    assert summary.listings_read == summary.listings_scored == 4_000
    assert summary.bands == pandas_summary.bands
    # flagged listings carry reasons, so the reasons were compared too
    assert pandas_summary.bands["high"] > 0 and pandas_summary.bands["review"] > 0
    assert summary.model_version == pandas_summary.model_version


def test_the_command_scores_in_the_tasks_asked_for(
        model_uri: str, dataset: Path, spark: SparkSession, tmp_path: Path) -> None:
    out = tmp_path / "scores"
    result = CliRunner().invoke(app, ["score", "--engine", "spark", "--partitions", "3",
                                      "--data", str(dataset), "--out", str(out),
                                      "--model", model_uri, "--quiet"])
    assert result.exit_code == 0, result.output
    assert "scored 4,000 of 4,000 listings" in result.output and "in 3 tasks" in result.output
    assert len(list(out.glob("part-*.parquet"))) == 3
    assert len(pd.read_parquet(out)) == 4_000


def test_parquet_part_folders_and_since_match_the_pandas_path(
        model_uri: str, dataset: Path, spark: SparkSession, tmp_path: Path) -> None:
    market = load_marketplace(dataset)
    single = save_marketplace(market, tmp_path / "parquet", fmt="parquet")
    parts = shutil.copytree(single, tmp_path / "parts")
    for name in ("listings", "sellers"):  # tables written as Spark writes them: folders of parts
        table = pd.read_parquet(parts / f"{name}.parquet")
        if name == "listings":  # a real timestamp column, where the contract's file has text
            table["created_at"] = pd.to_datetime(table["created_at"], utc=True)
        (parts / f"{name}.parquet").unlink()
        (parts / f"{name}.parquet").mkdir()
        # reversed halves: the Spark path must not depend on the order it reads rows in
        half = len(table) // 2
        table.iloc[half:].to_parquet(parts / f"{name}.parquet" / "part-00000.parquet", index=False)
        table.iloc[:half].to_parquet(parts / f"{name}.parquet" / "part-00001.parquet", index=False)
    since = market.listings["created_at"].quantile(0.6)

    pandas_summary = score_dataset(model_uri, single, tmp_path / "pandas.parquet", since=since)
    summary = score_dataset_spark(model_uri, str(parts), str(tmp_path / "spark.parquet"),
                                  since=since, spark=spark)
    _assert_same_scores(tmp_path / "pandas.parquet", tmp_path / "spark.parquet")
    assert summary.listings_read == 4_000
    assert summary.listings_scored == pandas_summary.listings_scored < 4_000


def test_a_broken_listing_is_named_by_file_column_and_listing_id(
        model_uri: str, dataset: Path, spark: SparkSession, tmp_path: Path) -> None:
    broken = shutil.copytree(dataset, tmp_path / "broken")
    market = load_marketplace(dataset)
    struck = set(market.complaints.loc[market.complaints["status"] == "upheld", "seller_id"])
    # a seller without strikes: its listings are checked inside a Spark task, not on the driver
    victim = market.listings.loc[~market.listings["seller_id"].isin(struck), "listing_id"].iloc[7]
    listings = pd.read_csv(broken / "listings.csv", dtype=str, keep_default_na=False)
    listings.loc[listings["listing_id"] == victim, "price"] = "-3"
    listings.to_csv(broken / "listings.csv", index=False)

    with pytest.raises(DatasetError) as caught:
        score_dataset_spark(model_uri, broken, tmp_path / "out.parquet", spark=spark)
    message = str(caught.value)
    assert f"the dataset in {broken} breaks the data contract" in message
    assert "listings.csv, column 'price': must be a finite number > 0" in message
    assert f"listing_id '{victim}': '-3'" in message


def test_input_and_output_mistakes_are_refused_before_scoring(
        model_uri: str, dataset: Path, spark: SparkSession, tmp_path: Path) -> None:
    no_currency = shutil.copytree(dataset, tmp_path / "no_currency")
    listings = pd.read_csv(no_currency / "listings.csv", dtype=str, keep_default_na=False)
    listings.drop(columns=["currency"]).to_csv(no_currency / "listings.csv", index=False)
    with pytest.raises(DatasetError, match="listings.csv, column 'currency': required column"):
        score_dataset_spark(model_uri, no_currency, tmp_path / "a.parquet", spark=spark)

    no_sellers = shutil.copytree(dataset, tmp_path / "no_sellers")
    (no_sellers / "sellers.csv").unlink()
    with pytest.raises(DatasetError, match="table missing: no sellers.csv or sellers.parquet"):
        score_dataset_spark(model_uri, no_sellers, tmp_path / "b.parquet", spark=spark)

    ragged = shutil.copytree(dataset, tmp_path / "ragged")
    with (ragged / "listings.csv").open("a") as csv:  # a row with more fields than the header
        csv.write(",".join(["L-ragged", *["x"] * 20]) + "\n")
    with pytest.raises(DatasetError, match="listings.csv: cannot be read by Spark: .*Malformed"):
        score_dataset_spark(model_uri, ragged, tmp_path / "c.parquet", spark=spark)

    with pytest.raises(ScoringError, match="ends in .csv"):
        score_dataset_spark(model_uri, dataset, tmp_path / "scores.csv", spark=spark)
    for shadow in (dataset / "listings.parquet", f"{dataset}/./sellers.parquet/",
                   f"{dataset}/listings.parquet/x/.."):
        with pytest.raises(ScoringError, match="overwrite or shadow the dataset's own"):
            score_dataset_spark(model_uri, dataset, shadow, spark=spark)
    assert not list(dataset.glob("*.parquet"))  # read first, scores there would be the data
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("not a Spark output")
    with pytest.raises(ScoringError, match="no Spark job wrote"):
        score_dataset_spark(model_uri, dataset, precious, spark=spark)
    assert (precious / "notes.txt").exists()
