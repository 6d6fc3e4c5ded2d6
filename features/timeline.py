"""Events on a clock: "how many of this group's events came before this moment".

The ring features ask it of many groups at once (the burst index). Group and
moment rank pack into one sortable int64 key, so a count is two binary searches.
"""

from __future__ import annotations

import numpy as np


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


def run_starts(ordered: np.ndarray) -> np.ndarray:
    """Mask of the first element of each run of equal values in a sorted array."""
    starts = np.ones(len(ordered), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    return starts


def distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values; sort-based, as numpy 2.4's hashing np.unique is far slower."""
    ordered = np.sort(values)
    return ordered[run_starts(ordered)]
