"""The population the service scored: stored listings of a time window, as a `Marketplace`.

`strikeout drift --served` compares this population with the training data. The service
stores every listing it scores in the history store (`serving.history_store`), so the
listings created in a window are the ones it scored then, with two caveats: the store
keeps `created_at`, not the moment of scoring, and `strikeout ledger import` puts a
dataset's listings there too (choose a window after the imported history).

The marketplace holds what batch features of those listings need, and no more: all
listings of their sellers (seller history) and of the sellers with an upheld strike
(ring taints), every seller (ring bursts), the ledger's complaints, and the brand and
exchange-rate tables saved with the model. Features are point in time, so rows stored
later than a listing change nothing about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from features.contract import Marketplace
from features.rings import first_strikes
from serving.history_store import HistoryStore
from serving.ledger.ledger import Ledger


class EmptyWindow(ValueError):
    """No stored listing was created in the window asked for."""


@dataclass(frozen=True)
class ServedPopulation:
    """The listings scored in a window (`targets` of `market`) and the history they need."""

    market: Marketplace
    targets: np.ndarray  # bool per row of market.listings


def served_population(ledger: Ledger, brands: pd.DataFrame, fx_rates: pd.DataFrame,
                      since: datetime | None = None,
                      until: datetime | None = None) -> ServedPopulation:
    """The listings stored with `created_at` in [since, until) and their sellers' history.

    Args:
        ledger: the ledger whose database holds the history store.
        brands: the brand reference table saved with the model.
        fx_rates: the exchange rates saved with the model.
        since: first moment of the window (default: the first listing stored).
        until: end of the window, excluded (default: none).

    Raises:
        EmptyWindow: no listing was stored for the window.
    """
    since, until = _utc(since), _utc(until)
    history = HistoryStore(ledger.store)
    window = history.listed_between(since, until)
    if window.empty:
        raise EmptyWindow(_empty_message(since, until))
    complaints = ledger.complaints_frame()
    struck = first_strikes(complaints).index
    listings = history.listings(dict.fromkeys([*window["seller_id"], *struck]))
    if until is not None:
        listings = listings[listings["created_at"] < until].reset_index(drop=True)
    targets = listings["listing_id"].isin(set(window["listing_id"])).to_numpy()
    market = Marketplace(listings=listings, sellers=history.sellers(), complaints=complaints,
                         brands=brands, fx_rates=fx_rates)
    return ServedPopulation(market, targets)


def _utc(moment: datetime | None) -> pd.Timestamp | None:
    """An aware UTC timestamp (a naive one is taken as UTC)."""
    if moment is None:
        return None
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _empty_message(since: pd.Timestamp | None, until: pd.Timestamp | None) -> str:
    if since is None and until is None:
        return ("the history store holds no listings: the service stores there every listing "
                "it scores (the ledger database: STRIKEOUT_LEDGER_URL, else under "
                "STRIKEOUT_HOME)")
    window = " and ".join(part for part in (
        f"at or after {since.isoformat()}" if since is not None else "",
        f"before {until.isoformat()}" if until is not None else "") if part)
    return f"no listing in the history store was created {window}"
