"""The data contract: the five tables of a marketplace dataset, loaded and checked.

`load_marketplace(folder)` reads `NAME.parquet` or `NAME.csv` for each table,
converts every column to its contract type and raises one `DataContractError`
that lists every problem found, each naming the file, the column and the first
bad rows. `docs/data-contract.md` is the human-readable version of `TABLES`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

Kind = Literal["string", "timestamp", "number", "integer", "boolean"]
MAX_BAD_ROWS_SHOWN = 5
COMPLAINT_STATUSES = ("upheld", "rejected", "pending")


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = True
    may_be_empty: bool = True
    rule: Callable[[pd.Series], pd.Series] | None = None
    rule_text: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _positive(s: pd.Series) -> pd.Series:
    return np.isfinite(s) & (s > 0)


def _country(s: pd.Series) -> pd.Series:
    return s.str.fullmatch(r"[A-Z]{2}").fillna(False).astype(bool)


def _currency_code(s: pd.Series) -> pd.Series:
    return s.str.fullmatch(r"[A-Z]{3}").fillna(False).astype(bool)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "listings",
            (
                Column("listing_id", "string", may_be_empty=False),
                Column("seller_id", "string", may_be_empty=False),
                Column("created_at", "timestamp", may_be_empty=False),
                Column("title", "string"),
                Column("description", "string"),
                Column("brand", "string"),
                Column("category", "string", may_be_empty=False),
                Column("price", "number", may_be_empty=False, rule=_positive,
                       rule_text="must be a finite number > 0"),
                Column("currency", "string", may_be_empty=False),
                Column("quantity", "integer", may_be_empty=False, rule=lambda s: s >= 1,
                       rule_text="must be >= 1"),
                Column("ships_from", "string", may_be_empty=False, rule=_country,
                       rule_text="must be an ISO 3166 alpha-2 code such as 'US'"),
                Column("image_count", "integer", may_be_empty=False, rule=lambda s: s >= 0,
                       rule_text="must be >= 0"),
                Column("label", "integer", required=False, rule=lambda s: s.isin([0, 1]),
                       rule_text="must be 0 or 1"),
            ),
            key=("listing_id",),
        ),
        Table(
            "sellers",
            (
                Column("seller_id", "string", may_be_empty=False),
                Column("registered_at", "timestamp", may_be_empty=False),
                Column("country", "string", may_be_empty=False, rule=_country,
                       rule_text="must be an ISO 3166 alpha-2 code such as 'US'"),
                Column("business_verified", "boolean", may_be_empty=False),
            ),
            key=("seller_id",),
        ),
        Table(
            "complaints",
            (
                Column("complaint_id", "string", may_be_empty=False),
                Column("listing_id", "string", may_be_empty=False),
                Column("seller_id", "string", may_be_empty=False),
                Column("brand", "string", may_be_empty=False),
                Column("filed_at", "timestamp", may_be_empty=False),
                Column("status", "string", may_be_empty=False,
                       rule=lambda s: s.isin(COMPLAINT_STATUSES),
                       rule_text="must be one of upheld, rejected, pending"),
                Column("resolved_at", "timestamp"),
            ),
            key=("complaint_id",),
        ),
        Table(
            "brands",
            (
                Column("brand", "string", may_be_empty=False),
                Column("category", "string", may_be_empty=False),
                Column("reference_price", "number", may_be_empty=False, rule=_positive,
                       rule_text="must be a finite number > 0"),
            ),
            key=("brand", "category"),
        ),
        Table(
            "fx_rates",
            (
                Column("currency", "string", may_be_empty=False, rule=_currency_code,
                       rule_text="must be a three-letter ISO 4217 code such as 'EUR'"),
                Column("usd_per_unit", "number", may_be_empty=False, rule=_positive,
                       rule_text="must be a finite number > 0"),
            ),
            key=("currency",),
        ),
    )
}


@dataclass(frozen=True)
class Problem:
    """One broken rule: where it is and the first rows that break it."""

    file: str
    column: str
    message: str
    rows: tuple[str, ...] = ()
    count: int = 0

    def __str__(self) -> str:
        where = f"{self.file}, column '{self.column}'" if self.column else self.file
        text = f"{where}: {self.message}"
        if self.rows:
            extra = self.count - len(self.rows)
            more = f" (and {extra} more)" if extra > 0 else ""
            text += f"; first bad rows: {', '.join(self.rows)}{more}"
        return text


class DataContractError(ValueError):
    """A dataset breaks the data contract; `problems` lists every broken rule."""

    def __init__(self, folder: Path | str, problems: Iterable[Problem]) -> None:
        self.folder = Path(folder)
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"the dataset in {self.folder} breaks the data contract "
            f"({len(self.problems)} problem(s)):\n{lines}"
        )


@dataclass
class Marketplace:
    """The five tables of one dataset, typed as the contract says.

    On the service's request path, listings, sellers and complaints are `Columns` over
    plain arrays (`Columns.of_arrays`) instead: only `FeaturePipeline.transform` and the
    model's scoring read them there, and both read tables through `Columns`.
    """

    listings: pd.DataFrame
    sellers: pd.DataFrame
    complaints: pd.DataFrame
    brands: pd.DataFrame
    fx_rates: pd.DataFrame
    sources: dict[str, Path] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in TABLES}


class _Raw:
    """One table as read from disk, all values still text, plus how to name its rows."""

    def __init__(self, path: Path, frame: pd.DataFrame, first_row: int = 0) -> None:
        self.path = path
        self.frame = frame
        self.first_row = first_row  # position of this frame's first row in the file
        self.is_csv = path.suffix == ".csv"
        self._starts: list[int] = []  # the line each record starts on, read when needed

    def row_names(self, mask: pd.Series | np.ndarray, column: str, key: str | None) -> tuple[
        tuple[str, ...], int
    ]:
        positions = np.flatnonzero(np.asarray(mask))
        names = []
        for pos in positions[:MAX_BAD_ROWS_SHOWN]:
            row = self.first_row + pos
            where = f"line {self._line_of(row)}" if self.is_csv else f"row {row}"
            ident = f" ({key} {self.frame[key].iat[pos]})" if key and key != column else ""
            value = self.frame[column].iat[pos] if column in self.frame else ""
            if isinstance(value, np.generic):  # Parquet cells: 3.5, not np.float64(3.5)
                value = value.item()
            names.append(f"{where}{ident}: {_shorten(value)!r}")
        return tuple(names), len(positions)


    def _line_of(self, row: int) -> int:
        """The line of the CSV file where record `row` (0: the first after the header)
        starts. Quoted fields may hold line breaks, so the file is read up to that record:
        only when a row is named, on the way to an error."""
        starts = self._starts
        if len(starts) <= row:
            starts.clear()
            try:
                with self.path.open(encoding="utf-8-sig", newline="") as text:
                    reader = csv.reader(text)
                    next(reader, None)  # the header
                    line = reader.line_num
                    for fields in reader:
                        if fields:  # a blank line is no record: the table reader skips it
                            starts.append(line + 1)
                            if len(starts) > row + 4 * MAX_BAD_ROWS_SHOWN:
                                break
                        line = reader.line_num
            except (OSError, UnicodeDecodeError, csv.Error):
                starts.clear()
        return starts[row] if row < len(starts) else row + 2


def _shorten(value: object, limit: int = 60) -> object:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "..."
    return value


def table_in_the_way(out: str, dataset: str) -> str | None:
    """The table of the dataset in folder `dataset` that a file written at `out` would
    overwrite, or be read in place of (Parquet before CSV) by every later command on the
    dataset: one in that folder named as a table. Both paths absolute and normalised."""
    folder, _, name = out.rstrip("/").rpartition("/")
    path = PurePosixPath(name)
    in_the_way = (folder == dataset.rstrip("/") and path.stem in TABLES
                  and path.suffix in (".csv", ".parquet"))
    return path.stem if in_the_way else None


def find_table(folder: Path, name: str) -> Path | None:
    """The file holding table `name` in `folder`: Parquet before CSV, None if neither."""
    for suffix in (".parquet", ".csv"):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def _check_header(names: list[str], wanted: Collection[str]) -> None:
    """Refuse a contract column named twice: which of the two is the column is anyone's guess."""
    twice = sorted({c for c in names if names.count(c) > 1} & set(wanted))
    if twice:
        raise pa.ArrowInvalid(f"column(s) {', '.join(twice)} appear more than once in the header")


def _read_text_table(path: Path, table: Table) -> pd.DataFrame:
    """Read a table with every contract column as text (CSV) or as stored (Parquet)."""
    wanted = set(table.column_names)
    if path.suffix == ".csv":
        arrow = pacsv.read_csv(path, parse_options=CSV_PARSE,
                               convert_options=_csv_convert(_csv_columns(path, wanted)))
    else:
        arrow = pq.read_table(path)
    _check_header(arrow.column_names, wanted)
    keep = [c for c in arrow.column_names if c in wanted]
    return arrow.select(keep).to_pandas()


# RFC 4180: a quoted field may hold line breaks (Arrow, by default, splits the file into
# blocks at any line break and fails when one falls inside a field)
CSV_PARSE = pacsv.ParseOptions(newlines_in_values=True)


def _csv_columns(path: Path, wanted: Collection[str]) -> list[str]:
    """The contract columns in a CSV file's header, checked: only they are read, so an
    extra column is ignored whatever it holds (Arrow would guess its type from the first
    block and fail on a later value that does not fit)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as text:
            header = next(csv.reader(text), [])
    except csv.Error as exc:
        raise pa.ArrowInvalid(f"the header cannot be read: {exc}") from exc
    _check_header(header, wanted)
    return [c for c in header if c in wanted]


def _csv_convert(columns: list[str]) -> pacsv.ConvertOptions:
    """Read `columns` (not empty: Arrow reads every column for none) as text, as written."""
    return pacsv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                strings_can_be_null=False, include_columns=columns or None)


def unreadable(path: Path, exc: Exception) -> str:
    """What to say of a table file that cannot be read: the reader's error and, for a CSV
    file with records of the wrong number of fields, the lines they start on (the CSV
    reader names the record by its text only)."""
    message = f"cannot be read: {exc}"
    if path.suffix != ".csv" or "columns, got" not in str(exc):
        return message
    ragged = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as text:
            reader = csv.reader(text)
            width = len(next(reader, []))
            line = reader.line_num
            for record in reader:
                if record and len(record) != width:  # blank lines are skipped, as Arrow does
                    ragged.append(f"line {line + 1} ({len(record)} fields)")
                    if len(ragged) == MAX_BAD_ROWS_SHOWN:
                        break
                line = reader.line_num
    except (OSError, UnicodeDecodeError, csv.Error):
        return message
    if not ragged:
        return message
    return (f"cannot be read: records with another number of fields than the header's "
            f"{width}: {', '.join(ragged)} ({exc})")


def _as_text(series: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(series) or series.dtype == object:
        return series.fillna("").astype(str)
    if pd.api.types.is_datetime64_any_dtype(series):
        out = series.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        return out.fillna("")
    return series.astype(str).replace({"nan": "", "<NA>": "", "None": ""})


def _emptiness(series: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(series) or series.dtype == object:
        return series.fillna("").astype(str).str.strip() == ""
    return series.isna()


def _convert(raw: _Raw, table: Table, problems: list[Problem]) -> pd.DataFrame:
    frame = raw.frame
    key = table.key[0] if len(table.key) == 1 else None
    file = raw.path.name
    out: dict[str, pd.Series] = {}
    for col in table.columns:
        if col.name not in frame:
            if col.required:
                problems.append(Problem(file, col.name, "required column is missing"))
            continue
        series = frame[col.name]
        stored = _wrong_storage(series, col.kind)
        if stored is not None:
            problems.append(Problem(file, col.name, stored))
            missing = "Int64" if col.kind == "integer" else _EMPTY_DTYPES[col.kind]
            out[col.name] = pd.Series(np.nan, index=series.index).astype(missing)
            continue
        text = _as_text(series) if col.kind in ("string", "boolean") else None
        empty = _emptiness(series)
        if not col.may_be_empty and empty.any():
            rows, n = raw.row_names(empty, col.name, key)
            problems.append(Problem(file, col.name, "must not be empty", rows, n))
        value, bad = _parse(series, text, col.kind, empty)
        if bad.any():
            rows, n = raw.row_names(bad, col.name, key)
            problems.append(Problem(file, col.name, f"is not a valid {KIND_TEXT[col.kind]}",
                                    rows, n))
        if col.rule is not None:
            checkable = ~empty & ~bad
            broken = checkable & ~col.rule(value.where(checkable)).fillna(False).astype(bool)
            if broken.any():
                rows, n = raw.row_names(broken, col.name, key)
                problems.append(Problem(file, col.name, col.rule_text, rows, n))
        out[col.name] = value
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _wrong_storage(series: pd.Series, kind: Kind) -> str | None:
    """What is wrong with a column a Parquet file stores as a type no value of `kind` has
    (a boolean or a duration as a timestamp, a moment or a boolean as a number), or None.
    Text is parsed cell by cell; a CSV file's columns are all text."""
    types = pd.api.types
    if kind == "timestamp":
        wrong = types.is_bool_dtype(series) or types.is_timedelta64_dtype(series) or (
            types.is_numeric_dtype(series))
    elif kind in ("number", "integer"):
        wrong = types.is_bool_dtype(series) or types.is_timedelta64_dtype(series) or (
            types.is_datetime64_any_dtype(series))
    else:
        wrong = False
    return f"is stored as {series.dtype}, not as a {KIND_TEXT[kind]}" if wrong else None


FIRST_MOMENT = pd.Timestamp.min.tz_localize("UTC")
LAST_MOMENT = pd.Timestamp.max.tz_localize("UTC")
KIND_TEXT = {"string": "string", "boolean": "boolean (true/false)",
             "timestamp": "timestamp (ISO 8601 UTC, years 1678 to 2261)",
             "integer": "integer (a whole number below 2^63)", "number": "number"}


def _parse(series: pd.Series, text: pd.Series | None, kind: Kind, empty: pd.Series) -> tuple[
    pd.Series, pd.Series
]:
    """Convert one column to its kind; return the values and a mask of unparseable cells."""
    if kind == "string":
        assert text is not None
        return text, pd.Series(False, index=series.index)
    if kind == "boolean":
        assert text is not None
        lowered = text.str.strip().str.lower()
        truthy = lowered.isin(["true", "1"])
        valid = truthy | lowered.isin(["false", "0"])
        return truthy, ~valid & ~empty
    if kind == "timestamp":
        if pd.api.types.is_datetime64_any_dtype(series):
            parsed = series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert(
                "UTC")
        else:
            parsed = pd.to_datetime(series.where(~empty), format="ISO8601", utc=True,
                                    errors="coerce")
        # nanoseconds hold years 1677 to 2262 only: later or earlier moments are bad cells
        held = parsed.isna() | ((parsed >= FIRST_MOMENT) & (parsed <= LAST_MOMENT))
        parsed = parsed.where(held).astype("datetime64[ns, UTC]")
        return parsed, parsed.isna() & ~empty
    numbers = pd.to_numeric(series.where(~empty), errors="coerce")
    bad = numbers.isna() & ~empty
    if kind == "integer":
        near = numbers.astype("float64")  # for the checks only: exact values stay as read
        fractional = near.notna() & (near != np.floor(near.fillna(0)))
        too_big = near.abs() >= 2.0**63  # would wrap around in int64
        bad = bad | fractional | too_big
        numbers = numbers.where(~bad)
        dtype = "Int64" if (empty | bad).any() else "int64"
        return numbers.astype(dtype), bad
    return numbers.astype("float64"), bad


def _duplicate_keys(raw: _Raw, table: Table, frame: pd.DataFrame) -> Problem | None:
    if not table.key or not set(table.key) <= set(frame.columns):
        return None
    dup = frame.duplicated(list(table.key), keep=False)
    if not dup.any():
        return None
    rows, n = raw.row_names(dup, table.key[0], None)
    what = " + ".join(table.key)
    return Problem(raw.path.name, what, f"duplicate {what}", rows, n)


def _cross_checks(raws: dict[str, _Raw], frames: dict[str, pd.DataFrame]) -> list[Problem]:
    problems: list[Problem] = []
    listings, sellers, fx = frames.get("listings"), frames.get("sellers"), frames.get("fx_rates")
    if listings is not None and fx is not None and {"currency"} <= set(listings) and (
            "currency" in fx):
        unknown = ~listings["currency"].isin(set(fx["currency"])) & (listings["currency"] != "")
        if unknown.any():
            rows, n = raws["listings"].row_names(unknown, "currency", "listing_id")
            problems.append(Problem(raws["listings"].path.name, "currency",
                                    f"unknown currency (not in {raws['fx_rates'].path.name})",
                                    rows, n))
    if listings is not None and sellers is not None and "seller_id" in listings and (
            "seller_id" in sellers):
        orphan = ~listings["seller_id"].isin(set(sellers["seller_id"])) & (
            listings["seller_id"] != "")
        if orphan.any():
            rows, n = raws["listings"].row_names(orphan, "seller_id", "listing_id")
            problems.append(Problem(raws["listings"].path.name, "seller_id",
                                    f"seller not found in {raws['sellers'].path.name}", rows, n))
    complaints = frames.get("complaints")
    if complaints is not None and {"status", "resolved_at", "filed_at"} <= set(complaints):
        raw = raws["complaints"]
        pending = complaints["status"] == "pending"
        resolved = complaints["resolved_at"].notna()
        decided = complaints["status"].isin(["upheld", "rejected"])
        for mask, message in (
            (pending & resolved, "must be empty while status is pending"),
            (decided & ~resolved, "must be given once status is upheld or rejected"),
            (resolved & (complaints["resolved_at"] < complaints["filed_at"]),
             "must not be before filed_at"),
        ):
            if mask.any():
                rows, n = raw.row_names(mask, "resolved_at", "complaint_id")
                problems.append(Problem(raw.path.name, "resolved_at", message, rows, n))
    return problems


def _load_tables(folder: Path, names: Iterable[str]) -> tuple[
    dict[str, _Raw], dict[str, pd.DataFrame], list[Problem]
]:
    if not folder.is_dir():
        raise DataContractError(folder, [Problem(str(folder), "", "is not a folder")])
    problems: list[Problem] = []
    raws: dict[str, _Raw] = {}
    frames: dict[str, pd.DataFrame] = {}
    for name in names:
        table = TABLES[name]
        path = find_table(folder, name)
        if path is None:
            problems.append(Problem(f"{name}.csv", "", f"table missing: no {name}.csv or "
                                    f"{name}.parquet in {folder}"))
            continue
        try:
            raw = _Raw(path, _read_text_table(path, table))
        except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(path.name, "", unreadable(path, exc)))
            continue
        raws[name] = raw
        frames[name] = _convert(raw, table, problems)
        dup = _duplicate_keys(raw, table, frames[name])
        if dup:
            problems.append(dup)
    return raws, frames, problems


def load_marketplace(folder: Path | str) -> Marketplace:
    """Load and check a dataset folder; raise `DataContractError` listing every problem."""
    folder = Path(folder)
    raws, frames, problems = _load_tables(folder, TABLES)
    problems.extend(_cross_checks(raws, frames))
    if problems:
        raise DataContractError(folder, problems)
    return Marketplace(**frames, sources={n: r.path for n, r in raws.items()})


def load_context(folder: Path | str) -> Marketplace:
    """Every table but the listings (left empty), for reading the listings in chunks."""
    folder = Path(folder)
    raws, frames, problems = _load_tables(folder, [n for n in TABLES if n != "listings"])
    problems.extend(_cross_checks(raws, frames))
    if problems:
        raise DataContractError(folder, problems)
    listings_path = find_table(folder, "listings")
    if listings_path is None:
        raise DataContractError(folder, [Problem("listings.csv", "", "table missing: no "
                                                 f"listings.csv or listings.parquet in {folder}")])
    empty = pd.DataFrame({c.name: pd.Series(dtype=_EMPTY_DTYPES[c.kind])
                          for c in TABLES["listings"].columns if c.required})
    return Marketplace(listings=empty, **frames,
                       sources={**{n: r.path for n, r in raws.items()}, "listings": listings_path})


_EMPTY_DTYPES = {"string": "str", "timestamp": "datetime64[ns, UTC]", "number": "float64",
                 "integer": "int64", "boolean": "bool"}


def _raw_listing_batches(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    wanted = TABLES["listings"].column_names
    if path.suffix == ".csv":
        reader = pacsv.open_csv(path, parse_options=CSV_PARSE,
                                convert_options=_csv_convert(_csv_columns(path, wanted)),
                                read_options=pacsv.ReadOptions(block_size=16 << 20))
        batches: Iterable[pa.RecordBatch] = reader
    else:
        parquet = pq.ParquetFile(path)
        _check_header(parquet.schema_arrow.names, wanted)
        present = [c for c in wanted if c in parquet.schema_arrow.names]
        batches = parquet.iter_batches(batch_size=rows, columns=present)
    pending = pd.DataFrame()
    for batch in batches:
        frame = batch.to_pandas()
        frame = frame[[c for c in frame.columns if c in wanted]]
        pending = frame if pending.empty else pd.concat([pending, frame], ignore_index=True)
        while len(pending) >= rows:
            yield pending.iloc[:rows].reset_index(drop=True)
            pending = pending.iloc[rows:].reset_index(drop=True)
    if len(pending):
        yield pending


def iter_listing_chunks(context: Marketplace, rows: int = 200_000) -> Iterator[pd.DataFrame]:
    """The listings of `context`'s folder in checked chunks of about `rows` rows.

    Each chunk is checked like `load_marketplace` checks the whole table (rows named
    by their place in the file), and a `listing_id` seen in an earlier chunk is a
    duplicate. Memory holds one chunk and an 8-byte hash per listing seen.
    """
    path = context.sources["listings"]
    table = TABLES["listings"]
    seen = np.empty(0, dtype=np.uint64)
    first_row = 0
    found: list[Problem] = []
    try:
        for text in _raw_listing_batches(path, rows):
            raw = _Raw(path, text, first_row)
            problems: list[Problem] = []
            frame = _convert(raw, table, problems)
            dup = _duplicate_keys(raw, table, frame)
            if dup:
                problems.append(dup)
            if "listing_id" in frame:
                hashes = pd.util.hash_array(frame["listing_id"].to_numpy(dtype=object))
                again = np.isin(hashes, seen)
                if again.any():
                    names, n = raw.row_names(again, "listing_id", None)
                    problems.append(Problem(path.name, "listing_id",
                                            "duplicate listing_id (seen earlier in the file)",
                                            names, n))
                seen = np.union1d(seen, hashes)
            raws = {"listings": raw}
            raws.update({n: _Raw(p, pd.DataFrame()) for n, p in context.sources.items()
                         if n != "listings"})
            problems.extend(_cross_checks(raws, {**context.tables(), "listings": frame}))
            first_row += len(frame)
            if problems or found:  # from the first bad chunk on, the rest is only checked
                found = _merged(found, problems)
                continue
            yield frame
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        found.append(Problem(path.name, "", unreadable(path, exc)))
    if found:  # every problem in the file at once, as `load_marketplace` reports them
        raise DataContractError(path.parent, found)


def _merged(problems: list[Problem], more: list[Problem]) -> list[Problem]:
    """`problems` and `more`, a rule broken in several chunks reported once, with the
    first rows and the count of all of them."""
    out = {(p.file, p.column, p.message): p for p in problems}
    for p in more:
        old = out.get((p.file, p.column, p.message))
        out[p.file, p.column, p.message] = p if old is None else replace(
            old, rows=(*old.rows, *p.rows)[:MAX_BAD_ROWS_SHOWN], count=old.count + p.count)
    return list(out.values())


def check_new_dataset_folder(folder: Path | str) -> None:
    """Refuse (ValueError) a folder a new dataset cannot be written into: a file, or a
    folder that holds a dataset's tables already, in either format (the new tables would
    overwrite them, or mix with them)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} exists and is not a folder")
    held = [f"{name}.{fmt}" for name in TABLES for fmt in ("csv", "parquet")
            if (folder / f"{name}.{fmt}").exists()]
    if held:
        raise ValueError(f"{folder} already holds a dataset ({', '.join(held)}); choose a new "
                         f"or empty folder, or remove those files first")


def save_marketplace(market: Marketplace, folder: Path | str, fmt: str = "csv") -> Path:
    """Write a marketplace as a dataset folder in the contract (CSV or Parquet)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in market.tables().items():
        out = frame.copy()
        for col in out.columns:
            if pd.api.types.is_datetime64_any_dtype(out[col]):
                out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("")
            elif pd.api.types.is_bool_dtype(out[col]):
                out[col] = np.where(out[col], "true", "false")
        if fmt == "parquet":
            out.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            out.to_csv(folder / f"{name}.csv", index=False)
    return folder
