"""Titles, descriptions and the typed brand of synthetic listings, built column-wise.

Every word or phrase lives once in a `StringPool`; a listing's title is a few
pool indices per slot, and the strings are assembled with Arrow's vectorised
`take` and element-wise join, so a million titles take seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features import synthetic_vocabulary as vocab
from features.synthetic_catalog import ACCESSORY_ITEMS, CATEGORIES, LINES, Catalog
from features.synthetic_listings import INTENTS
from features.synthetic_sellers import KINDS

if TYPE_CHECKING:
    from features.synthetic import SynthConfig

NONE = -1
CHUNK_ROWS = 100_000
INTENT = {name: k for k, name in enumerate(INTENTS)}


class StringPool:
    """Distinct strings addressed by integer index; -1 means "no string here"."""

    def __init__(self) -> None:
        self._strings: list[str] = []

    def add(self, items: Sequence[str]) -> np.ndarray:
        """Append `items`; return their indices."""
        start = len(self._strings)
        self._strings.extend(items)
        return np.arange(start, start + len(items))

    def arrow(self) -> pa.Array:
        return pa.array(self._strings, type=pa.large_string())


@dataclass(frozen=True)
class ListingText:
    """Per listing: the title and description as slot indices into `pool`, and the brand."""

    pool: StringPool
    title: np.ndarray        # (n, slots) pool indices
    description: np.ndarray  # (n, slots) pool indices
    brand: np.ndarray        # (n,) pool index of the typed brand ("" allowed)

    def render(self, progress: Callable[[int], None] | None = None) -> tuple[
            pa.Array, pa.Array, pa.Array]:
        """Join the slots into strings, `CHUNK_ROWS` rows at a time."""
        strings = self.pool.arrow()
        titles, descriptions = [], []
        n = len(self.brand)
        for start in range(0, n, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, n)
            titles.append(_join(strings, self.title[start:stop]))
            descriptions.append(_join(strings, self.description[start:stop]))
            if progress is not None:
                progress(stop)
        brand = strings.take(pa.array(self.brand))
        return (pa.concat_arrays(titles) if titles else pa.array([], pa.large_string()),
                pa.concat_arrays(descriptions) if descriptions else pa.array(
                    [], pa.large_string()), brand)


def _join(strings: pa.Array, slots: np.ndarray) -> pa.Array:
    """Join each row's non-empty slots with single spaces."""
    parts = [strings.take(pa.array(col, mask=col < 0)) for col in slots.T]
    # pyarrow 25 drops rows whose inputs are all null under null_handling="skip", so a
    # never-null empty last part keeps every row; the space it adds is trimmed off again
    parts.append(pa.array(np.full(len(slots), "", dtype=object), pa.large_string()))
    joined = pc.binary_join_element_wise(*parts, pa.scalar(" ", pa.large_string()),
                                         null_handling="skip")
    joined = pc.utf8_rtrim(joined, characters=" ")
    if len(joined) != len(slots):
        raise RuntimeError(f"joined {len(joined)} strings for {len(slots)} rows")
    return joined


def _pick(rng: np.random.Generator, indices: np.ndarray, n: int) -> np.ndarray:
    return indices[rng.integers(0, len(indices), n)]


def _maybe(rng: np.random.Generator, values: np.ndarray, p: float | np.ndarray) -> np.ndarray:
    return np.where(rng.random(len(values)) < p, values, NONE)


def _mix_choice(rng: np.random.Generator, early: Sequence[float], late: Sequence[float],
                drift: np.ndarray) -> np.ndarray:
    """Per row, an option index drawn from a mix that moves from `early` to `late`."""
    e, l_ = np.asarray(early, float), np.asarray(late, float)
    mix = e + drift[:, None] * (l_ - e)
    cum = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    return (rng.random(len(drift))[:, None] > cum).sum(axis=1).clip(0, len(e) - 1)


def _variants(pool: StringPool, names: np.ndarray, keys: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
    """One obfuscated spelling per distinct key = (writer, brand, method), as pool indices.

    A writer (a seller, or a whole ring) keeps its spelling of a brand, so spellings
    recur within a ring but are not a fixed list a text model could memorise.
    """
    n_methods = len(vocab.OBFUSCATIONS)
    unique, inverse = np.unique(keys, return_inverse=True)
    spelled = [vocab.obfuscate(str(names[(k // n_methods) % len(names)]),
                               vocab.OBFUSCATIONS[k % n_methods], rng) for k in unique]
    return pool.add(spelled)[inverse]


def build_text(config: SynthConfig, catalog: Catalog, intent: np.ndarray, product: np.ndarray,
               t: np.ndarray, seller_kind: np.ndarray, writer: np.ndarray,
               signature_1: np.ndarray, signature_2: np.ndarray, signature_text: list[str],
               rng: np.random.Generator) -> ListingText:
    """Choose every listing's title, description and brand as pool indices.

    `writer` identifies who writes the text (a ring's accounts share one writer);
    `signature_1`/`signature_2` index `signature_text` (-1: none) per listing.
    """
    n = len(intent)
    pool = StringPool()
    empty = pool.add([""])[0]
    sig = pool.add(signature_text)
    names = catalog.brand_names
    brand_of = catalog.pair_brand[catalog.product_pair[product]]
    category = catalog.pair_category[catalog.product_pair[product]]
    drift = np.clip(config.drift_strength * t / config.days, 0.0, 1.0)
    is_ = {name: intent == k for name, k in INTENT.items()}
    # stealth and obfuscated listings are written like a genuine new or resale listing
    disguised = is_["stealth"] | is_["obfuscated"]
    voice = np.where(disguised, np.where(rng.random(n) < 0.5, INTENT["new"], INTENT["resale"]),
                     intent)
    speaks = {name: voice == k for name, k in INTENT.items()}

    plain = pool.add(list(names))
    upper = pool.add([str(b).upper() for b in names])
    lower = pool.add([str(b).lower() for b in names])
    u = rng.random(n)
    token = np.select([u < 0.04, u < 0.07], [upper[brand_of], lower[brand_of]], plain[brand_of])
    n_methods = len(vocab.OBFUSCATIONS)
    method = _mix_choice(rng, vocab.OBFUSCATION_EARLY, vocab.OBFUSCATION_LATE, drift)
    careless = np.isin(seller_kind, [KINDS.index("casual"), KINDS.index("used")])
    typo = np.flatnonzero(careless & (rng.random(n) < 0.03))  # honest misspellings
    hidden = np.flatnonzero(is_["obfuscated"] | (is_["blatant"] & (rng.random(n) < 0.15)))
    method[typo] = vocab.OBFUSCATIONS.index("misspell")
    for rows in (typo, hidden):
        keys = (writer[rows] * len(names) + brand_of[rows]) * n_methods + method[rows]
        token[rows] = _variants(pool, names, keys, rng)

    lines = pool.add([name for name, _ in LINES])
    models = pool.add([str(k) for k in range(100)])
    item_offsets = np.cumsum([0] + [len(v[2]) for v in CATEGORIES.values()])[:-1]
    items = pool.add([item for v in CATEGORIES.values() for item in v[2]])
    acc_counts = np.array([len(ACCESSORY_ITEMS[c]) for c in CATEGORIES])
    acc_offsets = np.cumsum(np.r_[0, acc_counts])[:-1]
    acc_items = pool.add([a for c in CATEGORIES for a in ACCESSORY_ITEMS[c]])

    comp = {
        "pre": np.full(n, NONE, dtype=np.int64),
        "brand": token,
        "line": lines[catalog.product_line[product]],
        "model": models[catalog.product_model[product]],
        "item": items[item_offsets[category] + catalog.product_item[product]],
        "suffix": np.full(n, NONE, dtype=np.int64),
        "acc": acc_items[acc_offsets[category] + rng.integers(0, 1 << 20, n) % acc_counts[
            category]],
        "maker": _maybe(rng, _pick(rng, pool.add(vocab.ACCESSORY_MAKERS), n), 0.65),
        "link": _pick(rng, pool.add(vocab.ACCESSORY_LINKS), n),
        "insp_link": _pick(rng, pool.add(vocab.INSPIRED_LINKS), n),
        "insp_word": _pick(rng, pool.add(vocab.INSPIRED_WORDS), n),
    }
    prefixes = pool.add(vocab.PREFIXES)
    for name, words in vocab.SUFFIXES.items():
        m = speaks[name]
        comp["suffix"][m] = _maybe(rng, _pick(rng, pool.add(words), int(m.sum())), 0.55)
        if name in ("new", "resale"):
            comp["pre"][m] = _maybe(rng, _pick(rng, prefixes, int(m.sum())), 0.08)
    late_cue = rng.random(n) < 0.8 * drift
    comp["cue"] = np.where(late_cue, _pick(rng, pool.add(vocab.TITLE_CUES_LATE), n),
                           _pick(rng, pool.add(vocab.TITLE_CUES_EARLY), n))

    patterns = (
        ("pre", "brand", "line", "model", "item", "suffix"),
        ("brand", "line", "model", "item", "cue"),
        ("cue", "brand", "line", "model", "item"),
        ("item", "cue", "line", "model", "brand"),
        ("maker", "acc", "link", "brand", "line", "model"),
        ("item", "insp_link", "brand", "line"),
        ("brand", "line", "insp_word", "item"),
    )
    pattern = np.zeros(n, dtype=np.int64)
    pattern[is_["blatant"]] = rng.choice([1, 2, 3], int(is_["blatant"].sum()), p=[.5, .3, .2])
    pattern[is_["accessory"]] = 4
    pattern[is_["inspired"]] = rng.choice([5, 6], int(is_["inspired"].sum()), p=[.6, .4])
    title = np.full((n, 6), NONE, dtype=np.int64)
    for p, names_ in enumerate(patterns):
        rows = pattern == p
        for j, part in enumerate(names_):
            title[rows, j] = comp[part][rows]

    # typed brand: what the seller put in the brand field
    generic = pool.add(["Generic", "Unbranded"])
    u = rng.random(n)
    typed = np.where(u < 0.03, empty, np.where(u < 0.05, upper[brand_of], plain[brand_of]))
    typed = np.where(is_["obfuscated"], np.select([u < 0.5, u < 0.75], [token, empty],
                                                  plain[brand_of]), typed)
    typed = np.where(is_["inspired"], np.select([u < 0.35, u < 0.7], [generic[0], empty],
                                                plain[brand_of]), typed)
    typed = np.where(is_["accessory"], np.select([u < 0.45, u < 0.7], [generic[0], generic[1]],
                                                 empty), typed)

    description = _descriptions(pool, is_, speaks, drift, seller_kind, signature_1,
                                signature_2, sig, rng)
    return ListingText(pool, title, description, typed)


def _descriptions(pool: StringPool, is_: dict[str, np.ndarray],
                  speaks: dict[str, np.ndarray], drift: np.ndarray,
                  seller_kind: np.ndarray, signature_1: np.ndarray, signature_2: np.ndarray,
                  sig: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two to four phrases from the intent's pools, a shipping line and the shop signature."""
    n = len(drift)
    pools = {name: pool.add(phrases) for name, phrases in (
        ("genuine", vocab.GENUINE), ("resale", vocab.RESALE), ("used", vocab.USED),
        ("clearance", vocab.CLEARANCE), ("wholesale", vocab.WHOLESALE),
        ("accessory", vocab.ACCESSORY), ("cues_early", vocab.CUES_EARLY),
        ("cues_late", vocab.CUES_LATE), ("inspired", vocab.INSPIRED),
        ("shipping", vocab.SHIPPING))}
    late = rng.random(n) < 0.8 * drift
    cues = np.where(late, _pick(rng, pools["cues_late"], n), _pick(rng, pools["cues_early"], n))
    main_pool = {"new": "genuine", "resale": "resale", "used": "used", "clearance": "clearance",
                 "wholesale": "wholesale", "accessory": "accessory", "inspired": "inspired"}
    first = np.full(n, NONE, dtype=np.int64)
    second = np.full(n, NONE, dtype=np.int64)
    for voice, pool_name in main_pool.items():
        m = speaks[voice]
        k = int(m.sum())
        idx = pools[pool_name]
        a = rng.integers(0, len(idx), k)
        b = (a + rng.integers(1, len(idx), k)) % len(idx)  # a second, different phrase
        first[m] = idx[a]
        second[m] = _maybe(rng, idx[b], 0.6)
    second = np.where(speaks["resale"] & (rng.random(n) < 0.3),
                      _pick(rng, pools["genuine"], n), second)
    first[is_["blatant"]] = cues[is_["blatant"]]
    second = np.where(is_["blatant"], _maybe(rng, _pick(rng, pools["genuine"], n), 0.5), second)
    # obfuscated listings mostly avoid cue words; a few slip in the current slang
    second = np.where(is_["obfuscated"] & (rng.random(n) < 0.15), cues, second)
    shipping = _maybe(rng, _pick(rng, pools["shipping"], n), 0.5)
    ring = seller_kind == KINDS.index("ring")
    own_1 = np.where(signature_1 >= 0, sig[np.maximum(signature_1, 0)], NONE)
    own_2 = np.where(signature_2 >= 0, sig[np.maximum(signature_2, 0)], NONE)
    shop_1 = _maybe(rng, own_1, np.where(ring, 0.7, 0.6))
    shop_2 = _maybe(rng, own_2, 0.45)
    out = np.stack([first, second, shipping, shop_1, shop_2], axis=1)
    casual = seller_kind == KINDS.index("casual")
    out[casual & (rng.random(n) < 0.05)] = NONE  # some people write nothing
    return out
