"""Text signals of a listing: disguised brands, obfuscation, cue terms and a character n-gram model.

`TextFeatures` reads a listing's title, description and typed brand. Marketplace
text repeats a lot, so nothing is computed twice: each column is keyed with its
standalone numbers masked (model numbers, shop codes); normalization, brand
reading and the phrase rules run once per distinct key; the character n-grams
and cue terms once per distinct word. Character n-grams stay inside a word
(like scikit-learn's `analyzer="char_wb"`), so a text's n-gram counts are the
sum of its words' counts and the linear model's score is assembled from
per-word sums. Every value of a row depends on that row's text alone, so a
listing scored by itself gets exactly the features it gets in a batch; calls of
few texts (the online service) also remember each key's values from earlier
calls (`features.key_memo`).

The learned parts, an L2 logistic regression over hashed n-grams of title and
description and the cue terms (words and word pairs with a high smoothed
log-odds of label 1), live in `features.text_model`; they are fitted on
distinct texts weighted by their label counts, so a million training rows never
become a million-row sparse matrix. `fit_transform` returns their out-of-fold
scores (rows split into stratified folds, like scikit-learn's `TargetEncoder`),
so the downstream model never sees in-sample scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted, validate_data

from features.brand_match import (
    NO_MATCH,
    BrandBook,
    common_words,
    known_brands,
    read_brand_fields,
)
from features.columns import Columns, text_codes
from features.key_memo import KeyMemo
from features.normalize import fold_counting, mask_digits, normalize

# The fitted model's parts live in features.text_model; models pickled before the
# split name NgramScorer and CueTable here, and find them through these imports.
from features.text_model import (
    CueRule,
    CueTable,
    NgramDesign,
    NgramScorer,
    PairRows,
    WordBag,
    fit_logistic,
    term_matrix,
)

TEXT_COLUMNS = ("title", "description", "brand")

# Counterfeit slang known before any data; `text__cue_score` learns the rest.
SEED_CUES = (
    "replica", "replicas", "aaa", "aaa quality", "1:1", "mirror quality", "mirror copy",
    "inspired by", "dupe", "unbranded copy", "high copy", "first copy", "master copy",
    "super copy", "knockoff", "knock off", "knock-off", "imitation", "fake", "look-alike",
    "lookalike", "same as original", "replica grade",
)


class PhraseRule:
    """A phrase regex behind a cheap substring test, since most texts hold none of its words.

    Every match of `pattern` contains one of `needles`, so a text without them
    is skipped without changing any result.
    """

    def __init__(self, pattern: str, needles: Sequence[str]) -> None:
        self.pattern = re.compile(pattern)
        self.needles = tuple(needles)

    def count(self, text: str) -> int:
        for needle in self.needles:
            if needle in text:
                return len(self.pattern.findall(text))
        return 0


def _any_phrase(phrases: Sequence[str], needles: Sequence[str]) -> PhraseRule:
    """Any of `phrases` as whole words, longest first."""
    longest_first = sorted(phrases, key=len, reverse=True)
    return PhraseRule(r"\b(?:" + "|".join(map(re.escape, longest_first)) + r")\b", needles)


# Phrase rules, read on folded text.
SEED_CUE = _any_phrase(SEED_CUES, ("replica", "aaa", "1:1", "mirror", "inspired by", "dupe",
                                   "copy", "knock", "imitation", "fake", "alike",
                                   "same as original"))
INSPIRED = PhraseRule(
    r"\b(?:inspired|in the style of|dupe of|alternative to|similar to|look-?alike)\b",
    ("inspired", "style of", "dupe of", "alternative to", "similar to", "alike"))
USED = PhraseRule(
    r"(?<!never )(?<!not )\b(?:used|pre-?owned|pre-?loved|second[- ]hand|worn|signs of use|"
    r"like new)\b", ("used", "owned", "loved", "hand", "worn", "signs of use", "like new"))
AUTHENTICITY = PhraseRule(
    r"\b(?:\d+ ?% ?(?:authentic|genuine|original|real)|authentic|genuine|original|legit)\b",
    ("authentic", "genuine", "original", "legit"))
PHRASES = ("seed", "inspired", "used", "authentic")

FEATURES = (
    "text__ngram_score", "text__cue_score", "text__seed_cue_count",
    "text__brand_mentioned", "text__brand_edit_distance", "text__brand_disguised",
    "text__brand_mismatch", "text__brands_named", "text__compatibility_phrase",
    "text__brand_field_generic", "text__brand_field_disguised",
    "text__homoglyphs", "text__invisible_chars", "text__leet_chars", "text__spaced_letters",
    "text__masked_letters",
    "text__inspired_by", "text__used_condition", "text__authenticity_claim",
    "text__title_chars", "text__description_chars", "text__title_upper_ratio",
    "text__title_digit_share",
)
FEATURE_INDEX = pd.Index(FEATURES)


# --- distinct texts and words -------------------------------------------------------------

def _as_strings(values: pd.Series | Sequence[str]) -> pa.Array:
    """An Arrow string array without nulls (missing text is empty text)."""
    if isinstance(values, pd.Series):
        stored = values.array
        array = pa.array(stored) if hasattr(stored, "__arrow_array__") else pa.array(
            values, from_pandas=True)
    else:
        array = pa.array(values, pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    return pc.fill_null(array, "") if array.null_count else array


_STANDALONE_NUMBER = re.compile(r"\b[0-9]{2,}\b", re.ASCII)


def number_key(text: str) -> str:
    """`text` with standalone numbers of two or more digits masked ("Grand 51" -> "Grand 00").

    A number touching an ASCII letter, digit or "_" ("100ml", "x12") is part of a word and stays.
    """
    return _STANDALONE_NUMBER.sub("00", text)


_DROP_DIGITS = str.maketrans("", "", "0123456789")


@dataclass(frozen=True)
class KeyedColumn:
    """A text column deduplicated twice: raw text, then its key with numbers masked."""

    raw: list[str]
    """Distinct raw texts."""
    raw_codes: np.ndarray
    """Per row, index into `raw`."""
    keys: list[str]
    """Distinct keys (raw text with standalone numbers masked)."""
    key_of_raw: np.ndarray
    """Per distinct raw text, index into `keys`."""

    @classmethod
    def of(cls, column: pd.Series | pa.Array) -> KeyedColumn:
        texts = column if isinstance(column, pa.Array) else _as_strings(column)
        (raw_codes,), raw = text_codes(texts)
        index: dict[str, int] = {}
        key_of_raw = np.array([index.setdefault(number_key(text), len(index)) for text in raw],
                              np.int64)
        return cls(raw, raw_codes, list(index), key_of_raw)

    @property
    def key_codes(self) -> np.ndarray:
        """Per row, index into `keys`."""
        return self.key_of_raw[self.raw_codes]

    def lengths(self) -> np.ndarray:
        """Characters of each distinct raw text."""
        return np.array([len(text) for text in self.raw], np.float64)

    def digits(self) -> np.ndarray:
        """ASCII digits in each distinct raw text."""
        return np.array([len(text) - len(text.translate(_DROP_DIGITS)) for text in self.raw],
                        np.float64)


# --- per distinct key ---------------------------------------------------------------------

TITLE_SIGNALS = ("brand", "distance", "mentioned", "disguised", "brands_named",
                 "compatibility", "homoglyphs", "invisible", "leet", "spaced", "masked",
                 "upper", "cased", *PHRASES)


def phrases(folded: str) -> tuple[int, int, int, int]:
    """Seed cues, "inspired by", used condition and authenticity claims in a folded text."""
    return (SEED_CUE.count(folded), INSPIRED.count(folded) > 0, USED.count(folded) > 0,
            AUTHENTICITY.count(folded))


_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = b"abcdefghijklmnopqrstuvwxyz"


def _cased_letters(text: str) -> tuple[int, int]:
    """Upper-case letters and all cased letters of `text`."""
    if text.isascii():
        data = text.encode("ascii")
        upper = len(data) - len(data.translate(None, _UPPER))
        return upper, upper + len(data) - len(data.translate(None, _LOWER))
    upper = sum(c.isupper() for c in text)
    return upper, upper + sum(c.islower() for c in text)


def title_signals(keys: Sequence[str], book: BrandBook) -> tuple[dict[str, np.ndarray],
                                                                 list[str]]:
    """Brand reading, obfuscation counts and phrases per distinct title key, and the folds."""
    read_title = book.matcher.read_title
    plain_in = book.plain_in
    rows = []
    folded = []
    for key in keys:
        text = normalize(key)
        brand, distance, mentioned, compatibility, brands_named = read_title(text)
        disguised = brand != NO_MATCH and (distance > 0 or not plain_in(brand, key.casefold()))
        rows.append((brand, distance, mentioned, disguised, brands_named, compatibility,
                     text.homoglyphs, text.invisible, text.leet, text.spaced_runs, text.masked,
                     *_cased_letters(key), *phrases(text.folded)))
        folded.append(text.folded)
    table = np.array(rows, dtype=np.float64).reshape(len(keys), len(TITLE_SIGNALS))
    return dict(zip(TITLE_SIGNALS, table.T, strict=True)), folded


DESCRIPTION_SIGNALS = ("homoglyphs", "invisible", *PHRASES)


def description_signals(keys: Sequence[str]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Look-alike letters, invisible characters and phrases per distinct description key."""
    rows = []
    folded = []
    for key in keys:
        text, homoglyphs, invisible = fold_counting(key)
        rows.append((homoglyphs, invisible, *phrases(text)))
        folded.append(text)
    table = np.array(rows, dtype=np.float64).reshape(len(keys), len(DESCRIPTION_SIGNALS))
    return dict(zip(DESCRIPTION_SIGNALS, table.T, strict=True)), folded


def model_text(folded: Sequence[str]) -> list[str]:
    """The text the n-gram model and the cue terms read: folded, every digit masked."""
    return [mask_digits(text) for text in folded]


@dataclass(frozen=True)
class Field:
    """One text column read once per distinct key: its signals and the words of its model text."""

    column: KeyedColumn
    signals: dict[str, np.ndarray]
    words: WordBag


def title_reading(keys: Sequence[str], book: BrandBook
                  ) -> tuple[dict[str, np.ndarray], WordBag]:
    """Distinct title keys' signals and the words of their model text."""
    signals, folded = title_signals(keys, book)
    return signals, WordBag.of(model_text(folded))


def description_reading(keys: Sequence[str]) -> tuple[dict[str, np.ndarray], WordBag]:
    """Distinct description keys' signals and the words of their model text."""
    signals, folded = description_signals(keys)
    return signals, WordBag.of(model_text(folded))


def read_titles(keyed: KeyedColumn, book: BrandBook) -> Field:
    return Field(keyed, *title_reading(keyed.keys, book))


def read_descriptions(column: pd.Series | pa.Array) -> Field:
    keyed = KeyedColumn.of(column)
    return Field(keyed, *description_reading(keyed.keys))


# --- the transformer ----------------------------------------------------------------------

class TextFeatures(TransformerMixin, BaseEstimator):
    """Text signals of listings (`text__*` columns); fit_transform gives out-of-fold scores.

    Args:
        registry_brands: brand names from the registry; always known.
        n_folds: folds of the cross-fitting that gives training rows their model scores.
        random_state: seed of the fold assignment.
        min_brand_listings: listings whose brand field plainly names a brand before that
            brand becomes known without being registered.
        variant_ratio: a typed brand within a few edits of a known brand and typed less than
            this share as often is a misspelling of it, not a brand of its own.
        common_word_brands: a title word that fuzzily resembles a brand but appears next to
            at least this many different typed brands is an ordinary word ("grand").
        ngram_range: character n-gram sizes of the text model.
        ngram_bits: log2 of the hashed n-gram buckets per field (title, description).
        ngram_l2: L2 penalty of the logistic regression (per row, loss averaged).
        ngram_max_iter: L-BFGS iterations of the logistic regression.
        cue_min_support: labelled rows a word or word pair needs to become a cue term.
        cue_min_lift: minimal smoothed log-odds lift of a cue term over the base rate.
        cue_prior_weight: pseudo-rows pulling a term's rate toward the base rate.
        cue_max_terms: cue terms kept per field.
    """

    def __init__(self, registry_brands: tuple[str, ...] = (), n_folds: int = 5,
                 random_state: int = 0, min_brand_listings: int = 5,
                 variant_ratio: float = 0.2, common_word_brands: int = 5,
                 ngram_range: tuple[int, int] = (3, 5), ngram_bits: int = 20,
                 ngram_l2: float = 1e-5, ngram_max_iter: int = 150,
                 cue_min_support: int = 30, cue_min_lift: float = 1.0,
                 cue_prior_weight: float = 20.0, cue_max_terms: int = 300) -> None:
        self.registry_brands = registry_brands
        self.n_folds = n_folds
        self.random_state = random_state
        self.min_brand_listings = min_brand_listings
        self.variant_ratio = variant_ratio
        self.common_word_brands = common_word_brands
        self.ngram_range = ngram_range
        self.ngram_bits = ngram_bits
        self.ngram_l2 = ngram_l2
        self.ngram_max_iter = ngram_max_iter
        self.cue_min_support = cue_min_support
        self.cue_min_lift = cue_min_lift
        self.cue_prior_weight = cue_prior_weight
        self.cue_max_terms = cue_max_terms

    def fit(self, X: pd.DataFrame, y: object) -> TextFeatures:
        """Learn the known brands, the common words, the cue terms and the n-gram model."""
        self._fit(X, y, out_of_fold=False)
        return self

    def fit_transform(self, X: pd.DataFrame, y: object = None, **fit_params: object) -> (
            pd.DataFrame):
        """Fit, and return the training rows' features with out-of-fold learned scores.

        Rows without a label take no part in learning; they get the final model's scores.
        """
        if y is None:
            raise ValueError("TextFeatures needs labels y to fit its text model and cue terms")
        return self._fit(X, y, out_of_fold=True)

    def transform(self, X: pd.DataFrame | Columns) -> pd.DataFrame:
        """Text features of any listings; each row depends only on its own text."""
        values = self.values(X)
        return pd.DataFrame(values, columns=FEATURE_INDEX, index=Columns.of(X).index, copy=False)

    def values(self, X: pd.DataFrame | Columns) -> np.ndarray:
        """The features of `transform` as one float32 array, a row per listing."""
        check_is_fitted(self, "ngram_scorers_")
        frame = self._frame(X)
        titles = KeyedColumn.of(frame.texts("title"))
        descriptions = KeyedColumn.of(frame.texts("description"))
        title_memo, description_memo = self._memos()
        return self._values(
            titles, title_memo.table(titles.keys, self._title_table),
            descriptions, description_memo.table(descriptions.keys, self._description_table),
            KeyedColumn.of(frame.texts("brand")))

    def remember(self, titles: Sequence[str], descriptions: Sequence[str]) -> None:
        """Fill the per-key memos with these texts' values now, so that listings holding
        them later cost a lookup (a service warming up: the memos belong to this fitted
        model, so a newly loaded one starts empty). The first texts count most when the
        memos run out of room. Values are the same as computed on demand."""
        check_is_fitted(self, "ngram_scorers_")
        title_memo, description_memo = self._memos()
        title_memo.remember(KeyedColumn.of(_as_strings(titles)).keys, self._title_table)
        description_memo.remember(KeyedColumn.of(_as_strings(descriptions)).keys,
                                  self._description_table)

    def __getstate__(self) -> dict[str, object]:
        state = dict(super().__getstate__())  # a copy: object's is the live __dict__
        state.pop("_memo", None)  # remembered texts: rebuilt on use, not the model
        return state

    def _memos(self) -> tuple[KeyMemo, KeyMemo]:
        """The per-key memos of titles and descriptions (`features.key_memo`)."""
        memos = getattr(self, "_memo", None)
        if memos is None:
            memos = self._memo = (KeyMemo((*TITLE_SIGNALS, "ngram", "cue")),
                                  KeyMemo((*DESCRIPTION_SIGNALS, "ngram", "cue")))
        return memos

    def _title_table(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Per distinct title key: its signals and learned scores."""
        return self._scored(*title_reading(keys, self.brands_), 0)

    def _description_table(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Per distinct description key: its signals and learned scores."""
        return self._scored(*description_reading(keys), 1)

    def _scored(self, signals: dict[str, np.ndarray], words: WordBag, field: int
                ) -> dict[str, np.ndarray]:
        """`signals` with the field's n-gram score and cue score of each text."""
        return {**signals, "ngram": self.ngram_scorers_[field].scores(words),
                "cue": self.cue_terms_[field].scores(words)}

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(FEATURES, dtype=object)

    # fitting -------------------------------------------------------------------------------

    def _frame(self, X: pd.DataFrame | Columns) -> Columns:
        """The text columns of `X`, checked."""
        if not isinstance(X, pd.DataFrame | Columns):
            raise TypeError(f"TextFeatures takes a pandas DataFrame, got {type(X).__name__}")
        columns = Columns.of(X)
        missing = [c for c in TEXT_COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"TextFeatures needs the listing columns {missing}; "
                             f"got {columns.names}")
        for name in TEXT_COLUMNS:
            if columns.holds_text(name):
                continue
            dtype = columns.dtype(name)
            if not (isinstance(dtype, pd.StringDtype) or pd.api.types.is_string_dtype(dtype)
                    or columns.series(name).isna().all()):
                raise TypeError(f"column '{name}' must hold text, got dtype {dtype}")
        return columns

    def _check_params(self) -> None:
        if not isinstance(self.n_folds, int) or self.n_folds < 2:
            raise ValueError(f"n_folds must be an integer >= 2, got {self.n_folds!r}")
        low, high = self.ngram_range
        if not 2 <= low <= high <= 8:
            raise ValueError(f"ngram_range must satisfy 2 <= low <= high <= 8, got "
                             f"{self.ngram_range!r}")
        if not 10 <= self.ngram_bits <= 24:
            raise ValueError(f"ngram_bits must be in 10..24, got {self.ngram_bits!r}")

    def _fit(self, X: pd.DataFrame, y: object, out_of_fold: bool) -> pd.DataFrame:
        self._check_params()
        self.__dict__.pop("_memo", None)  # what it remembers belongs to the model fitted before
        frame = self._frame(X)
        validate_data(self, X[list(TEXT_COLUMNS)], skip_check_array=True)  # feature names
        labels = _labels(y, len(X))
        labelled = ~np.isnan(labels)
        if labelled.sum() < self.n_folds or len(np.unique(labels[labelled])) < 2:
            raise ValueError("TextFeatures needs labelled rows of both classes, at least "
                             f"n_folds={self.n_folds} of them")
        fields = KeyedColumn.of(frame.texts("brand"))
        typed = fields.raw
        book = known_brands(typed, np.bincount(fields.raw_codes, minlength=len(typed)).tolist(),
                            self.registry_brands, self.min_brand_listings, self.variant_ratio)
        title_column = KeyedColumn.of(frame.texts("title"))
        field_brand = read_brand_fields(typed, book)[0][fields.raw_codes]
        self.brands_ = book.with_common_words(common_words(
            [normalize(k).tokens for k in title_column.keys], title_column.key_codes,
            field_brand, book.matcher, self.common_word_brands))
        titles = read_titles(title_column, self.brands_)
        descriptions = read_descriptions(frame.texts("description"))

        rows_t = titles.column.key_codes[labelled]
        rows_d = descriptions.column.key_codes[labelled]
        y_known = labels[labelled]
        low, high = self.ngram_range
        design_t = NgramDesign.of(titles.words, low, high, self.ngram_bits)
        design_d = NgramDesign.of(descriptions.words, low, high, self.ngram_bits)
        terms_t, vocabulary_t = term_matrix(titles.words)
        terms_d, vocabulary_d = term_matrix(descriptions.words)
        rule = CueRule(self.cue_min_support, self.cue_min_lift, self.cue_prior_weight,
                       self.cue_max_terms)
        n_t, n_d = len(titles.column.keys), len(descriptions.column.keys)
        f_t = design_t.matrix.shape[1]

        def learn(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            pairs = PairRows.of(rows_t[rows], rows_d[rows], y_known[rows], n_d)
            theta = fit_logistic(design_t.matrix, design_d.matrix, pairs, self.ngram_l2,
                                 self.ngram_max_iter)
            cues_t = rule.lifts(terms_t, *_counts(rows_t[rows], y_known[rows], n_t))
            cues_d = rule.lifts(terms_d, *_counts(rows_d[rows], y_known[rows], n_d))
            return theta, cues_t, cues_d

        theta, cues_t, cues_d = learn(np.arange(len(y_known)))
        self.ngram_scorers_ = (
            NgramScorer(design_t.expand(theta[:f_t], self.ngram_bits), low, high),
            NgramScorer(design_d.expand(theta[f_t:-1], self.ngram_bits), low, high))
        self.ngram_bias_ = float(theta[-1])
        self.cue_terms_ = (CueTable.of(vocabulary_t, cues_t), CueTable.of(vocabulary_d, cues_d))
        if not out_of_fold:
            return pd.DataFrame()

        features = pd.DataFrame(self._values(
            titles.column, self._scored(titles.signals, titles.words, 0),
            descriptions.column, self._scored(descriptions.signals, descriptions.words, 1),
            fields), columns=FEATURE_INDEX, index=X.index, copy=False)
        ngram = features["text__ngram_score"].to_numpy(dtype=np.float64)
        cue = features["text__cue_score"].to_numpy(dtype=np.float64)
        ngram_known, cue_known = np.zeros(len(y_known)), np.zeros(len(y_known))
        splitter = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state)
        for train, held_out in splitter.split(np.zeros(len(y_known)), y_known):
            theta_k, cues_t_k, cues_d_k = learn(train)
            score_t = design_t.matrix @ theta_k[:f_t].astype(np.float32)
            score_d = design_d.matrix @ theta_k[f_t:-1].astype(np.float32)
            ngram_known[held_out] = (score_t[rows_t[held_out]] + score_d[rows_d[held_out]]
                                     + theta_k[-1])
            cue_known[held_out] = ((terms_t @ cues_t_k)[rows_t[held_out]]
                                   + (terms_d @ cues_d_k)[rows_d[held_out]])
        ngram[labelled] = ngram_known
        cue[labelled] = cue_known
        return features.assign(text__ngram_score=ngram.astype(np.float32),
                               text__cue_score=cue.astype(np.float32))

    # features ------------------------------------------------------------------------------

    def _values(self, raw_t: KeyedColumn, t: dict[str, np.ndarray], raw_d: KeyedColumn,
                d: dict[str, np.ndarray], fields: KeyedColumn) -> np.ndarray:
        """Row features from the per-key tables of titles (`t`) and descriptions (`d`:
        signals, "ngram" and "cue" scores), the brand field and the raw-text shape."""
        t_rows, d_rows = raw_t.key_codes, raw_d.key_codes
        f_rows = fields.raw_codes
        ngram = t["ngram"][t_rows] + d["ngram"][d_rows] + self.ngram_bias_
        cue = t["cue"][t_rows] + d["cue"][d_rows]
        field_brand, field_generic, field_disguised = read_brand_fields(
            fields.raw, self.brands_)
        own = t["brand"][t_rows]
        title_chars = raw_t.lengths()
        values = {
            "text__ngram_score": ngram,
            "text__cue_score": cue,
            "text__seed_cue_count": t["seed"][t_rows] + d["seed"][d_rows],
            "text__brand_mentioned": t["mentioned"][t_rows],
            "text__brand_edit_distance": t["distance"][t_rows],
            "text__brand_disguised": t["disguised"][t_rows],
            "text__brand_mismatch": (own != NO_MATCH) & (own != field_brand[f_rows]),
            "text__brands_named": t["brands_named"][t_rows],
            "text__compatibility_phrase": t["compatibility"][t_rows],
            "text__brand_field_generic": field_generic[f_rows],
            "text__brand_field_disguised": field_disguised[f_rows],
            "text__homoglyphs": t["homoglyphs"][t_rows] + d["homoglyphs"][d_rows],
            "text__invisible_chars": t["invisible"][t_rows] + d["invisible"][d_rows],
            "text__leet_chars": t["leet"][t_rows],
            "text__spaced_letters": t["spaced"][t_rows],
            "text__masked_letters": t["masked"][t_rows],
            "text__inspired_by": np.maximum(t["inspired"][t_rows], d["inspired"][d_rows]),
            "text__used_condition": np.maximum(t["used"][t_rows], d["used"][d_rows]),
            "text__authenticity_claim": t["authentic"][t_rows] + d["authentic"][d_rows],
            "text__title_chars": title_chars[raw_t.raw_codes],
            "text__description_chars": raw_d.lengths()[raw_d.raw_codes],
            "text__title_upper_ratio": (t["upper"] / np.maximum(t["cased"], 1))[t_rows],
            "text__title_digit_share": (raw_t.digits() / np.maximum(title_chars, 1))[
                raw_t.raw_codes],
        }
        # one conversion to float32 (as assigning column by column would cast), column-major
        return np.array([values[name] for name in FEATURES], np.float32).reshape(
            len(FEATURES), len(f_rows)).T


def _labels(y: object, n_rows: int) -> np.ndarray:
    """Labels as float 0/1 with NaN where unknown."""
    values = pd.Series(y).astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    if len(values) != n_rows:
        raise ValueError(f"y has {len(values)} labels for {n_rows} rows")
    known = values[~np.isnan(values)]
    if not np.isin(known, (0.0, 1.0)).all():
        raise ValueError("labels must be 0, 1 or missing")
    return values


def _counts(rows: np.ndarray, y: np.ndarray, n_texts: int) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct text, its positive and total labelled rows."""
    return (np.bincount(rows, weights=y, minlength=n_texts),
            np.bincount(rows, minlength=n_texts).astype(np.float64))
