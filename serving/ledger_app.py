"""A small ASGI app that serves the ledger's and the review queue's routes on their own.

The BentoML service (issue 5) mounts the same `ledger_router` and `queue_router`; this
app is for running them without a model: `uvicorn --factory serving.ledger_app:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from serving.ledger.ledger import Ledger
from serving.ledger_api import ledger_router
from serving.queue import ReviewQueue
from serving.queue_api import queue_router
from serving.settings import LedgerSettings


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    """The ledger and queue API over the ledger that `settings` name (default: environment)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chosen = settings or LedgerSettings()
        app.state.ledger = Ledger.open(chosen)
        app.state.queue = ReviewQueue(app.state.ledger, chosen)
        try:
            yield
        finally:
            app.state.ledger.close()

    app = FastAPI(title="strikeout ledger", lifespan=lifespan,
                  description="Brand complaints, strikes and permanent freezes.")
    app.include_router(ledger_router(_ledger))
    app.include_router(queue_router(_queue))
    return app


def _ledger(request: Request) -> Ledger:
    return request.app.state.ledger


def _queue(request: Request) -> ReviewQueue:
    return request.app.state.queue
