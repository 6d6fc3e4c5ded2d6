"""Synthetic sellers: the kinds of seller, their countries and habits, and counterfeit rings.

A ring is several accounts that register within hours from one country, ship
from one place, price alike and reuse the ring's own description phrases. When
an account is frozen, the ring opens new ones (`replacement_accounts`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.synthetic_catalog import Catalog

if TYPE_CHECKING:
    from features.synthetic import SynthConfig

KINDS = ("authorized", "reseller", "used", "casual", "accessory", "wholesaler", "opportunist",
         "ring")
RING = KINDS.index("ring")

# per kind: (countries, weights), share business-verified, listing volume, share joining
# during the period, share with a shop signature phrase
_PROFILE: dict[str, tuple[dict[str, float], float, float, float, float]] = {
    "authorized": ({"US": 35, "GB": 12, "FR": 10, "DE": 12, "IT": 10, "JP": 8, "CA": 6,
                    "AU": 4, "ES": 3}, 0.92, 8.0, 0.05, 0.5),
    "reseller": ({"US": 25, "GB": 8, "FR": 7, "DE": 7, "IT": 5, "JP": 8, "HK": 14, "CN": 10,
                  "AE": 5, "TR": 3, "CA": 4, "AU": 4, "ES": 4}, 0.35, 4.0, 0.15, 0.4),
    "used": ({"US": 35, "GB": 12, "FR": 10, "DE": 12, "IT": 6, "ES": 5, "JP": 6, "CA": 7,
              "AU": 7}, 0.05, 2.0, 0.2, 0.15),
    "casual": ({"US": 35, "GB": 12, "FR": 10, "DE": 12, "IT": 6, "ES": 5, "JP": 6, "CA": 7,
                "AU": 7}, 0.02, 0.5, 0.3, 0.02),
    "accessory": ({"CN": 55, "HK": 15, "US": 15, "DE": 5, "GB": 5, "VN": 5}, 0.4, 5.0, 0.2,
                  0.5),
    "wholesaler": ({"CN": 35, "HK": 25, "US": 20, "TR": 5, "AE": 5, "DE": 10}, 0.65, 6.0, 0.1,
                   0.6),
    "opportunist": ({"US": 30, "GB": 10, "FR": 8, "DE": 8, "TR": 8, "CN": 10, "HK": 6, "VN": 5,
                     "ES": 5, "IT": 5, "AE": 5}, 0.04, 1.5, 0.3, 0.1),
    "ring": ({"CN": 30, "HK": 15, "TR": 10, "VN": 8, "US": 17, "GB": 8, "DE": 6, "AE": 6}, 0.03,
             1.0, 1.0, 1.0),
}

CURRENCY_OF = {"US": "USD", "GB": "GBP", "FR": "EUR", "DE": "EUR", "IT": "EUR", "ES": "EUR",
               "JP": "JPY", "CN": "CNY", "HK": "HKD", "CA": "CAD", "AU": "AUD"}
_EXPORTERS = frozenset({"CN", "HK", "VN", "TR", "AE"})
FAVOURITES = 3


def _choose(rng: np.random.Generator, options: dict[str, float], size: int) -> np.ndarray:
    keys = np.array(list(options), dtype=object)
    weights = np.array(list(options.values()), dtype=float)
    return keys[rng.choice(len(keys), size=size, p=weights / weights.sum())]


def _currency(rng: np.random.Generator, country: np.ndarray, known: set[str]) -> np.ndarray:
    """Home currency, except exporters who mostly price in USD; USD if home is not in fx."""
    home = np.array([CURRENCY_OF.get(c, "USD") for c in country], dtype=object)
    exporter = np.isin(country, list(_EXPORTERS)) & (rng.random(len(country)) < 0.6)
    out = np.where(exporter, "USD", home)
    return np.where(np.isin(out, list(known)), out, "USD")


def _ships_from(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    """Mostly the home country; a few western sellers drop-ship from China."""
    drop = ~np.isin(country, list(_EXPORTERS)) & (rng.random(len(country)) < 0.06)
    return np.where(drop, "CN", country)


def _registration(rng: np.random.Generator, n: int, joining: float, days: int) -> np.ndarray:
    """Days since the start: established accounts years before, some joining in the period."""
    before = -np.minimum(rng.exponential(420.0, n) + 1.0, 8 * 365.0)
    during = rng.uniform(0.0, 0.9 * days, n)
    return np.where(rng.random(n) < joining, during, before)


def build_sellers(config: SynthConfig, catalog: Catalog, n_regular: int, n_rings: int,
                  rng: np.random.Generator) -> pd.DataFrame:
    """All initial accounts: ordinary sellers of every kind, then the rings' first accounts."""
    shares = np.array([config.share_authorized, config.share_reseller, config.share_used,
                       config.share_casual, config.share_accessory, config.share_wholesaler,
                       config.share_opportunist])
    kind = rng.choice(len(shares), size=n_regular, p=shares / shares.sum())
    known = {c for c, _ in config.currencies}
    frames = []
    for k, name in enumerate(KINDS[:-1]):
        idx = np.flatnonzero(kind == k)
        countries, verified, volume, joining, signed = _PROFILE[name]
        m = len(idx)
        country = _choose(rng, countries, m)
        frames.append(pd.DataFrame({
            "row": idx,
            "kind": k,
            "ring": -1,
            "country": country,
            "ships_from": _ships_from(rng, country),
            "currency": _currency(rng, country, known),
            "reg_t": _registration(rng, m, joining, config.days),
            "verified": rng.random(m) < verified,
            "ending": rng.choice(4, size=m, p=[0.45, 0.35, 0.15, 0.05]),
            "signed": rng.random(m) < signed,
            # heavy tail: most sellers list a few items, some list hundreds
            "volume": volume * (np.minimum(rng.pareto(1.4, m), 100.0) + 0.3),
            "generation": 0,
            "until_t": float(config.days),
        }))
    regular = pd.concat(frames).sort_values("row").drop(columns="row")
    favourites = rng.choice(len(catalog.pair_brand), size=(n_regular, FAVOURITES),
                            p=catalog.pair_popularity / catalog.pair_popularity.sum())
    for j in range(FAVOURITES):
        regular[f"fav{j}"] = favourites[:, j]
    rings = ring_accounts(config, catalog, n_rings, rng)
    return pd.concat([regular, rings], ignore_index=True)


def ring_accounts(config: SynthConfig, catalog: Catalog, n_rings: int,
                  rng: np.random.Generator) -> pd.DataFrame:
    """Each ring's first accounts: a registration burst within hours, shared habits."""
    countries = _PROFILE["ring"][0]
    size = rng.integers(config.ring_size_min, config.ring_size_max + 1, n_rings)
    ring = np.repeat(np.arange(n_rings), size)
    # rings keep forming and die out, so later periods are full of rings not seen before
    birth = rng.uniform(-30.0, 0.95 * config.days, n_rings)
    until = birth + 20.0 + rng.exponential(config.ring_lifetime_days, n_rings)
    country = _choose(rng, countries, n_rings)
    ships = np.where(rng.random(n_rings) < 0.7, country,
                     _choose(rng, {"CN": 1, "HK": 1}, n_rings))
    known = {c for c, _ in config.currencies}
    currency = _currency(rng, country, known)
    hype = catalog.pair_hype * (catalog.brand_launch_day[catalog.pair_brand] < config.days)
    favourites = rng.choice(len(hype), size=(n_rings, FAVOURITES), p=hype / hype.sum())
    out = pd.DataFrame({
        "kind": RING,
        "ring": ring,
        "country": country[ring],
        "ships_from": ships[ring],
        "currency": currency[ring],
        "reg_t": birth[ring] + rng.uniform(0.0, 0.25, len(ring)),
        "verified": rng.random(len(ring)) < _PROFILE["ring"][1],
        "ending": rng.choice(4, size=n_rings)[ring],
        "signed": True,
        "volume": rng.dirichlet(np.ones(3), n_rings).max(axis=1)[ring]
        * rng.uniform(0.6, 1.4, len(ring)),
        "generation": 0,
        "until_t": np.minimum(until, config.days)[ring],
    })
    for j in range(FAVOURITES):
        out[f"fav{j}"] = favourites[ring, j]
    return out


def replacement_accounts(frozen: pd.DataFrame, freeze_t: np.ndarray, sleeper_share: float,
                         rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Two accounts per frozen ring account, and when each takes over the ring's listings.

    The pair registers together: either days after the freeze, or (sleepers) weeks
    before it, kept dormant so that account age gives nothing away.
    """
    batch = np.repeat(np.arange(len(frozen)), 2)
    out = frozen.iloc[batch].reset_index(drop=True).copy()
    takeover = freeze_t + rng.uniform(0.5, 5.0, len(frozen))
    sleeper = rng.random(len(frozen)) < sleeper_share
    opened = np.where(sleeper, np.maximum(freeze_t - rng.uniform(5.0, 60.0, len(frozen)),
                                          frozen["reg_t"].to_numpy()), takeover)
    out["reg_t"] = opened[batch] + rng.uniform(0.0, 0.2, len(batch))
    out["verified"] = False
    out["generation"] = out["generation"] + 1
    return out, np.maximum(takeover[batch], out["reg_t"].to_numpy())
