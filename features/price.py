"""Price signals: the price in USD against the brand's reference price, and pricing habits.

The reference for a listing is, in order: the brand owner's registered retail
price for (brand, category); a robust price learned from the training listings
of the same (brand, category); the learned price of the category; the learned
price of all listings. `price__reference_source` says which one was used, so
the model can trust a registry price more than a learned one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from features.columns import Columns, lookup

GENERIC_BRANDS = frozenset({"", "generic", "unbranded", "no brand", "none"})

REGISTRY, BRAND_CATEGORY, CATEGORY, GLOBAL = 0, 1, 2, 3

FEATURE_NAMES = (
    "price__log_usd",
    "price__ratio_to_reference",
    "price__log_ratio_to_reference",
    "price__reference_source",
    "price__deep_discount",
    "price__above_reference",
    "price__round_number",
    "price__ends_in_99",
    "price__log_quantity",
    "price__bulk",
    "price__log_exposure_usd",
    "price__generic_brand",
    "price__registered_brand",
)
FEATURE_INDEX = pd.Index(FEATURE_NAMES)  # built once: a column list is re-inferred per frame


def brand_key(brand: pd.Series) -> pd.Series:
    """The brand as matched against references: trimmed and case-folded."""
    return brand.fillna("").astype(str).str.strip().str.casefold()


def key_of(brand: str) -> str:
    """`brand_key` of one brand (Arrow's whitespace trim is Python's `str.strip`)."""
    return brand.strip().casefold()


def is_generic(brand: pd.Series) -> pd.Series:
    return brand_key(brand).isin(GENERIC_BRANDS)


def _with_missing(values: np.ndarray) -> np.ndarray:
    """`values` with a NaN appended, so position -1 (an absent key) reads NaN."""
    return np.append(values.astype("float64"), np.nan)


def _positions(labels: Sequence[object], what: str) -> dict[object, int]:
    positions = {label: i for i, label in enumerate(labels)}
    if len(positions) != len(labels):
        raise ValueError(f"{what} has duplicate keys")
    return positions


class KeyedPrices:
    """Prices keyed by one label, built once from a small reference table.

    Each distinct label of a column is looked up once, in a dict; the rows then
    read the prices by position.
    """

    def __init__(self, table: pd.Series) -> None:
        self.positions = _positions(table.index.to_numpy(dtype=object).tolist(), "prices")
        self.values = _with_missing(table.to_numpy(dtype="float64"))

    def of(self, keys: tuple[np.ndarray, Sequence[str]]) -> np.ndarray:
        """The price of each coded label (`Columns.dictionary`), NaN where absent."""
        return self.values[lookup(self.positions, keys)]


class PairPrices:
    """Prices keyed by (brand key, category), as a dense grid of brand rows and category columns."""

    def __init__(self, table: pd.Series) -> None:
        brands, categories = (table.index.get_level_values(k).to_numpy(dtype=object)
                              for k in (0, 1))
        self.brands = {b: i for i, b in enumerate(pd.unique(brands).tolist())}
        self.categories = {c: i for i, c in enumerate(pd.unique(categories).tolist())}
        # one spare NaN row and column: an absent brand or category (-1) lands there
        self.grid = np.full((len(self.brands) + 1, len(self.categories) + 1), np.nan)
        self.grid[[self.brands[b] for b in brands.tolist()],
                  [self.categories[c] for c in categories.tolist()]] = table.to_numpy(
            dtype="float64")

    def of(self, brand: tuple[np.ndarray, Sequence[str]],
           category: tuple[np.ndarray, Sequence[str]]) -> np.ndarray:
        """The price of each row's (brand key, category), NaN where absent.

        Both are coded columns (`Columns.dictionary`); the brand as typed, keyed here.
        """
        codes, names = brand
        rows = np.array([self.brands.get(key_of(n), -1) for n in names], dtype=np.int64)[codes]
        return self.grid[rows, lookup(self.categories, category)]


class FxRates:
    """USD per unit of each currency of an fx table."""

    def __init__(self, fx_rates: pd.DataFrame) -> None:
        self.usd_per_unit = KeyedPrices(fx_rates.set_index("currency")["usd_per_unit"])

    def price_usd(self, listings: pd.DataFrame | Columns) -> np.ndarray:
        listings = Columns.of(listings)
        rate = self.usd_per_unit.of(listings.dictionary("currency"))
        return listings.numbers("price") * rate


def registry_table(brands: pd.DataFrame) -> PairPrices:
    """The brands table as (brand key, category) -> first registered retail price."""
    return PairPrices(brands.assign(_brand=brand_key(brands["brand"])).groupby(
        ["_brand", "category"])["reference_price"].first())


def price_usd(listings: pd.DataFrame, fx_rates: pd.DataFrame | FxRates) -> pd.Series:
    """Each listing's price in USD through the fx table (the contract guarantees the currency)."""
    rates = fx_rates if isinstance(fx_rates, FxRates) else FxRates(fx_rates)
    return pd.Series(rates.price_usd(listings), index=listings.index, dtype="float64")


def registry_prices(listings: pd.DataFrame | Columns, table: PairPrices) -> np.ndarray:
    """The registered retail price of each listing's (brand, category), NaN where unregistered."""
    listings = Columns.of(listings)
    return table.of(listings.dictionary("brand"), listings.dictionary("category"))


def registry_reference(listings: pd.DataFrame, brands: pd.DataFrame | PairPrices) -> pd.Series:
    """The registered retail price of each listing's (brand, category), NaN where unregistered.

    `brands` is the brands table, or `registry_table(brands)` built once and reused.
    """
    table = brands if isinstance(brands, PairPrices) else registry_table(brands)
    return pd.Series(registry_prices(listings, table), index=listings.index, dtype="float64")


class PriceFeatures(TransformerMixin, BaseEstimator):
    """Price against reference, round-number and bulk patterns.

    Expects the listing columns `brand`, `category`, `price`, `quantity` plus
    `price_usd` and `registry_reference_usd` (joined upstream from the fx and
    brand tables, see `price_usd` and `registry_reference`).

    Args:
        deep_discount: a ratio to reference under this is a deep discount.
        min_listings: listings a (brand, category) needs before its learned price is used.
        reference_quantile: which quantile of legitimate prices stands for retail.
    """

    def __init__(self, deep_discount: float = 0.4, min_listings: int = 20,
                 reference_quantile: float = 0.5) -> None:
        self.deep_discount = deep_discount
        self.min_listings = min_listings
        self.reference_quantile = reference_quantile

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray | None = None) -> PriceFeatures:
        frame = pd.DataFrame({
            "brand": brand_key(X["brand"]),
            "category": X["category"].astype(str),
            "price_usd": X["price_usd"].astype("float64"),
        })
        if y is not None:  # counterfeits drag a learned "retail" price down; learn from the rest
            legit = np.asarray(y) == 0
            if legit.sum() >= self.min_listings:
                frame = frame[legit]
        q = self.reference_quantile
        branded = frame[~frame["brand"].isin(GENERIC_BRANDS)]
        by_pair = branded.groupby(["brand", "category"])["price_usd"]
        counts = by_pair.size()
        self.brand_category_reference_ = by_pair.quantile(q)[counts >= self.min_listings]
        by_category = frame.groupby("category")["price_usd"]
        cat_counts = by_category.size()
        self.category_reference_ = by_category.quantile(q)[cat_counts >= self.min_listings]
        self.global_reference_ = float(frame["price_usd"].quantile(q)) if len(frame) else 1.0
        self.n_features_in_ = len(X.columns)
        self._prices: tuple[PairPrices, KeyedPrices] | None = None
        return self

    def __getstate__(self) -> dict[str, object]:
        state = dict(super().__getstate__())  # a copy: object's is the live __dict__
        for cache in ("_prices", "_lookups"):  # rebuilt on use; not the model
            state.pop(cache, None)
        return state

    def _learned_prices(self) -> tuple[PairPrices, KeyedPrices]:
        """The fitted references as lookups, built on first use."""
        prices = getattr(self, "_prices", None)
        if prices is None:
            prices = self._prices = (PairPrices(self.brand_category_reference_),
                                     KeyedPrices(self.category_reference_))
        return prices

    def transform(self, X: pd.DataFrame | Columns) -> pd.DataFrame:
        X = Columns.of(X)
        return pd.DataFrame(self.values(X), index=X.index, columns=FEATURE_INDEX, copy=False)

    def values(self, X: pd.DataFrame | Columns) -> np.ndarray:
        """The features of `transform` as one float64 array, a row per listing."""
        check_is_fitted(self, "global_reference_")
        X = Columns.of(X)
        n = len(X)
        usd = X.numbers("price_usd")
        brand, category = X.dictionary("brand"), X.dictionary("category")
        keys = [key_of(name) for name in brand[1]]
        generic = np.array([key in GENERIC_BRANDS for key in keys], dtype=bool)[brand[0]]

        registry = X.numbers("registry_reference_usd")
        pair_prices, category_prices = self._learned_prices()
        pair = pair_prices.of(brand, category)
        pair[generic] = np.nan  # "Generic" is not a brand with a retail price
        by_category = category_prices.of(category)
        reference = np.full(n, self.global_reference_)
        source = np.full(n, GLOBAL, dtype="float64")
        for candidate, code in ((by_category, CATEGORY), (pair, BRAND_CATEGORY),
                                (registry, REGISTRY)):
            known = np.isfinite(candidate)
            reference[known] = candidate[known]
            source[known] = code

        ratio = usd / reference
        price = X.numbers("price")
        cents = np.round(price * 100).astype("int64") % 100
        quantity = X.numbers("quantity")
        # all float64, filled in place: one 2-D block builds far faster than thirteen columns
        out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float64)
        out[:, 0] = np.log1p(usd)
        out[:, 1] = ratio
        out[:, 2] = np.log(ratio)
        out[:, 3] = source
        out[:, 4] = ratio < self.deep_discount
        out[:, 5] = ratio > 1.1
        out[:, 6] = (cents == 0) & (np.round(price) % 5 == 0)
        out[:, 7] = (cents == 99) | (cents == 95)
        out[:, 8] = np.log1p(quantity)
        out[:, 9] = quantity >= 10
        out[:, 10] = np.log1p(usd * quantity)
        out[:, 11] = generic
        out[:, 12] = np.isfinite(registry)
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(FEATURE_NAMES, dtype=object)


def out_of_fold_values(fitted: PriceFeatures, X: pd.DataFrame, y: np.ndarray, n_folds: int,
                       random_state: int) -> np.ndarray:
    """`values` of the rows `fitted` was fitted on, each row's from a copy fitted without
    its fold.

    The learned retail price of a (brand, category) is a quantile of its genuine listings'
    prices, so a training row's own label and price would shape the reference it is
    compared with; rows scored later never do. The folds do not depend on the labels
    (stratified ones would move a row to other fold-mates when its label changed).
    """
    labels = np.asarray(y)
    out = np.empty((len(X), len(FEATURE_NAMES)), dtype=np.float64)
    folds = KFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    for fit_rows, own_rows in folds.split(X):
        part = clone(fitted).fit(X.iloc[fit_rows], labels[fit_rows])
        out[own_rows] = part.values(X.iloc[own_rows])
    return out
