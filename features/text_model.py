"""The learned text model: a character n-gram logistic regression and cue terms.

Both read the words of a text (`WordBag`). Character n-grams stay inside a word
(like scikit-learn's `analyzer="char_wb"`), so a text's n-gram counts are the
sum of its words' counts and the linear model's score is assembled from per-word
sums (`NgramScorer`, which caches each word's sums). Cue terms are words and
word pairs with a high smoothed log-odds of label 1 (`CueRule`, `CueTable`).

Both are fitted on distinct texts weighted by their label counts, so a million
training rows never become a million-row sparse matrix; `TextFeatures` in
`features.text` fits them and cross-fits their out-of-fold scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
from scipy import optimize, sparse
from scipy.special import expit
from threadpoolctl import threadpool_limits

from features.columns import split_words
from features.compiled import compiled

# Punctuation stripped from the ends of a word before it is read as a cue term.
CUE_PUNCTUATION = ".,;:!?()[]{}\"'`*“”‘’«»"


# --- the words of texts -------------------------------------------------------------------

@dataclass(frozen=True)
class WordBag:
    """The whitespace-separated words of many texts, each distinct word kept once."""

    words: list[str]
    word_ids: np.ndarray
    """Per word occurrence, in text order: index into `words`."""
    text_of: np.ndarray
    """Per word occurrence: index of its text."""
    n_texts: int

    @classmethod
    def of(cls, texts: pa.Array | Sequence[str]) -> WordBag:
        words, word_ids, text_of = split_words(texts)
        return cls(words, word_ids, text_of, len(texts))

    def per_text(self, per_word: np.ndarray) -> np.ndarray:
        """Sum over each text's word occurrences of a per-word value."""
        return np.bincount(self.text_of, weights=per_word[self.word_ids], minlength=self.n_texts)


# --- character n-grams, hashed with numpy -----------------------------------------------

_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_CHUNK_BYTES = 8_000_000


def ngram_hashes(texts: Sequence[str], n_min: int, n_max: int, n_bits: int) -> tuple[
        np.ndarray, np.ndarray]:
    """Hashed character n-grams inside words (as `analyzer="char_wb"`), over UTF-8 bytes.

    Each word is padded with one space on both sides; an n-gram never spans two
    words. Returns (text index, bucket in [0, 2**n_bits)) per n-gram occurrence.
    """
    docs: list[np.ndarray] = []
    buckets: list[np.ndarray] = []
    start = 0
    while start < len(texts):
        stop, size = start, 0
        while stop < len(texts) and (size < _CHUNK_BYTES or stop == start):
            size += len(texts[stop]) + 3
            stop += 1
        d, b = _hash_chunk(texts[start:stop], n_min, n_max, n_bits)
        docs.append(d + start)
        buckets.append(b)
        start = stop
    if not docs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(docs), np.concatenate(buckets)


def _hash_chunk(texts: Sequence[str], n_min: int, n_max: int, n_bits: int) -> tuple[
        np.ndarray, np.ndarray]:
    # texts are joined by NUL bytes; a window holding a NUL or an inner space is no n-gram
    joined = "\x00".join([" " + " ".join(t.replace("\x00", " ").split()) + " " for t in texts])
    data = np.frombuffer((joined + "\x00").encode("utf-8"), dtype=np.uint8)
    return _ngram_kernel()(data, n_min, n_max, np.uint64(64 - n_bits))


def warm_up() -> None:
    """Load the compiled n-gram hashing now: a word the scorer has not seen yet is hashed
    while a listing waits (see `features.history.warm_up`)."""
    _hash_chunk(["warm"], 3, 5, 20)


@cache
def _ngram_kernel() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """`_ngram_buckets` compiled (once per process; `features.compiled`)."""
    return compiled(_ngram_buckets)


def _ngram_buckets(data, n_min, n_max, shift):
    """(text, bucket) of every n-gram of `data` (NUL-separated texts of space-padded words),
    n from `n_min` to `n_max`: all n-grams of size n_min in byte order, then the next size.

    An n-gram is a window of bytes without a NUL and without a space inside it (a word's
    padding spaces may begin or end it); its hash is the polynomial rolling hash of its
    bytes, salted with n, mixed and cut to the top bits (`shift` = 64 - bits).
    """
    length = len(data)
    nul = np.zeros(length + 1, dtype=np.int64)  # NULs before each position: the text index
    space = np.zeros(length + 1, dtype=np.int64)
    for i in range(length):
        nul[i + 1] = nul[i] + (data[i] == 0)
        space[i + 1] = space[i] + (data[i] == 32)
    total = 0
    for n in range(n_min, n_max + 1):
        for i in range(length - n + 1):
            if nul[i + n] == nul[i] and space[i + n - 1] == space[i + 1]:
                total += 1
    docs = np.empty(total, dtype=np.int64)
    buckets = np.empty(total, dtype=np.int64)
    k = 0
    for n in range(n_min, n_max + 1):
        salt = np.uint64(0x51ED27 * n)
        for i in range(length - n + 1):
            if nul[i + n] == nul[i] and space[i + n - 1] == space[i + 1]:
                h = np.uint64(data[i])
                for j in range(1, n):
                    h = h * _PRIME + np.uint64(data[i + j])
                buckets[k] = np.int64(((h ^ salt) * _GOLDEN) >> shift)
                docs[k] = nul[i]
                k += 1
    return docs, buckets


MAX_CACHED_WORDS = 2_000_000


class NgramScorer:
    """Scores texts with fitted per-bucket n-gram weights: summed weights over root(n-grams).

    Each word's weight sum and n-gram count are cached, so a word is hashed once
    per process; the cache is not pickled.
    """

    def __init__(self, weights: np.ndarray, n_min: int, n_max: int) -> None:
        self.weights = weights
        self.n_min = n_min
        self.n_max = n_max
        self._words: dict[str, tuple[float, int]] = {}

    def __getstate__(self) -> dict[str, object]:
        # most buckets never occurred in training: store the weights sparse, drop the cache
        state = {k: v for k, v in self.__dict__.items() if k not in ("weights", "_words")}
        used = np.flatnonzero(self.weights)
        return {**state, "n_buckets": len(self.weights), "used": used,
                "used_weights": self.weights[used]}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        weights = np.zeros(int(state.pop("n_buckets")), np.float32)
        weights[state.pop("used")] = state.pop("used_weights")
        self.__dict__.update(state, weights=weights, _words={})

    def scores(self, bag: WordBag) -> np.ndarray:
        """The score of each text in `bag`."""
        cache = self._words
        stats = [cache.get(word) for word in bag.words]
        missing = [i for i, found in enumerate(stats) if found is None]
        if missing:
            if len(cache) + len(missing) > MAX_CACHED_WORDS:
                cache.clear()
            words = [bag.words[i] for i in missing]
            n_bits = int(np.log2(len(self.weights)))
            docs, buckets = ngram_hashes(words, self.n_min, self.n_max, n_bits)
            totals = np.bincount(docs, weights=self.weights[buckets], minlength=len(words))
            counts = np.bincount(docs, minlength=len(words))
            for i, word, total, count in zip(missing, words, totals.tolist(), counts.tolist(),
                                             strict=True):
                stats[i] = cache[word] = (total, count)
        per_word = np.array(stats, np.float64).reshape(len(stats), 2)
        return bag.per_text(per_word[:, 0]) / np.sqrt(np.maximum(bag.per_text(per_word[:, 1]),
                                                                   1.0))


@dataclass(frozen=True)
class NgramDesign:
    """Hashed n-gram counts per text over the root of the text's n-gram count.

    The same numbers `NgramScorer` multiplies by the weights. Only buckets that
    occur become columns (`buckets` maps them back), so the regression is as
    small as the vocabulary actually seen.
    """

    matrix: sparse.csr_matrix
    buckets: np.ndarray

    @classmethod
    def of(cls, bag: WordBag, n_min: int, n_max: int, n_bits: int) -> NgramDesign:
        docs, buckets = ngram_hashes(bag.words, n_min, n_max, n_bits)
        used, columns = np.unique(buckets, return_inverse=True)
        per_word = sparse.csr_matrix((np.ones(len(docs)), (docs, columns)),
                                     shape=(len(bag.words), len(used)))
        per_text = sparse.csr_matrix((np.ones(len(bag.word_ids)), (bag.text_of, bag.word_ids)),
                                     shape=(bag.n_texts, len(bag.words)))
        counts = (per_text @ per_word).tocsr()
        scale = 1.0 / np.sqrt(np.maximum(np.asarray(counts.sum(axis=1)).ravel(), 1.0))
        matrix = sparse.diags(scale) @ counts
        return cls(sparse.csr_matrix(matrix, dtype=np.float32), used)

    def expand(self, weights: np.ndarray, n_bits: int) -> np.ndarray:
        """Weights per column as a dense vector over all 2**n_bits buckets."""
        full = np.zeros(1 << n_bits, np.float32)
        full[self.buckets] = weights
        return full


@dataclass(frozen=True)
class PairRows:
    """Labelled rows grouped by their (title key, description key) pair."""

    title: np.ndarray
    description: np.ndarray
    positives: np.ndarray
    total: np.ndarray

    @classmethod
    def of(cls, title: np.ndarray, description: np.ndarray, y: np.ndarray,
           n_descriptions: int) -> PairRows:
        pair = title.astype(np.int64) * n_descriptions + description
        keys, inverse = np.unique(pair, return_inverse=True)
        return cls(keys // n_descriptions, keys % n_descriptions,
                   np.bincount(inverse, weights=y), np.bincount(inverse).astype(np.float64))


def fit_logistic(titles: sparse.csr_matrix, descriptions: sparse.csr_matrix, rows: PairRows,
                 l2: float, max_iter: int) -> np.ndarray:
    """L2 logistic regression on [title n-grams | description n-grams]; returns (w_t, w_d, b).

    The rows are pairs of distinct texts weighted by their label counts and the
    gradient is gathered per distinct text, so the row-level matrix is never built.
    BLAS runs single-threaded: L-BFGS-B's many small vector operations slow down
    tenfold when OpenBLAS threads compete for a busy machine.
    """
    f_t, f_d = titles.shape[1], descriptions.shape[1]
    n = rows.total.sum()

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w_t = theta[:f_t].astype(np.float32)
        w_d = theta[f_t:f_t + f_d].astype(np.float32)
        margin = ((titles @ w_t)[rows.title] + (descriptions @ w_d)[rows.description]
                  + theta[-1]).astype(np.float64)
        loss = (rows.total * np.logaddexp(0.0, margin) - rows.positives * margin).sum() / n
        residual = (rows.total * expit(margin) - rows.positives) / n
        per_title = np.bincount(rows.title, weights=residual, minlength=titles.shape[0])
        per_description = np.bincount(rows.description, weights=residual,
                                      minlength=descriptions.shape[0])
        gradient = np.concatenate([
            titles.T @ per_title.astype(np.float32),
            descriptions.T @ per_description.astype(np.float32),
            [residual.sum()]]).astype(np.float64)
        gradient[:-1] += l2 * theta[:-1]
        return loss + 0.5 * l2 * float(theta[:-1] @ theta[:-1]), gradient

    with threadpool_limits(limits=1, user_api="blas"):
        result = optimize.minimize(loss_and_gradient, np.zeros(f_t + f_d + 1), jac=True,
                                   method="L-BFGS-B", options={"maxiter": max_iter})
    return result.x


# --- cue terms learned from the labels ----------------------------------------------------

def _cue_words(bag: WordBag) -> tuple[list[str], np.ndarray]:
    """Cue words (edge punctuation stripped) and, per distinct bag word, its cue word (-1: none)."""
    index: dict[str, int] = {}
    of_word = np.full(len(bag.words), -1, np.int64)
    for i, word in enumerate(bag.words):
        stripped = word.strip(CUE_PUNCTUATION)
        if stripped:
            of_word[i] = index.setdefault(stripped, len(index))
    return list(index), of_word


def _adjacent(bag: WordBag, cue_word: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adjacent word pairs inside a text, both cue words: (text, first, second) per pair."""
    first, second = cue_word[:-1], cue_word[1:]
    ok = (bag.text_of[:-1] == bag.text_of[1:]) & (first >= 0) & (second >= 0)
    return bag.text_of[:-1][ok], first[ok], second[ok]


def term_matrix(bag: WordBag) -> tuple[sparse.csr_matrix, list[str]]:
    """Binary text x term matrix over every cue word and adjacent word pair, with the terms."""
    words, of_word = _cue_words(bag)
    cue_word = of_word[bag.word_ids]
    single = cue_word >= 0
    pair_text, first, second = _adjacent(bag, cue_word)
    pair_keys, pair_ids = np.unique(first * len(words) + second, return_inverse=True)
    terms = words + [f"{words[k // len(words)]} {words[k % len(words)]}" for k in pair_keys]
    text = np.concatenate([bag.text_of[single], pair_text])
    term = np.concatenate([cue_word[single], len(words) + pair_ids.ravel()])
    matrix = sparse.csr_matrix((np.ones(len(text)), (text, term)),
                               shape=(bag.n_texts, len(terms)))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix, terms


@dataclass(frozen=True)
class CueRule:
    """Which terms count as cues: enough support and a high smoothed log-odds lift."""

    min_support: int
    min_lift: float
    prior_weight: float
    max_terms: int

    def lifts(self, terms: sparse.csr_matrix, positives: np.ndarray,
              total: np.ndarray) -> np.ndarray:
        """Per term, its log-odds lift over the base rate if it is a cue, else 0."""
        prior = float(np.clip(positives.sum() / max(total.sum(), 1.0), 1e-6, 1 - 1e-6))
        term_pos = terms.T @ positives
        term_total = terms.T @ total
        rate = (term_pos + self.prior_weight * prior) / (term_total + self.prior_weight)
        lift = np.log(rate / (1 - rate)) - np.log(prior / (1 - prior))
        lift[(term_total < self.min_support) | (lift < self.min_lift)] = 0.0
        if np.count_nonzero(lift) > self.max_terms:
            order = np.lexsort((np.arange(len(lift)), -lift))
            lift[order[self.max_terms:]] = 0.0
        return lift


FEW_CUE_TEXTS = 16  # below this many texts, cue terms are scored word by word in Python


@dataclass(frozen=True)
class CueTable:
    """The cue terms of one field with their lifts; scores texts as `term_matrix` reads them."""

    lifts: dict[str, float]
    pair_starts: frozenset[str]
    pair_ends: frozenset[str]

    @classmethod
    def of(cls, terms: Sequence[str], lifts: np.ndarray) -> CueTable:
        table = {terms[i]: float(lifts[i]) for i in np.flatnonzero(lifts).tolist()}
        pairs = [t.split(" ", 1) for t in table if " " in t]
        return cls(table, frozenset(a for a, _ in pairs), frozenset(b for _, b in pairs))

    def scores(self, bag: WordBag) -> np.ndarray:
        """Per text, the sum of the lifts of the distinct cue terms it holds."""
        if not self.lifts:
            return np.zeros(bag.n_texts)
        if bag.n_texts < FEW_CUE_TEXTS:
            return self._few_scores(bag)
        words, of_word = _cue_words(bag)
        # one extra slot at the end, so that cue word -1 ("no word") reads 0 / False
        lift = np.array([self.lifts.get(w, 0.0) for w in words] + [0.0])
        cue_word = of_word[bag.word_ids]
        hit = lift[cue_word] != 0.0
        text = [bag.text_of[hit]]
        term = [cue_word[hit]]
        values = [lift[cue_word[hit]]]
        starts = np.array([w in self.pair_starts for w in words] + [False])
        ends = np.array([w in self.pair_ends for w in words] + [False])
        pair_text, first, second = _adjacent(bag, cue_word)
        maybe = starts[first] & ends[second]
        if maybe.any():
            keys, inverse = np.unique(first[maybe] * len(words) + second[maybe],
                                      return_inverse=True)
            pair_lift = np.array([self.lifts.get(
                f"{words[k // len(words)]} {words[k % len(words)]}", 0.0) for k in keys])
            text.append(pair_text[maybe])
            term.append(len(words) + keys[inverse.ravel()])
            values.append(pair_lift[inverse.ravel()])
        text_all, term_all, value_all = map(np.concatenate, (text, term, values))
        order = np.lexsort((term_all, text_all))
        text_all, term_all, value_all = text_all[order], term_all[order], value_all[order]
        once = np.ones(len(text_all), bool)  # each term counted once per text
        once[1:] = (text_all[1:] != text_all[:-1]) | (term_all[1:] != term_all[:-1])
        text_all, value_all = text_all[once], value_all[once]
        order = np.lexsort((value_all, text_all))  # a fixed summation order: by lift
        return np.bincount(text_all[order], weights=value_all[order], minlength=bag.n_texts)

    def _few_scores(self, bag: WordBag) -> np.ndarray:
        """`scores` of a few texts, word by word in Python: same terms, summed in the same order.

        Terms are keyed by their text ("word" or "first second"; cue words hold no space).
        """
        stripped = [word.strip(CUE_PUNCTUATION) for word in bag.words]
        terms: list[dict[str, float]] = [{} for _ in range(bag.n_texts)]
        previous_text, previous = -1, ""
        for word_id, text in zip(bag.word_ids.tolist(), bag.text_of.tolist(), strict=True):
            word = stripped[word_id]
            if word:
                lift = self.lifts.get(word, 0.0)
                if lift != 0.0:
                    terms[text][word] = lift
                if (text == previous_text and previous in self.pair_starts
                        and word in self.pair_ends):
                    pair = f"{previous} {word}"
                    terms[text][pair] = self.lifts.get(pair, 0.0)
            previous_text, previous = text, word
        out = np.zeros(bag.n_texts)
        for text, found in enumerate(terms):
            total = 0.0
            for lift in sorted(found.values()):  # one addition at a time, as bincount adds
                total += lift
            out[text] = total
        return out
