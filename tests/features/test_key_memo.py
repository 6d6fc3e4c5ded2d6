"""KeyMemo: remembered rows are the computed rows; big calls and a full memo stay correct."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from features import key_memo
from features.key_memo import KeyMemo


class Counted:
    """A per-key computation that records which keys it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        self.asked.extend(keys)
        return {"length": np.array([len(k) for k in keys], np.float64),
                "vowels": np.array([sum(c in "aeiou" for c in k) for k in keys], np.float64)}


def test_a_key_is_computed_once_and_its_row_is_the_computed_row() -> None:
    compute = Counted()
    memo = KeyMemo(("length", "vowels"))
    first = memo.table(["tote", "grand hoodie"], compute)
    second = memo.table(["grand hoodie", "cap", "tote"], compute)
    assert compute.asked == ["tote", "grand hoodie", "cap"]
    expected = Counted()(["grand hoodie", "cap", "tote"])
    for name in ("length", "vowels"):
        np.testing.assert_array_equal(second[name], expected[name])
    np.testing.assert_array_equal(first["length"], [4, 12])


def test_no_keys_give_empty_columns() -> None:
    table = KeyMemo(("length", "vowels")).table([], Counted())
    assert all(len(values) == 0 for values in table.values())


def test_a_full_memo_starts_afresh_and_still_answers_every_key() -> None:
    compute = Counted()
    memo = KeyMemo(("length", "vowels"), max_keys=3)
    memo.table(["a", "bb", "ccc"], compute)
    table = memo.table(["a", "dddd"], compute)  # one more than fits: start afresh
    np.testing.assert_array_equal(table["length"], [1, 4])
    assert len(memo) == 2 and compute.asked[-2:] == ["a", "dddd"]


def test_a_call_of_many_keys_neither_reads_nor_grows_the_memo(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(key_memo, "MEMO_CALL_KEYS", 2)
    compute = Counted()
    memo = KeyMemo(("length", "vowels"))
    memo.table(["a", "bb"], compute)
    table = memo.table(["a", "bb", "ccc"], compute)
    assert compute.asked == ["a", "bb", "a", "bb", "ccc"] and len(memo) == 2
    np.testing.assert_array_equal(table["length"], [1, 2, 3])


def test_keys_remembered_ahead_are_computed_once_in_bounded_calls_while_there_is_room(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(key_memo, "MEMO_CALL_KEYS", 2)
    compute = Counted()
    calls: list[int] = []
    memo = KeyMemo(("length", "vowels"), max_keys=4)
    memo.table(["a"], compute)
    held = memo.remember(["bb", "a", "ccc", "bb", "dddd", "eeeee"], lambda keys: (
        calls.append(len(keys)) or compute(keys)))
    assert held == 4 and calls == [2, 1]  # "eeeee" finds no room; "a" was known
    assert compute.asked == ["a", "bb", "ccc", "dddd"]
    table = memo.table(["dddd", "bb"], compute)
    assert compute.asked == ["a", "bb", "ccc", "dddd"]  # nothing computed again
    np.testing.assert_array_equal(table["length"], [4, 2])
