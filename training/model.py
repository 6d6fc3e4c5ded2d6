"""The registered model: fitted feature pipeline + LightGBM booster + calibrator + bands.

`ListingRiskModel` is what MLflow stores. Batch scoring and the service load it
with `mlflow.pyfunc.load_model(uri).unwrap_python_model()` and call `score`
with a whole `Marketplace` (the listings plus their sellers' history); the plain
pyfunc `predict` takes listing rows (optionally with their seller's columns) and
treats the rows themselves as all the history there is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from features.columns import Columns
from features.contract import Marketplace
from features.descriptions import describe
from features.history import EarlierListings
from features.pipeline import FeaturePipeline
from features.rings import RingIndex
from training.calibration import Calibrator
from training.config import BandConfig
from training.row_predictor import RowPredictor, uses_every_tree

LISTING_COLUMNS = ("listing_id", "seller_id", "created_at", "title", "description", "brand",
                   "category", "price", "currency", "quantity", "ships_from", "image_count")
SELLER_COLUMNS = ("registered_at", "country", "business_verified")
TOP_REASONS = 3
REASONS_MEMO_ROWS = 10_000  # rows whose reasons a loaded model remembers (~1 KB each)


@dataclass(frozen=True)
class Reason:
    signal: str
    text: str
    contribution: float


class UnpricedCurrency(ValueError):
    """Listings in a currency the model has no exchange rate for."""


def band_of(scores: np.ndarray, bands: BandConfig) -> np.ndarray:
    return np.where(scores >= bands.high, "high", np.where(scores >= bands.review, "review", "low"))


class ListingRiskModel(PythonModel):
    """Calibrated counterfeit risk for listings, with bands and reasons."""

    def __init__(self, pipeline: FeaturePipeline, booster: lgb.Booster, calibrator: Calibrator,
                 bands: BandConfig, fx_rates: pd.DataFrame, brands: pd.DataFrame) -> None:
        self.pipeline = pipeline
        self.booster = booster
        self.calibrator = calibrator
        self.bands = bands
        self.fx_rates = fx_rates
        self.brands = brands
        self.version = "unregistered"

    # -- scoring ---------------------------------------------------------------
    def own_tables(self, market: Marketplace) -> Marketplace:
        """`market` with the brand registry and exchange rates this model was trained with.

        Every scoring path uses them (the service has no others), so a model version gives
        a listing one score wherever it is scored; new tables take effect with the next
        model trained on them. A listing in a currency without a rate here is an
        `UnpricedCurrency`.
        """
        if market.brands is self.brands and market.fx_rates is self.fx_rates:
            return market
        listings = Columns.of(market.listings)
        self.check_priced(listings.objects("currency").tolist(),
                          listings.objects("listing_id").tolist())
        return replace(market, brands=self.brands, fx_rates=self.fx_rates)

    def check_priced(self, currencies: Sequence[str], listing_ids: Sequence[str] = ()) -> None:
        """`UnpricedCurrency` if any of `currencies` (of the listings `listing_ids`, when
        given, which the message then names a few of) has no exchange rate in this model."""
        known = set(self.fx_rates["currency"])
        unpriced = sorted(set(currencies) - known - {""})
        if not unpriced:
            return
        some = [i for i, c in zip(listing_ids, currencies, strict=False) if c not in known][:3]
        examples = f" (e.g. {', '.join(some)})" if some else ""
        raise UnpricedCurrency(
            f"listings in {', '.join(unpriced)}{examples}: model {self.version} has no "
            f"exchange rate for them (it scores with the fx rates it was trained with: "
            f"{', '.join(sorted(known))})")

    def raw_scores(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The booster's probability, before calibration, of features (a frame, or a matrix
        with the pipeline's columns)."""
        values = np.asarray(features, dtype="float64")
        if len(values) == 1 and uses_every_tree(self.booster):  # the service's usual call
            return np.array([self.row_predictor.predict(values[0])])
        # one thread: small batches jitter badly with LightGBM's default threading
        threads = 1 if len(values) < 2000 else 0
        return np.asarray(self.booster.predict(values, num_threads=threads))

    @property
    def row_predictor(self) -> RowPredictor:
        """LightGBM's single-row path for this model's booster, set up on first use."""
        predictor = self.__dict__.get("_row_predictor")
        if predictor is None or predictor.booster is not self.booster:
            predictor = self.__dict__["_row_predictor"] = RowPredictor(self.booster)
        return predictor

    def warm_up(self) -> None:
        """Load the pipeline's compiled code and set up LightGBM's single-row path now,
        not in the first request that needs them."""
        self.pipeline.warm_up()
        if uses_every_tree(self.booster):
            _ = self.row_predictor

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_row_predictor", None)  # LightGBM's handle: built again where it is used
        state.pop("_reasons_memo", None)
        return state

    def scores(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        return self.calibrator.predict(self.raw_scores(features))

    def reasons(self, features: np.ndarray | pd.DataFrame) -> list[list[Reason]]:
        """The top signals pushing each row's score up, from LightGBM's own contributions
        (`features`: the pipeline's columns in its order, as `values` or `transform` give)."""
        names = self.pipeline.get_feature_names_out()
        if isinstance(features, pd.DataFrame) and list(features.columns) != names:
            raise ValueError("features must have the pipeline's columns, in its order")
        if not len(features):
            return []
        values = np.asarray(features, dtype="float64")
        keys = [row.tobytes() for row in values]
        known = self.reasons_memo
        missing = [i for i, key in enumerate(keys) if key not in known]
        if missing:
            contrib = np.asarray(self.booster.predict(values[missing], pred_contrib=True,
                                                      num_threads=1))[:, :-1]
            for i, row in zip(missing, contrib, strict=True):
                top = np.argsort(-row)[:TOP_REASONS]
                known[keys[i]] = tuple(
                    Reason(names[j], describe(names[j], float(values[i, j])),
                           round(float(row[j]), 4))
                    for j in top if row[j] > 0)
        out = []
        for key in keys:
            known.move_to_end(key)
            out.append(list(known[key]))
        while len(known) > REASONS_MEMO_ROWS:
            known.popitem(last=False)
        return out

    @property
    def reasons_memo(self) -> OrderedDict[bytes, tuple[Reason, ...]]:
        """The reasons of recently explained rows, by their feature values: a listing
        scored again unchanged (its features are as of its creation, so they stay put) is
        explained without LightGBM's contributions again, a millisecond a row. The same
        values get the same contributions from one booster: the reasons are the same."""
        memo, booster = self.__dict__.get("_reasons_memo", (None, None))
        if memo is None or booster is not self.booster:
            memo = OrderedDict()
            self.__dict__["_reasons_memo"] = (memo, self.booster)
        return memo

    def score(self, market: Marketplace, targets: np.ndarray | None = None,
              with_reasons: bool = True, ring_index: RingIndex | None = None) -> pd.DataFrame:
        """Score the target listings of a marketplace: listing_id, score, band, reasons.

        `ring_index` carries cross-seller signals when `market` holds only some sellers.
        Indexed as the target rows of `market.listings`.
        """
        index = Columns.of(market.listings).index
        if targets is not None:
            index = index[np.asarray(targets, dtype=bool)]
        return pd.DataFrame(self.score_columns(market, targets, with_reasons, ring_index),
                            index=index)

    def score_columns(self, market: Marketplace, targets: np.ndarray | None = None,
                      with_reasons: bool = True, ring_index: RingIndex | None = None,
                      reasons_for: np.ndarray | None = None,
                      earlier: EarlierListings | None = None) -> dict[str, Any]:
        """`score`'s columns as arrays and lists, in the order of the target rows (no
        DataFrame: the service's request path). `reasons_for` (a mask over the target rows) asks for
        reasons of `low` rows too: the service's frozen sellers, whose band it raises.
        `earlier`: the sellers' stored listings as events (`FeaturePipeline.values`); with
        it, `events` are all of the market's listings as events coded by `earlier.codes`
        (`FeaturePipeline.values_and_events`), for the online service to keep. Scored with
        the model's own tables (`own_tables`)."""
        market = self.own_tables(market)
        features, events = self.pipeline.values_and_events(market, targets, ring_index,
                                                           earlier)
        p = self.scores(features)
        band = band_of(p, self.bands)
        reasons: list[list[Reason]] = [[] for _ in range(len(p))]
        wanted = band != "low" if reasons_for is None else (band != "low") | reasons_for
        flagged = np.flatnonzero(wanted)
        if with_reasons and len(flagged):
            for i, r in zip(flagged, self.reasons(features[flagged]), strict=True):
                reasons[i] = r
        rows = Columns.of(market.listings)  # features: the target rows
        if targets is not None:
            rows = rows.take(np.flatnonzero(np.asarray(targets, dtype=bool)))
        ids = rows.objects("listing_id")
        out = {"listing_id": ids, "score": p, "band": band, "reasons": reasons,
               "model_version": np.full(len(p), self.version, dtype=object)}
        if earlier is not None:
            out["events"] = events
        return out

    # -- plain pyfunc ----------------------------------------------------------
    def market_from_rows(self, rows: pd.DataFrame) -> Marketplace:
        """A marketplace from listing rows alone: the rows are the only history there is."""
        listings = rows[list(LISTING_COLUMNS)].reset_index(drop=True).copy()
        listings["created_at"] = pd.to_datetime(listings["created_at"], utc=True).astype(
            "datetime64[ns, UTC]")
        if set(SELLER_COLUMNS) <= set(rows.columns):
            sellers = rows[["seller_id", *SELLER_COLUMNS]].drop_duplicates("seller_id")
            sellers = sellers.assign(registered_at=pd.to_datetime(
                sellers["registered_at"], utc=True).astype("datetime64[ns, UTC]"))
        else:
            sellers = pd.DataFrame({"seller_id": listings["seller_id"].unique()})
        complaints = pd.DataFrame({
            "complaint_id": pd.Series(dtype="str"), "listing_id": pd.Series(dtype="str"),
            "seller_id": pd.Series(dtype="str"), "brand": pd.Series(dtype="str"),
            "filed_at": pd.Series(dtype="datetime64[ns, UTC]"),
            "status": pd.Series(dtype="str"),
            "resolved_at": pd.Series(dtype="datetime64[ns, UTC]"),
        })
        return Marketplace(listings=listings, sellers=sellers.reset_index(drop=True),
                           complaints=complaints, brands=self.brands, fx_rates=self.fx_rates)

    def predict(self, context: object, model_input: pd.DataFrame,
                params: dict | None = None) -> pd.DataFrame:
        scored = self.score(self.market_from_rows(model_input), with_reasons=False)
        return scored[["listing_id", "score", "band"]].reset_index(drop=True)


class NotAListingModel(ValueError):
    """A model URI that holds some other MLflow model than a `ListingRiskModel`."""


def load_listing_model(model_uri: str) -> ListingRiskModel:
    """The `ListingRiskModel` stored under `model_uri` (MLflow errors pass through)."""
    model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    if not isinstance(model, ListingRiskModel):
        raise NotAListingModel(f"{model_uri} is not a strikeout listing-risk model "
                               f"(it holds a {type(model).__name__})")
    model.version = model_uri  # how errors and reports name it
    return model
