"""The columns of a table's rows as arrays, each read from its DataFrame once.

The feature families read their inputs through `Columns`. The pipeline adds
computed columns (prices in USD) and picks the target rows without building a
new DataFrame: a pandas operation costs tens of microseconds whatever the row
count, which was most of the time of one listing scored online. Callers pass a
DataFrame (`Columns.of(frame)` wraps it for free) or, on the service's request
path, a `Columns` over plain arrays (`Columns.of_arrays`): numbers as numpy, text
as Arrow, timestamps as UTC nanoseconds, so no DataFrame is built at all.

Also here: text columns as Arrow arrays and their dictionary codes, shared by the
families (Arrow's dictionary encoding: no Python string per row, even for a
million rows; a few hundred rows go through Python, which is faster there and codes
the same way, by first appearance).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

MISSING_NS = np.iinfo(np.int64).min  # NaT as int64
# Below these sizes Python beats Arrow's kernels, whose calls cost tens of microseconds
# each: picking rows of a text column one by one, and coding or splitting texts.
FEW_ROWS = 8
FEW_TEXTS = 384
FEW_OF_TABLE = 8  # rows fewer than 1/8 of a plain table's are read alone (`objects`)


Arrays = Mapping[str, Any]  # column name -> numpy array (numbers, int64 UTC ns) or Arrow text


class Columns:
    """Some rows of a table, plus computed columns of those rows, read as arrays.

    Args:
        frame: the table: a DataFrame in the data contract's types, or `Arrays`
            (see `of_arrays`).
        rows: positions of the rows in `frame`; every row when None.
        added: computed columns, each an array over `rows`.
    """

    def __init__(self, frame: pd.DataFrame | Arrays, rows: np.ndarray | None = None,
                 added: Mapping[str, np.ndarray] | None = None) -> None:
        if not isinstance(frame, pd.DataFrame | PlainTable):
            raise TypeError(f"expected a pandas DataFrame or Columns.of_arrays, "
                            f"got {type(frame).__name__}")
        self.frame = frame
        self.rows = rows
        self.added = dict(added or {})
        # whole-column reads of `frame`, shared by every view of it (`take`, `with_columns`)
        self._whole: dict[tuple[str, Any], Any] = {}
        self._read: dict[tuple[str, Any], Any] = {}

    @classmethod
    def of(cls, table: pd.DataFrame | Columns) -> Columns:
        return table if isinstance(table, Columns) else cls(table)

    @classmethod
    def of_arrays(cls, arrays: Arrays) -> Columns:
        """A table of plain arrays of equal length, read as a DataFrame of the contract's
        types would be: text as Arrow (large_)string arrays, numbers and booleans as
        numpy, timestamps as int64 UTC nanoseconds (`MISSING_NS` for missing).
        """
        return cls(PlainTable(arrays))

    def __len__(self) -> int:
        return len(self.frame) if self.rows is None else len(self.rows)

    @property
    def names(self) -> list[str]:
        return [*self.frame.columns, *(k for k in self.added if k not in self.frame.columns)]

    def __contains__(self, name: str) -> bool:
        if name in self.added:
            return True
        # asked again and again by the families' checks: the frame's answer is kept
        return bool(self._whole_read(name, "in frame", lambda: name in self.frame.columns))

    @property
    def index(self) -> pd.Index:
        return self.frame.index if self.rows is None else self.frame.index[self.rows]

    def require(self, what: str, needed: Iterable[str]) -> None:
        """Raise a ValueError naming `what` and every missing column."""
        missing = [c for c in needed if c not in self]
        if missing:
            raise ValueError(f"{what} is missing column(s) {missing}")

    def take(self, rows: np.ndarray) -> Columns:
        """These columns at positions `rows` of this table."""
        rows = np.asarray(rows, dtype=np.int64)
        own = rows if self.rows is None else self.rows[rows]
        taken = Columns(self.frame, own, {k: v[rows] for k, v in self.added.items()})
        taken._whole = self._whole
        return taken

    def with_columns(self, **arrays: np.ndarray) -> Columns:
        """These rows with computed columns added (or replaced)."""
        out = Columns(self.frame, self.rows, {**self.added, **arrays})
        out._whole = self._whole
        out._read = {k: v for k, v in self._read.items() if k[0] not in arrays}
        return out

    def series(self, name: str) -> pd.Series:
        """The whole column of the frame (every row, not only `rows`)."""
        return self.frame[name]

    def stored(self, name: str) -> Any:
        """The whole column as the frame stores it: a numpy or pandas extension array.

        The array under `frame[name]`, without building a Series: that costs tens of
        microseconds in pandas, while a few columns of a few rows cost little else.
        """
        return self._whole_read(name, "stored", lambda: _stored(self.frame, name))

    def dtype(self, name: str) -> Any:
        if name in self.added:
            return self.added[name].dtype
        values = self.stored(name)
        return pd.ArrowDtype(values.type) if isinstance(values, pa.Array) else values.dtype

    def holds_text(self, name: str) -> bool:
        """Whether the column is stored as Arrow text (a plain table's), a check that costs
        nothing; other columns are for pandas' dtype checks to judge."""
        values = self.stored(name) if name not in self.added else None
        return isinstance(values, pa.Array) and (pa.types.is_large_string(values.type)
                                                 or pa.types.is_string(values.type))

    def _cached(self, name: str, kind: Any, read: Any) -> Any:
        key = (name, kind)
        found = self._read.get(key)
        if found is None:
            found = self._read[key] = read()
        return found

    def _whole_read(self, name: str, kind: Any, read: Any) -> Any:
        key = (name, kind)
        found = self._whole.get(key)
        if found is None:
            found = self._whole[key] = read()
        return found

    def numbers(self, name: str, dtype: Any = np.float64) -> np.ndarray:
        """A numeric column as a numpy array of `dtype` (read-only: shared between callers)."""
        def read() -> np.ndarray:
            if not len(self):  # nothing to read: the column is not even looked at
                return np.zeros(0, dtype=dtype)
            if name in self.added:
                return np.asarray(self.added[name], dtype=dtype)
            values = self._whole_read(name, ("numbers", dtype),
                                      lambda: _to_numpy(self.stored(name), dtype))
            return values if self.rows is None else values[self.rows]
        return self._cached(name, ("numbers", dtype), read)  # no dtype formatting per call

    def objects(self, name: str) -> np.ndarray:
        """A column as a numpy object array (missing text as pandas gives it).

        A few rows of a large table (the listings scored among their sellers' history)
        are read alone; otherwise the whole column once, for every view of the table.
        """
        def read() -> np.ndarray:
            if not len(self):
                return np.zeros(0, dtype=object)
            stored = self.stored(name)
            if (self.rows is not None and isinstance(stored, pa.Array)
                    and (name, "objects") not in self._whole
                    and len(self.rows) * FEW_OF_TABLE < len(self.frame)):
                return _to_numpy(stored.take(pa.array(self.rows)), object)
            values = self._whole_read(name, "objects", lambda: _to_numpy(stored, object))
            return values if self.rows is None else values[self.rows]
        return self._cached(name, "objects", read)

    def moments(self, name: str, what: str, allow_missing: bool = False) -> np.ndarray:
        """A timestamp column as UTC nanoseconds (`utc_ns`); `what` names it in errors."""
        def read() -> np.ndarray:
            if not len(self):
                return np.zeros(0, dtype=np.int64)
            values = self._whole_read(name, "moments",
                                      lambda: _utc_ns(self.stored(name), what, True))
            return values if self.rows is None else values[self.rows]
        values = self._cached(name, "moments", read)
        if not allow_missing and (values == MISSING_NS).any():
            raise ValueError(f"{what} has missing timestamps")
        return values

    def texts(self, name: str) -> pa.Array:
        """A text column as one Arrow large_string array, missing as ""."""
        return self._cached(name, "texts", lambda: self._texts(name))

    def _texts(self, name: str) -> pa.Array:
        if not len(self):
            return pa.array([], type=pa.large_string())
        text = self._whole_read(name, "texts", lambda: _arrow_text(self.stored(name)))
        if self.rows is None:
            return text
        if len(self.rows) == 1:  # one row (a listing scored online): a zero-copy view
            return text.slice(int(self.rows[0]), 1)
        if len(self.rows) < FEW_ROWS:  # a few rows: scalar reads beat a compute kernel
            return pa.array([text[i].as_py() for i in self.rows.tolist()],
                            type=pa.large_string())
        return text.take(pa.array(self.rows))

    def dictionary(self, name: str) -> tuple[np.ndarray, list[str]]:
        """A text column's codes and its distinct values (`text_dictionary`)."""
        def read() -> tuple[np.ndarray, list[str]]:
            (codes,), values = text_codes(self.texts(name))
            return codes, values
        return self._cached(name, "dictionary", read)


def plain_arrays(frame: pd.DataFrame, names: Sequence[str] | None = None) -> dict[str, Any]:
    """A contract-typed DataFrame's columns (all, or `names`) as `Columns.of_arrays` takes them."""
    columns = Columns.of(frame)
    arrays: dict[str, Any] = {}
    for name in frame.columns if names is None else names:
        dtype = columns.dtype(name)
        if isinstance(dtype, pd.DatetimeTZDtype):
            arrays[name] = columns.moments(name, name, allow_missing=True)
        elif pd.api.types.is_string_dtype(dtype):
            arrays[name] = columns.texts(name)
        else:
            arrays[name] = columns.numbers(name, dtype)
    return arrays


class PlainTable:
    """Equal-length arrays by column name, with the few DataFrame traits `Columns` reads."""

    def __init__(self, arrays: Arrays) -> None:
        self.arrays = dict(arrays)
        lengths = {len(values) for values in self.arrays.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: "
                             f"{ {k: len(v) for k, v in self.arrays.items()} }")
        self.length = lengths.pop() if lengths else 0
        self.columns = list(self.arrays)

    def __len__(self) -> int:
        return self.length

    @property
    def index(self) -> pd.Index:
        return pd.RangeIndex(self.length)

    def __getitem__(self, name: str) -> pd.Series:
        values = self.arrays[name]
        return pd.Series(values.to_pandas() if isinstance(values, pa.Array) else values)


def _filled(text: pa.Array) -> pa.Array:
    return pc.fill_null(text, "") if text.null_count else text


def _stored(frame: pd.DataFrame | PlainTable, name: str) -> Any:
    """The array under `frame[name]` (numpy or a pandas extension array), without a Series."""
    if isinstance(frame, PlainTable):
        return frame.arrays[name]
    at = frame.columns.get_loc(name)
    if isinstance(at, int):
        # pandas' own accessor of a column's array (what itertuples reads); a Series costs more
        return frame._get_column_array(at)
    return frame[name].array  # a duplicated label: pandas raises or picks as it does


def _to_numpy(values: Any, dtype: Any) -> np.ndarray:
    """`Series.to_numpy(dtype)` of the Series holding the array `values`."""
    if isinstance(values, np.ndarray):
        return np.asarray(values, dtype=dtype)
    if isinstance(values, pa.Array):
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=dtype)
    return values.to_numpy(dtype=dtype)


def _arrow_text(values: Any) -> pa.Array:
    """A text column's array as one Arrow large_string array, missing as "" (no copy if it can)."""
    if isinstance(values, pa.Array):  # a plain table's text
        text = values if values.type == pa.large_string() else values.cast(pa.large_string())
        return _filled(text)
    # the pandas array, not a Series: pyarrow's protocol probing of a Series is slow
    try:
        text = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not text: all missing, say, as float NaN
        text = pa.array(values, from_pandas=True).cast(pa.large_string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks() if text.num_chunks != 1 else text.chunk(0)
    return _filled(text)


def text_dictionary(*texts: pa.Array) -> tuple[list[np.ndarray], pa.Array]:
    """Codes of text values shared across arrays, one code array per input, and the values.

    Codes follow first appearance (as Arrow's dictionary encoding numbers them).
    """
    if sum(len(t) for t in texts) < FEW_TEXTS:
        few_codes, values = text_codes(*texts)
        return few_codes, pa.array(values, type=pa.large_string())
    chunks = [t if t.type == pa.large_string() else t.cast(pa.large_string())
              for t in texts if len(t)]
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, type=pa.large_string()))
    codes = np.concatenate([np.asarray(chunk.indices).astype(np.int64)
                            for chunk in encoded.chunks])
    bounds = np.cumsum([0, *(len(t) for t in texts)])
    return ([codes[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)],
            encoded.chunks[-1].dictionary)


def text_codes(*texts: pa.Array) -> tuple[list[np.ndarray], list[str]]:
    """`text_dictionary` with the values as Python strings."""
    if sum(len(t) for t in texts) < FEW_TEXTS:
        index: dict[str, int] = {}
        parts = [np.array([index.setdefault(v, len(index)) for v in t.to_pylist()],
                          dtype=np.int64) for t in texts]
        return parts, list(index)
    codes, values = text_dictionary(*texts)
    return codes, values.to_pylist()


def split_words(texts: pa.Array | Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The whitespace-separated words of texts, as Python's `str.split()` finds them.

    Returns the distinct words (by first appearance) and, per word occurrence in
    text order, its word id and its text's position. Many texts go through Arrow
    kernels (whose split is Python's, less the empty words it yields at the ends).
    """
    if len(texts) < FEW_TEXTS:
        index: dict[str, int] = {}
        ids: list[int] = []
        owner: list[int] = []
        values = texts.to_pylist() if isinstance(texts, pa.Array) else texts
        for position, text in enumerate(values):
            for word in text.split():
                ids.append(index.setdefault(word, len(index)))
                owner.append(position)
        return list(index), np.array(ids, dtype=np.int64), np.array(owner, dtype=np.int64)
    if not isinstance(texts, pa.Array):
        texts = pa.array(texts, type=pa.large_string())
    split = pc.utf8_split_whitespace(texts)
    flat = pc.list_flatten(split)
    parents = np.asarray(pc.list_parent_indices(split)).astype(np.int64)
    nonempty = pc.not_equal(flat, "")
    encoded = flat.filter(nonempty).dictionary_encode()
    return (encoded.dictionary.to_pylist(), np.asarray(encoded.indices).astype(np.int64),
            parents[nonempty.to_numpy(zero_copy_only=False)])


def lookup(table: Mapping[Any, int], dictionary: tuple[np.ndarray, Sequence[str]]) -> np.ndarray:
    """Per coded text, its `table` entry, -1 where absent; each distinct value looked up once.

    `dictionary` is (codes, distinct values), as `Columns.dictionary` gives it.
    """
    codes, values = dictionary
    return np.array([table.get(v, -1) for v in values], dtype=np.int64)[codes]


def utc_ns(series: pd.Series, name: str, allow_missing: bool = False) -> np.ndarray:
    """UTC nanoseconds since the epoch as int64; missing values become `MISSING_NS`."""
    return _utc_ns(series.array, name, allow_missing)


def _utc_ns(values: Any, name: str, allow_missing: bool) -> np.ndarray:
    """`utc_ns` of a column's array (a plain table's: int64 UTC nanoseconds)."""
    if isinstance(values, np.ndarray) and values.dtype == np.int64:
        out = values
    elif isinstance(getattr(values, "dtype", None), pd.DatetimeTZDtype):
        out = values.to_numpy(dtype="datetime64[ns]").view(np.int64)
    else:
        raise TypeError(f"{name} must be timezone-aware timestamps "
                        f"(datetime64[ns, UTC] as features.contract loads them), "
                        f"got {values.dtype}")
    if not allow_missing and (out == MISSING_NS).any():
        raise ValueError(f"{name} has missing timestamps")
    return out


def require_columns(frame: pd.DataFrame | Columns, name: str, columns: Sequence[str]) -> None:
    """Raise a ValueError naming the table and every missing column."""
    if isinstance(frame, Columns):
        frame.require(name, columns)
        return
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}")
