"""A small ASGI app that serves the ledger's routes on their own.

The BentoML service (issue 5) mounts the same `ledger_router`; this app is for running
the ledger alone: `uvicorn --factory serving.ledger_app:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from serving.ledger.ledger import Ledger
from serving.ledger_api import ledger_router
from serving.settings import LedgerSettings


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    """The ledger API over the ledger that `settings` name (default: from the environment)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ledger = Ledger.open(settings or LedgerSettings())
        try:
            yield
        finally:
            app.state.ledger.close()

    app = FastAPI(title="strikeout ledger", lifespan=lifespan,
                  description="Brand complaints, strikes and permanent freezes.")
    app.include_router(ledger_router(_ledger))
    return app


def _ledger(request: Request) -> Ledger:
    return request.app.state.ledger
