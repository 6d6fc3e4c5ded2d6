"""Brand mentions are found through every disguise, and accessory phrases are not disguises."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.brand_match import (
    NO_MATCH,
    BrandMatcher,
    common_words,
    compatibility_start,
    known_brands,
    max_edits,
    osa_distance,
    read_brand_fields,
)
from features.normalize import normalize

BRANDS = ("arvedo", "celo", "dofen", "sota", "streldolu", "louisvuitton", "zx")


def reference_osa(a: str, b: str) -> int:
    """Textbook optimal-string-alignment distance, no cut-off."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


@settings(max_examples=300, deadline=None)
@given(st.text("abcde", max_size=8), st.text("abcde", max_size=8), st.integers(0, 3))
def test_bounded_distance_agrees_with_the_full_one(a: str, b: str, limit: int) -> None:
    assert osa_distance(a, b, limit) == min(reference_osa(a, b), limit + 1)


def test_transposition_is_one_edit() -> None:
    assert osa_distance("cleo", "celo", 2) == 1
    assert osa_distance("kaorezn", "kaorzen", 2) == 1


def test_edit_limits_by_length() -> None:
    assert [max_edits(n) for n in (2, 3, 4, 5, 9)] == [0, 0, 1, 2, 2]


def own_brand(title: str, matcher: BrandMatcher) -> tuple[str | None, int]:
    reading = matcher.read_title(normalize(title))
    name = matcher.keys[reading.brand] if reading.brand != NO_MATCH else None
    return name, reading.distance


@pytest.mark.parametrize(("title", "brand", "distance"), [
    ("Dofen Grand 51 Hoodie", "dofen", 0),
    ("DOFEN grand 51 hoodie", "dofen", 0),
    ("Dofem Grand 51 Hoodie", "dofen", 1),            # misspelling
    ("Dfoen Grand 51 Hoodie", "dofen", 1),            # swapped letters
    ("Streldou Classic 7 Charger", "streldolu", 1),   # dropped letter
    ("Strelldolu Classic 7 Charger", "streldolu", 1),  # doubled letter
    ("Cleo Grand 31 Intense", "celo", 1),             # short name, one edit
    ("D0fen Classic 3 Bag", "dofen", 0),              # leetspeak
    ("4rv3d0 Backpack", "arvedo", 0),
    ("$ota Gift Set", "sota", 0),
    ("D o f e n Classic 3 Bag", "dofen", 0),          # spacing
    ("D.o.f.e.n Classic 3 Bag", "dofen", 0),          # punctuation
    ("D-o-f-e-n Classic 3 Bag", "dofen", 0),
    ("Dof.en Classic 3 Bag", "dofen", 0),             # split once
    ("Do_fen Classic 3 Bag", "dofen", 0),
    ("Dof*en Classic 3 Bag", "dofen", 0),
    ("S*ta Pro 44 Gift Set", "sota", 1),              # masked letter
    ("D\u043ef\u0435n Classic 3 Bag", "dofen", 0),    # Cyrillic look-alikes
    ("\u0391rved\u03bf Backpack", "arvedo", 0),       # Greek look-alikes
    ("Do\u200bfe\u200dn Classic 3 Bag", "dofen", 0),  # zero-width characters
    ("Ｄｏｆｅｎ Tote", "dofen", 0),                  # full-width letters
    ("Louis Vuitton Speedy 30", "louisvuitton", 0),   # two-word brand
])
def test_each_disguise_is_found(title: str, brand: str, distance: int) -> None:
    assert own_brand(title, BrandMatcher(BRANDS)) == (brand, distance)


@pytest.mark.parametrize("title", [
    "Grand Classic Hoodie",
    "Zen Tote 40mm",          # "zen" is 3 letters: only exact matches
    "Solo Leather Belt",       # "solo" is two edits from "sota": too far for a 4-letter name
    "Dragon Zip Wallet",
])
def test_ordinary_titles_name_no_brand(title: str) -> None:
    assert own_brand(title, BrandMatcher(BRANDS)) == (None, NO_MATCH)


def test_short_brands_match_only_exactly() -> None:
    matcher = BrandMatcher(BRANDS)
    assert own_brand("ZX Mini Speaker", matcher) == ("zx", 0)
    assert own_brand("ZY Mini Speaker", matcher) == (None, NO_MATCH)


@pytest.mark.parametrize("title", [
    "Phone case compatible with Arvedo X2",
    "Charger for Arvedo Mini 5",
    "Replacement strap for the Arvedo Pro",
    "Screen Protector fits Arvedo Neo 32",
    "Universal Cable works with Arvedo phones",
    "Generic Plush compatible with D0fen Classic 93",
])
def test_accessory_phrases_name_no_own_brand(title: str) -> None:
    reading = BrandMatcher(BRANDS).read_title(normalize(title))
    assert reading.brand == NO_MATCH
    assert reading.mentioned
    assert reading.compatibility_phrase


def test_own_brand_before_an_accessory_phrase_is_kept() -> None:
    reading = BrandMatcher(BRANDS).read_title(normalize("Arvedo case for Dofen X2"))
    assert (reading.brand, reading.brands_named, reading.compatibility_phrase) == (
        BRANDS.index("arvedo"), 2, True)


def test_brand_for_men_is_not_an_accessory() -> None:
    reading = BrandMatcher(BRANDS).read_title(normalize("Dofen hoodie for men"))
    assert reading.brand == BRANDS.index("dofen")


def test_compatibility_start() -> None:
    assert compatibility_start(("case", "compatible", "with", "x")) == 3
    assert compatibility_start(("replacement", "for", "x")) == 2
    assert compatibility_start(("replacement", "strap")) == 3


def test_common_words_match_only_exactly() -> None:
    assert own_brand("Dofex Tote", BrandMatcher(BRANDS)) == ("dofen", 1)
    assert own_brand("Dofex Tote", BrandMatcher(BRANDS, ["dofex"])) == (None, NO_MATCH)


def test_common_words_are_the_ones_next_to_many_typed_brands() -> None:
    matcher = BrandMatcher(BRANDS)
    tokens = [("arveda", "tote"), ("dofem", "bag")]
    # "arveda" appears next to five different typed brands, "dofem" next to one
    titles = np.array([0, 0, 0, 0, 0, 1, 1])
    typed = np.array([0, 1, 2, 3, 4, 2, 2])
    assert common_words(tokens, titles, typed, matcher, min_brands=5) == ["arveda"]


def test_known_brands_learns_typed_brands_but_not_rare_misspellings() -> None:
    book = known_brands(
        typed=["Dofen", "Dofem", "Raorlo", "Generic", "", "B.R.I.R.U.V.I", "Kavo"],
        typed_counts=[100, 6, 40, 500, 300, 50, 2],
        registry=["Dofen", "Ruorlo"], min_listings=5, variant_ratio=0.2)
    # Raorlo is near the registered Ruorlo but nobody types Ruorlo: a brand of its own
    assert book.keys == ("dofen", "ruorlo", "raorlo")
    assert book.plain_names == ("dofen", "ruorlo", "raorlo")


def test_typed_brand_fields() -> None:
    book = known_brands(["Dofen"], [10], ["Arvedo"], 5, 0.2)
    brand, generic, disguised = read_brand_fields(
        ["Dofen", "DOFEN", "D.o.f.e.n", "Unbranded", "", "Arved0", "Nobody"], book)
    dofen, arvedo = book.keys.index("dofen"), book.keys.index("arvedo")
    assert brand.tolist() == [dofen, dofen, dofen, NO_MATCH, NO_MATCH, arvedo, NO_MATCH]
    assert generic.tolist() == [False, False, False, True, True, False, False]
    assert disguised.tolist() == [False, False, True, False, False, True, False]


def test_pickling_drops_the_caches_but_not_the_matching() -> None:
    matcher = BrandMatcher(BRANDS)
    before = own_brand("D0fem Tote", matcher)
    clone = pickle.loads(pickle.dumps(matcher))
    assert clone._token_cache == {}
    assert own_brand("D0fem Tote", clone) == before == ("dofen", 1)
