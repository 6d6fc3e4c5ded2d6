"""Events on a clock: "how many of this group's events came before this moment".

Seller history and the ring features both ask it of many groups at once. Group
and moment rank pack into one sortable int64 key, so a count is two binary
searches, and sums and maxima over the events before a moment are read from
prefix arrays.
"""

from __future__ import annotations

from itertools import accumulate

import numpy as np


def moment_ranks(*moments: np.ndarray) -> tuple[list[np.ndarray], np.int64]:
    """Dense ranks of the moments of several arrays on one shared clock, and a stride above them.

    Equal moments share a rank, so "rank < rank of as_of" is exactly "strictly before as_of".
    """
    joined = np.concatenate(moments)
    # stable = timsort here: moments arrive as a few time-ordered runs, which it merges fast
    order = np.argsort(joined, kind="stable")
    ordered = joined[order]
    new = np.ones(len(joined), dtype=np.int64)
    new[1:] = ordered[1:] != ordered[:-1]
    ranks = np.empty(len(joined), dtype=np.int64)
    ranks[order] = np.cumsum(new) - 1
    bounds = [0, *accumulate(len(m) for m in moments)]
    split = [ranks[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return split, np.int64(ranks.max(initial=0) + 2)


class Timeline:
    """Events of many groups sorted by (group, moment), answering "how many before t" per group.

    Group and moment rank pack into one int64 key, so a count is two binary searches
    and the events of one moment are in or out together.
    """

    def __init__(self, group: np.ndarray, rank: np.ndarray, stride: np.int64) -> None:
        self.stride = stride
        key = group.astype(np.int64) * stride + rank
        self.order = np.argsort(key, kind="stable")
        self.key = key[self.order]
        self.group = group[self.order]
        self.moments: np.ndarray | None = None

    @classmethod
    def of_times(cls, group: np.ndarray, time: np.ndarray) -> Timeline:
        """A timeline on its own clock, to keep and query later with `before_time`."""
        moments = distinct(time)
        line = cls(group, np.searchsorted(moments, time), np.int64(len(moments) + 1))
        line.moments = moments
        return line

    def before_time(self, group: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`before` for raw moments, on a timeline made by `of_times`."""
        if self.moments is None:
            raise ValueError("before_time needs a timeline made by Timeline.of_times")
        return self.before(group, np.searchsorted(self.moments, time, side="left"))

    def before(self, group: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each query: where its group's events start, and how many come before `rank`."""
        base = group.astype(np.int64) * self.stride
        first = np.searchsorted(self.key, base, side="left")
        end = np.searchsorted(self.key, base + rank, side="left")
        return first, end - first

    def end(self, group: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """For each query: where its group's events before `rank` end (`first + count`)."""
        return np.searchsorted(self.key, group.astype(np.int64) * self.stride + rank, side="left")

    def prefix_sum(self, values: np.ndarray) -> np.ndarray:
        """Cumulative sums of `values` (input order) along the timeline, with a 0 in front."""
        return np.concatenate([[0.0], np.cumsum(values[self.order], dtype=np.float64)])

    def group_cummax(self, values: np.ndarray) -> np.ndarray:
        """Running maximum of non-negative integer `values` (input order) within each group."""
        return group_running_max(values[self.order], self.group)


def group_running_max(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running maximum of non-negative integers within runs of equal, sorted `group`."""
    values = values.astype(np.int64)
    if not len(values):
        return values
    # lift each group above every earlier one, so one running maximum restarts per group
    step = np.int64(values.max() + 1)
    changes = run_starts(group)
    changes[0] = False  # the first group is lifted by nothing
    lift = np.cumsum(changes) * step
    return np.maximum.accumulate(values + lift) - lift


def run_starts(ordered: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal values in a sorted array."""
    starts = np.ones(len(ordered), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    return starts


def distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values; sort-based, as numpy 2.4's hashing np.unique is far slower."""
    ordered = np.sort(values)
    return ordered[run_starts(ordered)]
