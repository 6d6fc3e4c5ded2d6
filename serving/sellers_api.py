"""The route listing systems tell the service of seller accounts with, as they open.

The ring features count a seller's registration burst: the accounts of its country opened
within hours of its own, before the listing. Training reads them from the dataset's
sellers table, which holds every account, listed or not. The service knows an account
once it is stored: from `strikeout ledger import`, with its first listing on `/score`, or
from `POST /sellers`. Ring accounts tend to open together and list days later, so only
accounts told as they open give a listing the burst its training rows had. Every worker
counts accounts stored by anyone within `ring_refresh_s`.

No `from __future__ import annotations` here: FastAPI reads the route's annotations at
runtime (see `serving.ledger_api`).
"""

from collections.abc import Callable
from typing import Annotated

import numpy as np
import pyarrow as pa
from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from serving.history_store import HistoryStore, epoch_ns
from serving.keys import Principal
from serving.ledger.store import LedgerBusyError, LedgerStore
from serving.ledger_api import KEY_REFUSALS, LoggedRoute, key_roles
from serving.scoring_api import Closed, Country, Identifier, Moment

MAX_SELLERS = 1000


class SellerIn(Closed):
    """One seller account as the marketplace opened it."""

    seller_id: Identifier = Field(description="The marketplace's id of the account.")
    registered_at: Moment = Field(
        description="When the account was opened, ISO 8601 with a time zone (UTC preferred).")
    country: Country = Field(description="The account's ISO 3166 alpha-2 country.")
    business_verified: bool = Field(strict=True,
                                    description="Whether the account is a verified business.")


class SellersRequest(Closed):
    sellers: list[SellerIn] = Field(
        min_length=1, max_length=MAX_SELLERS,
        description=f"1 to {MAX_SELLERS} accounts, each seller_id once.")


class SellersResponse(BaseModel):
    stored: int = Field(description="Accounts stored by this call.")
    known: int = Field(description="Accounts stored before; each keeps what was stored first.")


def sellers_router(get_history: Callable[..., HistoryStore]) -> APIRouter:
    """`POST /sellers`; `get_history` is the FastAPI dependency giving the `HistoryStore`."""
    router = APIRouter(route_class=LoggedRoute, tags=["sellers"], responses=KEY_REFUSALS)
    HistoryDep = Annotated[HistoryStore, Depends(get_history)]

    def key_store(history: HistoryDep) -> LedgerStore:
        return history.store

    role = key_roles(key_store)

    @router.post(
        "/sellers", response_model=SellersResponse,
        summary="Tell the service of seller accounts as they open (listing systems)",
        responses={403: {"description": "The key's role is not `scorer`."},
                   422: {"description": "A field is missing or wrong; `detail` names it."},
                   503: {"description": "The database is busy or not open yet; retry after "
                                        "`Retry-After` seconds."}})
    def register_sellers(body: SellersRequest, history: HistoryDep,
                         principal: Annotated[Principal, role("scorer")]) -> SellersResponse:
        sellers = body.sellers
        first: dict[str, int] = {}
        for i, seller in enumerate(sellers):
            seen = first.setdefault(seller.seller_id, i)
            if seen != i:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                    f"sellers[{i}].seller_id: duplicate of sellers[{seen}]")
        table = {
            "seller_id": pa.array([s.seller_id for s in sellers], type=pa.large_string()),
            "registered_at": np.array([epoch_ns(s.registered_at) for s in sellers],
                                      dtype=np.int64),
            "country": pa.array([s.country for s in sellers], type=pa.large_string()),
            "business_verified": np.array([s.business_verified for s in sellers], dtype=bool),
        }
        try:
            added = history.store.retrying(lambda: history.add(sellers=table))
        except LedgerBusyError as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc),
                                headers={"Retry-After": "1"}) from exc
        return SellersResponse(stored=added.sellers, known=len(sellers) - added.sellers)

    return router
