"""Ring signals: phrases shared with sellers already struck, and registration bursts.

Counterfeit rings run many accounts that reuse their own wording ("Contact shop
No. 888604") and open them in bursts from one country. Both signals are read as
of the listing's own `created_at`:

- taint: the listing's distinctive phrases (word shingles that few sellers use)
  that some *other* seller had already used while carrying an upheld strike;
- burst: the sellers of the same country registered within a window around this
  seller's registration, and how many of them had been struck.

`RingFeatures.fit(listings)` learns which shingles are boilerplate (used by many
sellers). `RingFeatures.build_index(listings, sellers, complaints)` turns every
known table into a `RingIndex` of moments; it may hold the future, because each
lookup compares those moments with the target's `created_at`. Batch scoring and
the online service both call `transform(targets, index=...)`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from features.columns import (
    FEW_TEXTS,
    MISSING_NS,
    Columns,
    require_columns,
    split_words,
    text_codes,
    text_dictionary,
    utc_ns,
)
from features.compiled import compiled
from features.normalize import fold
from features.timeline import Timeline, distinct, run_starts

FEATURE_NAMES = ("ring__tainted_shingles", "ring__tainted_share", "ring__burst_size",
                 "ring__burst_struck")
FEATURE_INDEX = pd.Index(FEATURE_NAMES)  # built once: a column list is re-inferred per frame
TEXT_COLUMNS = ("seller_id", "title", "description")
TARGET_COLUMNS = ("seller_id", "created_at", "title", "description")
NEVER = np.iinfo(np.int64).max
_NOT_WORD = re.compile(r"[\W_]+")
_MIX = np.uint64(0x9E3779B97F4A7C15)
# a one-layer taint index's arrays: shingles, first_ns, first_code, second_ns, second_code
Layer = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
# an absent recent layer, as the taint lookup reads it (shingles, first_ns, first_code, second_ns)
_NO_LAYER = (np.zeros(0, dtype=np.uint64), *(np.zeros(0, dtype=np.int64),) * 3)
FEW_KEYS = 64  # below this many sellers, each is looked up alone in the burst index


# --- shingles ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ShingleSets:
    """Each text's word shingles in text order, repeats kept.

    Text i owns `hashes[start[i]:start[i + 1]]`.
    """

    start: np.ndarray
    hashes: np.ndarray

    def gather(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in `texts`, hash) for every shingle of every text listed."""
        counts = np.diff(self.start)[texts]
        owner = np.repeat(np.arange(len(texts)), counts)
        return owner, self.hashes[_ranges(self.start[texts], counts)]


class ListingTexts:
    """The titles and descriptions of listings as distinct texts, each shingled once.

    Marketplace texts repeat a lot, so each distinct text is tokenized once; listing
    `i` points at text `title[i]` and text `description[i]`. Normalization: `fold`
    (NFKC, look-alikes, case) per distinct word, punctuation as a word break.
    """

    def __init__(self, listings: pd.DataFrame | Columns, shingle_words: int) -> None:
        listings = Columns.of(listings)
        titles, descriptions = listings.texts("title"), listings.texts("description")
        if len(titles) + len(descriptions) < FEW_TEXTS:  # a request's: through the memo
            (self.title, self.description), texts = text_codes(titles, descriptions)
            self.sets = _remembered_shingles(texts, shingle_words)
        else:
            (self.title, self.description), texts = text_dictionary(titles, descriptions)
            self.sets = _shingled(texts, shingle_words)


def _shingled(texts: pa.Array | list[str], shingle_words: int) -> ShingleSets:
    """Each text's shingles, computed."""
    vocabulary, word_ids, text_of = split_words(texts)
    n_parts, part_hash = _word_parts(vocabulary)
    return ShingleSets(*_shingle_kernel()(len(texts), text_of, word_ids, n_parts, part_hash,
                                          shingle_words))


# A request's texts (a few listings scored online) are read from this memo of each
# text's shingles: marketplace texts repeat, and shingling a listing's two texts again
# costs about 0.05 ms (the ring features read them, and a struck seller's listing
# going into the taint index reads them once more). Batches are shingled in one pass.
_SHINGLES: dict[tuple[int, str], np.ndarray] = {}
MAX_MEMO_TEXTS = 50_000  # a text's shingles take 8 bytes each besides the text


def _remembered_shingles(texts: list[str], shingle_words: int) -> ShingleSets:
    """`_shingled` of distinct texts, through the memo."""
    memo = _SHINGLES
    missing = [text for text in texts if (shingle_words, text) not in memo]
    if missing:
        if len(memo) + len(missing) > MAX_MEMO_TEXTS:
            memo.clear()
        sets = _shingled(missing, shingle_words)
        ends = sets.start.tolist()
        for text, start, end in zip(missing, ends[:-1], ends[1:], strict=True):
            memo[shingle_words, text] = sets.hashes[start:end].copy()
    found = [memo[shingle_words, text] for text in texts]
    counts = np.array([len(hashes) for hashes in found], dtype=np.int64)
    return ShingleSets(np.concatenate([[0], np.cumsum(counts)]),
                       np.concatenate(found) if found else np.zeros(0, dtype=np.uint64))


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The concatenation of range(s, s + c) for each (s, c)."""
    begin = np.cumsum(counts) - counts
    return np.repeat(starts - begin, counts) + np.arange(counts.sum(), dtype=np.int64)


# The words of a request (up to a few hundred listings scored online) are read from
# this memo of each word's part hashes, 4-5 times faster than hashing them again; a
# batch's vocabulary is hashed in one pass instead, without growing the memo.
_PART_HASHES: dict[str, np.ndarray] = {}
MAX_MEMO_WORDS = 1_000_000
MEMO_VOCABULARY = 8_192  # distinct words of a call, at most, read through the memo


def _word_parts(vocabulary: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct word, its parts (folded, split at punctuation); and all parts' hashes."""
    if len(vocabulary) > MEMO_VOCABULARY:
        return _hash_parts(vocabulary)
    memo = _PART_HASHES
    missing = [word for word in vocabulary if word not in memo]
    if missing:
        if len(memo) + len(missing) > MAX_MEMO_WORDS:
            memo.clear()
        n_parts, hashes = _hash_parts(missing)
        ends = np.cumsum(n_parts).tolist()
        for word, start, end in zip(missing, [0, *ends[:-1]], ends, strict=True):
            memo[word] = hashes[start:end]
    found = [memo[word] for word in vocabulary]
    n_parts = np.array([len(h) for h in found], dtype=np.int64)
    return n_parts, (np.concatenate(found) if found else np.zeros(0, dtype=np.uint64))


def _hash_parts(vocabulary: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """`_word_parts` computed: each part hashed alone, so a word's hashes never change."""
    parts = [[p for p in _NOT_WORD.split(fold(word)) if p] for word in vocabulary]
    n_parts = np.array([len(p) for p in parts], dtype=np.int64)
    flat = np.array([p for word in parts for p in word], dtype=object)
    part_hash = pd.util.hash_array(flat, categorize=False) if len(flat) else np.zeros(
        0, dtype=np.uint64)
    return n_parts, part_hash


@cache
def _shingle_kernel() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """`_shingles` compiled (once per process; `features.compiled`)."""
    return compiled(_shingles)


def _shingles(n_texts, text_of, word_ids, n_parts, part_hash, k):
    """The k-word shingles of each text, hashed to uint64 (word order matters).

    Args:
        n_texts: how many texts.
        text_of, word_ids: per word occurrence, in text order, its text and its distinct
            word (`split_words`).
        n_parts, part_hash: per distinct word, its parts (a word split at punctuation)
            and all parts' hashes (`_word_parts`).
        k: words per shingle; a shingle never runs from one text into the next.

    Returns (start, hashes) as `ShingleSets` holds them. Repeats are kept: whoever
    counts shingles deduplicates what it counts.
    """
    part_start = np.zeros(len(n_parts) + 1, dtype=np.int64)
    part_start[1:] = np.cumsum(n_parts)
    n_words = 0
    for j in range(len(word_ids)):
        n_words += n_parts[word_ids[j]]
    words = np.empty(n_words, dtype=np.uint64)
    words_in = np.zeros(n_texts, dtype=np.int64)
    w = 0
    for j in range(len(word_ids)):
        v = word_ids[j]
        words_in[text_of[j]] += n_parts[v]
        for q in range(part_start[v], part_start[v + 1]):
            words[w] = part_hash[q]
            w += 1
    start = np.zeros(n_texts + 1, dtype=np.int64)
    for t in range(n_texts):
        start[t + 1] = start[t] + max(words_in[t] - k + 1, 0)
    hashes = np.empty(start[n_texts], dtype=np.uint64)
    first_word = 0
    for t in range(n_texts):
        for s in range(start[t + 1] - start[t]):
            h = words[first_word + s]
            for j in range(1, k):
                h = (h * _MIX) ^ words[first_word + s + j]
            hashes[start[t] + s] = h
        first_word += words_in[t]
    return start, hashes


# --- the taint index ---------------------------------------------------------------------

class SellerCodes:
    """Seller ids numbered in order of first appearance, shared by a taint index and the
    indexes its updates make.

    Codes are only ever added, so an older index keeps its meaning when an update adds
    sellers. An index holds codes rather than the ids themselves: each update copies the
    index's arrays, and copying Python objects cost about ten times as much as numbers.
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}

    def encode(self, sellers: np.ndarray) -> np.ndarray:
        """The code of each seller id, numbering the new ones."""
        codes, distinct = _factorized(sellers)
        known, names = self._codes, self.names
        numbered = np.empty(len(distinct), dtype=np.int64)
        for i, seller in enumerate(distinct.tolist()):
            code = known.get(seller)
            if code is None:
                code = known[seller] = len(names)
                names.append(seller)
            numbered[i] = code
        return numbered[codes]

    def lookup(self, sellers: np.ndarray) -> np.ndarray:
        """The code of each seller id, -1 for a seller not numbered."""
        known = self._codes
        return np.array([known.get(s, -1) for s in sellers.tolist()], dtype=np.int64)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Seller ids of codes ("" for -1)."""
        names = np.array([*self.names, ""], dtype=object)
        return names[np.where(codes < 0, len(self.names), codes)]


MIN_RECENT_SHINGLES = 4096  # `recent` may hold this many whatever the size: small copies are cheap
MIN_NEW_SELLERS = 1024  # likewise for the burst index's new sellers


@dataclass(frozen=True)
class TaintIndex:
    """Per shingle, its two earliest taints from two different sellers.

    A shingle is tainted by seller s at max(created_at of s's listing holding it,
    s's first strike). Keeping two sellers answers "earliest taint by a seller other
    than mine" for any seller. Shingles in `ignored` (boilerplate) are left out.
    `update` merges new rows and equals a rebuild.

    Online, taints arrive a listing at a time, and merging each into the large sorted
    arrays would copy them all. So `update` merges new taints into `recent`, a second
    index of the same kind kept small, and merges that into the large arrays only once
    it outgrows `recent_limit` shingles: a listing's update costs what `recent` holds,
    plus the occasional copy of the whole, shared by about `recent_limit` shingles'
    worth of updates. Lookups read both (`_tainted_shingles`); `whole()` is the one-layer
    index.
    """

    shingle_words: int
    ignored: np.ndarray  # sorted uint64 shingles never indexed
    shingles: np.ndarray  # sorted, unique uint64
    first_ns: np.ndarray
    first_code: np.ndarray  # the seller, as its code in `sellers`
    second_ns: np.ndarray  # NEVER when only one seller tainted the shingle
    second_code: np.ndarray  # -1 when only one seller tainted the shingle
    sellers: SellerCodes
    recent: TaintIndex | None = None  # taints added since the last merge (one layer)

    def __len__(self) -> int:
        """Distinct shingles indexed, in both layers."""
        if self.recent is None:
            return len(self.shingles)
        return len(np.union1d(self.shingles, self.recent.shingles))

    @property
    def first_seller(self) -> np.ndarray:
        return self.sellers.decode(self.first_code)

    @property
    def second_seller(self) -> np.ndarray:
        return self.sellers.decode(self.second_code)

    @property
    def recent_limit(self) -> int:
        """Shingles `recent` may hold before it is merged into the large arrays.

        About the square root of the work: each update costs what `recent` holds, each
        merge what the whole index holds, so both stay near sqrt(size) per shingle added.
        """
        return max(MIN_RECENT_SHINGLES, math.isqrt(16 * len(self.shingles)))

    def update(self, listings: pd.DataFrame | Columns, strikes: pd.Series) -> TaintIndex:
        """The index with these rows added, as if rebuilt from everything.

        The service calls it with a seller's new listings when they are stored, and
        with all of a seller's listings when the seller is struck. `strikes` is the
        sellers' first strikes (`first_strikes` of their full complaint history, or of
        every seller's): they date the taints.
        """
        new = _taint_index(listings, strikes, self.shingle_words, self.ignored, self.sellers)
        if not len(new):
            return self
        recent = new if self.recent is None else self.recent._merged(new)
        if len(recent.shingles) <= self.recent_limit:
            return replace(self, recent=recent)
        return replace(self, recent=None)._merged(recent)

    def whole(self) -> TaintIndex:
        """The same index in one layer (`recent` merged in)."""
        return self if self.recent is None else replace(self, recent=None)._merged(self.recent)

    def _merged(self, new: TaintIndex) -> TaintIndex:
        """This layer with the taints of `new` (one layer too) added: one pass over both
        sorted layers, in compiled code (`_merged_layers`)."""
        return TaintIndex(self.shingle_words, self.ignored, *_merge_kernel()(
            self.shingles, self.first_ns, self.first_code, self.second_ns, self.second_code,
            new.shingles, new.first_ns, new.first_code, new.second_ns, new.second_code),
            self.sellers)


def first_strikes(complaints: pd.DataFrame | Columns) -> pd.Series:
    """Each struck seller's first strike (earliest upheld outcome) in UTC nanoseconds."""
    require_columns(complaints, "complaints", ("seller_id", "status", "resolved_at"))
    columns = Columns.of(complaints)
    resolved = columns.moments("resolved_at", "complaints.resolved_at", allow_missing=True)
    upheld = (columns.objects("status") == "upheld") & (resolved != MISSING_NS)
    sellers = columns.objects("seller_id")[upheld]
    # what `.groupby(level=0).min()` gives (sorted sellers), without its set-up cost,
    # milliseconds even for the few complaints of one seller scored online
    codes, names = pd.factorize(sellers, sort=True)
    first = np.full(len(names), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, codes, resolved[upheld])
    return pd.Series(first, index=pd.Index(names), dtype=np.int64)


def build_taint_index(listings: pd.DataFrame | Columns, complaints: pd.DataFrame | Columns, *,
                      shingle_words: int, ignored: np.ndarray | None = None) -> TaintIndex:
    """The taint index of every listing by a seller with an upheld strike.

    Args:
        listings: listings with seller_id, created_at, title and description.
        complaints: the complaint ledger (its upheld outcomes date each seller's first strike).
        shingle_words: words per shingle, as in `RingFeatures`.
        ignored: shingles to leave out (`RingFeatures.common_shingles_`); none by default.

    Rebuilding from the service's store gives the same index as `TaintIndex.update`.
    """
    require_columns(listings, "build_taint_index: listings", (*TEXT_COLUMNS, "created_at"))
    ignored = np.zeros(0, dtype=np.uint64) if ignored is None else np.asarray(ignored)
    return _taint_index(listings, first_strikes(complaints), shingle_words, ignored,
                        SellerCodes())


def _taint_index(listings: pd.DataFrame | Columns, strikes: pd.Series, shingle_words: int,
                 ignored: np.ndarray, sellers: SellerCodes) -> TaintIndex:
    """`build_taint_index` with the sellers' first strikes given (`first_strikes`)."""
    table = Columns.of(listings)
    seller = table.objects("seller_id")
    where = _rows_of(strikes.index, seller)
    struck = where >= 0
    # online, every row is a struck seller's: no copy then
    rows = table if struck.all() else table.take(np.flatnonzero(struck))
    created = rows.moments("created_at", "listings.created_at")
    taint_ns = np.maximum(created, strikes.to_numpy()[where[struck]])
    texts = ListingTexts(rows, shingle_words)
    taints = _listing_taints_kernel()(texts.sets.start, texts.sets.hashes, texts.title,
                                      texts.description, ignored,
                                      sellers.encode(seller[struck]), taint_ns)
    return TaintIndex(shingle_words, ignored, *_earliest_kernel()(*taints), sellers)


@cache
def _listing_taints_kernel() -> Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`_listing_taints` compiled (once per process; `features.compiled`)."""
    return compiled(_listing_taints)


def _listing_taints(start, hashes, title, description, ignored, codes, moments):
    """Every shingle of each listing's title, then of each one's description, except the
    `ignored` (sorted), as a taint: (shingle, the listing's seller code `codes[i]`, its
    moment `moments[i]`). Repeats are kept: `_earliest_two` reduces them."""
    n = 0
    for i in range(len(title)):
        n += start[title[i] + 1] - start[title[i]]
        n += start[description[i] + 1] - start[description[i]]
    out_hashes = np.empty(n, dtype=np.uint64)
    out_codes = np.empty(n, dtype=np.int64)
    out_moments = np.empty(n, dtype=np.int64)
    k = 0
    for texts in (title, description):
        for i in range(len(texts)):
            for j in range(start[texts[i]], start[texts[i] + 1]):
                h = hashes[j]
                c = np.searchsorted(ignored, h)
                if c < len(ignored) and ignored[c] == h:
                    continue
                out_hashes[k], out_codes[k], out_moments[k] = h, codes[i], moments[i]
                k += 1
    return out_hashes[:k], out_codes[:k], out_moments[:k]


@cache
def _earliest_kernel() -> Callable[..., Layer]:
    """`_earliest_two` compiled (once per process; `features.compiled`)."""
    return compiled(_earliest_two)


def _earliest_two(hashes, codes, moments):
    """Per distinct shingle among the taints (shingle `hashes[i]` tainted by seller
    `codes[i]` at `moments[i]`; NEVER is no taint): the earliest taint, and the earliest
    by another seller (NEVER and -1 when there is none).

    Returns (sorted distinct shingles, first_ns, first_code, second_ns, second_code).
    Taints at the same moment keep their input order (a stable sort).
    """
    real = np.flatnonzero(moments != NEVER)
    by_moment = real[np.argsort(moments[real], kind="mergesort")]
    order = by_moment[np.argsort(hashes[by_moment], kind="mergesort")]
    n = 0
    for j in range(len(order)):
        if j == 0 or hashes[order[j]] != hashes[order[j - 1]]:
            n += 1
    shingles = np.empty(n, dtype=np.uint64)
    first_ns = np.empty(n, dtype=np.int64)
    first_code = np.empty(n, dtype=np.int64)
    second_ns = np.full(n, NEVER, dtype=np.int64)
    second_code = np.full(n, -1, dtype=np.int64)
    g = -1
    for j in range(len(order)):
        i = order[j]
        if j == 0 or hashes[i] != hashes[order[j - 1]]:
            g += 1
            shingles[g], first_ns[g], first_code[g] = hashes[i], moments[i], codes[i]
        elif second_code[g] == -1 and codes[i] != first_code[g]:
            second_ns[g], second_code[g] = moments[i], codes[i]
    return shingles, first_ns, first_code, second_ns, second_code


@cache
def _merge_kernel() -> Callable[..., Layer]:
    """`_merged_layers` compiled (once per process; `features.compiled`)."""
    return compiled(_merged_layers)


def _merged_layers(a_shingles, a_first_ns, a_first_code, a_second_ns, a_second_code,
                   b_shingles, b_first_ns, b_first_code, b_second_ns, b_second_code):
    """Two one-layer taint indexes as one: every shingle of either, and for a shingle both
    hold, the two earliest sellers among the four taints, as `_earliest_two` would reduce
    them (a's taints before b's at the same moment). Arrays as `TaintIndex` holds them."""
    na, nb = len(a_shingles), len(b_shingles)
    both = 0
    i = j = 0
    while i < na and j < nb:
        if a_shingles[i] < b_shingles[j]:
            i += 1
        elif a_shingles[i] > b_shingles[j]:
            j += 1
        else:
            both += 1
            i += 1
            j += 1
    n = na + nb - both
    shingles = np.empty(n, dtype=np.uint64)
    first_ns = np.empty(n, dtype=np.int64)
    first_code = np.empty(n, dtype=np.int64)
    second_ns = np.empty(n, dtype=np.int64)
    second_code = np.empty(n, dtype=np.int64)
    moments = np.empty(4, dtype=np.int64)
    codes = np.empty(4, dtype=np.int64)
    i = j = 0
    for k in range(n):
        if j == nb or (i < na and a_shingles[i] < b_shingles[j]):
            shingles[k], first_ns[k], first_code[k] = a_shingles[i], a_first_ns[i], a_first_code[i]
            second_ns[k], second_code[k] = a_second_ns[i], a_second_code[i]
            i += 1
        elif i == na or b_shingles[j] < a_shingles[i]:
            shingles[k], first_ns[k], first_code[k] = b_shingles[j], b_first_ns[j], b_first_code[j]
            second_ns[k], second_code[k] = b_second_ns[j], b_second_code[j]
            j += 1
        else:  # both hold it: the four taints, stably by moment (an insertion sort)
            moments[0], moments[1] = a_first_ns[i], a_second_ns[i]
            moments[2], moments[3] = b_first_ns[j], b_second_ns[j]
            codes[0], codes[1] = a_first_code[i], a_second_code[i]
            codes[2], codes[3] = b_first_code[j], b_second_code[j]
            for m in range(1, 4):
                at = m
                while at > 0 and moments[at - 1] > moments[at]:
                    moments[at - 1], moments[at] = moments[at], moments[at - 1]
                    codes[at - 1], codes[at] = codes[at], codes[at - 1]
                    at -= 1
            shingles[k], first_ns[k], first_code[k] = a_shingles[i], moments[0], codes[0]
            second_ns[k], second_code[k] = NEVER, -1
            for m in range(1, 4):
                if moments[m] != NEVER and codes[m] != codes[0]:
                    second_ns[k], second_code[k] = moments[m], codes[m]
                    break
            i += 1
            j += 1
    return shingles, first_ns, first_code, second_ns, second_code


# --- the burst index ---------------------------------------------------------------------

@dataclass(frozen=True)
class NewSellers:
    """Sellers added to a built burst index without building it again (none struck).

    `country` codes follow the built index's (`BurstIndex.countries`); countries it
    does not know get the codes after its own (`more_countries`).
    """

    seller_ids: pd.Index
    country: np.ndarray
    registered_ns: np.ndarray
    registrations: Timeline  # group: country
    more_countries: dict[object, int]


@dataclass(frozen=True)
class BurstIndex:
    """Sellers by country and registration, and for each seller its struck burst neighbours.

    `registrations` counts a country's registrations before a moment; `struck_neighbours`
    counts, per seller, the other accounts of its country registered within the window
    that had been struck (and registered) before a moment. Building it costs a pass over
    the seller table; sellers that arrive later, none of them struck, go into `new`
    (`with_sellers`), which the lookups read beside the built arrays. A strike means
    building it again.
    """

    window_ns: int
    seller_ids: pd.Index  # seller_id of each row below; object dtype, its hash table kept
    country: np.ndarray  # int codes
    registered_ns: np.ndarray
    registrations: Timeline  # group: country
    struck_neighbours: Timeline  # group: seller row
    countries: pd.Index  # the country of each code
    struck_country: np.ndarray  # the struck accounts, sorted by (country, registered_ns)
    struck_registered_ns: np.ndarray
    struck_known_ns: np.ndarray  # when each became a struck neighbour: max(registered, strike)
    new: NewSellers | None = None

    def with_sellers(self, sellers: pd.DataFrame) -> BurstIndex:
        """This index with these sellers added (not yet in it, none of them struck)."""
        require_columns(sellers, "BurstIndex.with_sellers: sellers",
                        ("seller_id", "registered_at", "country"))
        ids = sellers["seller_id"].to_numpy(dtype=object)
        known_ids = [self.seller_ids] if self.new is None else [self.seller_ids,
                                                                self.new.seller_ids]
        if (len(set(ids)) != len(ids)
                or any(index.get_indexer(ids).max(initial=-1) >= 0 for index in known_ids)):
            raise ValueError("BurstIndex.with_sellers: a seller is already in the index")
        names = sellers["country"].to_numpy(dtype=object)
        known = {name: code for code, name in enumerate(self.countries)}
        if self.new is not None:
            known.update(self.new.more_countries)
        for name in names:
            known.setdefault(name, len(known))
        country = np.array([known[name] for name in names], dtype=np.int64)
        registered = utc_ns(sellers["registered_at"], "sellers.registered_at")
        if self.new is not None:
            ids = np.concatenate([self.new.seller_ids.to_numpy(dtype=object), ids])
            country = np.concatenate([self.new.country, country])
            registered = np.concatenate([self.new.registered_ns, registered])
        more = {name: code for name, code in known.items() if code >= len(self.countries)}
        return replace(self, new=NewSellers(pd.Index(ids, dtype=object), country, registered,
                                            Timeline.of_times(country, registered), more))

    @property
    def new_count(self) -> int:
        return 0 if self.new is None else len(self.new.seller_ids)

    @property
    def new_limit(self) -> int:
        """New sellers worth keeping beside the built index before building it again:
        each addition costs what `new` holds, a build the whole table (as `recent_limit`)."""
        return max(MIN_NEW_SELLERS, math.isqrt(16 * len(self.seller_ids)))


def build_burst_index(sellers: pd.DataFrame, complaints: pd.DataFrame, *,
                      window_hours: float) -> BurstIndex:
    """The burst index of a seller table and the strikes in a complaint ledger."""
    require_columns(sellers, "build_burst_index: sellers",
                    ("seller_id", "registered_at", "country"))
    ids = pd.Index(sellers["seller_id"].to_numpy(dtype=object), dtype=object)
    if not ids.is_unique:
        raise ValueError("build_burst_index: sellers has duplicate seller_id values")
    window_ns = int(round(window_hours * 3600 * 10**9))
    codes, countries = pd.factorize(sellers["country"].to_numpy(dtype=object))
    country = codes.astype(np.int64)
    registered = utc_ns(sellers["registered_at"], "sellers.registered_at")
    strikes = first_strikes(complaints)
    where = strikes.index.get_indexer(ids)
    struck = np.flatnonzero(where >= 0)
    strike = strikes.to_numpy()[where[struck]]

    registrations = Timeline.of_times(country, registered)
    # for each struck seller, every account of its country registered within the window
    lo = registrations.before_time(country[struck], registered[struck] - window_ns)[1]
    hi = registrations.before_time(country[struck], registered[struck] + window_ns + 1)[1]
    start = registrations.before(country[struck], np.zeros(len(struck), dtype=np.int64))[0]
    members = registrations.order[_ranges(start + lo, hi - lo)]
    neighbour = np.repeat(np.arange(len(struck)), hi - lo)
    other = members != struck[neighbour]
    known_ns = np.maximum(registered[struck], strike)  # when each is known struck
    by_place = np.lexsort((registered[struck], country[struck]))
    return BurstIndex(window_ns, ids, country, registered, registrations,
                      Timeline.of_times(members[other], known_ns[neighbour][other]),
                      pd.Index(countries, dtype=object), country[struck][by_place],
                      registered[struck][by_place], known_ns[by_place])


@dataclass(frozen=True)
class RingIndex:
    """Everything the ring features look up: the taint index and the burst index.

    Batch: `RingFeatures.build_index(listings, sellers, complaints)` over the whole
    dataset. Service: build it at start-up from the store and the ledger, then keep
    it current: a listing stored for a struck seller -> `taint.update(listing, first
    strikes)`; a seller's first strike -> `taint.update(all its listings, first
    strikes)` and `build_burst_index` again (one pass over the sellers); a new
    seller, not struck -> `bursts.with_sellers(seller)` (`build_burst_index` again once
    `bursts.new_limit` wait). Rebuilding everything is always correct too.
    Rows missing from the index are simply not seen, so a stale index can only miss
    taints, never see the future.
    """

    taint: TaintIndex
    bursts: BurstIndex


# --- the transformer ---------------------------------------------------------------------

class RingFeatures(TransformerMixin, BaseEstimator):
    """Cross-seller ring signals as of each listing's `created_at`.

    Inputs are listing tables with text columns, so columns are checked by name
    rather than with `validate_data` (which wants numeric arrays).

    Args:
        shingle_words: words per shingle.
        common_min_sellers: a shingle used by at least max(common_min_sellers,
            common_seller_share x sellers seen in `fit`) distinct sellers is boilerplate
            and never counts (ring phrases are shared by a few dozen accounts at most).
        common_seller_share: see common_min_sellers.
        burst_window_hours: registrations this close to the seller's count as its burst.
    """

    def __init__(self, shingle_words: int = 4, common_min_sellers: int = 50,
                 common_seller_share: float = 0.002, burst_window_hours: float = 48.0) -> None:
        self.shingle_words = shingle_words
        self.common_min_sellers = common_min_sellers
        self.common_seller_share = common_seller_share
        self.burst_window_hours = burst_window_hours

    def fit(self, X: pd.DataFrame, y: object = None) -> RingFeatures:
        """Learn the common shingles: those used by many distinct sellers of `X`."""
        if self.shingle_words < 1:
            raise ValueError(f"shingle_words must be >= 1, got {self.shingle_words}")
        if not self.burst_window_hours >= 0:
            raise ValueError(f"burst_window_hours must be >= 0, got {self.burst_window_hours}")
        require_columns(X, "RingFeatures.fit: X", TEXT_COLUMNS)
        sellers = Columns.of(X).dictionary("seller_id")[0]
        texts = ListingTexts(X, self.shingle_words)
        # distinct (seller, text) first: sellers reuse their own texts a lot
        pairs = distinct(np.concatenate([sellers, sellers]) * (len(texts.sets.start)) +
                         np.concatenate([texts.title, texts.description]))
        owner, hashes = texts.sets.gather(pairs % len(texts.sets.start))
        seller = (pairs // len(texts.sets.start))[owner]
        order = np.lexsort((seller, hashes))
        hashes, seller = hashes[order], seller[order]
        fresh = np.ones(len(hashes), dtype=bool)
        fresh[1:] = (hashes[1:] != hashes[:-1]) | (seller[1:] != seller[:-1])
        hashes = hashes[fresh]
        first = np.flatnonzero(run_starts(hashes))
        unique, n_sellers = hashes[first], np.diff(np.append(first, len(hashes)))
        self.n_fit_sellers_ = int(sellers.max(initial=-1) + 1)
        self.common_threshold_ = max(self.common_min_sellers,
                                     math.ceil(self.common_seller_share * self.n_fit_sellers_))
        self.common_shingles_ = unique[n_sellers >= self.common_threshold_]
        return self

    def build_index(self, listings: pd.DataFrame, sellers: pd.DataFrame,
                    complaints: pd.DataFrame) -> RingIndex:
        """The index of every known table (future rows are harmless: lookups are dated)."""
        check_is_fitted(self, "common_shingles_")
        return RingIndex(
            build_taint_index(listings, complaints, shingle_words=self.shingle_words,
                              ignored=self.common_shingles_),
            build_burst_index(sellers, complaints, window_hours=self.burst_window_hours))

    def transform(self, X: pd.DataFrame | Columns, listings: pd.DataFrame | None = None,
                  sellers: pd.DataFrame | None = None, complaints: pd.DataFrame | None = None,
                  *, index: RingIndex | None = None) -> pd.DataFrame:
        """Ring features of the listings `X`, from `index` or from the three tables."""
        check_is_fitted(self, "common_shingles_")
        require_columns(X, "RingFeatures.transform: X", TARGET_COLUMNS)
        if index is None:
            if listings is None or sellers is None or complaints is None:
                raise ValueError("RingFeatures.transform needs index= or all of listings, "
                                 "sellers and complaints")
            index = self.build_index(listings, sellers, complaints)
        X = Columns.of(X)
        return pd.DataFrame(self.values(X, index), index=X.index, columns=FEATURE_INDEX,
                            copy=False)

    def values(self, X: pd.DataFrame | Columns, index: RingIndex) -> np.ndarray:
        """The features of `transform` from an index, as one float64 array, a row per listing."""
        check_is_fitted(self, "common_shingles_")
        require_columns(X, "RingFeatures.transform: X", TARGET_COLUMNS)
        X = Columns.of(X)
        if index.taint.shingle_words != self.shingle_words:
            raise ValueError(f"the taint index uses {index.taint.shingle_words}-word shingles, "
                             f"these features {self.shingle_words}")
        if not (index.taint.ignored is self.common_shingles_
                or np.array_equal(index.taint.ignored, self.common_shingles_)):
            raise ValueError("the taint index was built for another fit (other common shingles)")
        if index.bursts.window_ns != int(round(self.burst_window_hours * 3600 * 10**9)):
            raise ValueError("the burst index was built with another burst_window_hours")
        as_of = X.moments("created_at", "X.created_at")
        seller, names = X.dictionary("seller_id")
        seller_ids = np.asarray(names, dtype=object)
        own = index.taint.sellers.lookup(seller_ids)[seller]  # each listing's seller's code
        tainted, n_distinct = self._taints(X, own, as_of, index.taint)
        size, struck = _bursts(seller, seller_ids, as_of, index.bursts)
        out = np.empty((len(X), len(FEATURE_NAMES)), dtype=np.float64)
        out[:, 0] = tainted
        out[:, 1] = tainted / np.maximum(n_distinct, 1)
        out[:, 2] = size
        out[:, 3] = struck
        return out

    def fit_transform(self, X: pd.DataFrame, y: object = None,
                      listings: pd.DataFrame | None = None, sellers: pd.DataFrame | None = None,
                      complaints: pd.DataFrame | None = None, *,
                      index: RingIndex | None = None) -> pd.DataFrame:
        """`fit` on X, then `transform` X (the tables or the index are still needed)."""
        return self.fit(X, y).transform(X, listings, sellers, complaints, index=index)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(FEATURE_NAMES, dtype=object)

    def _taints(self, X: Columns, seller: np.ndarray, as_of: np.ndarray,
                taint: TaintIndex) -> tuple[np.ndarray, np.ndarray]:
        """Per listing: distinctive shingles tainted before as_of by other sellers, and all
        (`seller`: each listing's seller as its code in `taint.sellers`, -1 if it has none)."""
        texts = ListingTexts(X, self.shingle_words)
        recent = taint.recent
        return _taint_kernel()(
            texts.sets.start, texts.sets.hashes, texts.title, texts.description,
            self.common_shingles_, seller, as_of,
            taint.shingles, taint.first_ns, taint.first_code, taint.second_ns,
            *(_NO_LAYER if recent is None else
              (recent.shingles, recent.first_ns, recent.first_code, recent.second_ns)))


@cache
def _taint_kernel() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """`_tainted_shingles` compiled (once per process; `features.compiled`)."""
    return compiled(_tainted_shingles)


def warm_up() -> None:
    """Load the compiled ring passes (shingles, taints, bursts, taint index updates) now,
    before a service takes requests (as `features.history.warm_up` does for the
    seller-history sweep)."""
    no_texts, no_shingles = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    _shingle_kernel()(0, no_texts, no_texts, no_texts, no_shingles, 4)
    _taint_kernel()(np.zeros(1, dtype=np.int64), no_shingles, no_texts, no_texts, no_shingles,
                    no_texts, no_texts, no_shingles, no_texts, no_texts, no_texts,
                    no_shingles, no_texts, no_texts, no_texts)
    _burst_kernel()(no_texts, no_texts, no_texts, no_texts, 0, no_texts, np.int64(1), no_texts,
                    no_texts, np.int64(1), no_texts)
    layer = _earliest_kernel()(*_listing_taints_kernel()(
        np.zeros(1, dtype=np.int64), no_shingles, no_texts, no_texts, no_shingles, no_texts,
        no_texts))
    _merge_kernel()(*layer, *layer)


def _tainted_shingles(start, hashes, title, description, common, own, as_of,
                      shingles, first_ns, first_code, second_ns,
                      recent_shingles, recent_first_ns, recent_first_code, recent_second_ns):
    """Per listing: its distinct shingles tainted before `as_of` by a seller other than its
    own, and all its distinct shingles.

    Args:
        start, hashes: the shingles of each distinct text (`ShingleSets`).
        title, description: each listing's two texts, as positions among those texts.
        common: sorted boilerplate shingles, never counted.
        own, as_of: each listing's seller (its code in the index, -1 if it has none) and
            its `created_at` (UTC ns).
        shingles, first_ns, first_code, second_ns: the taint index's large layer;
        recent_*: its recent layer (empty when it has none).

    A shingle's earliest taint by another seller is the earlier of the two layers' (each
    keeps its two earliest sellers), as a merged index would give it. A phrase in both
    the title and the description counts once. Each distinct text is read once:
    marketplace texts repeat a lot.
    """
    # per distinct text: its distinct non-common shingles, sorted, and their positions in
    # each layer (-1: absent)
    n_texts = len(start) - 1
    text_start = np.zeros(n_texts + 1, dtype=np.int64)
    text_hash = np.empty(len(hashes), dtype=np.uint64)
    text_pos = np.empty(len(hashes), dtype=np.int64)
    text_recent = np.empty(len(hashes), dtype=np.int64)
    out = 0
    for t in range(n_texts):
        text_start[t] = out
        run = np.sort(hashes[start[t]:start[t + 1]])
        for j in range(len(run)):
            h = run[j]
            if j > 0 and h == run[j - 1]:
                continue
            c = np.searchsorted(common, h)
            if c < len(common) and common[c] == h:
                continue
            text_hash[out] = h
            p = np.searchsorted(shingles, h)
            text_pos[out] = p if p < len(shingles) and shingles[p] == h else -1
            q = np.searchsorted(recent_shingles, h)
            text_recent[out] = q if q < len(recent_shingles) and recent_shingles[q] == h else -1
            out += 1
    text_start[n_texts] = out

    # per listing: merge its two sorted runs
    n = len(title)
    n_distinct = np.zeros(n, dtype=np.int64)
    tainted = np.zeros(n, dtype=np.int64)
    for i in range(n):
        a, a_end = text_start[title[i]], text_start[title[i] + 1]
        b, b_end = text_start[description[i]], text_start[description[i] + 1]
        count = 0
        while a < a_end or b < b_end:
            if b == b_end or (a < a_end and text_hash[a] < text_hash[b]):
                at = a
                a += 1
            elif a == a_end or text_hash[b] < text_hash[a]:
                at = b
                b += 1
            else:  # in both texts
                at = a
                a += 1
                b += 1
            count += 1
            earliest = NEVER
            p = text_pos[at]
            if p >= 0:
                earliest = first_ns[p] if first_code[p] != own[i] else second_ns[p]
            q = text_recent[at]
            if q >= 0:
                moment = (recent_first_ns[q] if recent_first_code[q] != own[i]
                          else recent_second_ns[q])
                earliest = min(earliest, moment)
            tainted[i] += earliest < as_of[i]
        n_distinct[i] = count
    return tainted, n_distinct


def _factorized(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`pd.factorize` of an object array (codes by first appearance, and the distinct values);
    a few values through a dict, which numbers them the same way at a fraction of the cost."""
    if len(values) >= FEW_TEXTS:
        return pd.factorize(values)
    index: dict[object, int] = {}
    codes = np.array([index.setdefault(v, len(index)) for v in values.tolist()], dtype=np.int64)
    return codes, np.array(list(index), dtype=object)


def _rows_of(index: pd.Index, keys: np.ndarray) -> np.ndarray:
    """Position of each key in a unique `index`, -1 where absent.

    A few keys are looked up one by one in the index's kept hash table: building an
    Index of them would cost more than the lookups.
    """
    if len(keys) >= FEW_KEYS:
        return index.get_indexer(pd.Index(keys, dtype=object))
    rows = []
    for key in keys.tolist():
        try:
            rows.append(index.get_loc(key))
        except KeyError:
            rows.append(-1)
    return np.array(rows, dtype=np.int64)


def _bursts(seller: np.ndarray, seller_ids: np.ndarray, as_of: np.ndarray,
            bursts: BurstIndex) -> tuple[np.ndarray, np.ndarray]:
    """Burst size and struck burst members of each target's seller as of its listing.

    `seller` codes each target's seller as a position in `seller_ids`.
    """
    registrations, struck = bursts.registrations, bursts.struck_neighbours
    where = _rows_of(bursts.seller_ids, seller_ids)[seller]
    size, struck_count = _burst_kernel()(
        where, as_of, bursts.country, bursts.registered_ns, bursts.window_ns,
        registrations.key, registrations.stride, registrations.moments, struck.key,
        struck.stride, struck.moments)
    if bursts.new is not None:
        _add_new_sellers(bursts, where, _rows_of(bursts.new.seller_ids, seller_ids)[seller],
                         as_of, size, struck_count)
    return size, struck_count


def _add_new_sellers(bursts: BurstIndex, where: np.ndarray, where_new: np.ndarray,
                     as_of: np.ndarray, size: np.ndarray, struck: np.ndarray) -> None:
    """`_bursts` for an index with sellers added since it was built (`bursts.new`), in
    place: what the new sellers add to built sellers' bursts, and the new sellers' own."""
    new, window = bursts.new, bursts.window_ns
    assert new is not None
    built, fresh = where >= 0, where_new >= 0
    # each target's seller as the whole table would have it (unknown sellers: nothing)
    country = np.full(len(where), -1, dtype=np.int64)
    registered = np.zeros(len(where), dtype=np.int64)
    country[built] = bursts.country[where[built]]
    registered[built] = bursts.registered_ns[where[built]]
    country[fresh] = new.country[where_new[fresh]]
    registered[fresh] = new.registered_ns[where_new[fresh]]
    lower = registered - window
    upper = np.minimum(registered + window + 1, as_of)  # registered in [lower, upper)

    def inside(line: Timeline) -> np.ndarray:
        counts = line.before_time(country, upper)[1] - line.before_time(country, lower)[1]
        return np.where((upper > lower) & (built | fresh), counts, 0)

    # new sellers' registrations count in everyone's bursts; the built ones were counted
    # for built sellers already, not yet for new ones; nobody counts itself
    own = fresh & (registered < as_of)
    size += inside(new.registrations) + np.where(fresh, inside(bursts.registrations), 0) - own
    np.maximum(size, 0, out=size)
    # nobody new is struck, so only the new sellers' own struck neighbours are to add
    for i in np.flatnonzero(fresh):
        lo, hi = np.searchsorted(bursts.struck_country, [country[i], country[i] + 1])
        near = bursts.struck_registered_ns[lo:hi]
        a = lo + np.searchsorted(near, registered[i] - window, side="left")
        b = lo + np.searchsorted(near, registered[i] + window, side="right")
        struck[i] = int((bursts.struck_known_ns[a:b] < as_of[i]).sum())


@cache
def _burst_kernel() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """`_burst_counts` compiled (once per process; `features.compiled`)."""
    return compiled(_burst_counts)


def _burst_counts(where, as_of, country, registered, window_ns, registrations_key,
                  registrations_stride, registrations_moments, struck_key, struck_stride,
                  struck_moments):
    """Per target (its seller's row `where`, -1 if unknown, and its moment `as_of`): the
    accounts of the seller's country registered within the window around it, before
    `as_of`, and those of them struck before `as_of` (`Timeline.before_time` counts,
    the two timelines' arrays passed apart)."""
    n = len(where)
    size = np.zeros(n, dtype=np.int64)
    struck = np.zeros(n, dtype=np.int64)
    for i in range(n):
        pos = where[i]
        if pos < 0:
            continue
        t, c, r = as_of[i], country[pos], registered[pos]
        # others registered in [r - window, r + window] and before t
        base = c * registrations_stride
        upper = np.searchsorted(registrations_moments, min(r + window_ns + 1, t))
        lower = np.searchsorted(registrations_moments, r - window_ns)
        inside = (np.searchsorted(registrations_key, base + upper)
                  - np.searchsorted(registrations_key, base + lower))
        size[i] = max(inside - (1 if r < t else 0), 0)
        base = pos * struck_stride
        known = np.searchsorted(struck_moments, t)
        struck[i] = (np.searchsorted(struck_key, base + known)
                     - np.searchsorted(struck_key, base))
    return size, struck
