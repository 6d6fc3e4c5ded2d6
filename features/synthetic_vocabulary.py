"""The words of the synthetic marketplace: phrase pools, title words and brand obfuscation.

Descriptions are built from a few small phrase pools, so they repeat a lot, as
on real marketplaces. Counterfeit cue words drift: the early pool gives way to
the late one over the period. Obfuscation rewrites a brand name the ways
counterfeiters do to dodge keyword filters.
"""

from __future__ import annotations

import numpy as np

GENUINE = (
    "Brand new in box, never opened.",
    "Comes with original box, tags and receipt.",
    "Authorized retailer, full manufacturer warranty.",
    "Serial number visible in photos.",
    "Purchased from the official store last year.",
    "Gift that was never used, still sealed.",
    "Proof of purchase available on request.",
    "Includes dust bag and authenticity card.",
    "Bought at the flagship store, receipt included.",
    "Original packaging, all accessories included.",
)
RESALE = (
    "100% authentic, bought from an authorized dealer.",
    "Authenticity guaranteed or your money back.",
    "Excellent condition, barely used.",
    "Selling below retail, authentic with receipt.",
    "Verified authentic by a third-party service.",
    "Priced to sell, genuine item.",
)
USED = (
    "Light signs of use, see photos for condition.",
    "Pre-owned, in good condition.",
    "Worn a few times, no box.",
    "Minor scratches, fully functional.",
    "Selling because I no longer use it.",
    "Used, some wear on the corners.",
    "From a smoke-free home.",
    "Second hand, works perfectly.",
)
CLEARANCE = (
    "Clearance sale, last pieces.",
    "Store closing, everything must go.",
    "End of season discount on genuine stock.",
    "Discontinued model, final sale.",
    "Overstock clearance, brand new.",
)
WHOLESALE = (
    "Wholesale lots available, contact for bulk pricing.",
    "Genuine stock from authorized distributor.",
    "Invoice available for business buyers.",
    "Large stock, ships in bulk cartons.",
    "Volume discounts for resellers.",
)
ACCESSORY = (
    "Third-party accessory, not made by the brand.",
    "Brand name used only to indicate compatibility.",
    "Universal fit, high-quality materials.",
    "Not affiliated with or endorsed by the brand.",
    "Compatible design, precise fit.",
    "Accessory only, main product not included.",
)
CUES_EARLY = (
    "Top quality replica, looks exactly like the original.",
    "AAA quality, 1:1 with the original.",
    "High copy, same materials as the original.",
    "Replica with all logos and tags.",
    "Perfect details, real leather feel.",
    "Factory outlet price, limited stock.",
    "Same factory as the original brand.",
)
CUES_LATE = (
    "Mirror quality, nobody can tell the difference.",
    "Top batch, counter quality.",
    "OG quality with all accessories.",
    "Best version on the market.",
    "Unauthorized authentic, same materials.",
    "DM for real pics and QC photos.",
    "1:1 mirror, comes with full packaging.",
)
INSPIRED = (
    "Inspired by the original design.",
    "Dupe of the famous original.",
    "Alternative to the designer version, same look.",
    "Not original, inspired version.",
    "Designer look for a fraction of the price.",
)
SHIPPING = (
    "Fast shipping worldwide, tracking number provided.",
    "Ships from our store, returns accepted within 30 days.",
    "Please message for more pictures.",
    "Ships within 2 business days.",
    "Free returns within 14 days.",
    "Combined shipping available.",
    "Ship within 24 hours from our warehouse.",
)
# shop signatures: the same templates serve honest shops and rings, so only sharing across
# accounts (not the words) gives a ring away
SIGNATURE_TEMPLATES = (
    "Contact shop No. {n}", "Outlet code {n}", "Member store line {n}",
    "Wholesale line ID {n}", "Ask for code {w}{n}", "Store ref {w}-{n}",
    "Quote {w}{n} at checkout for a discount.", "Our warehouse no. {n} ships daily.",
    "Join group {n} for new arrivals.", "Follow shop {w}{n} for updates.",
)
_SIGNATURE_WORDS = ("VIP", "GOLD", "STAR", "LUX", "TOP", "BEST", "SHOP", "DEAL", "MAX", "ONE")

PREFIXES = ("NEW", "Genuine", "Original", "Authentic")
SUFFIXES = {
    "new": ("original", "official", "free shipping", "new with tags", "from boutique",
            "brand new", "sealed"),
    "resale": ("authentic", "with receipt", "genuine", "100% authentic", "original"),
    "used": ("used", "pre-owned", "pre-loved", "gently used", "good condition"),
    "clearance": ("sale", "clearance", "-40%", "outlet", "last pieces", "-60%"),
    "wholesale": ("wholesale", "bulk lot", "lot of 10", "genuine stock"),
}
TITLE_CUES_EARLY = ("replica", "AAA quality", "1:1", "high copy", "copy")
TITLE_CUES_LATE = ("mirror quality", "top batch", "1:1 mirror", "OG quality", "best version",
                   "UA quality")
INSPIRED_LINKS = ("inspired by", "dupe of", "alternative to", "in the style of")
INSPIRED_WORDS = ("inspired", "style", "dupe")
ACCESSORY_MAKERS = ("Generic", "Premium", "Universal")
ACCESSORY_LINKS = ("compatible with", "for", "fits", "replacement for")

OBFUSCATIONS = ("misspell", "leet", "spacing", "punctuation", "homoglyph", "zero_width")
# share of each obfuscation at the start and the end of the period
OBFUSCATION_EARLY = (0.30, 0.25, 0.20, 0.15, 0.05, 0.05)
OBFUSCATION_LATE = (0.10, 0.10, 0.10, 0.10, 0.35, 0.25)

_HOMOGLYPHS = {
    "a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "x": "\u0445",
    "y": "\u0443", "i": "\u0456", "v": "\u03bd", "u": "\u03c5", "n": "\u03b7",
    "A": "\u0391", "B": "\u0412", "E": "\u0415", "K": "\u039a", "M": "\u041c", "H": "\u041d",
    "O": "\u039f", "P": "\u0420", "T": "\u0422", "X": "\u03a7", "C": "\u0421", "Z": "\u0396",
    "N": "\u039d", "I": "\u0406",
}
_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "A": "4", "E": "3",
         "I": "1", "O": "0", "S": "5", "T": "7", "g": "9", "b": "8"}
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060")
_VOWELS = "aeiou"


def signatures(n: int, rng: np.random.Generator) -> list[str]:
    """`n` distinct shop signature phrases."""
    numbers = rng.choice(900_000, size=n, replace=False) + 100
    template = rng.integers(0, len(SIGNATURE_TEMPLATES), n)
    word = rng.integers(0, len(_SIGNATURE_WORDS), n)
    return [SIGNATURE_TEMPLATES[t].format(n=int(k), w=_SIGNATURE_WORDS[w])
            for t, k, w in zip(template, numbers, word, strict=True)]


def misspell(name: str, rng: np.random.Generator) -> str:
    """One typo: swapped, dropped, doubled or replaced letter."""
    k = int(rng.integers(1, len(name) - 1))
    op = int(rng.integers(0, 4))
    if op == 0:
        return name[:k] + name[k + 1] + name[k] + name[k + 2:]
    if op == 1:
        return name[:k] + name[k + 1:]
    if op == 2:
        return name[:k] + name[k] + name[k:]
    vowel = _VOWELS[int(rng.integers(0, len(_VOWELS)))]
    return name[:k] + vowel + name[k + 1:]


def _replace_some(name: str, table: dict[str, str], rng: np.random.Generator) -> str:
    spots = [i for i, ch in enumerate(name) if ch in table]
    if not spots:
        return ""
    take = rng.choice(spots, size=min(len(spots), int(rng.integers(1, 3))), replace=False)
    chars = list(name)
    for i in take:
        chars[i] = table[chars[i]]
    return "".join(chars)


def _insert_zero_width(name: str, rng: np.random.Generator) -> str:
    chars = list(name)
    for _ in range(int(rng.integers(1, 3))):
        at = int(rng.integers(1, len(chars)))
        chars.insert(at, _ZERO_WIDTH[int(rng.integers(0, len(_ZERO_WIDTH)))])
    return "".join(chars)


def obfuscate(name: str, method: str, rng: np.random.Generator) -> str:
    """`name` rewritten by one obfuscation method; always differs from `name`."""
    if method == "misspell":
        out = misspell(name, rng)
    elif method == "leet":
        out = _replace_some(name, _LEET, rng)
    elif method == "spacing":
        sep = (" ", "  ", " ")[int(rng.integers(0, 3))]
        out = sep.join(name.upper() if rng.random() < 0.4 else name)
    elif method == "punctuation":
        sep = (".", "-", "_", "*", "'")[int(rng.integers(0, 5))]
        if rng.random() < 0.5:
            out = sep.join(name)
        else:
            k = int(rng.integers(1, len(name)))
            out = name[:k] + sep + name[k:]
    elif method == "homoglyph":
        out = _replace_some(name, _HOMOGLYPHS, rng)
    else:
        out = _insert_zero_width(name, rng)
    if not out or out == name:
        out = _insert_zero_width(name, rng)
    return out
