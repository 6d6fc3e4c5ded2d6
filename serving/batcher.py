"""Micro-batching: one scoring thread takes every request waiting and scores them in one pass.

Scoring costs much less per listing in larger passes (in-process, on the benchmark's
model: one listing alone about 5 ms, 8 together 1.2 ms each, 16 together 0.95 ms
each), so concurrent requests are worth scoring together.
When the thread is free it takes whatever is waiting, so a lone request waits for
nothing. Under load (the last pass took several requests) it first gives the next pass
up to `linger_s` to gather as many requests as the last one took: passes then grow
with the crowd instead of settling at whatever arrived during the previous pass
(measured on the benchmark's single-listing load: 10-15 instead of 6-8 listings a pass,
about a fifth less CPU per request).
Waiting is bounded: past `max_waiting` listings a request is refused at once
(`Overloaded`, which the service answers with 503 and Retry-After) instead of
queueing without end.
"""

from __future__ import annotations

import asyncio
import threading
import time
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
        linger_s: longest a pass waits for more requests after a pass of several; 0: never.
    """

    def __init__(self, work: Callable[[list[Sequence[T]]], list[R]], max_batch: int,
                 max_waiting: int, name: str = "strikeout-scorer", linger_s: float = 0.0
                 ) -> None:
        self.work = work
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self.linger_s = linger_s
        self._jobs: deque[_Job[T, R]] = deque()
        self._waiting = 0
        self._last_jobs = 0  # requests the last pass took
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
            self._linger()
            batch = [self._jobs.popleft()]
            size = len(batch[0].items)
            while self._jobs and size + len(self._jobs[0].items) <= self.max_batch:
                size += len(self._jobs[0].items)
                batch.append(self._jobs.popleft())
            self._waiting -= size
            self._last_jobs = len(batch)
            return batch

    def _linger(self) -> None:
        """Wait up to `linger_s` for as many requests as the last pass took (holding
        `_ready`, whose wait lets requests in): after a pass of one, nothing waits."""
        if self.linger_s <= 0:
            return
        deadline = time.monotonic() + self.linger_s
        while (len(self._jobs) < self._last_jobs and self._waiting < self.max_batch
               and not self._closed):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._ready.wait(left)

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
