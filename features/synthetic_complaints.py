"""Brand complaints, strikes, account freezes and review labels of the synthetic marketplace.

Brands complain about a listing some days after it appears; a complaint is
upheld or rejected some days later, or still pending when the data ends.
`strikes_to_freeze` upheld complaints from one brand freeze the seller: its
later listings never happen, and a ring moves them to newly opened accounts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.synthetic_catalog import Catalog
from features.synthetic_listings import FAKE_FROM, INTENTS
from features.synthetic_sellers import RING, replacement_accounts

if TYPE_CHECKING:
    from features.synthetic import SynthConfig

# how likely a brand complains, relative to the configured base rate, per intent
_COMPLAINT_WEIGHT = np.array([0.1, 0.5, 0.5, 1.0, 1.0, 1.5,  # lawful: against look-alikes
                              1.25, 0.9, 0.8, 0.55])          # counterfeits: stealth hides
# how likely review misses a counterfeit, relative to the configured base rate
# blatant, obfuscated, inspired-by, stealth: review rarely misses a "replica AAA" title
_MISS_WEIGHT = np.array([0.2, 0.8, 0.6, 2.5])


def _lognormal(rng: np.random.Generator, mean: float, sigma: float, n: int) -> np.ndarray:
    return rng.lognormal(np.log(mean) - sigma**2 / 2.0, sigma, n)


def draw_complaints(config: SynthConfig, catalog: Catalog, plan: pd.DataFrame,
                    rng: np.random.Generator) -> pd.DataFrame:
    """Add each listing's potential complaint: filed, resolved (days) and outcome."""
    n = len(plan)
    intent = plan["intent"].to_numpy()
    fake = intent >= FAKE_FROM
    brand = catalog.pair_brand[plan["pair"].to_numpy()]
    base = np.where(fake, config.complaint_rate_counterfeit, config.complaint_rate_lookalike)
    enforcing = np.where(catalog.brand_registered[brand], 1.0, 0.6)
    p = np.clip(base * _COMPLAINT_WEIGHT[intent] * enforcing, 0.0, 1.0)
    filed = plan["t"].to_numpy() + _lognormal(rng, config.complaint_delay_days, 0.8, n)
    resolved = filed + np.maximum(_lognormal(rng, config.resolution_delay_days, 0.9, n), 0.05)
    upheld_rate = np.where(fake, config.upheld_rate_counterfeit, config.upheld_rate_lookalike)
    return plan.assign(
        brand=brand,
        c_has=rng.random(n) < p,
        c_filed=filed,
        c_resolved=resolved,
        c_upheld=rng.random(n) < upheld_rate,
    )


def freeze_times(plan: pd.DataFrame, n_sellers: int, strikes: int, days: float) -> np.ndarray:
    """Per seller, when its `strikes`-th upheld complaint from one brand was resolved (or inf)."""
    hits = plan["c_has"] & plan["c_upheld"] & (plan["c_resolved"] <= days)
    c = plan.loc[hits, ["seller", "brand", "c_resolved"]].sort_values("c_resolved",
                                                                     kind="stable")
    rank = c.groupby(["seller", "brand"]).cumcount().to_numpy()
    first = c[rank == strikes - 1].groupby("seller")["c_resolved"].min()
    out = np.full(n_sellers, np.inf)
    out[first.index.to_numpy()] = first.to_numpy()
    return out


def settle_freezes(config: SynthConfig, plan: pd.DataFrame, sellers: pd.DataFrame,
                   rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop what frozen sellers would have listed; rings carry on under new accounts."""
    for _ in range(config.ring_generations):
        freeze = freeze_times(plan, len(sellers), config.strikes_to_freeze, config.days)
        seller = plan["seller"].to_numpy()
        after = plan["t"].to_numpy() > freeze[seller]
        if not after.any():
            break
        is_ring = sellers["kind"].to_numpy()[seller] == RING
        plan = plan[~(after & ~is_ring)]
        seller = plan["seller"].to_numpy()
        moved = np.flatnonzero(plan["t"].to_numpy() > freeze[seller])
        frozen = np.unique(seller[moved])
        fresh, takeover = replacement_accounts(sellers.iloc[frozen], freeze[frozen],
                                               config.ring_sleeper_share, rng)
        first_new = len(sellers)
        sellers = pd.concat([sellers, fresh], ignore_index=True)
        slot = np.searchsorted(frozen, seller[moved])
        new_seller = first_new + 2 * slot + rng.integers(0, 2, len(moved))
        new_seller_col = seller.copy()
        new_seller_col[moved] = new_seller
        plan = plan.assign(seller=new_seller_col)
        too_early = plan["t"].to_numpy()[moved] <= takeover[new_seller - first_new]
        plan = plan.drop(index=plan.index[moved[too_early]])
    freeze = freeze_times(plan, len(sellers), config.strikes_to_freeze, config.days)
    plan = plan[plan["t"].to_numpy() <= freeze[plan["seller"].to_numpy()]]
    return plan, sellers


def known_complaints(plan: pd.DataFrame, days: float) -> np.ndarray:
    """Rows of `plan` whose complaint was filed before the data ends."""
    return (plan["c_has"] & (plan["c_filed"] <= days)).to_numpy()


def review_labels(config: SynthConfig, plan: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """1 where review confirmed a counterfeit: upheld complaints plus noisy review outcomes."""
    intent = plan["intent"].to_numpy()
    fake = intent >= FAKE_FROM
    upheld = (plan["c_has"] & plan["c_upheld"] & (plan["c_resolved"] <= config.days)).to_numpy()
    tactic = np.clip(intent - FAKE_FROM, 0, len(_MISS_WEIGHT) - 1)
    miss = np.clip(config.missed_counterfeit_rate * _MISS_WEIGHT[tactic], 0.0, 0.95)
    u = rng.random(len(plan))
    caught = u >= miss
    false_alarm = u < config.false_positive_rate
    return np.where(fake, upheld | caught, upheld | false_alarm).astype(np.int64)


def complaint_rows(plan: pd.DataFrame, days: float) -> pd.DataFrame:
    """The complaints known when the data ends: one per complained-about listing."""
    c = plan.loc[known_complaints(plan, days), ["row", "seller", "brand", "c_filed",
                                                "c_resolved", "c_upheld"]]
    decided = c["c_resolved"].to_numpy() <= days
    status = np.where(decided, np.where(c["c_upheld"], "upheld", "rejected"), "pending")
    return pd.DataFrame({
        "row": c["row"].to_numpy(),
        "seller": c["seller"].to_numpy(),
        "brand": c["brand"].to_numpy(),
        "filed_t": c["c_filed"].to_numpy(),
        "resolved_t": np.where(decided, c["c_resolved"].to_numpy(), np.nan),
        "status": status,
    }).sort_values("filed_t", kind="stable", ignore_index=True)


__all__ = ["INTENTS", "complaint_rows", "draw_complaints", "freeze_times", "known_complaints",
           "review_labels", "settle_freezes"]
