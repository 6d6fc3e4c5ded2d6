"""`strikeout score`: batch scoring of a dataset folder, in chunks, with bounded memory.

Seller history needs all of a seller's listings together, so scoring runs in two
passes. Pass 1 reads the listings in checked chunks and spreads them over bucket
files by a hash of the seller; it keeps aside only the listings of sellers with
an upheld strike, the sole source of the cross-seller phrase index. Pass 2 scores
one bucket at a time with the registered model. Memory holds the seller,
complaint and reference tables, the struck sellers' listing texts and one bucket.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.tracking import MlflowClient

from features.contract import Marketplace, iter_listing_chunks, load_context, table_in_the_way
from features.rings import RingIndex, first_strikes

SCORE_COLUMNS = ("listing_id", "score", "band", "model_version", "reasons")
RING_TEXT_COLUMNS = ("listing_id", "seller_id", "created_at", "title", "description")
BYTES_PER_LISTING = {".csv": 200, ".parquet": 50}  # to size the buckets before reading


class ScoringError(ValueError):
    """Scoring cannot start: a bad output path or a model that cannot be loaded."""


class Scorer(Protocol):
    """What batch scoring uses of the registered `ListingRiskModel`."""

    version: str
    pipeline: Any

    def score(self, market: Marketplace, targets: np.ndarray | None = None,
              with_reasons: bool = True, ring_index: RingIndex | None = None) -> pd.DataFrame: ...

    def check_priced(self, currencies: Sequence[str], listing_ids: Sequence[str] = ()
                     ) -> None: ...


@dataclass(frozen=True)
class BatchSummary:
    listings_read: int
    listings_scored: int
    bands: dict[str, int]
    model_version: str
    out_path: Path


def load_scorer(model_uri: str) -> Scorer:
    """The registered model's scorer, labelled with the registry version it came from."""
    try:
        model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    except mlflow.exceptions.MlflowException as exc:
        raise ScoringError(f"cannot load model {model_uri}: {exc.message}") from exc
    if not all(hasattr(model, name) for name in ("pipeline", "score_columns", "bands")):
        raise ScoringError(f"{model_uri} is not a strikeout listing-risk model "
                           f"(it holds a {type(model).__name__})")
    model.version = registry_version(model_uri)
    return model


def registry_version(model_uri: str) -> str:
    """'name/3' for models:/name@alias or models:/name/3; the URI itself for anything else."""
    if not model_uri.startswith("models:/"):
        return model_uri
    path = model_uri.removeprefix("models:/")
    client = MlflowClient()
    if "@" in path:
        name, alias = path.split("@", 1)
        return f"{name}/{client.get_model_version_by_alias(name, alias).version}"
    return path


def reasons_text(reasons: list) -> str:
    return "; ".join(f"{r.text} ({r.contribution:+.2f})" for r in reasons)


class _ScoreWriter:
    """Appends scored chunks to a CSV or Parquet file, chosen by the extension.

    The chunks go to a hidden file made beside `path` (beside the file a link at `path`
    points to) that replaces it only once all are written (`close`): a run that stops
    part-way leaves the earlier scores as they were, never a shorter file that reads as
    complete. `discard` removes the unfinished one. The hidden file is made at once, so
    a place it cannot be made is an error before any scoring.
    """

    def __init__(self, path: Path) -> None:
        if path.suffix not in (".csv", ".parquet"):
            raise ScoringError(f"--out must end in .csv or .parquet, got {path.name}")
        if path.is_dir():
            raise ScoringError(f"--out {path} is a folder; name a .csv or .parquet file")
        target = Path(os.path.realpath(path))  # a link stays a link to the new scores
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(prefix=".strikeout-scores-", suffix=".partial",
                                               dir=target.parent)
            os.close(handle)
        except OSError as exc:
            raise ScoringError(f"cannot write --out {path}: {exc.strerror or exc}") from None
        self.path = path
        self.target = target
        self.partial = Path(partial)
        self.parquet: pq.ParquetWriter | None = None
        self.wrote_header = False

    def write(self, frame: pd.DataFrame) -> None:
        if self.path.suffix == ".csv":
            frame.to_csv(self.partial, mode="a" if self.wrote_header else "w",
                         header=not self.wrote_header, index=False)
            self.wrote_header = True
            return
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.parquet is None:
            self.parquet = pq.ParquetWriter(self.partial, table.schema)
        self.parquet.write_table(table)

    def close(self) -> None:
        """Finish the file (the columns alone if nothing was scored) and put it in place."""
        if self.parquet is None and not self.wrote_header:
            self.write(pd.DataFrame({c: pd.Series(dtype="str") for c in SCORE_COLUMNS}))
        if self.parquet is not None:
            self.parquet.close()
        os.replace(self.partial, self.target)

    def __enter__(self) -> _ScoreWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:  # an error or an interrupt (Ctrl-C) before `close`
            self.discard()

    def discard(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        self.partial.unlink(missing_ok=True)


def _bucket_of(seller_id: pd.Series, buckets: int) -> np.ndarray:
    return (pd.util.hash_array(seller_id.to_numpy(dtype=object)) % np.uint64(buckets)).astype(int)


def check_not_a_table(out_path: str, qualified_out: str, qualified_data: str) -> None:
    """Refuse an `--out` (`qualified_out`: absolute and normalised, as is `qualified_data`)
    that would overwrite or shadow one of the dataset's tables (`table_in_the_way`)."""
    table = table_in_the_way(qualified_out, qualified_data)
    if table is not None:
        raise ScoringError(f"--out {out_path} would overwrite or shadow the dataset's own "
                           f"{table} table; write the scores elsewhere")


def score_dataset(model_uri: str, data_path: Path, out_path: Path, chunk_rows: int = 200_000,
                  since: pd.Timestamp | None = None,
                  progress: Callable[[int], None] = lambda _: None) -> BatchSummary:
    """Score every listing of `data_path` created at or after `since` (default: all)."""
    check_not_a_table(str(out_path), str(out_path.resolve()), str(data_path.resolve()))
    with _ScoreWriter(out_path) as writer:  # in place only once every chunk is written
        model = load_scorer(model_uri)
        # checked with the dataset's own tables, scored with the model's (`own_tables`)
        context = load_context(data_path)
        read, scored, bands = _score_chunks(model, context, writer, chunk_rows, since, progress)
        writer.close()
    return BatchSummary(read, scored, bands, model.version, out_path)


def _score_chunks(model: Scorer, context: Marketplace, writer: _ScoreWriter, chunk_rows: int,
                  since: pd.Timestamp | None, progress: Callable[[int], None]
                  ) -> tuple[int, int, dict[str, int]]:
    """`score_dataset`'s work, through `writer`: listings read, scored, and scored per band.

    Listings are spread over buckets of whole sellers on disk first (every currency is
    checked before any score is written), then each bucket is scored with its sellers'
    whole history and the ring index of the struck sellers' listings.
    """
    listings_path = context.sources["listings"]
    estimate = listings_path.stat().st_size / BYTES_PER_LISTING.get(listings_path.suffix, 100)
    buckets = max(1, math.ceil(estimate / chunk_rows))
    struck = set(first_strikes(context.complaints).index)

    read, scored = 0, 0
    bands = {"low": 0, "review": 0, "high": 0}
    with tempfile.TemporaryDirectory(prefix="strikeout-score-") as tmp:
        writers: dict[int, pq.ParquetWriter] = {}
        struck_rows = []
        for chunk in iter_listing_chunks(context, chunk_rows):  # before any score is written
            read += len(chunk)
            _check_priced(model, chunk)
            struck_rows.append(chunk.loc[chunk["seller_id"].isin(struck), list(RING_TEXT_COLUMNS)])
            for bucket, rows in chunk.groupby(_bucket_of(chunk["seller_id"], buckets)):
                table = pa.Table.from_pandas(rows, preserve_index=False)
                if bucket not in writers:
                    writers[bucket] = pq.ParquetWriter(Path(tmp) / f"{bucket}.parquet",
                                                       table.schema)
                writers[bucket].write_table(table)
        for w in writers.values():
            w.close()
        ring_rows = pd.concat(struck_rows, ignore_index=True) if struck_rows else context.listings
        ring_market = _with_listings(context, ring_rows)
        ring_index = model.pipeline.ring_index(ring_market)

        for bucket in sorted(writers):
            listings = pq.read_table(Path(tmp) / f"{bucket}.parquet").to_pandas()
            market = _with_listings(context, listings)
            targets = None if since is None else (listings["created_at"] >= since).to_numpy()
            if targets is not None and not targets.any():
                continue
            result = model.score(market, targets, ring_index=ring_index)
            result["reasons"] = result["reasons"].map(reasons_text)
            writer.write(result[list(SCORE_COLUMNS)])
            scored += len(result)
            for band, n in result["band"].value_counts().items():
                bands[str(band)] += int(n)
            progress(len(listings))
    return read, scored, bands




def _check_priced(model: Scorer, listings: pd.DataFrame) -> None:
    """Refuse listings in a currency the model has no exchange rate for, naming some."""
    try:
        model.check_priced(listings["currency"].tolist(), listings["listing_id"].tolist())
    except ValueError as exc:  # training's UnpricedCurrency
        raise ScoringError(str(exc)) from exc


def _with_listings(context: Marketplace, listings: pd.DataFrame) -> Marketplace:
    return Marketplace(listings=listings, sellers=context.sellers, complaints=context.complaints,
                       brands=context.brands, fx_rates=context.fx_rates, sources=context.sources)
