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
    "text__ngram_score": "title and description read like counterfeit listings",
    "text__cue_score": "uses wording common in counterfeit listings",
    "text__seed_cue_count": "counterfeit slang such as 'replica' or '1:1'",
    "text__brand_disguised": "brand name disguised in the title",
    "text__brand_mismatch": "title names a brand other than the brand field",
    "text__brand_field_disguised": "brand field written in disguise",
    "text__compatibility_phrase": "accessory sold as compatible with a brand",
    "text__homoglyphs": "look-alike letters from other scripts",
    "text__invisible_chars": "invisible characters in the text",
    "text__leet_chars": "digits or symbols standing in for letters",
    "text__inspired_by": "'inspired by' / 'dupe of' wording",
    "text__authenticity_claim": "claims of authenticity",
    "seller__account_age_days": "account is {value:.0f} days old",
    "seller__business_verified": "business verification",
    "seller__complaints_filed_before": "{value:.0f} earlier brand complaints",
    "seller__complaints_upheld_before": "{value:.0f} earlier complaints upheld",
    "seller__complaints_pending": "{value:.0f} complaints pending",
    "seller__upheld_strikes_before": "{value:.0f} earlier strikes",
    "seller__max_brand_strikes_before": "{value:.0f} strikes from one brand",
    "seller__frozen": "seller was frozen",
    "seller__days_since_last_strike": "last strike {value:.0f} days ago",
    "seller__listings_before": "{value:.0f} earlier listings",
    "seller__listings_last_7d": "{value:.0f} listings in the last 7 days",
    "seller__listings_last_30d": "{value:.0f} listings in the last 30 days",
    "seller__distinct_brands_before": "listed {value:.0f} different brands before",
    "seller__underpriced_share_before": "{pct} of earlier listings priced far under reference",
    "seller__first_listing": "seller's first listing",
    "ring__tainted_shingles": "shares {value:.0f} phrases with sellers already struck",
    "ring__tainted_share": "{pct} of its distinctive phrases used by struck sellers",
    "ring__burst_size": "account opened in a burst of {value:.0f} from the same country",
    "ring__burst_struck": "{value:.0f} accounts from the same burst already struck",
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

