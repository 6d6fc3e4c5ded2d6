"""The /score contract: request and response models, the checks pydantic cannot make, frames.

A request holds 1 to 1000 listings in the data contract's columns (no `label`); a
listing of a seller the service has not seen may carry the seller's three columns.
Pydantic checks types and ranges (BentoML answers its errors with a 400 that names the
field); `request_problems` adds what needs the loaded model (known currencies) or the
whole request (duplicate ids), in the same shape. `listing_arrays` turns checked
listings into the contract's columns in one pass, for a whole micro-batch at once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from features.columns import Arrays
from serving.history_store import epoch_ns, text_arrays, text_columns

MAX_ID_CHARS = 200
MAX_TITLE_CHARS = 1_000
MAX_DESCRIPTION_CHARS = 20_000
MAX_BRAND_CHARS = 200
MAX_PRICE = 1e12  # bounds that keep every value finite through the features
MAX_QUANTITY = 10**9
MAX_IMAGES = 10_000
LISTING_COLUMNS = ("listing_id", "seller_id", "created_at", "title", "description", "brand",
                   "category", "price", "currency", "quantity", "ships_from", "image_count")
SELLER_COLUMNS = ("seller_id", "registered_at", "country", "business_verified")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)  # nanosecond timestamps end in April 2262


def _storable(value: str) -> str:
    """Refuse text no database keeps faithfully: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("is not valid Unicode text (lone surrogate)") from exc
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _in_range(moment: datetime) -> datetime:
    if not EPOCH <= moment < LATEST:
        raise ValueError("must be between 1970-01-01 and 2261-12-31 (UTC)")
    return moment


Identifier = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS),
                       AfterValidator(_storable), AfterValidator(_not_blank)]
TitleText = Annotated[str, StringConstraints(max_length=MAX_TITLE_CHARS),
                      AfterValidator(_storable)]
DescriptionText = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_CHARS),
                            AfterValidator(_storable)]
BrandText = Annotated[str, StringConstraints(max_length=MAX_BRAND_CHARS),
                      AfterValidator(_storable)]
Moment = Annotated[AwareDatetime, AfterValidator(_in_range)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Whole = Annotated[int, Field(strict=True)]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListingIn(Closed):
    """One listing as the listing system sees it when it is created or edited."""

    listing_id: Identifier = Field(
        description="The marketplace's id of the listing: not blank, no NUL character, once "
                    "per request; scoring it again does not add it to the seller's history "
                    "twice.")
    seller_id: Identifier = Field(
        description="The seller offering the listing (not blank, no NUL character). A "
                    "listing first given as another seller's is not taken down in this one's "
                    "name.")
    created_at: Moment = Field(
        description="When the listing was created, ISO 8601 with a time zone (UTC preferred), "
                    "from 1970-01-01 to 2261-12-31. Its features use only what was known "
                    "before this moment.")
    title: TitleText = Field(
        description=f"Listing title, any script; may be empty; at most {MAX_TITLE_CHARS} "
                    "characters.")
    description: DescriptionText = Field(
        description=f"Listing description; may be empty; at most {MAX_DESCRIPTION_CHARS} "
                    "characters.")
    brand: BrandText = Field(
        description="The brand the seller typed; may be empty, 'Generic' or 'Unbranded'.")
    category: Identifier = Field(description="Marketplace category, e.g. 'handbags'.")
    price: float = Field(gt=0, lt=MAX_PRICE, allow_inf_nan=False, strict=True,
                         description="Asking price in `currency`: a finite number > 0 (and "
                                     "below 1e12).")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = Field(
        description="ISO 4217 code of the price; must be one the model has an exchange rate "
                    "for.")
    quantity: Whole = Field(ge=1, le=MAX_QUANTITY,
                            description="Stock offered, a whole number >= 1 (at most 1e9).")
    ships_from: Country = Field(description="ISO 3166 alpha-2 country the item ships from.")
    image_count: Whole = Field(ge=0, le=MAX_IMAGES,
                               description="Number of photos, a whole number >= 0 (at most "
                                           f"{MAX_IMAGES}).")
    registered_at: Moment | None = Field(
        default=None,
        description="The seller's account creation, for a seller the service has not seen "
                    "(give all three seller fields or none; ignored for a known seller).")
    country: Country | None = Field(
        default=None, description="The seller's ISO 3166 alpha-2 country (new sellers).")
    business_verified: bool | None = Field(
        default=None, strict=True,
        description="Whether the seller is a verified business (new sellers).")

    @model_validator(mode="after")
    def _seller_fields_together(self) -> ListingIn:
        given = [self.registered_at is not None, self.country is not None,
                 self.business_verified is not None]
        if any(given) and not all(given):
            raise ValueError("registered_at, country and business_verified come together: "
                             "give all three seller fields or none")
        return self

    @property
    def has_seller(self) -> bool:
        return self.registered_at is not None


class ScoreRequest(Closed):
    """Listings to score, in the order the results should come back."""

    listings: list[ListingIn] = Field(
        min_length=1,
        description="1 to 1000 listings in the data contract's columns, without `label`; "
                    "more is a 413.")


class ReasonOut(BaseModel):
    signal: str = Field(description="The model's feature, e.g. 'price__ratio_to_reference'.")
    text: str = Field(description="The signal and its value in plain words.")
    contribution: float = Field(
        description="How much the signal raised the score, in the model's log-odds units "
                    "(LightGBM's own contribution).")


class ScoreResult(BaseModel):
    listing_id: str = Field(description="The listing scored.")
    score: float = Field(ge=0, le=1,
                         description="Calibrated probability that the listing is counterfeit.")
    band: Literal["low", "review", "high"] = Field(
        description="'low', 'review' or 'high' by the thresholds stored with the model; "
                    "always 'high' for a frozen seller.")
    reasons: list[ReasonOut] = Field(
        description="Up to three signals that raised the score most; given for 'review' and "
                    "'high', empty for 'low'.")
    model_version: str = Field(description="The registered model version that scored it.")
    seller_frozen: bool = Field(
        description="True if the strike ledger has frozen the seller (the band is then "
                    "'high' whatever the model says).")


class ScoreResponse(BaseModel):
    results: list[ScoreResult] = Field(description="One result per listing, in input order.")


class ReloadResponse(BaseModel):
    model_version: str = Field(description="The version scoring requests now.")
    previous_version: str = Field(description="The version that scored before the check.")
    changed: bool = Field(description="True if the check loaded a different version.")


# --- the checks pydantic cannot make -------------------------------------------------------

def problem(loc: Sequence[str | int], message: str) -> dict[str, Any]:
    """One error in pydantic's shape, so all 400s of /score read alike."""
    return {"type": "value_error", "loc": list(loc), "msg": message}


def request_problems(listings: Sequence[ListingIn], currencies: Collection[str]
                     ) -> list[dict[str, Any]]:
    """Duplicate listing ids and currencies the model has no exchange rate for."""
    problems = []
    first: dict[str, int] = {}
    for i, listing in enumerate(listings):
        seen = first.setdefault(listing.listing_id, i)
        if seen != i:
            problems.append(problem(("listings", i, "listing_id"),
                                    f"duplicate of listings[{seen}].listing_id"))
        if listing.currency not in currencies:
            problems.append(problem(("listings", i, "currency"),
                                    f"unknown currency {listing.currency!r}; known: "
                                    f"{', '.join(sorted(currencies))}"))
    return problems


def error_body(problems: list[dict[str, Any]]) -> dict[str, Any]:
    return {"error": f"{len(problems)} validation error(s) for ScoreRequest",
            "detail": problems}


# --- arrays ----------------------------------------------------------------------------------

def listing_arrays(listings: Sequence[ListingIn]) -> tuple[Arrays, Arrays]:
    """Checked `listings` as plain arrays (`Columns.of_arrays`) of the contract's listing
    columns, and of its seller columns for the sellers given with a listing (first given).

    Built column by column, without DataFrames: this runs once per micro-batch on the
    scoring thread, where every pandas call is paid by all the requests waiting. The text
    columns are slices of one Arrow array: each array built costs microseconds.
    """
    first: dict[str, ListingIn] = {}
    for x in listings:
        if x.has_seller:
            first.setdefault(x.seller_id, x)
    given = list(first.values())
    *texts, seller_ids, countries = text_arrays(
        [[getattr(x, name) for x in listings] for name in _LISTING_TEXTS]
        + [[x.seller_id for x in given], [x.country for x in given]])
    data: dict[str, Any] = dict(zip(_LISTING_TEXTS, texts, strict=True))
    data["created_at"] = np.array([epoch_ns(x.created_at) for x in listings], dtype=np.int64)
    data["price"] = np.array([x.price for x in listings], dtype=np.float64)
    for name in ("quantity", "image_count"):
        data[name] = np.array([getattr(x, name) for x in listings], dtype=np.int64)
    data = {name: data[name] for name in LISTING_COLUMNS}
    sellers = {
        "seller_id": seller_ids,
        "registered_at": np.array([epoch_ns(x.registered_at) for x in given],  # type: ignore[arg-type]
                                  dtype=np.int64),
        "country": countries,
        "business_verified": np.array([bool(x.business_verified) for x in given], dtype=bool),
    }
    return data, sellers


_LISTING_TEXTS = text_columns(LISTING_COLUMNS)


# listing_id, score, band, reasons, model_version, seller_frozen
ScoredRow = tuple[str, float, str, list[Any], str, bool]


def scored_rows(scored: Mapping[str, Sequence[Any]]) -> list[ScoredRow]:
    """`OnlineScorer.score_columns` as plain tuples (`ScoredRow`), in order."""
    columns = [scored[c] for c in ("listing_id", "score", "band", "reasons", "model_version",
                                   "seller_frozen")]
    return [(str(i), float(p), str(b), list(r), str(v), bool(f))
            for i, p, b, r, v, f in zip(*columns, strict=True)]


def score_response(rows: Sequence[ScoredRow]) -> ScoreResponse:
    """The response for one request's scored rows."""
    return ScoreResponse(results=[
        ScoreResult(listing_id=listing_id, score=score, band=band,  # type: ignore[arg-type]
                    reasons=[ReasonOut(signal=r.signal, text=r.text,
                                       contribution=float(r.contribution)) for r in reasons],
                    model_version=version, seller_frozen=frozen)
        for listing_id, score, band, reasons, version, frozen in rows
    ])
