"""Price signals: the price in USD against the brand's reference price, and pricing habits.

The reference for a listing is, in order: the brand owner's registered retail
price for (brand, category); a robust price learned from the training listings
of the same (brand, category); the learned price of the category; the learned
price of all listings. `price__reference_source` says which one was used, so
the model can trust a registry price more than a learned one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

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


def is_generic(brand: pd.Series) -> pd.Series:
    return brand_key(brand).isin(GENERIC_BRANDS)


def _positions(index: pd.Index, keys: pd.Series) -> np.ndarray:
    """Position of each key in an object-dtype `index`, -1 where it is absent.

    The keys go in as an object-dtype index too: a str-dtype one would make pandas
    cast the whole `index` on every call.
    """
    return index.get_indexer(pd.Index(keys.to_numpy(dtype=object), dtype=object))


def _with_missing(values: np.ndarray) -> np.ndarray:
    """`values` with a NaN appended, so position -1 (an absent key) reads NaN."""
    return np.append(values.astype("float64"), np.nan)


class KeyedPrices:
    """Prices keyed by one label, built once from a small reference table.

    An object-dtype `pd.Index` keeps its hash table, so reusing one costs the same
    per call for one listing as for a million.
    """

    def __init__(self, table: pd.Series) -> None:
        self.keys = pd.Index(table.index.to_numpy(dtype=object), dtype=object)
        self.values = _with_missing(table.to_numpy(dtype="float64"))

    def of(self, keys: pd.Series) -> np.ndarray:
        return self.values[_positions(self.keys, keys)]


class PairPrices:
    """Prices keyed by (brand key, category), as a dense grid of brand rows and category columns."""

    def __init__(self, table: pd.Series) -> None:
        brands, categories = (table.index.get_level_values(k).to_numpy(dtype=object)
                              for k in (0, 1))
        self.brands = pd.Index(pd.unique(brands), dtype=object)
        self.categories = pd.Index(pd.unique(categories), dtype=object)
        # one spare NaN row and column: an absent brand or category (-1) lands there
        self.grid = np.full((len(self.brands) + 1, len(self.categories) + 1), np.nan)
        self.grid[self.brands.get_indexer(brands), self.categories.get_indexer(categories)] = (
            table.to_numpy(dtype="float64"))

    def of(self, brand: pd.Series, category: pd.Series) -> np.ndarray:
        return self.grid[_positions(self.brands, brand), _positions(self.categories, category)]


class FxRates:
    """USD per unit of each currency of an fx table."""

    def __init__(self, fx_rates: pd.DataFrame) -> None:
        self.usd_per_unit = KeyedPrices(fx_rates.set_index("currency")["usd_per_unit"])

    def price_usd(self, listings: pd.DataFrame) -> np.ndarray:
        rate = self.usd_per_unit.of(listings["currency"])
        return listings["price"].to_numpy(dtype="float64") * rate


def registry_table(brands: pd.DataFrame) -> PairPrices:
    """The brands table as (brand key, category) -> first registered retail price."""
    return PairPrices(brands.assign(_brand=brand_key(brands["brand"])).groupby(
        ["_brand", "category"])["reference_price"].first())


def price_usd(listings: pd.DataFrame, fx_rates: pd.DataFrame | FxRates) -> pd.Series:
    """Each listing's price in USD through the fx table (the contract guarantees the currency)."""
    rates = fx_rates if isinstance(fx_rates, FxRates) else FxRates(fx_rates)
    return pd.Series(rates.price_usd(listings), index=listings.index, dtype="float64")


def registry_reference(listings: pd.DataFrame, brands: pd.DataFrame | PairPrices) -> pd.Series:
    """The registered retail price of each listing's (brand, category), NaN where unregistered.

    `brands` is the brands table, or `registry_table(brands)` built once and reused.
    """
    table = brands if isinstance(brands, PairPrices) else registry_table(brands)
    return pd.Series(table.of(brand_key(listings["brand"]), listings["category"]),
                     index=listings.index, dtype="float64")


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
        self._lookups: tuple[PairPrices, KeyedPrices] | None = None
        return self

    def _learned_prices(self) -> tuple[PairPrices, KeyedPrices]:
        """The fitted references as lookups, built on first use (a model pickled before
        they existed gets them too)."""
        if getattr(self, "_lookups", None) is None:
            self._lookups = (PairPrices(self.brand_category_reference_),
                             KeyedPrices(self.category_reference_))
        return self._lookups

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "global_reference_")
        usd = X["price_usd"].to_numpy(dtype="float64")
        brand = brand_key(X["brand"])
        category = X["category"].astype(str)
        generic = brand.isin(GENERIC_BRANDS).to_numpy()

        registry = X["registry_reference_usd"].to_numpy(dtype="float64", copy=True)
        pair_prices, category_prices = self._learned_prices()
        pair = pair_prices.of(brand, category)
        pair[generic] = np.nan  # "Generic" is not a brand with a retail price
        by_category = category_prices.of(category)
        reference = np.full(len(X), self.global_reference_)
        source = np.full(len(X), GLOBAL, dtype="float64")
        for candidate, code in ((by_category, CATEGORY), (pair, BRAND_CATEGORY),
                                (registry, REGISTRY)):
            known = np.isfinite(candidate)
            reference[known] = candidate[known]
            source[known] = code

        ratio = usd / reference
        price = X["price"].to_numpy(dtype="float64")
        cents = np.round(price * 100).astype("int64") % 100
        quantity = X["quantity"].to_numpy(dtype="float64")
        columns = {
            "price__log_usd": np.log1p(usd),
            "price__ratio_to_reference": ratio,
            "price__log_ratio_to_reference": np.log(ratio),
            "price__reference_source": source,
            "price__deep_discount": (ratio < self.deep_discount).astype("float64"),
            "price__above_reference": (ratio > 1.1).astype("float64"),
            "price__round_number": ((cents == 0) & (np.round(price) % 5 == 0)).astype("float64"),
            "price__ends_in_99": np.isin(cents, (99, 95)).astype("float64"),
            "price__log_quantity": np.log1p(quantity),
            "price__bulk": (quantity >= 10).astype("float64"),
            "price__log_exposure_usd": np.log1p(usd * quantity),
            "price__generic_brand": generic.astype("float64"),
            "price__registered_brand": np.isfinite(registry).astype("float64"),
        }
        # all float64: one 2-D block builds far faster than thirteen columns
        return pd.DataFrame(np.column_stack([columns[name] for name in FEATURE_NAMES]),
                            index=X.index, columns=FEATURE_INDEX, copy=False)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(FEATURE_NAMES, dtype=object)
