"""Normalization undoes each trick sellers use to hide a brand, and counts what it undid."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.normalize import (
    TOKEN,
    brand_key,
    collapse_spaced_letters,
    fold,
    fold_counting,
    leet_variants,
    mask_digits,
    normalize,
    tokenize,
)


@pytest.mark.parametrize(("text", "folded"), [
    ("DOFEN Bag", "dofen bag"),
    ("Ｄｏｆｅｎ", "dofen"),                       # full-width letters (NFKC)
    ("D\u043ef\u0435n", "dofen"),                 # Cyrillic o and e
    ("\u0391rved\u03bf", "arvedo"),               # Greek capital alpha, small omicron
    ("\u0412rivel", "brivel"),                    # Cyrillic capital ve looks like B
    ("Do\u200bfen", "dofen"),                     # zero-width space
    ("Do\u200c\u200d\u2060fen\ufeff", "dofen"),   # joiners, word joiner, BOM
    ("Do\u00adfen", "dofen"),                     # soft hyphen
    ("Hermès", "hermes"),                         # Latin accent
    ("tab\there\x00", "tab here"),                # control characters
    ("Stra\u00dfe", "strasse"),                   # casefold, not lower
])
def test_fold_undoes_unicode_tricks(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_keeps_other_scripts_readable() -> None:
    assert fold("Сумка женская") == "cymka жehckaя"  # folded letter by letter, nothing dropped
    assert fold("日本製 バッグ") == "日本製 バッグ"


@pytest.mark.parametrize(("text", "joined"), [
    ("d o f e n grand", "dofen grand"),
    ("d  o  f  e  n", "dofen"),
    ("d.o.f.e.n bag", "dofen bag"),
    ("d-o-f-e-n", "dofen"),
    ("d_o_f_e_n", "dofen"),
    ("p'o'r'u'r classic", "porur classic"),
    ("r u o r l o grand 13", "ruorlo grand 13"),
])
def test_spaced_and_punctuated_letters_are_joined(text: str, joined: str) -> None:
    collapsed, runs = collapse_spaced_letters(text)
    assert (collapsed, runs) == (joined, 1)


@pytest.mark.parametrize("text", ["dofen grand 5 x 2", "size s m", "a to z", "1:1 copy",
                                  "eau de parfum"])
def test_ordinary_text_is_not_joined(text: str) -> None:
    assert collapse_spaced_letters(text) == (text, 0)


@pytest.mark.parametrize(("token", "variants"), [
    ("d0fen", ("dofen",)),
    ("4rv3do", ("arvedo",)),
    ("$ota", ("sota",)),
    ("@rvedo", ("arvedo",)),
    ("ce7o", ("ceto",)),
    ("l1kamar", ("likamar", "llkamar")),
    ("br1ruv1", ("briruvi", "brlruvl")),
    ("s*ta", ("s*ta", "sta")),
])
def test_leetspeak_is_decoded(token: str, variants: tuple[str, ...]) -> None:
    assert leet_variants(token) == variants


@pytest.mark.parametrize("token", ["100ml", "40mm", "1000pc", "5g", "x2", "dofen", "2026", "a4"])
def test_quantities_and_plain_words_are_not_leetspeak(token: str) -> None:
    assert leet_variants(token) == (token,)


def test_normalize_counts_each_trick() -> None:
    assert normalize("D\u043ef\u0435n bag").homoglyphs == 2
    assert normalize("Do\u200bfe\u200dn bag").invisible == 2
    assert normalize("D0f3n bag 100ml").leet == 2
    assert normalize("D o f e n bag").spaced_runs == 1
    assert normalize("S*ta bag").masked == 1
    plain = normalize("Dofen Grand 51 Hoodie 100ml")
    assert (plain.homoglyphs, plain.invisible, plain.leet, plain.spaced_runs, plain.masked) == (
        0, 0, 0, 0, 0)
    assert plain.tokens == ("dofen", "grand", "51", "hoodie", "100ml")


def test_homoglyphs_count_only_in_a_latin_context() -> None:
    assert fold_counting("Сумка женская кожаная")[1] == 0        # an honest Russian title
    assert fold_counting("Сумка Dоfen")[1] == 1                  # a mixed-script word
    assert fold_counting("Dofen Grand Hoodie Ѕота")[1] == 4      # Cyrillic word in Latin text


def test_brand_key_and_digit_mask() -> None:
    assert brand_key("Louis Vuitton") == "louisvuitton"
    assert brand_key("B.R.I.R.U.V.I") == "briruvi"
    assert brand_key("  Generic ") == "generic"
    assert mask_digits("grand 51 100ml 1:1") == "grand 00 000ml 0:0"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_ascii_tokens_match_the_regex(text: str) -> None:
    assert tokenize(text) == TOKEN.findall(text.replace("_", " "))
