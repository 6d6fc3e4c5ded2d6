"""BentoML's request timeout without the timer it left behind for every request.

BentoML 1.4's `TimeoutMiddleware` (the service's `traffic.timeout`, 60 s here) calls
`loop.call_later(timeout, ...)` for each request and never cancels the timer. Each
request's timer, its future, the bound method and the context the timer copied then
stay alive for the whole timeout. Under the benchmark's single-listing load a worker
held some 25,000 of those timers and six times as many objects. The garbage
collector's full collections walked them all: one every second or so, of 10 to 83 ms,
growing with the load (measured with `gc.callbacks` in a worker). Those pauses were
the single-listing p99.

`release_request_timers()` gives the middleware a `__call__` that does what BentoML's
does (a 504 when nothing was sent within the timeout) and cancels the timer as soon
as the response starts or the request ends. It also ends the wait when the app
finishes without sending anything (an error), where BentoML's waited out the timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bentoml._internal.server.http.traffic import TimeoutMiddleware
from starlette.responses import JSONResponse


def release_request_timers() -> None:
    """Make BentoML's timeout middleware cancel each request's timer (idempotent)."""
    TimeoutMiddleware.__call__ = _timed  # type: ignore[method-assign]


async def _timed(self: TimeoutMiddleware, scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] not in ("http", "websocket"):
        return await self.app(scope, receive, send)
    loop = asyncio.get_running_loop()
    started = loop.create_future()  # the response began, or the app ended without one
    timer = loop.call_later(self.timeout, self._set_timer_out, started)

    async def send_and_note(message: Any) -> None:
        if not started.done():
            started.set_result(None)
            timer.cancel()
        await send(message)

    def ended(_: asyncio.Future[None]) -> None:
        if not started.done():
            started.set_result(None)

    app = asyncio.ensure_future(self.app(scope, receive, send_and_note))
    app.add_done_callback(ended)
    try:
        await started
    except TimeoutError:
        if app.cancel():
            await JSONResponse(
                {"error": f"Not able to process the request in {self.timeout} seconds"},
                status_code=504)(scope, receive, send)
            return
    finally:
        timer.cancel()
    await app  # answered, or finished just as the timer fired
