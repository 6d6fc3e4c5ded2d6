"""TextFeatures: scikit-learn conventions, disguised brands, out-of-fold scores, batch = single."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from features.text import (
    AUTHENTICITY,
    FEATURES,
    INSPIRED,
    SEED_CUE,
    SEED_CUES,
    USED,
    TextFeatures,
    number_key,
)
from features.text_model import FEW_CUE_TEXTS, CueTable, NgramScorer, WordBag, ngram_hashes

REGISTRY = ("Dofen", "Arvedo", "Celo", "Streldolu", "Morata")
TYPED_ONLY = ("Vizen",)  # typed in listings, never registered
LINES = ("Classic", "Neo", "Pro", "Mini", "Grand")
ITEMS = ("Hoodie", "Tote", "Backpack", "Chronograph", "Wallet", "Sneaker", "Cap")
GENUINE = ("Brand new in box, never opened.", "Authorized retailer, full warranty.",
           "Receipt and dust bag included.", "Ships within 2 days.", "Gift, still sealed.")
# "zorbit grade" is a made-up cue: only the data can teach it
FAKE = ("Zorbit grade, nobody can tell the difference.", "Factory batch with all logos.",
        "Looks exactly like the real one.", "Ships within 2 days.")


def disguise(brand: str, trick: int) -> str:
    if trick == 0:
        return brand.replace("o", "0").replace("e", "3")
    if trick == 1:
        return " ".join(brand.upper())
    if trick == 2:
        return ".".join(brand)
    if trick == 3:
        return brand.replace("o", "\u043e").replace("e", "\u0435")
    if trick == 4:
        return brand[:2] + "\u200b" + brand[2:]
    return brand[0] + brand[2] + brand[1] + brand[3:]


def toy_listings(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Seeded listings: about a third counterfeit, with cue words, disguises and noisy labels."""
    rng = np.random.default_rng(seed)
    brands = np.array(REGISTRY + TYPED_ONLY)
    fake = rng.random(n) < 0.3
    rows = []
    for is_fake in fake:
        brand = str(rng.choice(brands))
        shown = brand
        typed = brand
        words = [rng.choice(LINES), str(rng.integers(1, 100)), rng.choice(ITEMS)]
        pool = FAKE if is_fake else GENUINE
        description = " ".join(rng.choice(pool, size=2, replace=False))
        if is_fake:
            if rng.random() < 0.4:
                shown = disguise(brand, int(rng.integers(0, 6)))
                typed = str(rng.choice(["Generic", "", brand]))
            if rng.random() < 0.5:
                words.append(str(rng.choice(["zorbit grade", "1:1", "top batch"])))
        rows.append((" ".join([shown, *words]), description, typed, "apparel"))
    frame = pd.DataFrame(rows, columns=["title", "description", "brand", "category"],
                         index=pd.Index([f"L{seed}-{i:05d}" for i in range(n)], name="listing_id"))
    frame = frame.astype({c: "str" for c in frame.columns})
    noise = rng.random(n) < 0.03
    label = pd.Series(np.where(noise, ~fake, fake).astype(np.int64), index=frame.index)
    return frame, label


@pytest.fixture(scope="module")
def toy() -> tuple[pd.DataFrame, pd.Series]:
    return toy_listings(3000, seed=0)


@pytest.fixture(scope="module")
def fitted(toy: tuple[pd.DataFrame, pd.Series]) -> tuple[TextFeatures, pd.DataFrame]:
    X, y = toy
    model = TextFeatures(registry_brands=REGISTRY, n_folds=3, random_state=0)
    return model, model.fit_transform(X, y)


def one_per_row(titles: list[str], brand: str = "Generic", description: str = "") -> pd.DataFrame:
    return pd.DataFrame({"title": titles, "description": [description] * len(titles),
                         "brand": [brand] * len(titles), "category": ["bags"] * len(titles)},
                        dtype="str")


# --- scikit-learn conventions -------------------------------------------------------------

def test_init_only_stores_parameters() -> None:
    model = TextFeatures(registry_brands=("Dofen",), n_folds=4, random_state=7)
    assert vars(model) == model.get_params()
    assert clone(model).get_params() == model.get_params()
    assert not [k for k in vars(model) if k.endswith("_")]


def test_transform_before_fit_is_an_error(toy: tuple[pd.DataFrame, pd.Series]) -> None:
    with pytest.raises(NotFittedError):
        TextFeatures().transform(toy[0])


def test_output_frame_keeps_the_index_and_names(
        toy: tuple[pd.DataFrame, pd.Series], fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, out_of_fold = fitted
    X, _ = toy
    later, _ = toy_listings(200, seed=5)
    for out, source in ((out_of_fold, X), (model.transform(later), later)):
        assert out.index.equals(source.index)
        assert list(out.columns) == list(model.get_feature_names_out()) == list(FEATURES)
        assert all(c.startswith("text__") for c in out.columns)
        assert (out.dtypes == np.float32).all()
        assert not out.isna().any().any()
    assert list(model.feature_names_in_) == ["title", "description", "brand"]
    assert [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]


def test_set_output_pandas(toy: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = toy
    model = TextFeatures(registry_brands=REGISTRY, n_folds=2).set_output(transform="pandas")
    out = model.fit_transform(X.iloc[:600], y.iloc[:600])
    later = model.transform(X.iloc[600:700])
    assert isinstance(out, pd.DataFrame) and isinstance(later, pd.DataFrame)
    assert list(later.columns) == list(FEATURES)
    assert later.index.equals(X.index[600:700])


def test_extra_columns_are_ignored(fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    frame = one_per_row(["Dofen Classic 5 Tote"])
    wider = frame.assign(price=10.0, label=1, seller_id="S1")[
        ["price", "brand", "seller_id", "title", "category", "description", "label"]]
    pd.testing.assert_frame_equal(model.transform(frame), model.transform(wider))


# --- the learned scores -------------------------------------------------------------------

def test_out_of_fold_scores_differ_from_in_sample_and_separate_the_labels(
        toy: tuple[pd.DataFrame, pd.Series], fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, out_of_fold = fitted
    X, y = toy
    in_sample = model.transform(X)
    for column in ("text__ngram_score", "text__cue_score"):
        assert not np.allclose(out_of_fold[column], in_sample[column])
        assert roc_auc_score(y, out_of_fold[column]) > 0.85
    # in-sample scores are optimistic; out-of-fold ones are what a new listing would get
    assert roc_auc_score(y, in_sample["text__ngram_score"]) >= roc_auc_score(
        y, out_of_fold["text__ngram_score"])


def test_scores_separate_unseen_listings(fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    X, y = toy_listings(1500, seed=1)
    out = model.transform(X)
    assert roc_auc_score(y, out["text__ngram_score"]) > 0.9
    assert roc_auc_score(y, out["text__cue_score"]) > 0.85


def test_cue_terms_are_learned_from_the_data(fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    title_cues, description_cues = model.cue_terms_
    assert "zorbit" in title_cues.lifts and "zorbit grade" in title_cues.lifts
    assert "zorbit" in description_cues.lifts
    assert "never" not in description_cues.lifts  # a genuine-only word is no cue
    out = model.transform(one_per_row(["Dofen Classic 5 Tote zorbit grade",
                                       "Dofen Classic 5 Tote"]))
    assert out["text__cue_score"].iloc[0] > 1.0
    assert out["text__cue_score"].iloc[1] == 0.0
    assert out["text__seed_cue_count"].tolist() == [0.0, 0.0]  # not a hand-written cue


def test_unlabelled_rows_get_the_final_model_scores(
        toy: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = toy
    X, y = X.iloc[:1200], y.iloc[:1200].astype("Int64")
    y.iloc[:100] = pd.NA
    model = TextFeatures(registry_brands=REGISTRY, n_folds=3)
    out = model.fit_transform(X, y)
    final = model.transform(X.iloc[:100])
    pd.testing.assert_frame_equal(out.iloc[:100], final)


def test_fit_and_fit_transform_learn_the_same_model(toy: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = toy
    X, y = X.iloc[:1000], y.iloc[:1000]
    later, _ = toy_listings(100, seed=3)
    a = TextFeatures(registry_brands=REGISTRY, n_folds=2).fit(X, y)
    b = TextFeatures(registry_brands=REGISTRY, n_folds=2)
    b.fit_transform(X, y)
    pd.testing.assert_frame_equal(a.transform(later), b.transform(later))


# --- one fitted object, any batch ---------------------------------------------------------

def test_a_row_alone_gets_exactly_its_batch_features(
        fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    X, _ = toy_listings(400, seed=2)
    batch = model.transform(X)
    for i in range(0, 400, 37):
        alone = model.transform(X.iloc[[i]])
        np.testing.assert_array_equal(alone.to_numpy(), batch.iloc[[i]].to_numpy())
    shuffled = X.sample(frac=1.0, random_state=1)
    np.testing.assert_array_equal(model.transform(shuffled).loc[X.index].to_numpy(),
                                  batch.to_numpy())


def test_refitting_and_pickling_change_nothing(
        toy: tuple[pd.DataFrame, pd.Series], fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, out_of_fold = fitted
    X, y = toy
    later, _ = toy_listings(300, seed=4)
    again = TextFeatures(registry_brands=REGISTRY, n_folds=3, random_state=0)
    pd.testing.assert_frame_equal(again.fit_transform(X, y), out_of_fold)
    restored = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(restored.transform(later), model.transform(later))


def test_remembered_texts_give_the_features_of_texts_computed_afresh(
        fitted: tuple[TextFeatures, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    """Few texts per call (the service) read the memo; many (batch) compute every key."""
    model, _ = fitted
    X, _ = toy_listings(300, seed=5)
    cold = pickle.loads(pickle.dumps(model))
    parts = [cold.transform(X.iloc[i:i + 7]) for i in range(0, 150, 7)]  # memo grows
    mixed = X.iloc[::-1]  # half remembered, half new, another order
    warm = cold.transform(mixed).loc[X.index]
    assert len(cold._memos()[0]) > 0
    monkeypatch.setattr("features.key_memo.MEMO_CALL_KEYS", 0)
    afresh = pickle.loads(pickle.dumps(model)).transform(X)
    np.testing.assert_array_equal(warm.to_numpy(), afresh.to_numpy())
    np.testing.assert_array_equal(pd.concat(parts).to_numpy(),
                                  afresh.loc[pd.concat(parts).index].to_numpy())


def test_texts_remembered_ahead_are_not_computed_again_and_give_the_same_features(
        fitted: tuple[TextFeatures, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    """A service warming up remembers the latest stored texts before any request."""
    model, _ = fitted
    X, _ = toy_listings(60, seed=9)
    warm = pickle.loads(pickle.dumps(model))
    warm.remember(X["title"].tolist(), X["description"].tolist())
    asked: list[str] = []
    for table in ("_title_table", "_description_table"):
        compute = getattr(warm, table)
        monkeypatch.setattr(warm, table, lambda keys, compute=compute: (
            asked.extend(keys) or compute(keys)))
    rows = [warm.transform(X.iloc[[i]]) for i in range(len(X))]  # one listing per call
    assert asked == []
    afresh = pickle.loads(pickle.dumps(model)).transform(X)
    np.testing.assert_array_equal(pd.concat(rows).to_numpy(), afresh.to_numpy())


def test_the_memo_is_not_pickled_and_a_refit_forgets_it(
        toy: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = toy
    model = TextFeatures(registry_brands=REGISTRY, n_folds=3, random_state=0).fit(X, y)
    size = len(pickle.dumps(model))
    model.transform(X.iloc[:50])
    assert len(model._memos()[0]) > 0 and len(pickle.dumps(model)) == size
    model.fit(X.iloc[::2], y.iloc[::2])
    assert len(model._memos()[0]) == 0


def test_empty_and_missing_text(fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    empty = model.transform(one_per_row([]))
    assert empty.shape == (0, len(FEATURES))
    frame = pd.DataFrame({"title": [None, ""], "description": [None, "x"], "brand": [None, ""]},
                         dtype="str")
    out = model.transform(frame)
    assert not out.isna().any().any()
    assert out["text__brand_field_generic"].tolist() == [1.0, 1.0]
    assert out["text__title_chars"].tolist() == [0.0, 0.0]


# --- brands -------------------------------------------------------------------------------

DISGUISES = {
    "misspelling": "Dofem Classic 5 Tote",
    "transposition": "Dfoen Classic 5 Tote",
    "leetspeak": "D0f3n Classic 5 Tote",
    "spacing": "D o f e n Classic 5 Tote",
    "punctuation": "D.o.f.e.n Classic 5 Tote",
    "hyphens": "D-o-f-e-n Classic 5 Tote",
    "split word": "Dof'en Classic 5 Tote",
    "masked letter": "Do*en Classic 5 Tote",
    "cyrillic": "D\u043ef\u0435n Classic 5 Tote",
    "greek": "D\u03bffen Classic 5 Tote",
    "zero width": "Do\u200bfe\u2060n Classic 5 Tote",
    "full width": "Ｄｏｆｅｎ Classic 5 Tote",
}


@pytest.mark.parametrize("trick", list(DISGUISES))
def test_each_disguise_is_flagged(trick: str, fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    out = model.transform(one_per_row([DISGUISES[trick]], brand="Generic")).iloc[0]
    assert out["text__brand_mentioned"] == 1
    assert out["text__brand_disguised"] == 1
    assert out["text__brand_mismatch"] == 1
    assert out["text__brand_edit_distance"] in (0, 1)


def test_obfuscation_is_counted(fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    out = model.transform(one_per_row([DISGUISES[t] for t in (
        "leetspeak", "spacing", "masked letter", "cyrillic", "zero width")]))
    assert out["text__leet_chars"].tolist() == [2, 0, 0, 0, 0]
    assert out["text__spaced_letters"].tolist() == [0, 1, 0, 0, 0]
    assert out["text__masked_letters"].tolist() == [0, 0, 1, 0, 0]
    assert out["text__homoglyphs"].tolist() == [0, 0, 0, 2, 0]
    assert out["text__invisible_chars"].tolist() == [0, 0, 0, 0, 2]


def test_plain_brand_is_neither_disguised_nor_mismatched(
        fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    out = model.transform(pd.concat([
        one_per_row(["Dofen Classic 5 Tote", "DOFEN classic 5 tote"], brand="Dofen"),
        one_per_row(["Vizen Neo 7 Cap"], brand="Vizen"),
    ], ignore_index=True))
    assert out["text__brand_mentioned"].tolist() == [1, 1, 1]
    assert out["text__brand_edit_distance"].tolist() == [0, 0, 0]
    assert out["text__brand_disguised"].tolist() == [0, 0, 0]
    assert out["text__brand_mismatch"].tolist() == [0, 0, 0]


def test_brand_typed_often_enough_becomes_known(fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    assert "vizen" in model.brands_.keys
    out = model.transform(one_per_row(["V1zen Neo 7 Cap"], brand="Generic")).iloc[0]
    assert (out["text__brand_disguised"], out["text__brand_mismatch"]) == (1, 1)


def test_no_brand_gives_the_sentinel(fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    out = model.transform(one_per_row(["Leather Tote Bag 40cm"])).iloc[0]
    assert out["text__brand_mentioned"] == 0
    assert out["text__brand_edit_distance"] == -1
    assert (out["text__brand_disguised"], out["text__brand_mismatch"]) == (0, 0)


@pytest.mark.parametrize("title", [
    "Phone case compatible with Arvedo X2",
    "Charger for Arvedo Mini 5",
    "Replacement Strap fits Arvedo Classic 3",
    "Screen Protector replacement for Arvedo Neo 32",
    "Premium Cable compatible with 4rvedo Pro",
])
def test_compatible_accessories_are_not_disguises(
        title: str, fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    out = model.transform(one_per_row([title], brand="Generic")).iloc[0]
    assert out["text__compatibility_phrase"] == 1
    assert out["text__brand_mentioned"] == 1
    assert out["text__brand_disguised"] == 0
    assert out["text__brand_mismatch"] == 0


def test_brand_field_signals(fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    frame = pd.concat([one_per_row(["Dofen Tote"], brand=b)
                       for b in ("Dofen", "Unbranded", "", "D.o.f.e.n", "Arvedo")],
                      ignore_index=True)
    out = model.transform(frame)
    assert out["text__brand_field_generic"].tolist() == [0, 1, 1, 0, 0]
    assert out["text__brand_field_disguised"].tolist() == [0, 0, 0, 1, 0]
    assert out["text__brand_mismatch"].tolist() == [0, 1, 1, 0, 1]


# --- phrases and shape --------------------------------------------------------------------

def test_phrase_and_shape_signals(fitted: tuple[TextFeatures, pd.DataFrame]) -> None:
    model, _ = fitted
    frame = pd.DataFrame({
        "title": ["Dofen Tote replica AAA quality 1:1", "Tote inspired by Dofen",
                  "DOFEN TOTE 100% authentic", "Dofen Tote pre-owned"],
        "description": ["Mirror quality.", "Never used, still sealed.",
                        "Genuine, original receipt.", "Light signs of use."],
        "brand": ["Dofen", "Generic", "Dofen", "Dofen"],
    }, dtype="str")
    out = model.transform(frame)
    assert out["text__seed_cue_count"].tolist() == [4, 1, 0, 0]
    assert out["text__inspired_by"].tolist() == [0, 1, 0, 0]
    assert out["text__used_condition"].tolist() == [0, 0, 0, 1]
    assert out["text__authenticity_claim"].tolist() == [0, 0, 3, 0]
    assert out["text__title_chars"].tolist() == [34, 22, 25, 20]
    assert out["text__title_upper_ratio"].iloc[2] == 0.5  # 9 upper-case of 18 cased letters
    assert out["text__title_digit_share"].iloc[0] == pytest.approx(2 / 34)


# --- bad input ----------------------------------------------------------------------------

def test_bad_input_is_a_clear_error(toy: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = toy
    X, y = X.iloc[:200], y.iloc[:200]
    with pytest.raises(ValueError, match="description"):
        TextFeatures().fit(X.drop(columns="description"), y)
    with pytest.raises(TypeError, match="DataFrame"):
        TextFeatures().fit(X.to_numpy(), y)
    with pytest.raises(TypeError, match="title"):
        TextFeatures().fit(X.assign(title=1.5), y)
    with pytest.raises(ValueError, match="labels"):
        TextFeatures().fit(X, y.iloc[:10])
    with pytest.raises(ValueError, match="0, 1"):
        TextFeatures().fit(X, y * 2)
    with pytest.raises(ValueError, match="both classes"):
        TextFeatures().fit(X, y * 0)
    with pytest.raises(ValueError, match="n_folds"):
        TextFeatures(n_folds=1).fit(X, y)
    with pytest.raises(ValueError, match="labels y"):
        TextFeatures().fit_transform(X)


# --- on the synthetic marketplace ---------------------------------------------------------

@pytest.mark.slow
def test_signals_on_the_synthetic_marketplace() -> None:
    from features.synthetic import SynthConfig, generate_marketplace

    market = generate_marketplace(SynthConfig(n_listings=30_000, seed=11))
    listings = market.listings.sort_values("created_at", ignore_index=True)
    train, test = listings.iloc[:21_000], listings.iloc[21_000:]
    model = TextFeatures(registry_brands=tuple(market.brands["brand"]), n_folds=3)
    out_of_fold = model.fit_transform(train, train["label"])
    later = model.transform(test)
    assert roc_auc_score(train["label"], out_of_fold["text__ngram_score"]) > 0.85
    assert roc_auc_score(test["label"], later["text__ngram_score"]) > 0.85
    fake = test["label"].to_numpy() == 1
    disguised = later["text__brand_disguised"].to_numpy()
    assert disguised[fake].mean() > 5 * disguised[~fake].mean()


# --- properties ---------------------------------------------------------------------------

PIECES = [*"Dofen Arvedo 0134@$*.-_'", "\u200b", "\u043e", "\u0435", "\u03bf", "Ｄ", "\n",
          "ß", "日", "compatible with ", "replica ", "for ", "12 ", "100% "]
TRICKY = st.lists(st.sampled_from(PIECES), max_size=25).map("".join)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(TRICKY, TRICKY, st.sampled_from(["", "Dofen", "Generic", "D0fen"])),
                min_size=1, max_size=8))
def test_any_text_gets_the_same_features_alone_and_in_a_batch(
        fitted: tuple[TextFeatures, pd.DataFrame], rows: list[tuple[str, str, str]]) -> None:
    model, _ = fitted
    frame = pd.DataFrame(rows, columns=["title", "description", "brand"], dtype="str")
    batch = model.transform(frame)
    assert np.isfinite(batch.to_numpy()).all()
    for i in range(len(frame)):
        np.testing.assert_array_equal(model.transform(frame.iloc[[i]]).to_numpy(),
                                      batch.iloc[[i]].to_numpy())


def test_phrase_prefilters_cover_their_phrases() -> None:
    for phrase in SEED_CUES:
        assert SEED_CUE.count(phrase) == 1, phrase
    assert INSPIRED.count("tote in the style of dofen") == 1
    assert USED.count("gently used, like new") == 2
    assert USED.count("never used") == 0
    assert AUTHENTICITY.count("100% authentic, genuine") == 2


def test_standalone_numbers_are_masked_in_the_key() -> None:
    assert number_key("Grand 51 Tote 100ml x12 No. 597548, 1:1 -40% 7") == (
        "Grand 00 Tote 100ml x12 No. 00, 1:1 -00% 7")
    assert number_key("A_12 12_b 2026") == "A_12 12_b 00"


def test_few_texts_get_the_cue_scores_of_a_batch() -> None:
    rng = np.random.default_rng(3)
    vocabulary = ["fake", "fake,", "(aaa", "quality", "mirror", "copy!", "copy", "bag", "the",
                  "...", "1:1", "grade", "replica"]
    lifts = np.array([1.5, 0.0, 2.25, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 1.0, 0.5, 0.75, 1.25])
    terms = ["fake", "bag", "aaa quality", "mirror copy", "quality", "the", "copy",
             "copy bag", "1:1", "aaa", "replica grade", "grade", "replica"]
    table = CueTable.of(terms, lifts)
    texts = [" ".join(rng.choice(vocabulary, rng.integers(0, 12)))
             for _ in range(4 * FEW_CUE_TEXTS)]
    batch = table.scores(WordBag.of(texts))  # many texts: the array path
    alone = np.concatenate([table.scores(WordBag.of([t])) for t in texts])
    np.testing.assert_array_equal(alone, batch)
    assert np.count_nonzero(batch) > len(texts) // 2


def test_models_pickled_before_the_text_model_moved_still_load() -> None:
    # such pickles name the model's classes in features.text (protocol 0 spells names out)
    scorer = NgramScorer(np.arange(1024, dtype=np.float32), 3, 5)
    table = CueTable.of(["fake", "aaa quality"], np.array([1.5, 2.0]))
    old = pickle.dumps((scorer, table), protocol=0).replace(b"features.text_model",
                                                            b"features.text")
    assert b"features.text_model" not in old
    restored_scorer, restored_table = pickle.loads(old)
    np.testing.assert_array_equal(restored_scorer.weights, scorer.weights)
    assert restored_table == table


WORD = st.text(st.characters(codec="utf-8", exclude_categories=("Zs", "Zl", "Zp", "Cc")),
               min_size=1, max_size=12)


def reference_ngrams(texts: list[str], n_min: int, n_max: int,
                     n_bits: int) -> list[tuple[int, int]]:
    """(text, bucket) of each character n-gram inside a space-padded word, from the definition."""
    mask = (1 << 64) - 1
    out = []
    for doc, text in enumerate(texts):
        for word in text.replace("\x00", " ").split():
            padded = (" " + word + " ").encode("utf-8")
            for n in range(n_min, n_max + 1):
                for i in range(len(padded) - n + 1):
                    h = 0
                    for byte in padded[i:i + n]:
                        h = (h * 0x100000001B3 + byte) & mask
                    mixed = ((h ^ (0x51ED27 * n)) * 0x9E3779B97F4A7C15) & mask
                    out.append((doc, mixed >> (64 - n_bits)))
    return sorted(out)


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.lists(WORD, min_size=1, max_size=4).map(" ".join), max_size=6),
       sizes=st.sampled_from([(3, 5), (2, 2), (2, 8), (6, 8)]))
@example(texts=["a"], sizes=(3, 6))  # n-grams longer than all the bytes there are
def test_character_ngrams_are_hashed_inside_words(texts: list[str],
                                                  sizes: tuple[int, int]) -> None:
    """The text model's words (and texts of words), any Unicode, n-grams longer than a word."""
    docs, buckets = ngram_hashes(texts, *sizes, 20)
    assert sorted(zip(docs.tolist(), buckets.tolist(), strict=True)) == reference_ngrams(
        texts, *sizes, 20)


def test_after_warm_up_ngram_hashing_compiles_nothing_more() -> None:
    """The service warms up before taking requests: a new word must not compile anything."""
    from features import text_model

    text_model.warm_up()
    compiled = len(text_model._ngram_kernel().signatures)
    scorer = NgramScorer(np.ones(1 << 10, np.float32), 3, 5)
    scorer.scores(WordBag.of(["never seen before", "zebra"]))
    ngram_hashes(["many words"] * 5000, 2, 6, 12)
    assert len(text_model._ngram_kernel().signatures) == compiled == 1
