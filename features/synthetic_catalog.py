"""The synthetic catalogue: invented brands, their categories, product lines and fx rates.

Brands are pronounceable invented names. Each (brand, category) pair has a
retail reference price in USD; a share of brands never registered it, and a
share only launch part-way through the period (the "new brands" of drift).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from features.synthetic import SynthConfig

# category -> (median retail price in USD, how much counterfeiters target it, items sold)
CATEGORIES: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "handbags": (900.0, 3.0, ("Tote", "Shoulder Bag", "Crossbody Bag", "Clutch", "Wallet",
                              "Backpack", "Card Holder")),
    "watches": (1500.0, 3.0, ("Chronograph", "Diver 40mm", "GMT", "Automatic Watch",
                              "Dress Watch", "Field Watch 38mm")),
    "sneakers": (150.0, 3.0, ("Low Top", "High Top", "Runner", "Trainer", "Slip-On",
                              "Basketball Shoe")),
    "perfume": (110.0, 2.0, ("Eau de Parfum 100ml", "Eau de Toilette 50ml", "Gift Set",
                             "Body Mist", "Parfum 30ml")),
    "sunglasses": (250.0, 2.0, ("Aviator", "Wayfarer", "Shield", "Cat Eye",
                                "Round Sunglasses")),
    "apparel": (90.0, 1.5, ("Hoodie", "T-Shirt", "Jacket", "Belt", "Cap", "Scarf")),
    "toys": (45.0, 0.7, ("Building Set", "Action Figure", "Plush", "RC Car", "Puzzle 1000pc")),
    "cosmetics": (45.0, 1.5, ("Serum 30ml", "Lipstick", "Foundation", "Eyeshadow Palette",
                              "Moisturizer 50ml")),
    "jewelry": (900.0, 2.0, ("Pendant", "Earrings", "Bracelet", "Ring", "Necklace")),
    "phone_accessories": (40.0, 1.0, ("Phone Case", "Charger", "Power Bank", "Cable",
                                      "Phone Stand")),
    "headphones": (200.0, 1.5, ("Wireless Headphones", "Earbuds", "Earbuds Case", "Headset",
                                "Noise Cancelling Headphones")),
    "auto_parts": (150.0, 0.6, ("Oil Filter", "Brake Pads", "Spark Plugs", "Wiper Blades",
                                "Air Filter")),
}

# third-party accessories sold "compatible with <Brand>", per category of the product they fit
ACCESSORY_ITEMS: dict[str, tuple[str, ...]] = {
    "handbags": ("Purse Organizer Insert", "Replacement Strap", "Dust Bag", "Bag Charm"),
    "watches": ("Silicone Strap", "Watch Band 20mm", "Screen Protector", "Watch Winder"),
    "sneakers": ("Shoe Laces", "Cleaning Kit", "Sole Protector", "Shoe Trees"),
    "perfume": ("Travel Atomizer", "Refillable Bottle", "Display Stand"),
    "sunglasses": ("Replacement Lenses", "Hard Case", "Nose Pads"),
    "apparel": ("Garment Bag", "Replacement Buttons", "Hanger Set"),
    "toys": ("Display Case", "Battery Pack", "Storage Box"),
    "cosmetics": ("Brush Set", "Makeup Organizer", "Sponge Set"),
    "jewelry": ("Jewelry Box", "Cleaning Cloth", "Ring Sizer"),
    "phone_accessories": ("Case", "Charger Cable", "Screen Protector", "Car Mount"),
    "headphones": ("Ear Pads", "Carrying Case", "Replacement Cable", "Ear Tips"),
    "auto_parts": ("Floor Mats", "Seat Covers", "Key Fob Cover", "Valve Caps"),
}

# product line -> price factor against the (brand, category) reference
LINES: tuple[tuple[str, float], ...] = (
    ("Classic", 1.0), ("Neo", 0.95), ("Pro", 1.25), ("Mini", 0.7), ("Grand", 1.4),
    ("Air", 0.9), ("Ultra", 1.3), ("Lite", 0.75), ("Signature", 1.2), ("Sport", 0.9),
)

_ONSETS = ("b", "br", "c", "d", "dr", "f", "g", "gr", "k", "l", "m", "n", "p", "r", "s",
           "t", "th", "v", "z", "qu", "")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ae", "ia", "ea")
_CODAS = ("", "", "", "n", "r", "l", "x", "s", "m")

LINES_PER_PAIR = 3
MODELS_PER_LINE = 3


@dataclass(frozen=True)
class Catalog:
    """Brands and their products; `pair_*` arrays describe (brand, category) pairs."""

    brand_names: np.ndarray          # str, one per brand
    brand_registered: np.ndarray     # bool, per brand
    brand_launch_day: np.ndarray     # float days since start; 0 for established brands
    pair_brand: np.ndarray           # brand index per pair
    pair_category: np.ndarray        # category index per pair
    pair_reference_usd: np.ndarray   # retail reference price per pair
    pair_popularity: np.ndarray      # weight for ordinary listings
    pair_hype: np.ndarray            # weight for counterfeits
    product_pair: np.ndarray         # pair index per product
    product_line: np.ndarray         # index into LINES per product
    product_model: np.ndarray        # model number per product
    product_item: np.ndarray         # index into the category's items per product
    product_factor: np.ndarray       # price factor of the line

    @property
    def category_names(self) -> list[str]:
        return list(CATEGORIES)

    def brands_table(self) -> pd.DataFrame:
        """The registry as the contract's `brands` table: registered brands only."""
        registered = self.brand_registered[self.pair_brand]
        names = np.array(self.category_names)
        return pd.DataFrame({
            "brand": pd.array(self.brand_names[self.pair_brand][registered], dtype="str"),
            "category": pd.array(names[self.pair_category][registered], dtype="str"),
            "reference_price": np.round(self.pair_reference_usd[registered], 2),
        }).sort_values(["brand", "category"], ignore_index=True)


def brand_names(n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` distinct pronounceable invented names of two or three syllables."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        syllables = 2 + int(rng.random() < 0.3)
        # only the first syllable may start with a vowel: no vowel pile-ups like "Peaaci"
        onsets = [_ONSETS[rng.integers(len(_ONSETS) - (i > 0))] for i in range(syllables)]
        parts = [o + _VOWELS[rng.integers(len(_VOWELS))] for o in onsets]
        name = ("".join(parts) + _CODAS[rng.integers(len(_CODAS))]).capitalize()
        if 4 <= len(name) <= 10 and name not in seen:
            seen.add(name)
            names.append(name)
    return np.array(names, dtype=object)


def build_catalog(config: SynthConfig, rng: np.random.Generator) -> Catalog:
    """Draw brands, their (brand, category) pairs and three lines of three models per pair."""
    n = config.n_brands
    names = brand_names(n, rng)
    registered = rng.random(n) >= config.share_unregistered_brands
    is_new = rng.random(n) < config.share_new_brands
    launch = np.where(is_new, rng.uniform(0.3, 0.8, n) * config.days, 0.0)
    n_cats = len(CATEGORIES)
    per_brand = 1 + (rng.random(n) < 0.35).astype(int)
    pair_brand = np.repeat(np.arange(n), per_brand)
    pair_category = np.empty(len(pair_brand), dtype=np.int64)
    pos = 0
    for k in per_brand:
        pair_category[pos:pos + k] = rng.choice(n_cats, size=k, replace=False)
        pos += k
    base = np.array([v[0] for v in CATEGORIES.values()])
    target = np.array([v[1] for v in CATEGORIES.values()])
    reference = np.round(base[pair_category] * rng.lognormal(0.0, 0.45, len(pair_brand)), 2)
    brand_pop = rng.lognormal(0.0, 1.0, n)
    brand_hype = rng.lognormal(0.0, 0.7, n) * np.where(is_new, 2.5, 1.0)
    popularity = brand_pop[pair_brand] * rng.lognormal(0.0, 0.3, len(pair_brand))
    hype = brand_hype[pair_brand] * target[pair_category]
    n_pairs = len(pair_brand)
    lines = np.stack([rng.choice(len(LINES), size=LINES_PER_PAIR, replace=False)
                      for _ in range(n_pairs)])
    per_pair = LINES_PER_PAIR * MODELS_PER_LINE
    product_pair = np.repeat(np.arange(n_pairs), per_pair)
    product_line = np.repeat(lines.ravel(), MODELS_PER_LINE)
    product_model = rng.integers(1, 100, len(product_pair))
    n_items = np.array([len(v[2]) for v in CATEGORIES.values()])
    product_item = rng.integers(0, 1 << 30, len(product_pair)) % n_items[
        pair_category[product_pair]]
    factor = np.array([f for _, f in LINES])[product_line]
    return Catalog(names, registered, launch, pair_brand, pair_category, reference,
                   popularity, hype, product_pair, product_line, product_model, product_item,
                   factor)


def fx_table(config: SynthConfig) -> pd.DataFrame:
    """The contract's `fx_rates` table from the configured currencies."""
    codes, rates = zip(*config.currencies, strict=True)
    return pd.DataFrame({"currency": pd.array(codes, dtype="str"),
                         "usd_per_unit": np.array(rates, dtype="float64")})
