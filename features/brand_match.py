"""Brand mentions in a title, found even when the name is disguised.

`BrandMatcher` looks each normalized title token up among the known brand keys:
exactly (also after decoding leetspeak and joining two or three adjacent
tokens, for "Do fen"), then within a bounded Damerau-Levenshtein distance
(optimal string alignment) through a deletion index, so a token is compared
with a handful of candidates rather than every brand. Results are cached per
token because marketplace titles repeat their words. Mentions that follow a
"compatible with / replacement for / fits / for" phrase name the product an
accessory fits, which is lawful, and are marked as such.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import NamedTuple

import numpy as np

from features.normalize import LEET, NormalizedText, brand_key, leet_variants

NO_MATCH = -1
# Tokens that open a compatibility phrase; everything named after one is a
# product the listing fits, not the listing's own brand.
COMPATIBILITY_PHRASES: tuple[tuple[str, ...], ...] = tuple(sorted((
    ("compatible", "with"), ("compatible", "for"), ("compatible",), ("compatibility",),
    ("replacement", "for"), ("replacement", "of"), ("fits",), ("fit", "for"), ("to", "fit"),
    ("works", "with"), ("for", "use", "with"), ("designed", "for"), ("made", "for"),
    ("suitable", "for"), ("compat",),
), key=len, reverse=True))  # longest first, so "compatible with" wins over "compatible"
_PHRASE_STARTS = frozenset(phrase[0] for phrase in COMPATIBILITY_PHRASES)
# Words allowed between "for" and the brand it introduces ("case for the Dofen X").
_FOR_FILLERS = frozenset({"the", "your", "all", "most", "any", "new", "old"})
MAX_CACHED_TOKENS = 2_000_000


def max_edits(key_length: int) -> int:
    """Edits tolerated for a brand key of this length: 2 from 5 letters, 1 for 4, none below."""
    if key_length >= 5:
        return 2
    return 1 if key_length == 4 else 0


def osa_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (optimal string alignment), capped at `limit + 1`."""
    if a == b:
        return 0
    la, lb = len(a), len(b)
    if abs(la - lb) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(lb + 1))
    for i in range(1, la + 1):
        current = [i] + [0] * lb
        ca = a[i - 1]
        best = current[0]
        for j in range(1, lb + 1):
            cb = b[j - 1]
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
            best = min(best, value)
        if best > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[lb], limit + 1)


def _deletions(word: str, depth: int) -> set[str]:
    """`word` with up to `depth` characters deleted (the symmetric-delete neighbourhood)."""
    found = {word}
    for k in range(1, min(depth, len(word)) + 1):
        for positions in combinations(range(len(word)), k):
            found.add("".join(c for i, c in enumerate(word) if i not in positions))
    return found


class BrandMention(NamedTuple):
    """One brand named in a title."""

    brand: int
    distance: int
    position: int
    """Index of the (first) token the name was read from."""
    joined: bool
    """Read from two or three adjacent tokens joined together."""
    compatible: bool
    """Named after a compatibility phrase: the product an accessory fits."""


class TitleBrands(NamedTuple):
    """What a title says about brands: the listing's own brand and the accessory context."""

    brand: int
    """The brand the title names as its own (`NO_MATCH` if none)."""
    distance: int
    """Edit distance of that mention (`NO_MATCH` if none)."""
    mentioned: bool
    """Any known brand named, including after a compatibility phrase."""
    compatibility_phrase: bool
    brands_named: int


class BrandMatcher:
    """Finds known brands among normalized tokens, exactly or within a few edits.

    Args:
        keys: brand keys (`normalize.brand_key`), one per brand; the index is the brand id.
        common_words: tokens that are ordinary words of the catalogue (seen next to many
            brands); they match a brand only exactly.
    """

    def __init__(self, keys: Sequence[str], common_words: Iterable[str] = ()) -> None:
        self.keys = tuple(keys)
        self.common_words = frozenset(common_words)
        self._exact: dict[str, int] = {}
        for brand, key in enumerate(self.keys):
            self._exact.setdefault(key, brand)
        self._deletes: dict[str, list[int]] = {}
        for brand, key in enumerate(self.keys):
            limit = max_edits(len(key))
            if limit == 0:
                continue
            for variant in _deletions(key, limit):
                self._deletes.setdefault(variant, []).append(brand)
        self._depth = max((max_edits(len(k)) for k in self.keys), default=0)
        self._shortest = min((len(k) for k in self.keys), default=0)
        self._longest = max((len(k) for k in self.keys), default=0)
        self._prefixes = frozenset(k[:i] for k in self.keys for i in range(1, len(k) + 1))
        self._token_cache: dict[str, tuple[int, int, str]] = {}

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_token_cache"] = {}
        return state

    def exact(self, text: str) -> int:
        """The brand whose key is `text`, or `NO_MATCH`."""
        return self._exact.get(text, NO_MATCH)

    def token(self, token: str) -> tuple[int, int]:
        """(brand, distance) for one token, leetspeak decoded; (`NO_MATCH`, `NO_MATCH`) if none."""
        brand, distance, _ = self._lookup(token)
        return brand, distance

    def _lookup(self, token: str) -> tuple[int, int, str]:
        """`token(token)` plus the token as a fragment of a split name, leetspeak decoded."""
        found = self._token_cache.get(token)
        if found is None:
            piece = token.replace("*", "")
            if any(c.isalpha() for c in piece):
                piece = "".join(LEET.get(c, c) for c in piece)
            found = (*self._match_token(token), piece)
            if len(self._token_cache) >= MAX_CACHED_TOKENS:
                self._token_cache.clear()
            self._token_cache[token] = found
        return found

    def _match_token(self, token: str) -> tuple[int, int]:
        variants = leet_variants(token)
        for variant in variants:
            brand = self._exact.get(variant, NO_MATCH)
            if brand != NO_MATCH:
                return brand, 0
        if token in self.common_words or len(token) < 4:
            return NO_MATCH, NO_MATCH
        best = (NO_MATCH, NO_MATCH)
        for variant in variants:
            if any(c.isdigit() for c in variant):
                continue
            for brand, distance in self.neighbours(variant):
                if best[0] == NO_MATCH or distance < best[1]:
                    best = (brand, distance)
        return best

    def neighbours(self, text: str) -> list[tuple[int, int]]:
        """Every brand within its edit limit of `text`, as (brand, distance), by brand id."""
        if self._depth == 0 or not (self._shortest - self._depth <= len(text)
                                    <= self._longest + self._depth):
            return []  # every key is more edits away than the length difference allows
        candidates: set[int] = set()
        for deleted in _deletions(text, self._depth):
            candidates.update(self._deletes.get(deleted, ()))
        found = []
        for brand in sorted(candidates):
            key = self.keys[brand]
            limit = max_edits(len(key))
            distance = osa_distance(text, key, limit)
            if distance <= limit:
                found.append((brand, distance))
        return found

    def mentions(self, tokens: Sequence[str], phrase_end: int | None = None) -> list[
            BrandMention]:
        """Every brand named in `tokens`, in order, marked when after a compatibility phrase.

        `phrase_end` is `compatibility_start(tokens)` when the caller has it already.
        """
        cache, lookup = self._token_cache, self._lookup
        looked = [cache.get(t) or lookup(t) for t in tokens]
        found = [(i, distance, brand, False) for i, (brand, distance, _) in enumerate(looked)
                 if brand != NO_MATCH]
        # fragments run together ("do" + "fen"): two or three tokens, none an exact mention,
        # followed only while the joined text is the start of some brand key
        prefixes, exact = self._prefixes, self._exact
        n = len(tokens)
        for i in range(n - 1):
            _, distance, piece = looked[i]
            if distance == 0 or piece not in prefixes:
                continue
            for j in range(i + 1, min(i + 3, n)):
                _, distance, more = looked[j]
                piece += more
                if distance == 0 or piece not in prefixes:
                    break
                brand = exact.get(piece, NO_MATCH)
                if brand != NO_MATCH:
                    found.append((i, 0, brand, True))
                    break
        if not found:
            return []
        found.sort()
        if phrase_end is None:
            phrase_end = compatibility_start(tokens)
        return [BrandMention(brand, distance, i, joined,
                             i >= phrase_end or _after_for(tokens, i))
                for i, distance, brand, joined in found]

    def read_title(self, text: NormalizedText) -> TitleBrands:
        """The title's own brand (first non-accessory mention, closest match) and its context."""
        tokens = text.tokens
        phrase_end = compatibility_start(tokens)
        phrase = phrase_end <= len(tokens)
        found = self.mentions(tokens, phrase_end)
        if not found:
            return TitleBrands(NO_MATCH, NO_MATCH, False, phrase, 0)
        phrase = phrase or any(m.compatible for m in found)
        own = [m for m in found if not m.compatible]
        brands_named = len({m.brand for m in found})
        if not own:
            return TitleBrands(NO_MATCH, NO_MATCH, True, phrase, brands_named)
        best = min(own, key=lambda m: (m.distance, m.position))
        return TitleBrands(best.brand, best.distance, True, phrase, brands_named)


def compatibility_start(tokens: Sequence[str]) -> int:
    """Index of the first token after a compatibility phrase, or `len(tokens) + 1` if none."""
    if _PHRASE_STARTS.isdisjoint(tokens):
        return len(tokens) + 1
    for i, token in enumerate(tokens):
        if token not in _PHRASE_STARTS:
            continue
        for phrase in COMPATIBILITY_PHRASES:
            if tuple(tokens[i:i + len(phrase)]) == phrase:
                return i + len(phrase)
    return len(tokens) + 1


def _after_for(tokens: Sequence[str], position: int) -> bool:
    """Whether the token at `position` is introduced by "for" ("case for Dofen")."""
    j = position - 1
    if j >= 0 and tokens[j] in _FOR_FILLERS:
        j -= 1
    return j >= 0 and tokens[j] == "for"


# --- the known brands of a fitted transformer ---------------------------------------------

# Typed brands that name no brand (compared as `brand_key`).
GENERIC_BRAND_KEYS = frozenset({
    "", "generic", "unbranded", "nobrand", "noname", "none", "na", "nil", "other", "unknown",
})


@dataclass(frozen=True)
class BrandBook:
    """The known brands: keys to match, the plain names they are written as, and the matcher."""

    keys: tuple[str, ...]
    plain_names: tuple[str, ...]
    """Each brand as written undisguised, casefolded ("louis vuitton")."""
    matcher: BrandMatcher

    def plain_in(self, brand: int, text: str) -> bool:
        """Whether `text` (casefolded, undisguised) holds the brand's plain name as a word."""
        name = self.plain_names[brand]
        at = text.find(name)
        while at >= 0:
            end = at + len(name)
            if (at == 0 or not text[at - 1].isalnum()) and (
                    end == len(text) or not text[end].isalnum()):
                return True
            at = text.find(name, at + 1)
        return False

    def with_common_words(self, words: Iterable[str]) -> BrandBook:
        return BrandBook(self.keys, self.plain_names, BrandMatcher(self.keys, words))


def known_brands(typed: Sequence[str], typed_counts: Sequence[int], registry: Iterable[str],
                 min_listings: int, variant_ratio: float) -> BrandBook:
    """Registry brands plus brands typed plainly in at least `min_listings` listings.

    A typed brand within a few edits of another known brand, and typed less than
    `variant_ratio` times as often, is a misspelling of it and is left out.
    """
    plain: Counter[str] = Counter()
    spelling: dict[str, Counter[str]] = {}
    for name, count in zip(typed, typed_counts, strict=True):
        key = brand_key(name)
        written = " ".join(name.split()).casefold()
        if key in GENERIC_BRAND_KEYS or written.replace(" ", "") != key:
            continue  # generic, or written in disguise ("D.o.f.e.n")
        plain[key] += int(count)
        spelling.setdefault(key, Counter())[written] += int(count)
    registered: dict[str, str] = {}
    for name in registry:
        key = brand_key(name)
        if key not in GENERIC_BRAND_KEYS:
            registered.setdefault(key, " ".join(name.split()).casefold())
    frequent = sorted((k for k, c in plain.items() if c >= min_listings and k not in registered),
                      key=lambda k: (-plain[k], k))
    candidates = BrandMatcher([*registered, *frequent])
    keys = sorted(registered)
    names = [registered[k] for k in keys]
    for key in frequent:
        near = [candidates.keys[b] for b, _ in candidates.neighbours(key)]
        if any(other != key and plain[key] < variant_ratio * max(plain[other], 1)
               for other in near):
            continue
        keys.append(key)
        names.append(spelling[key].most_common(1)[0][0])
    return BrandBook(tuple(keys), tuple(names), BrandMatcher(keys))


def read_brand_fields(typed: Sequence[str], book: BrandBook) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """Per typed brand: the brand it names (`NO_MATCH` if none), generic, written in disguise."""
    brand = np.full(len(typed), NO_MATCH, np.int64)
    generic = np.zeros(len(typed), bool)
    disguised = np.zeros(len(typed), bool)
    for i, name in enumerate(typed):
        key = brand_key(name)
        if key in GENERIC_BRAND_KEYS:
            generic[i] = True
            continue
        found, _ = book.matcher.token(key)
        if found == NO_MATCH:
            continue
        brand[i] = found
        disguised[i] = " ".join(name.split()).casefold() != book.plain_names[found]
    return brand, generic, disguised


def common_words(title_tokens: Sequence[Sequence[str]], title_of_row: np.ndarray,
                 brand_of_row: np.ndarray, matcher: BrandMatcher, min_brands: int) -> list[str]:
    """Title words that fuzzily resemble a brand yet appear next to many different typed brands.

    Such a word ("grand" next to "grara") is ordinary vocabulary of the catalogue;
    a disguise sits next to one brand, or none.
    """
    pairs = np.unique(np.stack([title_of_row, brand_of_row]), axis=1)
    fuzzy: dict[int, list[str]] = {}
    brands_by_word: dict[str, set[int]] = {}
    for title, brand in pairs.T:
        if brand == NO_MATCH:
            continue
        words = fuzzy.get(title)
        if words is None:
            words = fuzzy[title] = [t for t in title_tokens[title] if matcher.token(t)[1] > 0]
        for word in words:
            brands_by_word.setdefault(word, set()).add(int(brand))
    return sorted(w for w, b in brands_by_word.items() if len(b) >= min_brands)
