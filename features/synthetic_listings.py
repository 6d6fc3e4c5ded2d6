"""The structure of synthetic listings: who lists what, when, why, at what price and stock.

Each listing gets an *intent*: a lawful one (new, resale, used, clearance,
wholesale, accessory) or a counterfeiter's tactic (blatant, obfuscated, inspired,
stealth). Text is written later from the intent (`features.synthetic_text`);
everything here is numpy over whole columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.synthetic_catalog import LINES_PER_PAIR, MODELS_PER_LINE, Catalog
from features.synthetic_sellers import FAVOURITES, KINDS, RING

if TYPE_CHECKING:
    from features.synthetic import SynthConfig

INTENTS = ("new", "resale", "used", "clearance", "wholesale", "accessory",
           "blatant", "obfuscated", "inspired", "stealth")
FAKE_FROM = INTENTS.index("blatant")
INTENT = {name: k for k, name in enumerate(INTENTS)}

# lawful intents per seller kind (weights)
_LAWFUL: dict[str, dict[str, float]] = {
    "authorized": {"new": 0.85, "clearance": 0.15},
    "reseller": {"resale": 0.8, "used": 0.15, "new": 0.05},
    "used": {"used": 0.9, "resale": 0.1},
    "casual": {"used": 0.55, "new": 0.25, "resale": 0.2},
    "accessory": {"accessory": 1.0},
    "wholesaler": {"wholesale": 0.85, "clearance": 0.15},
    "opportunist": {"used": 0.5, "resale": 0.3, "new": 0.2},
    "ring": {"accessory": 0.5, "resale": 0.5},
}
# counterfeit tactic mix (blatant, obfuscated, inspired, stealth) at the start and at the end
_TACTICS_EARLY = {"ring": (0.50, 0.20, 0.12, 0.18), "other": (0.50, 0.12, 0.30, 0.08)}
_TACTICS_LATE = {"ring": (0.12, 0.35, 0.08, 0.45), "other": (0.25, 0.30, 0.20, 0.25)}
# price as a share of the product's retail price: (low, high) of a uniform draw
_RATIO = {"resale": (0.65, 0.97), "used": (0.25, 0.75), "clearance": (0.3, 0.65),
          "wholesale": (0.72, 0.92), "blatant": (0.04, 0.25), "obfuscated": (0.08, 0.4),
          "inspired": (0.05, 0.3), "stealth": (0.72, 1.02)}
_IMAGES = np.array([6.0, 5.0, 4.0, 4.0, 3.0, 4.0, 3.0, 4.0, 3.0, 5.0])
_PRODUCT_WEIGHT = 1.0 / np.arange(1, LINES_PER_PAIR * MODELS_PER_LINE + 1)


def fake_rates(config: SynthConfig) -> np.ndarray:
    """Per seller kind: the share of its listings that are counterfeit."""
    rates = {"reseller": 0.003, "used": 0.002, "casual": config.casual_fake_rate,
             "accessory": 0.002, "wholesaler": 0.004,
             "opportunist": config.opportunist_fake_rate, "ring": 1.0 - config.ring_decoy_rate}
    return np.array([rates.get(k, 0.0) for k in KINDS])


def listing_counts(config: SynthConfig, sellers: pd.DataFrame, n_planned: int,
                   rng: np.random.Generator) -> np.ndarray:
    """How many listings each seller makes: heavy-tailed, rings get their configured share."""
    window = np.clip(sellers["until_t"].to_numpy() - np.maximum(sellers["reg_t"].to_numpy(), 0.0),
                     0.0, None)
    weight = sellers["volume"].to_numpy() * window
    is_ring = sellers["kind"].to_numpy() == RING
    n_ring = int(round(n_planned * config.ring_listing_share)) if is_ring.any() else 0
    counts = np.zeros(len(sellers), dtype=np.int64)
    for mask, total in ((~is_ring, n_planned - n_ring), (is_ring, n_ring)):
        w = weight[mask]
        if total and w.sum() > 0:
            counts[mask] = rng.multinomial(total, w / w.sum())
    return counts


def _intents(config: SynthConfig, kind: np.ndarray, t: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    n = len(kind)
    intent = np.empty(n, dtype=np.int64)
    for k, name in enumerate(KINDS):
        idx = np.flatnonzero(kind == k)
        options = _LAWFUL[name]
        p = np.array(list(options.values()))
        intent[idx] = np.array([INTENT[o] for o in options])[rng.choice(len(p), len(idx),
                                                                    p=p / p.sum())]
    fake = rng.random(n) < fake_rates(config)[kind]
    drift = np.clip(config.drift_strength * t / config.days, 0.0, 1.0)[:, None]
    ring = kind == RING
    early = np.where(ring[:, None], _TACTICS_EARLY["ring"], _TACTICS_EARLY["other"])
    late = np.where(ring[:, None], _TACTICS_LATE["ring"], _TACTICS_LATE["other"])
    mix = early + drift * (late - early)
    cum = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    tactic = (rng.random(n)[:, None] > cum).sum(axis=1).clip(0, 3)
    return np.where(fake, FAKE_FROM + tactic, intent)


def _pairs(config: SynthConfig, catalog: Catalog, sellers: pd.DataFrame, seller: np.ndarray,
           t: np.ndarray, fake: np.ndarray, ring: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """The (brand, category) pair of each listing: favourites, popular or hyped brands."""
    n = len(seller)
    favourites = sellers[[f"fav{j}" for j in range(FAVOURITES)]].to_numpy()[seller]
    fav = favourites[np.arange(n), rng.integers(0, FAVOURITES, n)]
    pop = catalog.pair_popularity / catalog.pair_popularity.sum()
    hype = catalog.pair_hype / catalog.pair_hype.sum()
    drawn = np.where(fake, rng.choice(len(pop), n, p=hype), rng.choice(len(pop), n, p=pop))
    keep_fav = rng.random(n) < np.where(ring, 0.8, np.where(fake, 0.3, 0.65))
    pair = np.where(keep_fav, fav, drawn)
    launch = catalog.brand_launch_day[catalog.pair_brand]
    for _ in range(3):  # a brand cannot be listed before it launches: draw again
        early = np.flatnonzero(launch[pair] > t)
        if not len(early):
            break
        f = fake[early]
        pair[early[f]] = rng.choice(len(hype), int(f.sum()), p=hype)
        pair[early[~f]] = rng.choice(len(pop), int((~f).sum()), p=pop)
    early = launch[pair] > t
    if early.any():
        established = np.flatnonzero(launch == 0)
        pair[early] = established[rng.integers(0, len(established), early.sum())]
    return pair


def _round_price(price: np.ndarray, ending: np.ndarray, whole_units: np.ndarray) -> np.ndarray:
    """Seller pricing habits: exact cents, .99 endings, whole numbers, tens."""
    out = np.round(price, 2)
    out = np.where(ending == 1, np.floor(price) + 0.99, out)
    out = np.where(ending == 2, np.round(price), out)
    out = np.where(ending == 3, np.round(price / 10.0) * 10.0, out)
    out = np.where(whole_units, np.maximum(np.round(price), 1.0), out)
    return np.maximum(out, 0.5)


def plan_listings(config: SynthConfig, catalog: Catalog, sellers: pd.DataFrame,
                  n_planned: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per planned listing with every non-text column (times in days since start)."""
    counts = listing_counts(config, sellers, n_planned, rng)
    seller = np.repeat(np.arange(len(sellers)), counts)
    n = len(seller)
    kind = sellers["kind"].to_numpy()[seller]
    ring = kind == RING
    reg = sellers["reg_t"].to_numpy()[seller]
    # a ring's first accounts may stay dormant for a while before they start listing
    warmup = np.where(ring, rng.exponential(config.ring_warmup_days, n) + 0.05,
                      rng.uniform(0.02, 5, n))
    lo = np.maximum(reg + warmup, 0.0)
    until = sellers["until_t"].to_numpy()[seller]
    t = np.minimum(lo + rng.random(n) * np.clip(until - lo, 0.0, None), config.days)
    intent = _intents(config, kind, t, rng)
    fake = intent >= FAKE_FROM
    pair = _pairs(config, catalog, sellers, seller, t, fake, ring, rng)
    p = _PRODUCT_WEIGHT / _PRODUCT_WEIGHT.sum()
    product = pair * len(p) + rng.choice(len(p), n, p=p)
    retail = catalog.pair_reference_usd[pair] * catalog.product_factor[product]

    ratio = np.exp(rng.normal(0.0, 0.07, n))  # new: around retail
    for name, (low, high) in _RATIO.items():
        m = intent == INTENT[name]
        ratio[m] = rng.uniform(low, high, m.sum())
    ring_id = sellers["ring"].to_numpy()[seller]
    n_rings = int(sellers["ring"].max()) + 1
    if n_rings > 0:  # a ring prices alike: one centre per ring, little spread
        centre = rng.uniform(0.08, 0.35, n_rings)
        m = ring & fake & (intent != INTENT["stealth"])
        ratio[m] = centre[ring_id[m]] * np.exp(rng.normal(0.0, 0.08, m.sum()))
    usd = retail * ratio
    acc = intent == INTENT["accessory"]
    usd[acc] = rng.lognormal(np.log(14.0), 0.55, acc.sum())

    fx = dict(config.currencies)
    currency = sellers["currency"].to_numpy()[seller]
    rate = np.array([fx[c] for c in sellers["currency"]])[seller]
    whole = rate < 0.05  # JPY-like currencies have no cents
    price = _round_price(usd / rate, sellers["ending"].to_numpy()[seller], whole)

    quantity = np.ones(n, dtype=np.int64)
    for name, draw in (
        ("new", lambda m: rng.geometric(0.3, m)),
        ("resale", lambda m: rng.geometric(0.7, m)),
        ("used", lambda m: rng.geometric(0.92, m)),
        ("clearance", lambda m: rng.geometric(0.15, m)),
        ("wholesale", lambda m: np.clip(rng.lognormal(np.log(150), 0.8, m), 20, 5000)),
        ("accessory", lambda m: np.clip(rng.lognormal(np.log(60), 1.0, m), 1, 2000)),
        ("blatant", lambda m: rng.geometric(0.1, m)),
        ("obfuscated", lambda m: rng.geometric(0.1, m)),
        ("inspired", lambda m: rng.geometric(0.15, m)),
        ("stealth", lambda m: rng.geometric(0.35, m)),
    ):
        m = intent == INTENT[name]
        quantity[m] = np.asarray(draw(int(m.sum())), dtype=np.int64)
    casual = kind == KINDS.index("casual")
    quantity[casual & ~fake] = 1
    quantity[~ring & fake] = np.minimum(quantity[~ring & fake], 3)

    return pd.DataFrame({
        "seller": seller,
        "t": t,
        "intent": intent,
        "pair": pair,
        "product": product,
        "price": price,
        "currency": currency,
        "quantity": quantity,
        "image_count": np.clip(rng.poisson(_IMAGES[intent]), 0, 20),
        "retail_usd": retail,
    })
