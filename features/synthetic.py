"""A synthetic marketplace with counterfeit rings, look-alikes, noisy labels and drift.

`generate_marketplace(SynthConfig(...))` returns a `Marketplace` in the data
contract, in memory and deterministic for a seed; `strikeout synth` writes it
with `save_marketplace`. docs/synthetic-marketplace.md explains every knob.
The parts: `synthetic_catalog` (brands), `synthetic_sellers` (kinds, rings),
`synthetic_listings` (intent, product, price), `synthetic_complaints`
(complaints, freezes, labels), `synthetic_text` (titles, descriptions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from features.contract import Marketplace
from features.synthetic_catalog import Catalog, build_catalog, fx_table
from features.synthetic_complaints import (
    complaint_rows,
    draw_complaints,
    known_complaints,
    review_labels,
    settle_freezes,
)
from features.synthetic_listings import FAKE_FROM, INTENTS, plan_listings
from features.synthetic_sellers import KINDS, build_sellers
from features.synthetic_text import build_text
from features.synthetic_vocabulary import signatures

NS_PER_DAY = 86_400 * 10**9
_STREAMS = ("catalog", "sellers", "listings", "complaints", "freezes", "trim", "labels", "text")


@dataclass(frozen=True)
class SynthConfig:
    """Every knob of the generator, with its default (docs/synthetic-marketplace.md)."""

    n_listings: int = 50_000
    seed: int = 0
    start_date: str = "2026-01-01"
    days: int = 181
    listings_per_seller: float = 12.0
    # relative shares of ordinary (non-ring) sellers by kind
    share_authorized: float = 0.05
    share_reseller: float = 0.10
    share_used: float = 0.14
    share_casual: float = 0.48
    share_accessory: float = 0.07
    share_wholesaler: float = 0.04
    share_opportunist: float = 0.12
    # counterfeit rings; ring_count None means one ring per `listings_per_ring` listings
    ring_count: int | None = None
    listings_per_ring: int = 6_000
    ring_size_min: int = 3
    ring_size_max: int = 8
    ring_listing_share: float = 0.035
    ring_decoy_rate: float = 0.06
    ring_generations: int = 8
    ring_lifetime_days: float = 75.0
    ring_warmup_days: float = 7.0
    ring_sleeper_share: float = 0.4
    opportunist_fake_rate: float = 0.25
    casual_fake_rate: float = 0.004
    # brands
    n_brands: int = 80
    share_unregistered_brands: float = 0.15
    share_new_brands: float = 0.10
    # complaints and strikes
    complaint_rate_counterfeit: float = 0.45
    complaint_rate_lookalike: float = 0.012
    upheld_rate_counterfeit: float = 0.9
    upheld_rate_lookalike: float = 0.12
    complaint_delay_days: float = 10.0
    resolution_delay_days: float = 6.0
    strikes_to_freeze: int = 3
    # labels and drift
    missed_counterfeit_rate: float = 0.12
    false_positive_rate: float = 0.003
    drift_strength: float = 1.0
    currencies: tuple[tuple[str, float], ...] = (
        ("USD", 1.0), ("EUR", 1.08), ("GBP", 1.27), ("CNY", 0.138), ("JPY", 0.0067),
        ("HKD", 0.128), ("CAD", 0.73), ("AUD", 0.66),
    )

    def __post_init__(self) -> None:
        problems = []
        if self.n_listings < 1:
            problems.append("n_listings must be >= 1")
        if self.days < 28:
            problems.append("days must be >= 28 (the time split needs weeks)")
        if self.n_brands < 5:
            problems.append("n_brands must be >= 5")
        if not 1 <= self.ring_size_min <= self.ring_size_max:
            problems.append("need 1 <= ring_size_min <= ring_size_max")
        if self.ring_count is not None and self.ring_count < 0:
            problems.append("ring_count must be >= 0")
        if self.strikes_to_freeze < 1:
            problems.append("strikes_to_freeze must be >= 1")
        for name in ("share_unregistered_brands", "share_new_brands", "ring_listing_share",
                     "ring_sleeper_share",
                     "ring_decoy_rate", "opportunist_fake_rate", "casual_fake_rate",
                     "complaint_rate_counterfeit", "complaint_rate_lookalike",
                     "upheld_rate_counterfeit", "upheld_rate_lookalike",
                     "missed_counterfeit_rate", "false_positive_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be within [0, 1]")
        if min(self.share_authorized, self.share_reseller, self.share_used, self.share_casual,
               self.share_accessory, self.share_wholesaler, self.share_opportunist) < 0:
            problems.append("seller shares must be >= 0")
        if self.ring_lifetime_days <= 0 or self.ring_warmup_days <= 0:
            problems.append("ring_lifetime_days and ring_warmup_days must be > 0")
        if self.complaint_delay_days <= 0 or self.resolution_delay_days <= 0:
            problems.append("complaint delays must be > 0")
        if "USD" not in dict(self.currencies) or min(r for _, r in self.currencies) <= 0:
            problems.append("currencies must include USD and have rates > 0")
        try:
            pd.Timestamp(self.start_date)
        except ValueError:
            problems.append(f"start_date {self.start_date!r} is not a date")
        if problems:
            raise ValueError("invalid SynthConfig: " + "; ".join(problems))

    @property
    def rings(self) -> int:
        if self.ring_count is not None:
            return self.ring_count
        return max(2, round(self.n_listings / self.listings_per_ring))


def _timestamps(start_ns: int, days: np.ndarray) -> pd.Series:
    """Days since the start as UTC timestamps, floored to the second (keeps every order)."""
    ns = start_ns + np.floor(days * 86_400).astype(np.int64) * 10**9
    return pd.Series(pd.to_datetime(ns, utc=True)).astype("datetime64[ns, UTC]")


def _text(values: np.ndarray | pa.Array) -> pd.Series:
    return pd.Series(pd.array(values, dtype="str"))


class _Stages:
    """Turns "this share of the work is done" into `progress(n_done)` calls, 0..n_listings."""

    def __init__(self, total: int, progress: Callable[[int], None] | None) -> None:
        self.total = total
        self.progress = progress
        self.done = 0

    def reach(self, share: float) -> None:
        done = int(round(min(share, 1.0) * self.total))
        if self.progress is not None and done > self.done:  # never moves backwards
            self.done = done
            self.progress(done)

    def between(self, low: float, high: float) -> Callable[[int], None]:
        """A callback for a step that itself counts rows from 0 to `total`."""
        return lambda done: self.reach(low + (high - low) * done / max(self.total, 1))


def generate_marketplace(config: SynthConfig,
                         progress: Callable[[int], None] | None = None) -> Marketplace:
    """Generate a whole marketplace.

    `progress(n_done)` is called with a rising count that ends at `n_listings`
    (each stage counts for its usual share of the time), e.g. to move a tqdm bar.
    """
    return generate_with_truth(config, progress)[0]


def generate_with_truth(config: SynthConfig, progress: Callable[[int], None] | None = None
                        ) -> tuple[Marketplace, pd.DataFrame]:
    """The marketplace and, per listing, what really happened (never in the dataset folder).

    The truth frame has `listing_id`, `seller_kind`, `ring` (-1 when not a ring
    account), `intent` and `counterfeit`: for tests and for measuring recall by tactic.
    """
    streams = dict(zip(_STREAMS, np.random.SeedSequence(config.seed).spawn(len(_STREAMS)),
                       strict=True))
    rng = {name: np.random.default_rng(s) for name, s in streams.items()}
    stages = _Stages(config.n_listings, progress)
    catalog = build_catalog(config, rng["catalog"])
    # plan more listings than asked: freezes remove some, the surplus is trimmed at the end
    overshoot = 1.15
    while True:
        n_planned = int(np.ceil(config.n_listings * overshoot)) + 50
        n_regular = max(1, round(n_planned * (1 - config.ring_listing_share)
                                 / config.listings_per_seller))
        sellers = build_sellers(config, catalog, n_regular, config.rings, rng["sellers"])
        plan = plan_listings(config, catalog, sellers, n_planned, rng["listings"])
        stages.reach(0.3)
        plan = draw_complaints(config, catalog, plan, rng["complaints"])
        plan, sellers = settle_freezes(config, plan, sellers, rng["freezes"])
        stages.reach(0.5)
        if len(plan) >= config.n_listings:
            break
        overshoot *= 1.25
    plan = _trim(plan, config, rng["trim"])
    plan = plan.sort_values(["t", "seller"], kind="stable", ignore_index=True)
    plan["row"] = np.arange(len(plan))
    plan["label"] = review_labels(config, plan, rng["labels"])
    market, truth = _assemble(config, catalog, plan, sellers, rng["text"],
                              stages.between(0.55, 0.8))
    stages.reach(1.0)
    return market, truth


def _trim(plan: pd.DataFrame, config: SynthConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Drop surplus listings that nobody complained about (so strikes stay intact)."""
    surplus = len(plan) - config.n_listings
    if surplus <= 0:
        return plan
    free = np.flatnonzero(~known_complaints(plan, config.days))
    if len(free) < surplus:
        raise RuntimeError("too few listings without complaints to trim; lower complaint rates")
    drop = rng.choice(free, size=surplus, replace=False)
    keep = np.ones(len(plan), dtype=bool)
    keep[drop] = False
    return plan[keep]


def _signature_slots(sellers: pd.DataFrame, rng: np.random.Generator) -> tuple[
        np.ndarray, np.ndarray, list[str]]:
    """Per seller, indices of its shop signatures: one per signed shop, two per ring."""
    ring = sellers["ring"].to_numpy()
    n_rings = int(ring.max()) + 1 if len(ring) else 0
    signed = sellers["signed"].to_numpy() & (ring < 0)
    in_ring = ring >= 0
    # a ring keeps its first phrase; each generation of new accounts takes a fresh second one
    generations = sellers.loc[in_ring, ["ring", "generation"]].drop_duplicates()
    n_shops, n_generations = int(signed.sum()), len(generations)
    text = signatures(n_shops + n_rings + n_generations, rng)
    first = np.full(len(sellers), -1, dtype=np.int64)
    second = np.full(len(sellers), -1, dtype=np.int64)
    first[signed] = np.arange(n_shops)
    first[in_ring] = n_shops + ring[in_ring]
    slot = pd.Series(np.arange(n_generations), index=pd.MultiIndex.from_frame(generations))
    key = pd.MultiIndex.from_frame(sellers.loc[in_ring, ["ring", "generation"]])
    second[in_ring] = n_shops + n_rings + slot.reindex(key).to_numpy()
    return first, second, text


def _assemble(config: SynthConfig, catalog: Catalog, plan: pd.DataFrame, sellers: pd.DataFrame,
              rng: np.random.Generator, progress: Callable[[int], None]
              ) -> tuple[Marketplace, pd.DataFrame]:
    start_ns = pd.Timestamp(config.start_date, tz="UTC").value
    # seller ids follow registration order, so a ring's burst gets neighbouring ids
    order = np.argsort(sellers["reg_t"].to_numpy(), kind="stable")
    seller_id = np.empty(len(sellers), dtype=object)
    seller_id[order] = [f"S{k:07d}" for k in range(len(sellers))]
    seller = plan["seller"].to_numpy()

    first, second, signature_text = _signature_slots(sellers, rng)
    kind = sellers["kind"].to_numpy()
    ring = sellers["ring"].to_numpy()
    writer = np.where(ring >= 0, len(sellers) + ring, np.arange(len(sellers)))
    text = build_text(config, catalog, plan["intent"].to_numpy(), plan["product"].to_numpy(),
                      plan["t"].to_numpy(), kind[seller], writer[seller], first[seller],
                      second[seller], signature_text, rng)
    title, description, brand = text.render(progress)
    categories = np.array(catalog.category_names, dtype=object)
    listing_id = np.array([f"L{k:09d}" for k in range(len(plan))], dtype=object)
    listings = pd.DataFrame({
        "listing_id": _text(listing_id),
        "seller_id": _text(seller_id[seller]),
        "created_at": _timestamps(start_ns, plan["t"].to_numpy()),
        "title": _text(title),
        "description": _text(description),
        "brand": _text(brand),
        "category": _text(categories[catalog.pair_category[plan["pair"].to_numpy()]]),
        "price": plan["price"].to_numpy(dtype="float64"),
        "currency": _text(plan["currency"].to_numpy()),
        "quantity": plan["quantity"].to_numpy(dtype="int64"),
        "ships_from": _text(sellers["ships_from"].to_numpy()[seller]),
        "image_count": plan["image_count"].to_numpy(dtype="int64"),
        "label": plan["label"].to_numpy(dtype="int64"),
    })
    seller_table = pd.DataFrame({
        "seller_id": _text(seller_id[order]),
        "registered_at": _timestamps(start_ns, sellers["reg_t"].to_numpy()[order]),
        "country": _text(sellers["country"].to_numpy()[order]),
        "business_verified": sellers["verified"].to_numpy(dtype=bool)[order],
    })
    c = complaint_rows(plan, config.days)
    complaints = pd.DataFrame({
        "complaint_id": _text(np.array([f"C{k:08d}" for k in range(len(c))], dtype=object)),
        "listing_id": _text(listing_id[c["row"].to_numpy()]),
        "seller_id": _text(seller_id[c["seller"].to_numpy()]),
        "brand": _text(catalog.brand_names[c["brand"].to_numpy()]),
        "filed_at": _timestamps(start_ns, c["filed_t"].to_numpy()),
        "status": _text(c["status"].to_numpy()),
        "resolved_at": _timestamps(start_ns, np.nan_to_num(c["resolved_t"].to_numpy())).where(
            c["resolved_t"].notna().to_numpy()),
    })
    market = Marketplace(listings=listings, sellers=seller_table, complaints=complaints,
                         brands=catalog.brands_table(), fx_rates=fx_table(config))
    intent = plan["intent"].to_numpy()
    truth = pd.DataFrame({
        "listing_id": listings["listing_id"],
        "seller_kind": _text(np.array(KINDS, dtype=object)[kind[seller]]),
        "ring": sellers["ring"].to_numpy(dtype="int64")[seller],
        "intent": _text(np.array(INTENTS, dtype=object)[intent]),
        "counterfeit": intent >= FAKE_FROM,
    })
    return market, truth


__all__ = ["SynthConfig", "generate_marketplace", "generate_with_truth"]
