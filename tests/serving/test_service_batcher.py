"""The micro-batcher: waiting requests are scored together, waiting is bounded, errors reach all."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from serving.batcher import MicroBatcher, Overloaded


class GatedWork:
    """A `work` function that blocks until released and records the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[list[Sequence[int]]] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, requests: list[Sequence[int]]) -> list[int]:
        self.batches.append(requests)
        self.started.set()
        self.release.wait(10)
        return [sum(items) for items in requests]


class SteppedWork:
    """A `work` function that records its batches; each pass ends only when `finish` says so."""

    def __init__(self) -> None:
        self.batches: list[list[list[int]]] = []
        self._started = threading.Semaphore(0)
        self._finish = threading.Semaphore(0)

    def __call__(self, requests: list[Sequence[int]]) -> list[int]:
        self.batches.append([list(items) for items in requests])
        self._started.release()
        assert self._finish.acquire(timeout=10)
        return [sum(items) for items in requests]

    def started(self) -> None:
        assert self._started.acquire(timeout=5), "no pass started"

    def finish(self) -> None:
        self._finish.release()


def _pass_of_two_then_one_waiting(work: SteppedWork, batcher: MicroBatcher) -> list:
    """A lone request, then two scored together; one more arrives during that pass."""
    futures = [batcher.submit([1])]
    work.started()
    futures += [batcher.submit([2]), batcher.submit([3])]
    work.finish()
    work.started()  # the two waiting, taken at once: the pass before took one request
    futures.append(batcher.submit([4]))
    work.finish()
    return futures


def test_after_a_pass_of_several_the_next_waits_to_gather_as_many() -> None:
    work = SteppedWork()
    batcher = MicroBatcher(work, max_batch=100, max_waiting=100, linger_s=30)
    try:
        futures = _pass_of_two_then_one_waiting(work, batcher)
        time.sleep(0.5)  # the pass holding [4] waits for a second request
        futures.append(batcher.submit([5]))
        work.started()
        work.finish()
        assert [f.result(5) for f in futures] == [1, 2, 3, 4, 5]
        assert work.batches == [[[1]], [[2], [3]], [[4], [5]]]
    finally:
        batcher.close()


def test_lingering_ends_after_linger_s_and_a_lone_request_waits_for_nothing() -> None:
    work = SteppedWork()
    batcher = MicroBatcher(work, max_batch=100, max_waiting=100, linger_s=0.2)
    try:
        futures = _pass_of_two_then_one_waiting(work, batcher)
        work.started()  # nobody else came: [4] is scored alone once 0.2 s are up
        work.finish()
        assert futures[-1].result(5) == 4
        assert work.batches[-1] == [[4]]
    finally:
        batcher.close()
    alone = MicroBatcher(lambda requests: [sum(r) for r in requests], max_batch=100,
                         max_waiting=100, linger_s=30)
    try:  # passes of one request never linger (30 s would outlast the 5 s allowed here)
        assert [alone.submit([i]).result(5) for i in range(3)] == [0, 1, 2]
    finally:
        alone.close()


def test_requests_waiting_while_the_scorer_is_busy_are_scored_together() -> None:
    work = GatedWork()
    batcher = MicroBatcher(work, max_batch=100, max_waiting=100)
    try:
        first = batcher.submit([1])
        assert work.started.wait(5)
        waiting = [batcher.submit([i, i]) for i in range(5)]
        work.release.set()
        assert first.result(5) == 1
        assert [f.result(5) for f in waiting] == [0, 2, 4, 6, 8]
        assert [len(b) for b in work.batches] == [1, 5]
    finally:
        batcher.close()


def test_a_batch_takes_at_most_max_batch_items_but_never_splits_a_request() -> None:
    work = GatedWork()
    batcher = MicroBatcher(work, max_batch=4, max_waiting=100)
    try:
        batcher.submit([0])
        assert work.started.wait(5)
        futures = [batcher.submit([1, 1, 1]), batcher.submit([1]), batcher.submit([1, 1])]
        big = batcher.submit([1] * 9)  # larger than max_batch: scored alone
        work.release.set()
        assert [f.result(5) for f in futures] == [3, 1, 2] and big.result(5) == 9
        assert [[len(r) for r in b] for b in work.batches] == [[1], [3, 1], [2], [9]]
    finally:
        batcher.close()


def test_past_max_waiting_a_request_is_refused_at_once() -> None:
    work = GatedWork()
    batcher = MicroBatcher(work, max_batch=100, max_waiting=3)
    try:
        batcher.submit([1])
        assert work.started.wait(5)
        accepted = batcher.submit([1, 1])
        with pytest.raises(Overloaded):
            batcher.submit([1, 1])
        assert batcher.waiting == 2
        work.release.set()
        assert accepted.result(5) == 2
        assert batcher.submit([1, 1]).result(5) == 2  # room again once the wait drained
    finally:
        batcher.close()


def test_an_error_reaches_every_request_of_its_batch_and_the_scorer_goes_on() -> None:
    calls = []

    def work(requests: list[Sequence[int]]) -> list[int]:
        calls.append(requests)
        if any(0 in r for r in requests):
            raise ValueError("cannot score a zero")
        return [len(r) for r in requests]

    batcher = MicroBatcher(work, max_batch=100, max_waiting=100)
    try:
        with pytest.raises(ValueError, match="zero"):
            batcher.submit([0]).result(5)
        assert batcher.submit([5, 6]).result(5) == 2
    finally:
        batcher.close()
    with pytest.raises(Overloaded):
        batcher.submit([1])


@pytest.mark.parametrize(("setting", "value"), [
    ("batch_linger_ms", "-1"), ("batch_linger_ms", "2000"), ("batch_linger_ms", "soon"),
    ("switch_interval_ms", "0"), ("switch_interval_ms", "5000")])
def test_serve_refuses_scorer_timings_out_of_range_naming_the_setting(
        setting: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from strikeout.cli import app

    def no_exec(*_: object) -> None:
        raise AssertionError("the server was started")

    monkeypatch.setattr("os.execve", no_exec)
    monkeypatch.setenv(f"STRIKEOUT_{setting.upper()}", value)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2, result.output
    assert f"STRIKEOUT_{setting.upper()}" in result.output  # the variable to fix
