"""The one fitted feature pipeline: price, text, seller-history and ring signals.

Training fits it once and saves it inside the model; batch scoring and the
online service call the same `transform`. Its input is a `Marketplace`: the
listings to featurize (`targets`) plus everything known about their sellers
(earlier listings, complaints, the seller table) and the reference tables.
Seller history and rings are computed as of each target's own `created_at`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.columns import Columns
from features.contract import Marketplace
from features.history import (
    EarlierListings,
    EventCodes,
    HistorySettings,
    ListingEvents,
    history_values,
    listing_events,
)
from features.history import warm_up as warm_up_history
from features.normalize import warm_up as warm_up_normalize
from features.price import FEATURE_NAMES as PRICE_FEATURES
from features.price import (
    FxRates,
    PairPrices,
    PriceFeatures,
    out_of_fold_values,
    registry_prices,
    registry_table,
)
from features.rings import FEATURE_NAMES as RING_FEATURES
from features.rings import RingFeatures, RingIndex
from features.rings import warm_up as warm_up_rings
from features.text import FEATURES as TEXT_FEATURES
from features.text import TextFeatures
from features.text_model import warm_up as warm_up_text_model

FEATURE_SET_VERSION = "1"


@dataclass(frozen=True)
class FeatureSettings:
    """The knobs of every family, each default in one place."""

    history: HistorySettings = field(default_factory=HistorySettings)
    text_folds: int = 5
    price_folds: int = 5
    seed: int = 0


def select(listings: pd.DataFrame, targets: pd.Series | np.ndarray | None) -> pd.DataFrame:
    if targets is None:
        return listings
    return listings[np.asarray(targets, dtype=bool)]


class FeaturePipeline:
    """Fits and applies the four feature families to a marketplace's listings."""

    def __init__(self, settings: FeatureSettings | None = None) -> None:
        self.settings = settings or FeatureSettings()

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        for cache in ("_reference_tables", "_columns"):  # rebuilt on use; not the model
            state.pop(cache, None)
        return state

    def _lookups(self, market: Marketplace) -> tuple[FxRates, PairPrices]:
        """The fx and registry lookups of the market's reference tables.

        Built once per pair of table objects: the service passes the same tables on
        every call. Tables are read as immutable (pandas copy-on-write).
        """
        cached = getattr(self, "_reference_tables", None)
        if cached is None or cached[0] is not market.fx_rates or cached[1] is not market.brands:
            cached = (market.fx_rates, market.brands, FxRates(market.fx_rates),
                      registry_table(market.brands))
            self._reference_tables = cached
        return cached[2], cached[3]

    def _with_prices(self, listings: Columns, market: Marketplace) -> Columns:
        fx_rates, registry = self._lookups(market)
        return listings.with_columns(price_usd=fx_rates.price_usd(listings),
                                     registry_reference_usd=registry_prices(listings, registry))

    def fit_transform(self, market: Marketplace, y: np.ndarray,
                      targets: np.ndarray | None = None) -> pd.DataFrame:
        """Fit on the target listings and return their features (text scores and price
        against learned references out-of-fold: no row's own label shapes them)."""
        s = self.settings
        listings = self._with_prices(Columns.of(market.listings), market)
        rows = select(market.listings.assign(**listings.added), targets)
        self.price_ = PriceFeatures(deep_discount=s.history.underpriced_ratio).fit(rows, y)
        own_price = out_of_fold_values(self.price_, rows, y, s.price_folds, s.seed)
        self.text_ = TextFeatures(
            registry_brands=tuple(sorted(set(market.brands["brand"]))),
            n_folds=s.text_folds, random_state=s.seed)
        text = self.text_.fit_transform(rows, y).to_numpy()
        self.rings_ = RingFeatures().fit(rows)
        values, _ = self._assemble(market, listings, targets, lambda _: text,
                                   target_price=own_price)
        return self._frame(values, listings, targets)

    def fit(self, market: Marketplace, y: np.ndarray,
            targets: np.ndarray | None = None) -> FeaturePipeline:
        self.fit_transform(market, y, targets)
        return self

    def transform(self, market: Marketplace, targets: np.ndarray | None = None,
                  ring_index: RingIndex | None = None, earlier: EarlierListings | None = None
                  ) -> pd.DataFrame:
        """Features of the target listings (default: all), each as of its own `created_at`.

        `ring_index` is the cross-seller phrase and burst index of a larger marketplace
        than `market` (batch scoring in seller chunks, the online service); by default
        it is built from `market` itself. `earlier` holds more of the sellers' listings,
        already as events (`listing_events`): the online service's stored history.
        """
        return self._frame(self.values(market, targets, ring_index, earlier),
                           Columns.of(market.listings), targets)

    def values(self, market: Marketplace, targets: np.ndarray | None = None,
               ring_index: RingIndex | None = None, earlier: EarlierListings | None = None
               ) -> np.ndarray:
        """`transform`'s features as a float64 matrix with the columns `feature_names_`:
        no DataFrame (the service's request path)."""
        return self.values_and_events(market, targets, ring_index, earlier)[0]

    def values_and_events(self, market: Marketplace, targets: np.ndarray | None = None,
                          ring_index: RingIndex | None = None,
                          earlier: EarlierListings | None = None
                          ) -> tuple[np.ndarray, ListingEvents]:
        """`values`, and the market's listings as seller history reads them, coded by
        `earlier.codes` (as `listing_events` gives them): the online service keeps those
        of the listings it stores, and need not derive them again."""
        listings = self._with_prices(Columns.of(market.listings), market)
        return self._assemble(market, listings, targets, self.text_.values, ring_index,
                              earlier)

    def listing_events(self, market: Marketplace, codes: EventCodes) -> ListingEvents:
        """The market's listings as seller history reads them (`features.history`), priced
        by this pipeline and coded by `codes`: the form in which the online service keeps
        its sellers' stored listings between requests. Only the market's listings and
        reference tables are read."""
        listings = self._with_prices(Columns.of(market.listings), market)
        price_ratio = self.price_.values(listings)[:, 1]
        return listing_events(listings, price_ratio, self.settings.history, codes)

    def _frame(self, values: np.ndarray, listings: Columns, targets: np.ndarray | None
               ) -> pd.DataFrame:
        """Features as a frame indexed as the target rows of `listings`."""
        index = listings.index if targets is None else listings.index[
            np.asarray(targets, dtype=bool)]
        return pd.DataFrame(values, index=index, columns=self._feature_index(), copy=False)

    def warm_up(self) -> None:
        """Load compiled code and build lazy tables now (seller history's sweep, the ring
        passes, the n-gram hashing, the text normalizer's character tables), before a
        service hides its loaded objects from the garbage collector and takes requests."""
        warm_up_history()
        warm_up_rings()
        warm_up_text_model()
        warm_up_normalize()

    def remember_texts(self, titles: Sequence[str], descriptions: Sequence[str]) -> None:
        """Compute the text family's per-text values of these titles and descriptions now,
        so that listings repeating them cost a lookup (`TextFeatures.remember`)."""
        self.text_.remember(titles, descriptions)

    def ring_index(self, market: Marketplace) -> RingIndex:
        return self.rings_.build_index(market.listings, market.sellers, market.complaints)

    def _assemble(self, market: Marketplace, listings: Columns,
                  targets: np.ndarray | None,
                  text_of: Callable[[Columns], np.ndarray],
                  ring_index: RingIndex | None = None, earlier: EarlierListings | None = None,
                  target_price: np.ndarray | None = None) -> tuple[np.ndarray, ListingEvents]:
        """The four families of the target rows of `listings`, as one float64 matrix with
        the columns `feature_names_`; and all of `listings` as seller-history events.
        `target_price`: the target rows' price family, when fitting (out-of-fold).

        Every family reads arrays of `Columns`: no DataFrame is built.
        """
        price_all = self.price_.values(listings)
        listings = listings.with_columns(price_ratio=price_all[:, 1])
        earlier = earlier or EarlierListings()
        events = listing_events(listings, price_all[:, 1], self.settings.history,
                                earlier.codes)
        if targets is None:
            rows, price = listings, price_all
        else:
            positions = np.flatnonzero(np.asarray(targets, dtype=bool))
            rows, price = listings.take(positions), price_all[positions]
        if target_price is not None:
            price = target_price
        history = history_values(rows, listings, Columns.of(market.sellers),
                                 Columns.of(market.complaints), self.settings.history,
                                 earlier, events)
        if ring_index is None:
            ring_index = self.ring_index(market)
        rings = self.rings_.values(rows, ring_index)
        blocks = [price, text_of(rows), history, rings]
        columns = self._block_columns()
        if not hasattr(self, "feature_names_"):
            self.feature_names_ = columns
        values = np.empty((len(rows), len(columns)), dtype=np.float64)
        start = 0
        for block in blocks:
            values[:, start:start + block.shape[1]] = block
            start += block.shape[1]
        if columns != self.feature_names_:  # a model saved with its columns in another order
            values = values[:, [columns.index(name) for name in self.feature_names_]]
        return values, events

    def _block_columns(self) -> list[str]:
        """The columns of the four families, in the order `_assemble` stacks them."""
        return [*PRICE_FEATURES, *TEXT_FEATURES, *self.settings.history.feature_names(),
                *RING_FEATURES]

    def _feature_index(self) -> pd.Index:
        """`feature_names_` as a column index, built once (from a list it is re-inferred)."""
        cached = getattr(self, "_columns", None)
        if cached is None or cached[0] != self.feature_names_:
            cached = self._columns = (list(self.feature_names_), pd.Index(self.feature_names_))
        return cached[1]

    def get_feature_names_out(self) -> list[str]:
        return list(self.feature_names_)
