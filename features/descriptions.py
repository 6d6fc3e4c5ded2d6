"""Plain words for the signals, so a reviewer or a listing system can read why a score is high."""

from __future__ import annotations

TEMPLATES: dict[str, str] = {
    "price__ratio_to_reference": "price is {pct} of the brand's reference price",
    "price__log_ratio_to_reference": "price far from the brand's reference price",
    "price__deep_discount": "priced far under the brand's reference price",
    "price__log_usd": "price level",
    "price__reference_source": "how the reference price was found",
    "price__round_number": "round-number price",
    "price__ends_in_99": "price ends in .99",
    "price__log_quantity": "stock offered",
    "price__bulk": "bulk stock (10 or more)",
    "price__log_exposure_usd": "value of the stock offered",
    "price__generic_brand": "no brand given",
    "price__registered_brand": "brand registered with a reference price",
    "price__above_reference": "priced above the reference price",
    "price__ratio_to_seller_history": "price is {pct} of the seller's usual price in this category",
}

PREFIXES = {"price": "price", "text": "text", "seller": "seller", "ring": "ring"}


def _humanize(name: str) -> str:
    family, _, rest = name.partition("__")
    return f"{PREFIXES.get(family, family)}: {rest.replace('_', ' ')}"


def describe(name: str, value: float) -> str:
    """One line of plain words for a feature and its value, e.g. 'price is 12% of ...'."""
    template = TEMPLATES.get(name)
    if template is None:
        shown = f"{value:g}" if value == value else "unknown"
        return f"{_humanize(name)} = {shown}"
    return template.format(pct=f"{value:.0%}", value=value)

