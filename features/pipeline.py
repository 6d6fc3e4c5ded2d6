"""The one fitted feature pipeline: price, text, seller-history and ring signals.

Training fits it once and saves it inside the model; batch scoring and the
online service call the same `transform`. Its input is a `Marketplace`: the
listings to featurize (`targets`) plus everything known about their sellers
(earlier listings, complaints, the seller table) and the reference tables.
Seller history and rings are computed as of each target's own `created_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.contract import Marketplace
from features.history import HistorySettings, seller_history
from features.price import PriceFeatures, price_usd, registry_reference
from features.rings import RingFeatures, RingIndex
from features.text import TextFeatures

FEATURE_SET_VERSION = "1"


@dataclass(frozen=True)
class FeatureSettings:
    """The knobs of every family, each default in one place."""

    history: HistorySettings = field(default_factory=HistorySettings)
    text_folds: int = 5
    seed: int = 0


def select(listings: pd.DataFrame, targets: pd.Series | np.ndarray | None) -> pd.DataFrame:
    if targets is None:
        return listings
    return listings[np.asarray(targets, dtype=bool)]


class FeaturePipeline:
    """Fits and applies the four feature families to a marketplace's listings."""

    def __init__(self, settings: FeatureSettings | None = None) -> None:
        self.settings = settings or FeatureSettings()

    def _with_prices(self, market: Marketplace) -> pd.DataFrame:
        listings = market.listings
        usd = price_usd(listings, market.fx_rates)
        registry = registry_reference(listings, market.brands)
        return listings.assign(price_usd=usd, registry_reference_usd=registry)

    def fit_transform(self, market: Marketplace, y: np.ndarray,
                      targets: np.ndarray | None = None) -> pd.DataFrame:
        """Fit on the target listings and return their features (text scores out-of-fold)."""
        s = self.settings
        enriched = self._with_prices(market)
        rows = select(enriched, targets)
        self.price_ = PriceFeatures(deep_discount=s.history.underpriced_ratio).fit(rows, y)
        self.text_ = TextFeatures(
            registry_brands=tuple(sorted(set(market.brands["brand"]))),
            n_folds=s.text_folds, random_state=s.seed)
        text = self.text_.fit_transform(rows, y)
        self.rings_ = RingFeatures().fit(rows)
        return self._assemble(market, enriched, rows, text)

    def fit(self, market: Marketplace, y: np.ndarray,
            targets: np.ndarray | None = None) -> FeaturePipeline:
        self.fit_transform(market, y, targets)
        return self

    def transform(self, market: Marketplace, targets: np.ndarray | None = None,
                  ring_index: RingIndex | None = None) -> pd.DataFrame:
        """Features of the target listings (default: all), each as of its own `created_at`.

        `ring_index` is the cross-seller phrase and burst index of a larger marketplace
        than `market` (batch scoring in seller chunks, the online service); by default
        it is built from `market` itself.
        """
        enriched = self._with_prices(market)
        rows = select(enriched, targets)
        return self._assemble(market, enriched, rows, self.text_.transform(rows), ring_index)

    def ring_index(self, market: Marketplace) -> RingIndex:
        return self.rings_.build_index(market.listings, market.sellers, market.complaints)

    def _assemble(self, market: Marketplace, enriched: pd.DataFrame, rows: pd.DataFrame,
                  text: pd.DataFrame, ring_index: RingIndex | None = None) -> pd.DataFrame:
        price_all = self.price_.transform(enriched)
        enriched = enriched.assign(price_ratio=price_all["price__ratio_to_reference"])
        rows = enriched.loc[rows.index]
        history = seller_history(rows, enriched, market.sellers, market.complaints,
                                 self.settings.history)
        if ring_index is None:
            ring_index = self.ring_index(market)
        rings = self.rings_.transform(rows, index=ring_index)
        out = pd.concat([price_all.loc[rows.index], text, history, rings], axis=1)
        if not hasattr(self, "feature_names_"):
            self.feature_names_ = list(out.columns)
        return out[self.feature_names_].astype("float64")

    def get_feature_names_out(self) -> list[str]:
        return list(self.feature_names_)
