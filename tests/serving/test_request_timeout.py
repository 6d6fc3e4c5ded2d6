"""BentoML's request timeout, patched: the same answers, and no timer left behind."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
import uvloop
from bentoml._internal.server.http.traffic import TimeoutMiddleware

from serving.request_timeout import release_request_timers

TIMERS = (asyncio.TimerHandle, uvloop.loop.TimerHandle)


def pending_timers() -> int:
    """Timers an event loop still holds, not fired and not cancelled (asyncio's or uvloop's).

    `type`, not `isinstance`: the collector's objects include weak proxies to objects
    gone, which `isinstance` would look through and fail on.
    """
    return sum(1 for o in gc.get_objects() if type(o) in TIMERS and not o.cancelled())


async def answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def slow(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.sleep(10)
    await answer(scope, receive, send)


async def broken(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("the app failed before answering")


async def call(app: Any, timeout: float) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await TimeoutMiddleware(app, timeout=timeout)({"type": "http", "path": "/"}, receive, send)
    return sent


def test_answered_requests_leave_no_timer_and_slow_ones_still_get_a_504() -> None:
    release_request_timers()

    async def scenario() -> None:
        before = pending_timers()
        for _ in range(50):
            sent = await call(answer, timeout=60)
            assert sent[0]["status"] == 200
        assert pending_timers() == before  # BentoML's own left 50, each alive for 60 s
        sent = await call(slow, timeout=0.05)
        assert sent[0]["status"] == 504
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RuntimeError, match="failed before answering"):
            await call(broken, timeout=60)
        assert loop.time() - started < 5  # not after the timeout
        assert pending_timers() == before

    asyncio.run(scenario())
