"""HTTP routes of the review queue and the reviewers' page.

`queue_router(get_queue)` returns a FastAPI `APIRouter`; `get_queue` is a FastAPI
dependency that gives the open `ReviewQueue`, so the routes can live in the small app
of `serving.ledger_app` or be mounted in the BentoML service. JSON routes: `GET /queue`,
`POST /queue/claim`, `GET /queue/stats`, `GET /cases/{case_id}`,
`POST /cases/{case_id}/decision`. The page: `GET /review` (no key: it only holds the
sign-in form and the script) and the HTML fragments its script fetches with the
reviewer's key (`POST /review/claim`, `GET /review/stats`, `GET /review/cases/{id}`).

No `from __future__ import annotations`: FastAPI reads the routes' annotations at
runtime, and those built inside `queue_router` are local names.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field

from serving.keys import Principal
from serving.ledger.events import MAX_ID_CHARS
from serving.ledger.store import LedgerStore
from serving.ledger_api import (
    KEY_REFUSALS,
    NO_NUL,
    Closed,
    Identifier,
    LoggedRoute,
    PathId,
    Text,
    http_errors,
    key_roles,
)
from serving.queue import (
    MAX_CLAIM,
    Case,
    CaseDetail,
    CaseNotFound,
    CaseOutcome,
    QueueFilter,
    QueueStats,
    ReviewQueue,
    SeniorOnly,
    now,
)
from serving.review_page import STATIC_FILES, ReviewPages

BandName = Literal["low", "review", "high"]
SourceName = Literal["model", "complaint"]
TierName = Literal["standard", "senior"]


# --- requests ----------------------------------------------------------------------------

class ClaimRequest(Closed):
    """Which cases to claim, and how many; every field is optional."""

    limit: int | None = Field(None, ge=1, le=MAX_CLAIM, strict=True,  # no true or "5"
                              description="Cases to claim (default: the `review_batch` setting).")
    band: BandName | None = Field(None, description="Only cases in this band.")
    brand: Identifier | None = Field(
        None, description="Only cases about this brand (the listing's brand or a complaint's).")
    category: Identifier | None = Field(None, description="Only listings in this category.")
    seller: Identifier | None = Field(None, description="Only this seller's listings.")
    source: SourceName | None = Field(
        None, description="'model': flagged by the model; 'complaint': carrying a complaint.")
    tier: TierName = Field("standard", description="'senior' claims escalated cases.")

    def where(self) -> QueueFilter:
        return QueueFilter(self.band, self.brand, self.category, self.seller, self.source,
                           self.tier)


class RenewRequest(Closed):
    """The cases of the caller's batch whose leases to renew."""

    case_ids: list[Identifier] = Field(min_length=1, max_length=MAX_CLAIM, description=(
        "Cases the caller claimed; each it still holds gets a full lease from now."))


class CaseDecisionRequest(Closed):
    """A reviewer's decision on a case."""

    decision: Literal["counterfeit", "not_counterfeit", "escalate"] = Field(
        description="'counterfeit' takes the listing down and upholds the case's complaints "
                    "(strikes); 'not_counterfeit' rejects them; 'escalate' sends the case to "
                    "the senior queue.")
    note: Text | None = Field(None, description="Optional note kept with the decision.")


# --- responses ---------------------------------------------------------------------------

class ReasonResponse(BaseModel):
    signal: str | None = Field(description="The model feature behind the reason.")
    text: str = Field(description="The reason in plain words.")
    contribution: float | None = Field(
        description="How much it raised the score (LightGBM contribution, log-odds).")


class PriceResponse(BaseModel):
    price: float = Field(description="The listing's price in its currency.")
    currency: str = Field(description="The listing's currency.")
    price_usd: float = Field(description="The price in USD.")
    reference_price_usd: float | None = Field(
        description="The registered retail price it is compared with, in USD.")
    reference_brand: str | None = Field(description="Brand of the reference price.")
    reference_category: str | None = Field(description="Category of the reference price.")
    ratio: float | None = Field(description="price_usd / reference_price_usd.")

    @classmethod
    def of(cls, price: dict[str, Any]) -> "PriceResponse":
        ref = price.get("reference") or {}
        return cls(price=price["price"], currency=price["currency"],
                   price_usd=price["price_usd"], reference_price_usd=ref.get("price_usd"),
                   reference_brand=ref.get("brand"), reference_category=ref.get("category"),
                   ratio=price.get("ratio"))


class CaseSummaryResponse(BaseModel):
    case_id: str = Field(description="The case.")
    listing_id: str = Field(description="The listing under review.")
    seller_id: str = Field(description="Its seller.")
    title: str | None = Field(description="The listing's title (null if never scored).")
    brand: str | None = Field(description="The listing's brand field, or the complaining brand.")
    category: str | None = Field(description="The listing's category (null if never scored).")
    status: Literal["open", "decided", "closed"] = Field(
        description="'closed': its complaints were decided outside the queue.")
    tier: TierName = Field(description="'senior' once escalated.")
    band: BandName | None = Field(description="The model's band; null if never scored.")
    score: float | None = Field(description="Calibrated probability of counterfeit.")
    harm_usd: float | None = Field(description="Expected harm: score x price_usd x quantity.")
    priority: float = Field(description="Queue priority now (higher first; serving/queue.py).")
    sources: list[SourceName] = Field(description="Why it is queued: model flag, complaint.")
    complaints: int = Field(description="Complaints the case carries.")
    opened_at: datetime = Field(description="When the case opened (UTC).")
    age_s: float = Field(description="Seconds since the case opened.")

    @classmethod
    def of(cls, case: Case, moment: datetime) -> "CaseSummaryResponse":
        listing = case.listing or {}
        return cls(case_id=case.case_id, listing_id=case.listing_id, seller_id=case.seller_id,
                   title=listing.get("title"), brand=case.brand, category=case.category,
                   status=case.status, tier=case.tier, band=case.band,  # type: ignore[arg-type]
                   score=case.score, harm_usd=case.harm_usd, priority=case.priority,
                   sources=list(case.sources), complaints=case.complaint_count,  # type: ignore[arg-type]
                   opened_at=case.opened_at,
                   age_s=max((moment - case.opened_at).total_seconds(), 0.0))


class CaseComplaintResponse(BaseModel):
    complaint_id: str = Field(description="The complaint.")
    brand: str = Field(description="The brand that filed it.")
    reason: str | None = Field(description="The brand's reason.")
    filed_at: datetime = Field(description="When it was filed (UTC).")
    status: Literal["pending", "upheld", "rejected"] = Field(description="Where it stands.")


class SellerSummaryResponse(BaseModel):
    seller_id: str = Field(description="The seller.")
    registered_at: datetime | None = Field(
        description="Account creation, if it came with the scored listing.")
    account_age_days: float | None = Field(description="Days since registered_at.")
    country: str | None = Field(description="The seller's country, if known.")
    business_verified: bool | None = Field(description="Verified business, if known.")
    strikes_by_brand: dict[str, int] = Field(description="Upheld strikes, by brand.")
    complaints: int = Field(description="Complaints ever filed against the seller.")
    pending_complaints: int = Field(description="Of which still pending.")
    frozen: bool = Field(description="Whether the seller is frozen now.")
    freeze_reason: str | None = Field(description="Why, when frozen.")


class CaseEventResponse(BaseModel):
    seq: int = Field(description="The event's place in the ledger.")
    type: str = Field(description="Event type.")
    actor: str = Field(description="Who caused it.")
    at: datetime = Field(description="When (UTC).")
    reason: str | None = Field(description="Note or reason, if any.")


class CaseResponse(CaseSummaryResponse):
    listing: dict[str, Any] | None = Field(
        description="The listing as scored, in the data contract's columns.")
    price: PriceResponse | None = Field(description="Price against the reference price.")
    reasons: list[ReasonResponse] = Field(description="Top reasons for the score.")
    model_version: str | None = Field(description="Model version that scored it.")
    scored_at: datetime | None = Field(description="When it was scored (UTC).")
    complaint_list: list[CaseComplaintResponse] = Field(description="The complaints it carries.")
    seller: SellerSummaryResponse = Field(description="The seller at a glance.")
    claimed_by: str | None = Field(description="Who holds a live lease on it.")
    lease_expires_at: datetime | None = Field(description="When that lease runs out.")
    decision: str | None = Field(description="The final decision, once decided.")
    decided_by: str | None = Field(description="Who decided it.")
    decided_at: datetime | None = Field(description="When (UTC).")
    note: str | None = Field(description="The decision's note.")
    history: list[CaseEventResponse] = Field(description="The case's events, oldest first.")

    @classmethod
    def of_detail(cls, detail: CaseDetail, moment: datetime) -> "CaseResponse":
        case, seller = detail.case, detail.seller
        age = None if seller.registered_at is None else (
            (moment - seller.registered_at).total_seconds() / 86400.0)
        return cls(
            **CaseSummaryResponse.of(case, moment).model_dump(),
            listing=case.listing, price=PriceResponse.of(case.price) if case.price else None,
            reasons=[ReasonResponse(**r) for r in case.reasons],
            model_version=case.model_version, scored_at=case.scored_at,
            complaint_list=[CaseComplaintResponse(
                complaint_id=c.complaint_id, brand=c.brand, reason=c.reason,
                filed_at=c.filed_at, status=c.status)  # type: ignore[arg-type]
                for c in detail.complaints],
            seller=SellerSummaryResponse(
                seller_id=seller.seller_id, registered_at=seller.registered_at,
                account_age_days=age, country=seller.country,
                business_verified=seller.business_verified,
                strikes_by_brand=seller.strikes_by_brand, complaints=seller.complaints,
                pending_complaints=seller.pending_complaints, frozen=seller.frozen,
                freeze_reason=seller.freeze_reason),
            claimed_by=case.claimed_by, lease_expires_at=case.lease_expires_at,
            decision=case.decision, decided_by=case.decided_by, decided_at=case.decided_at,
            note=case.note,
            history=[CaseEventResponse(seq=e.seq, type=e.type, actor=e.actor, at=e.at,
                                       reason=e.reason) for e in detail.history],
        )


class QueueResponse(BaseModel):
    cases: list[CaseSummaryResponse] = Field(
        description="Waiting cases (no live lease), highest priority first.")


class ClaimResponse(BaseModel):
    cases: list[CaseResponse] = Field(
        description="The claimed batch: the caller's live leases first, then new ones.")
    lease_minutes: float = Field(description="How long each lease lasts.")


class RenewResponse(BaseModel):
    renewed: list[str] = Field(description="Cases whose lease was renewed, in the order asked.")
    lost: list[str] = Field(description=(
        "Cases the caller no longer holds: decided, escalated, claimed by another reviewer "
        "after the caller's lease ran out, or unknown."))
    lease_expires_at: datetime | None = Field(
        description="When the renewed leases end (null when none was renewed).")
    lease_minutes: float = Field(description="How long each lease lasts.")


class ComplaintOutcomeResponse(BaseModel):
    complaint_id: str = Field(description="A complaint the case carried.")
    status: Literal["upheld", "rejected"] = Field(description="Its decision.")
    strike_recorded: bool = Field(description="True if it added a strike.")
    frozen_now: bool = Field(description="True if it froze the seller.")


class CaseDecisionResponse(BaseModel):
    case_id: str = Field(description="The case decided.")
    decision: Literal["counterfeit", "not_counterfeit", "escalate"] = Field(
        description="The decision recorded.")
    status: Literal["open", "decided"] = Field(description="'open' after an escalation.")
    tier: TierName = Field(description="'senior' after an escalation.")
    listing_taken_down: bool = Field(description=(
        "True if the listing is taken down: by this decision (a counterfeit verdict, or "
        "any verdict on a listing of a frozen seller) or before it."))
    complaints: list[ComplaintOutcomeResponse] = Field(
        description="The pending complaints this decision decided.")
    seller_frozen: bool = Field(description="Whether the seller is frozen afterwards.")

    @classmethod
    def of(cls, outcome: CaseOutcome) -> "CaseDecisionResponse":
        return cls(case_id=outcome.case_id, decision=outcome.decision,  # type: ignore[arg-type]
                   status=outcome.status, tier=outcome.tier,  # type: ignore[arg-type]
                   listing_taken_down=outcome.listing_taken_down,
                   complaints=[ComplaintOutcomeResponse(
                       complaint_id=c.complaint_id, status=c.status,  # type: ignore[arg-type]
                       strike_recorded=c.strike_recorded, frozen_now=c.frozen_now)
                       for c in outcome.complaints],
                   seller_frozen=outcome.seller_frozen)


class BandCountResponse(BaseModel):
    waiting: int = Field(description="Open cases nobody holds.")
    claimed: int = Field(description="Open cases under a live lease.")


class StatsResponse(BaseModel):
    open: int = Field(description="Open cases waiting for a reviewer (no live lease).")
    claimed: int = Field(description="Open cases under a live lease.")
    escalated: int = Field(description="Open cases in the senior queue (waiting or claimed).")
    decided_today: int = Field(description="Cases decided since midnight UTC.")
    oldest_open_age_s: float | None = Field(
        description="Age of the oldest open case in seconds; null when none is open.")
    by_band: dict[str, BandCountResponse] = Field(
        description="Open cases by band ('unscored' for complaints never scored).")

    @classmethod
    def of(cls, stats: QueueStats) -> "StatsResponse":
        return cls(open=stats.open, claimed=stats.claimed, escalated=stats.escalated,
                   decided_today=stats.decided_today, oldest_open_age_s=stats.oldest_open_age_s,
                   by_band={k: BandCountResponse(waiting=v.waiting, claimed=v.claimed)
                            for k, v in stats.by_band.items()})


# --- routes ------------------------------------------------------------------------------

def queue_router(get_queue: Callable[..., ReviewQueue]) -> APIRouter:
    """The queue's routes; `get_queue` is the FastAPI dependency that gives the queue."""
    router = APIRouter(route_class=LoggedRoute, tags=["review queue"], responses=KEY_REFUSALS)
    QueueDep = Annotated[ReviewQueue, Depends(get_queue)]
    pages = ReviewPages()

    def key_store(queue: QueueDep) -> LedgerStore:
        return queue.ledger.store

    role = key_roles(key_store)

    Reviewer = Annotated[Principal, role("reviewer", "senior")]
    Viewer = Annotated[Principal, role("reviewer", "senior", "admin")]

    @router.get("/queue", response_model=QueueResponse,
                summary="Waiting review cases, highest priority first")
    def waiting(
        queue: QueueDep, _: Viewer,
        limit: Annotated[int, Query(ge=1, le=MAX_CLAIM, description="How many.")] = 50,
        band: Annotated[BandName | None, Query(description="Only this band.")] = None,
        brand: Annotated[str | None, Query(max_length=MAX_ID_CHARS, pattern=NO_NUL,
                                           description="Only this brand.")] = None,
        category: Annotated[str | None, Query(max_length=MAX_ID_CHARS, pattern=NO_NUL,
                                              description="Only this category.")] = None,
        seller: Annotated[str | None, Query(max_length=MAX_ID_CHARS, pattern=NO_NUL,
                                            description="Only this seller.")] = None,
        source: Annotated[SourceName | None, Query(
            description="'model' or 'complaint'.")] = None,
        tier: Annotated[TierName, Query(description="'senior' for escalated cases.")
                        ] = "standard",
    ) -> QueueResponse:
        moment = now()
        with http_errors((CaseNotFound,), (SeniorOnly,)):
            where = QueueFilter(band, brand, category, seller, source, tier)
            cases = queue.available(where, limit, at=moment)
        return QueueResponse(cases=[CaseSummaryResponse.of(c, moment) for c in cases])

    @router.post("/queue/claim", response_model=ClaimResponse,
                 summary="Claim a batch of cases with a lease")
    def claim(body: ClaimRequest, queue: QueueDep, principal: Reviewer) -> ClaimResponse:
        moment = now()
        with http_errors((CaseNotFound,), (SeniorOnly,)):
            details = queue.claim(principal.actor, body.where(), body.limit, at=moment,
                                  senior=principal.role == "senior")
        return ClaimResponse(cases=[CaseResponse.of_detail(d, moment) for d in details],
                             lease_minutes=queue.settings.review_lease_minutes)

    @router.post("/queue/renew", response_model=RenewResponse,
                 summary="Renew the leases on cases the caller still holds")
    def renew(body: RenewRequest, queue: QueueDep, principal: Reviewer) -> RenewResponse:
        with http_errors((CaseNotFound,), (SeniorOnly,)):
            renewal = queue.renew(principal.actor, body.case_ids, at=now())
        return RenewResponse(renewed=renewal.renewed, lost=renewal.lost,
                             lease_expires_at=renewal.lease_expires_at,
                             lease_minutes=queue.settings.review_lease_minutes)

    @router.get("/queue/stats", response_model=StatsResponse, summary="The queue at a glance")
    def stats(queue: QueueDep, _: Viewer) -> StatsResponse:
        return StatsResponse.of(queue.stats())

    @router.get("/cases/{case_id}", response_model=CaseResponse, summary="One review case",
                responses={404: {"description": "No such case."}})
    def case(case_id: PathId, queue: QueueDep, _: Viewer) -> CaseResponse:
        moment = now()
        with http_errors((CaseNotFound,), (SeniorOnly,)):
            return CaseResponse.of_detail(queue.case(case_id, at=moment), moment)

    @router.post("/cases/{case_id}/decision", response_model=CaseDecisionResponse,
                 summary="Decide a case: counterfeit, not counterfeit or escalate",
                 responses={404: {"description": "No such case."},
                            409: {"description": "Already decided, claimed by another "
                                               "reviewer, or already escalated."}})
    def decide(case_id: PathId, body: CaseDecisionRequest, queue: QueueDep,
               principal: Reviewer) -> CaseDecisionResponse:
        with http_errors((CaseNotFound,), (SeniorOnly,)):
            outcome = queue.decide(case_id, body.decision, reviewer=principal.actor,
                                   note=body.note, senior=principal.role == "senior")
        return CaseDecisionResponse.of(outcome)

    # --- the page ---------------------------------------------------------------------

    @router.get("/review", response_class=HTMLResponse, include_in_schema=False)
    def review_page(queue: QueueDep) -> HTMLResponse:
        return HTMLResponse(pages.page(queue.settings))

    @router.get("/review/static/{name}", include_in_schema=False)
    def review_static(name: str) -> FileResponse:
        if name not in STATIC_FILES:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no static file {name!r}")
        path, media_type = STATIC_FILES[name]
        return FileResponse(path, media_type=media_type,
                            headers={"Cache-Control": "no-cache"})

    @router.post("/review/claim", response_class=HTMLResponse, include_in_schema=False)
    def review_claim(body: ClaimRequest, queue: QueueDep, principal: Reviewer) -> HTMLResponse:
        moment = now()
        with http_errors((CaseNotFound,), (SeniorOnly,)):
            details = queue.claim(principal.actor, body.where(), body.limit, at=moment,
                                  senior=principal.role == "senior")
        return HTMLResponse(pages.batch(details, moment))

    @router.get("/review/stats", response_class=HTMLResponse, include_in_schema=False)
    def review_stats(queue: QueueDep, principal: Viewer) -> HTMLResponse:
        return HTMLResponse(pages.stats(queue.stats(), principal))

    @router.get("/review/cases/{case_id}", response_class=HTMLResponse,
                include_in_schema=False)
    def review_case(case_id: PathId, queue: QueueDep, _: Viewer) -> HTMLResponse:
        moment = now()
        with http_errors((CaseNotFound,), (SeniorOnly,)):
            detail = queue.case(case_id, at=moment)
        return HTMLResponse(pages.case(detail, moment))

    return router
