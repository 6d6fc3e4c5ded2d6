"""Micro-batching: one scoring thread takes every request waiting and scores them in one pass.

The feature pipeline costs about the same for one listing as for a few dozen (pandas
overhead per call, not per row), so concurrent requests are worth scoring together.
No timer: when the thread is free it takes whatever is waiting, so a lone request waits
for nothing and a crowd is served in batches as large as the wait built up. Waiting is
bounded: past `max_waiting` listings a request is refused at once (`Overloaded`, which
the service answers with 503 and Retry-After) instead of queueing without end.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")  # one request's items
R = TypeVar("R")  # one request's result


class Overloaded(RuntimeError):
    """Too many listings are waiting for the scorer already."""


@dataclass
class _Job(Generic[T, R]):
    items: Sequence[T]
    future: Future[R] = field(default_factory=Future)


class MicroBatcher(Generic[T, R]):
    """Scores requests on one thread, taking all that wait (up to `max_batch` items) together.

    Args:
        work: scores a batch: the items of several requests -> one result per request.
        max_batch: most items in one call of `work` (a larger request is still taken alone).
        max_waiting: most items waiting; `submit` refuses beyond it.
    """

    def __init__(self, work: Callable[[list[Sequence[T]]], list[R]], max_batch: int,
                 max_waiting: int, name: str = "strikeout-scorer") -> None:
        self.work = work
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self._jobs: deque[_Job[T, R]] = deque()
        self._waiting = 0
        self._closed = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        return self._waiting

    def submit(self, items: Sequence[T]) -> Future[R]:
        job: _Job[T, R] = _Job(items)
        with self._ready:
            if self._closed:
                raise Overloaded("the scorer is shutting down")
            if self._waiting and self._waiting + len(items) > self.max_waiting:
                raise Overloaded(f"{self._waiting} listings are waiting to be scored")
            self._jobs.append(job)
            self._waiting += len(items)
            self._ready.notify()
        return job.future

    async def run(self, items: Sequence[T]) -> R:
        """`submit` and wait without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(items))

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        self._thread.join(timeout=30)

    def _take(self) -> list[_Job[T, R]] | None:
        with self._ready:
            while not self._jobs and not self._closed:
                self._ready.wait()
            if not self._jobs:
                return None
            batch = [self._jobs.popleft()]
            size = len(batch[0].items)
            while self._jobs and size + len(self._jobs[0].items) <= self.max_batch:
                size += len(self._jobs[0].items)
                batch.append(self._jobs.popleft())
            self._waiting -= size
            return batch

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            live = [job for job in batch if job.future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                results = self.work([job.items for job in live])
            except BaseException as exc:  # every request of the batch learns why
                for job in live:
                    job.future.set_exception(exc)
                continue
            for job, result in zip(live, results, strict=True):
                job.future.set_result(result)
