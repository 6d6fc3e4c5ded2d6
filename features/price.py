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


def brand_key(brand: pd.Series) -> pd.Series:
    """The brand as matched against references: trimmed and case-folded."""
    return brand.fillna("").astype(str).str.strip().str.casefold()


def is_generic(brand: pd.Series) -> pd.Series:
    return brand_key(brand).isin(GENERIC_BRANDS)


def price_usd(listings: pd.DataFrame, fx_rates: pd.DataFrame) -> pd.Series:
    """Each listing's price in USD through the fx table (the contract guarantees the currency)."""
    rate = listings["currency"].map(fx_rates.set_index("currency")["usd_per_unit"])
    return (listings["price"] * rate).astype("float64")


def registry_reference(listings: pd.DataFrame, brands: pd.DataFrame) -> pd.Series:
    """The registered retail price of each listing's (brand, category), NaN where unregistered."""
    table = brands.assign(_brand=brand_key(brands["brand"])).groupby(
        ["_brand", "category"])["reference_price"].first()
    keys = pd.MultiIndex.from_arrays([brand_key(listings["brand"]), listings["category"]])
    return pd.Series(table.reindex(keys).to_numpy(dtype="float64"), index=listings.index)


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
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "global_reference_")
        usd = X["price_usd"].to_numpy(dtype="float64")
        brand = brand_key(X["brand"])
        category = X["category"].astype(str)
        generic = brand.isin(GENERIC_BRANDS).to_numpy()

        registry = X["registry_reference_usd"].to_numpy(dtype="float64", copy=True)
        pair = self.brand_category_reference_.reindex(
            pd.MultiIndex.from_arrays([brand, category])).to_numpy(dtype="float64", copy=True)
        pair[generic] = np.nan  # "Generic" is not a brand with a retail price
        by_category = category.map(self.category_reference_).to_numpy(dtype="float64")
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
        return pd.DataFrame(columns, index=X.index)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(FEATURE_NAMES, dtype=object)
