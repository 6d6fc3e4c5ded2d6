"""A memo of per-text values, kept between calls that read few texts (the online service).

Text features are computed once per distinct text within a call. The service scores a
few listings per call, and marketplace texts repeat across calls too: the same product
listed by many sellers, a listing scored again on every edit. `KeyMemo` keeps each text's
row of values from earlier calls, so a text seen before costs a lookup. The values are a
function of the text and the fitted model alone, so a remembered row is the row the
computation gives: features are the same with the memo cold or warm.

Calls with many distinct texts (batch scoring, training) compute them and leave the memo
as it was, as `features.rings` does with its word memo.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

MEMO_CALL_KEYS = 4_096  # a call with more distinct texts neither reads nor grows the memo
MAX_MEMO_KEYS = 100_000  # texts remembered per memo; past it the memo starts afresh


class KeyMemo:
    """Rows of named float64 values per text key, remembered across calls.

    Args:
        names: the value names of a row, in order.
        max_keys: keys kept; when a call would pass it, the memo starts afresh.

    Safe for threads that share it: a memo that starts afresh is a new dict, and a call
    reads only the dict it started with.
    """

    def __init__(self, names: Sequence[str], max_keys: int = MAX_MEMO_KEYS) -> None:
        self.names = tuple(names)
        self.max_keys = max_keys
        self._rows: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def table(self, keys: Sequence[str],
              compute: Callable[[Sequence[str]], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The values of `keys` (distinct), by name, an array over `keys` each.

        `compute(keys)` gives the same for the keys not remembered.
        """
        if len(keys) > MEMO_CALL_KEYS:
            return compute(keys)
        rows = self._rows
        missing = [key for key in keys if key not in rows]
        if len(rows) + len(missing) > self.max_keys:
            rows = self._rows = {}
            missing = list(keys)
        if missing:
            self._keep(rows, missing, compute)
        if not keys:
            return {name: np.zeros(0, np.float64) for name in self.names}
        table = np.array([rows[key] for key in keys], np.float64)
        return {name: table[:, j] for j, name in enumerate(self.names)}

    def remember(self, keys: Sequence[str],
                 compute: Callable[[Sequence[str]], dict[str, np.ndarray]]) -> int:
        """Compute and keep the rows of `keys` not remembered yet, ahead of the calls that
        will read them (a service warming up), in calls of `MEMO_CALL_KEYS` keys at most.
        Keys past the room left are skipped: the first ones count most. The keys held after.
        """
        rows = self._rows
        missing = [key for key in dict.fromkeys(keys) if key not in rows]
        missing = missing[:max(self.max_keys - len(rows), 0)]
        for start in range(0, len(missing), MEMO_CALL_KEYS):
            self._keep(rows, missing[start:start + MEMO_CALL_KEYS], compute)
        return len(self._rows)

    def _keep(self, rows: dict[str, np.ndarray], keys: Sequence[str],
              compute: Callable[[Sequence[str]], dict[str, np.ndarray]]) -> None:
        """Compute the rows of `keys` (none of them in `rows`) and keep them in `rows`."""
        fresh = compute(keys)
        matrix = np.column_stack([np.asarray(fresh[name], np.float64) for name in self.names])
        for key, row in zip(keys, matrix, strict=True):
            rows[key] = row
