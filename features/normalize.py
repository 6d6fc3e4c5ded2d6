"""Text normalization that undoes the tricks sellers use to hide a brand name.

`fold` gives the canonical text (Unicode NFKC, invisible and control characters
removed, look-alike letters from other scripts mapped to Latin, Latin accents
stripped, casefolded). `normalize` also collapses spaced or punctuated letters
("D o f e n", "D.o.f.e.n" -> "dofen"), splits the result into matchable tokens
and counts the obfuscation it saw. Leetspeak is decoded per token by
`leet_variants`, only where a brand lookup asks for it, so that "100ml" stays
"100ml" in the text model.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import NamedTuple

# Cyrillic, Greek and a few other letters drawn like a Latin one. Upper-case
# keys map to upper-case Latin; casefolding happens afterwards.
HOMOGLYPHS: dict[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i",
    "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "һ": "h", "ԍ": "g", "ү": "y",
    "А": "A", "В": "B", "Е": "E", "Ё": "E", "К": "K", "М": "M", "Н": "H", "О": "O",
    "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ї": "I",
    "Ј": "J", "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W", "Ӏ": "I", "Һ": "H", "Ү": "Y",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    "α": "a", "ο": "o", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t", "υ": "u",
    "χ": "x", "ε": "e", "γ": "y", "η": "n", "ϲ": "c", "ϳ": "j",
    # Armenian and Latin oddities
    "օ": "o", "ս": "u", "ց": "g", "ɑ": "a", "ı": "i", "ɡ": "g", "ɩ": "i", "ʀ": "r",
}

# Leetspeak decoded for brand matching; "1" is ambiguous and yields two variants.
LEET: dict[str, str] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s",
}
LEET_CHARS = frozenset(LEET)
# A number followed by one of these is a quantity ("100ml", "40mm"), never leetspeak.
UNIT = re.compile(
    r"\d+(?:ml|l|mm|cm|m|km|g|kg|mg|oz|lb|lbs|in|ft|pc|pcs|pk|gb|tb|mb|mah|w|kw|v|hz|"
    r"k|x|p|s|h|d|st|nd|rd|th|yr|yrs)"
)

# Letters that sellers put between the letters of a word: "D.o.f.e.n", "D-o-f-e-n".
_SEPARATOR_CHARS = " \t.-_·•~+*/|'’"
_SEPARATOR = r"[ \t.\-_·•~+*/|'’]{1,3}"
# Three or more single characters in a row, each separated as above.
SPACED_LETTERS = re.compile(
    rf"(?<![^\W_])[^\W_](?:{_SEPARATOR}[^\W_](?![^\W_])){{2,}}"
)
_SEPARATORS = re.compile(_SEPARATOR)
# A token: letters and digits plus the symbols that stand in for letters
# ("@" and "$" in leetspeak, "*" for a masked letter as in "S*ta"); "_" is
# turned into a space first.
TOKEN = re.compile(r"[\w@$*]+")


@cache
def _translation() -> dict[int, str | None]:
    """The character table of `fold`: invisible removed, look-alikes and accents folded.

    Invisible characters live in the Basic Multilingual Plane apart from a few
    blocks (tag characters, musical and shorthand format controls, variation
    selectors), so only those code points are looked at.
    """
    table: dict[int, str | None] = {}
    candidates = (*range(0xD800), *range(0xE000, 0x10000), 0x110BD, 0x110CD,
                  *range(0x1BCA0, 0x1BCA4), *range(0x1D173, 0x1D17B),
                  *range(0xE0000, 0xE0080), *range(0xE0100, 0xE01F0))
    for code in candidates:
        char = chr(code)
        category = unicodedata.category(char)
        if category == "Cf" or 0xFE00 <= code <= 0xFE0F or code >= 0xE0100:
            table[code] = None  # zero-width, bidi marks, soft hyphen, variation selectors
        elif category == "Cc":
            table[code] = " " if char in "\t\n\r\x0b\x0c" else None
        elif category in ("Zs", "Zl", "Zp") and char != " ":
            table[code] = " "
    for source, target in HOMOGLYPHS.items():
        table[ord(source)] = target
    for code in range(0xC0, 0x250):  # Latin-1 Supplement and Latin Extended-A/B
        base = unicodedata.normalize("NFKD", chr(code))[0]
        if base.isascii() and base.isalpha() and base != chr(code):
            table[code] = base
    return table


@cache
def _invisible() -> frozenset[str]:
    return frozenset(chr(c) for c, v in _translation().items() if v is None and c > 0x7F)


def warm_up() -> None:
    """Build the character tables now: the first non-ASCII text would otherwise wait tens of
    milliseconds for them, and a long-running process wants them before `gc.freeze`."""
    _invisible()


_ASCII_CONTROLS = {c: (" " if chr(c) in "\t\n\r\x0b\x0c" else None)
                   for c in [*range(0x20), 0x7F]}


def fold(text: str) -> str:
    """Canonical form: NFKC, invisible characters removed, look-alikes folded, casefolded."""
    if text.isascii():
        if not text.isprintable():
            text = text.translate(_ASCII_CONTROLS)
        return text.lower()
    text = unicodedata.normalize("NFKC", text).translate(_translation())
    return text.casefold()


def _may_have_spaced_letters(text: str) -> bool:
    """Cheap test before the regex: three one-letter words, or a word like "d.o.f"."""
    singles = 0
    for word in text.split():
        if len(word) == 1:
            singles += 1
            if singles == 3:
                return True
            continue
        singles = 0
        if len(word) >= 5 and word[1] in _SEPARATOR_CHARS:
            return True
    return False


def collapse_spaced_letters(text: str) -> tuple[str, int]:
    """Join runs of single separated characters ("d o f e n" -> "dofen"); return the runs found."""
    if not _may_have_spaced_letters(text):
        return text, 0
    runs = 0

    def join(match: re.Match[str]) -> str:
        nonlocal runs
        joined = _SEPARATORS.sub("", match.group(0))
        letters = sum(c.isalpha() for c in joined)
        if letters < 2 or 2 * letters <= len(joined):
            return match.group(0)  # mostly digits: a size such as "5 x 2", not a word
        runs += 1
        return joined

    return SPACED_LETTERS.sub(join, text), runs


def leet_eligible(token: str) -> bool:
    """Whether a token may be leetspeak: it has letters and is not a quantity like "100ml"."""
    if token.isalpha() or token.isdigit():
        return False
    letters = sum(c.isalpha() for c in token)
    return letters >= 2 and UNIT.fullmatch(token) is None


def leet_variants(token: str) -> tuple[str, ...]:
    """The token with leetspeak decoded ("arved0" -> "arvedo"); two variants when "1" occurs."""
    if "*" in token:
        return (token, token.replace("*", ""))
    if not leet_eligible(token) or not LEET_CHARS.intersection(token):
        return (token,)
    as_i = "".join(LEET.get(c, c) for c in token)
    if "1" not in token:
        return (as_i,)
    as_l = "".join("l" if c == "1" else LEET.get(c, c) for c in token)
    return (as_i, as_l)


def _count_homoglyphs(text: str) -> int:
    """Look-alike letters in a mostly-Latin text, or inside words that mix scripts.

    A Russian or Greek listing uses these letters honestly, so only a Latin
    context makes them count as disguise.
    """
    found = [c for c in text if c in HOMOGLYPHS]
    if not found:
        return 0
    letters = [c for c in text if c.isalpha()]
    latin = sum(c.isascii() for c in letters)
    if latin * 2 >= len(letters):
        return len(found)
    count = 0
    for word in text.split():
        if any(c.isascii() and c.isalpha() for c in word):
            count += sum(c in HOMOGLYPHS for c in word)
    return count


# ASCII bytes that end a token: everything but letters, digits, "@", "$" and "*".
_ASCII_SEPARATORS = bytes(
    c if chr(c).isalnum() or chr(c) in "@$*" else 32 for c in range(256))


def tokenize(text: str) -> list[str]:
    """The tokens of `text`: runs of letters, digits, "@", "$" and "*" ("_" separates)."""
    if text.isascii():  # same tokens as the regex, through a byte table
        return text.encode("ascii").translate(_ASCII_SEPARATORS).decode("ascii").split()
    return TOKEN.findall(text.replace("_", " "))


class NormalizedText(NamedTuple):
    """A text ready for brand matching, with the obfuscation that was undone."""

    folded: str
    """`fold(text)`: the form the text model and the phrase rules read."""
    tokens: tuple[str, ...]
    """Words of `folded` after joining spaced letters (leetspeak not yet decoded)."""
    homoglyphs: int
    invisible: int
    leet: int
    spaced_runs: int
    masked: int
    """Letters replaced by "*" inside a word ("S*ta")."""


def normalize(text: str) -> NormalizedText:
    """Fold `text`, join spaced letters, tokenize and count the obfuscation tricks."""
    if text.isascii():
        homoglyphs = invisible = 0
    else:
        nfkc = unicodedata.normalize("NFKC", text)
        homoglyphs = _count_homoglyphs(nfkc)
        hidden = _invisible()
        invisible = sum(c in hidden for c in nfkc)
    folded = fold(text)
    matchable, spaced_runs = collapse_spaced_letters(folded)
    found = tokenize(matchable)
    masked = 0
    if "*" in matchable:
        found = [t.strip("*") for t in found]
        found = [t for t in found if t]
        masked = sum(t.count("*") for t in found)
    leet = 0
    for token in found:
        if not (token.isalpha() or token.isdigit()) and leet_eligible(token):
            leet += sum(c in LEET_CHARS for c in token)

    return NormalizedText(folded, tuple(found), homoglyphs, invisible, leet, spaced_runs, masked)


def fold_counting(text: str) -> tuple[str, int, int]:
    """`fold(text)` with the look-alike letters and invisible characters it removed."""
    if text.isascii():
        return fold(text), 0, 0
    nfkc = unicodedata.normalize("NFKC", text)
    hidden = _invisible()
    return fold(text), _count_homoglyphs(nfkc), sum(c in hidden for c in nfkc)


_NON_ALNUM = re.compile(r"[\W_]+")


def brand_key(name: str) -> str:
    """The key a brand name is matched by: folded, spaced letters joined, letters and digits."""
    folded, _ = collapse_spaced_letters(fold(name))
    return _NON_ALNUM.sub("", folded)


_DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")


def mask_digits(text: str) -> str:
    """Replace every ASCII digit by "0" so that model numbers repeat across listings."""
    return text.translate(_DIGITS_TO_ZERO)
