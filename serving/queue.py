"""The reviewers' triage queue: review cases in the ledger, riskiest and most harmful first.

Cases are ledger events (`serving/ledger/cases.py` derives the `review_cases` table from
them), so they share the ledger's hash chain, its write lock and `ledger verify`.

Order. A case's priority when the queue is read is

    priority = band points + harm points + 10 * waited_hours / review_age_boost_hours

- band points: `high` +10, `review` 0, `low` -10 (a flagged listing rescored low sinks);
- harm points: log10(1 + harm_usd) clipped to [0, 9], where harm_usd = score x price_usd
  x quantity, the expected value at stake; a brand complaint about a listing never
  scored counts 4 points (about $10k);
- waiting: a case that has waited `review_age_boost_hours` (default 24 h) longer than
  another gains a whole band. So at equal age every `high` case comes before every
  `review` case, within a band more expected harm comes first, and nothing starves.

Claims. A reviewer claims a batch with a lease (`review_lease_minutes`); a claim is a
`case_claimed` event, and an expired lease is simply no longer live, so the case is back
in the queue without anything having to run. Claims run in the ledger's serialized write
transaction (SQLite `BEGIN IMMEDIATE`, a PostgreSQL advisory lock) and, on PostgreSQL,
also select with `FOR UPDATE SKIP LOCKED`: two reviewers never get the same case.

Decisions go through the ledger's rules: `counterfeit` takes the listing down and upholds
the case's pending complaints (strikes and freezes as `Ledger.decide` makes them),
`not_counterfeit` rejects them, `escalate` moves the case to the senior tier.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from serving.ledger.cases import (
    BAND_STEP,
    CASE_DECISIONS,
    FINAL_DECISIONS,
    SNAPSHOT_KEYS,
    case_id_at,
    review_case_complaints_table,
    review_cases_table,
    snapshot_of,
)
from serving.ledger.events import (
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    Event,
    EventType,
    canonical_json,
    check_text,
    format_time,
    utc,
)
from serving.ledger.ledger import Decision, Ledger, LedgerConflict, LedgerError, SellerState
from serving.ledger.owners import confirmed_sellers
from serving.ledger.store import (
    WriteTx,
    complaints_table,
    events_table,
    row_event,
)
from serving.ledger.takedowns import down_among, frozen_among, take_down, take_down_frozen
from serving.settings import LedgerSettings

Band = Literal["low", "review", "high"]
Source = Literal["model", "complaint"]
Tier = Literal["standard", "senior"]
CaseDecision = Literal["counterfeit", "not_counterfeit", "escalate"]
BANDS: tuple[Band, ...] = get_args(Band)
SOURCES: tuple[Source, ...] = get_args(Source)
TIERS: tuple[Tier, ...] = get_args(Tier)
FLAGGED_BANDS = ("review", "high")
MAX_CLAIM = 200

LISTING_TEXT = ("listing_id", "seller_id", "title", "description", "brand", "category",
                "currency", "ships_from")
FREE_TEXT = ("title", "description", "brand")  # any length, any script; stored as given
LISTING_COLUMNS = ("listing_id", "seller_id", "created_at", "title", "description", "brand",
                   "category", "price", "currency", "quantity", "ships_from", "image_count")
SELLER_COLUMNS = ("registered_at", "country", "business_verified")


class CaseNotFound(LedgerError):
    pass


class CaseAlreadyDecided(LedgerConflict):
    pass


class CaseLeased(LedgerConflict):
    """Another reviewer holds a live lease on the case."""


class AlreadyEscalated(LedgerConflict):
    pass


class SeniorOnly(LedgerError):
    """Escalated cases are claimed and decided by senior reviewers only (HTTP 403)."""


@dataclass(frozen=True)
class PriceReference:
    """The registered retail price the listing's price is compared with."""

    brand: str
    category: str
    price_usd: float

    def __post_init__(self) -> None:
        if not _positive(self.price_usd):
            raise ValueError(f"reference price_usd must be a finite number > 0, "
                             f"got {self.price_usd!r}")


@dataclass(frozen=True)
class ScoredListing:
    """One scored listing as the scoring endpoint hands it to the queue.

    `listing` holds the data contract's listing columns (the seller's `registered_at`,
    `country` and `business_verified` may ride along); it is stored with the case so the
    page can show it and `strikeout labels export` can write it back as a contract row.
    `usd_per_unit` is the listing currency's rate (needed unless the price is in USD).
    """

    listing: Mapping[str, Any]
    score: float
    band: Band
    reasons: Sequence[Any]
    model_version: str
    scored_at: datetime
    usd_per_unit: float | None = None
    reference: PriceReference | None = None


@dataclass(frozen=True)
class QueueFilter:
    """Which cases a reviewer wants: all fields optional, `tier` standard by default."""

    band: Band | None = None
    brand: str | None = None
    category: str | None = None
    seller_id: str | None = None
    source: Source | None = None
    tier: Tier = "standard"

    def __post_init__(self) -> None:
        if self.band is not None and self.band not in BANDS:
            raise ValueError(f"band must be one of {', '.join(BANDS)}, got {self.band!r}")
        if self.source is not None and self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(TIERS)}, got {self.tier!r}")


@dataclass(frozen=True)
class Case:
    """A review case as the queue shows it."""

    case_id: str
    listing_id: str
    seller_id: str
    brand: str | None
    category: str | None
    status: str
    tier: str
    band: str | None
    score: float | None
    harm_usd: float | None
    priority: float
    opened_at: datetime
    scored_at: datetime | None
    model_version: str | None
    complaint_count: int
    pending_complaints: int
    claimed_by: str | None
    lease_expires_at: datetime | None
    decision: str | None
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    snapshot: dict[str, Any] | None

    @property
    def sources(self) -> tuple[str, ...]:
        return (*(("model",) if self.score is not None else ()),
                *(("complaint",) if self.complaint_count else ()))

    @property
    def listing(self) -> dict[str, Any] | None:
        return self.snapshot["listing"] if self.snapshot else None

    @property
    def price(self) -> dict[str, Any] | None:
        return self.snapshot["price"] if self.snapshot else None

    @property
    def reasons(self) -> list[dict[str, Any]]:
        return self.snapshot["reasons"] if self.snapshot else []


@dataclass(frozen=True)
class CaseComplaint:
    complaint_id: str
    brand: str
    reason: str | None
    filed_at: datetime
    status: str
    note: str | None


@dataclass(frozen=True)
class SellerSummary:
    """What a reviewer needs to know about the seller, from the ledger and the listing."""

    seller_id: str
    registered_at: datetime | None
    country: str | None
    business_verified: bool | None
    strikes_by_brand: dict[str, int]
    complaints: int
    pending_complaints: int
    frozen: bool
    freeze_reason: str | None


@dataclass(frozen=True)
class CaseEvent:
    seq: int
    type: str
    actor: str
    at: datetime
    reason: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class CaseDetail:
    case: Case
    complaints: tuple[CaseComplaint, ...]
    seller: SellerSummary
    history: tuple[CaseEvent, ...]


@dataclass(frozen=True)
class ComplaintOutcome:
    complaint_id: str
    status: str
    strike_recorded: bool
    frozen_now: bool


@dataclass(frozen=True)
class CaseOutcome:
    case_id: str
    decision: str
    status: str
    tier: str
    listing_taken_down: bool
    complaints: tuple[ComplaintOutcome, ...]
    seller_frozen: bool


@dataclass(frozen=True)
class Renewal:
    """What `ReviewQueue.renew` did: the cases whose lease now ends at `lease_expires_at`
    (None when none was renewed), and those the reviewer no longer holds."""

    renewed: list[str]
    lost: list[str]
    lease_expires_at: datetime | None


@dataclass(frozen=True)
class BandCount:
    waiting: int = 0
    claimed: int = 0


@dataclass(frozen=True)
class QueueStats:
    """The queue at a glance: `open` waits for a reviewer, `claimed` is under a live lease."""

    open: int
    claimed: int
    escalated: int
    decided_today: int
    oldest_open_age_s: float | None
    by_band: dict[str, BandCount] = field(default_factory=dict)


def now() -> datetime:
    return datetime.now(UTC)


class ReviewQueue:
    """The review queue over one ledger."""

    def __init__(self, ledger: Ledger, settings: LedgerSettings) -> None:
        self.ledger = ledger
        self.settings = settings

    @classmethod
    def open(cls, settings: LedgerSettings | None = None) -> ReviewQueue:
        settings = settings or LedgerSettings()
        return cls(Ledger.open(settings), settings)

    def close(self) -> None:
        self.ledger.close()

    @property
    def lease(self) -> timedelta:
        return timedelta(minutes=self.settings.review_lease_minutes)

    # --- cases from scores ---------------------------------------------------------------

    def record_score(self, listing: Mapping[str, Any], score: float, band: Band,
                     reasons: Sequence[Any], model_version: str, scored_at: datetime, *,
                     usd_per_unit: float | None = None,
                     reference: PriceReference | None = None) -> str | None:
        """Open or update the case of one scored listing; returns its case id, if any."""
        return self.record_scores([ScoredListing(listing, score, band, reasons, model_version,
                                                 scored_at, usd_per_unit, reference)])[0]

    def record_scores(self, scored: Sequence[ScoredListing], *, actor: str = "model",
                      open_cases: Collection[str] = ()) -> list[str | None]:
        """Open a case for each listing newly flagged `review`/`high`; update open cases.

        Once per listing: a newer score (later `scored_at`) updates the listing's open
        case, an older or repeated one changes nothing (nor does a newer one that finds
        the case holding the same score, band, model version, listing, seller, price and
        reasons), and a listing whose case was
        decided is not queued again. A `low` score only updates an open case. A frozen
        seller's new listing is taken down as its case opens. Returns the
        case id of each listing (None where it has none). One write transaction, taken
        only when something may change.

        `open_cases` names listings the caller has just seen with an open case (the
        scoring service reads it with their history): a flagged listing outside it will
        open a case, and then the write is taken without planning in a read first.
        """
        payloads = [_score_payload(item) for item in scored]
        latest: dict[str, int] = {}
        for i, item in enumerate(payloads):
            known = latest.get(item.listing_id)
            if known is None or item.scored_at > payloads[known].scored_at:
                latest[item.listing_id] = i
        # A flagged listing without an open case opens one: straight to the write, which
        # plans again anyway. Otherwise the scores are planned in a read first, and those
        # that change nothing (`low` ones, listings scored again unchanged) spare the
        # write lock.
        opens = any(payloads[i].band in FLAGGED_BANDS and payloads[i].listing_id
                    not in open_cases for i in latest.values())
        plan: dict[str, tuple[str, str | None]] = {}
        to_take_down: set[str] = set()
        if not opens:
            with self.ledger.store.read() as conn:
                plan = _score_plan(conn, [payloads[i] for i in latest.values()])
                frozen = _frozen_owners(conn, [payloads[i] for i in latest.values()])
                if frozen:  # a frozen seller's listing scored again is mostly down already
                    to_take_down = frozen - down_among(conn, frozen)
        if opens or to_take_down or any(action != "keep" for action, _ in plan.values()):
            def work(tx: WriteTx) -> dict[str, str | None]:
                current = _score_plan(tx.conn, [payloads[i] for i in latest.values()])
                frozen = _frozen_owners(tx.conn, [payloads[i] for i in latest.values()])
                for i in latest.values():
                    item = payloads[i]
                    action, case_id = current[item.listing_id]
                    if action == "open":
                        case_id = case_id_at(tx.head_seq + 1)
                        tx.append(item.event(EventType.CASE_OPENED, case_id, actor))
                    elif action == "update":
                        tx.append(item.event(EventType.CASE_UPDATED, case_id, actor))
                    if item.listing_id in frozen:  # listed after the freeze took the rest
                        take_down_frozen(tx, listing_id=item.listing_id,
                                         seller_id=item.seller_id, actor=actor,
                                         at=item.scored_at, case_id=case_id, brand=item.brand)
                    current[item.listing_id] = ("keep", case_id)
                return {k: v for k, (_, v) in current.items()}

            ids = self.ledger.store.write(work)
        else:
            ids = {k: v for k, (_, v) in plan.items()}
        return [ids[item.listing_id] for item in payloads]

    # --- reading the queue -----------------------------------------------------------------

    def available(self, where: QueueFilter | None = None, limit: int = 50,
                  at: datetime | None = None) -> list[Case]:
        """Open cases nobody holds a live lease on, highest priority first."""
        _check_limit(limit)
        moment = utc(at or now())
        with self.ledger.store.read() as conn:
            rows = conn.execute(self._waiting(where or QueueFilter(), moment).limit(limit)).all()
        return [self._case(r, moment) for r in rows]

    def claim(self, reviewer: str, where: QueueFilter | None = None, limit: int | None = None,
              at: datetime | None = None, senior: bool = False) -> list[CaseDetail]:
        """Lease up to `limit` cases to `reviewer` that `where` asks for: the live leases it
        already holds (renewed) first, then the highest-priority waiting cases. The senior
        queue is claimed by senior reviewers only (`senior`), or it is a `SeniorOnly`."""
        limit = limit or self.settings.review_batch
        _check_limit(limit)
        check_text(reviewer, "reviewer", MAX_ID_CHARS)
        where = where or QueueFilter()
        if where.tier == "senior" and not senior:
            raise SeniorOnly("the senior queue is worked by senior reviewers")
        moment = utc(at or now())
        expires = format_time(moment + self.lease)

        def work(tx: WriteTx) -> list[str]:
            cases = review_cases_table.c
            own = tx.conn.execute(_matching(
                sa.select(cases.case_id).where(
                    cases.status == "open", cases.claimed_by == reviewer,
                    cases.lease_expires_at > moment), where)
                .order_by(self._priority(moment).desc(), cases.opened_seq).limit(limit)
            ).scalars().all()
            fresh: Sequence[str] = []
            if len(own) < limit:
                fresh = tx.conn.execute(
                    self._waiting(where, moment, columns=(cases.case_id,))
                    .limit(limit - len(own))
                    .with_for_update(skip_locked=True, of=review_cases_table)
                ).scalars().all()
            rows = tx.conn.execute(sa.select(review_cases_table).where(
                cases.case_id.in_([*own, *fresh]))).all()
            by_id = {r.case_id: r for r in rows}
            for case_id in (*own, *fresh):
                row = by_id[case_id]
                tx.append(Event(
                    type=EventType.CASE_CLAIMED, actor=reviewer, at=moment, case_id=case_id,
                    listing_id=row.listing_id, seller_id=row.seller_id,
                    payload={"lease_expires_at": expires, "tier": row.tier}))
            return [*own, *fresh]

        return self.details(self.ledger.store.write(work), at=moment)

    def renew(self, reviewer: str, case_ids: Sequence[str], at: datetime | None = None
              ) -> Renewal:
        """Give `reviewer` a full lease again, from now, on those of `case_ids` it holds:
        open cases it claimed last, whether or not the lease has run out meanwhile (a
        lapsed lease nobody else took is renewed). The others are `lost` (decided,
        escalated, claimed by another reviewer, or no case), in the order given.

        A page open on a batch renews while its reviewer works, so cases are not taken
        from under a reviewer who spends longer than a lease on a batch."""
        if not 1 <= len(case_ids) <= MAX_CLAIM:
            raise ValueError(f"renew between 1 and {MAX_CLAIM} case ids, got {len(case_ids)}")
        check_text(reviewer, "reviewer", MAX_ID_CHARS)
        moment = utc(at or now())
        expires = moment + self.lease

        def work(tx: WriteTx) -> set[str]:
            cases = review_cases_table.c
            rows = tx.conn.execute(
                sa.select(cases.case_id, cases.listing_id, cases.seller_id, cases.tier)
                .where(cases.case_id.in_(list(case_ids)), cases.status == "open",
                       cases.claimed_by == reviewer)
                .with_for_update(of=review_cases_table)).all()
            for row in sorted(rows, key=lambda r: r.case_id):
                tx.append(Event(
                    type=EventType.CASE_CLAIMED, actor=reviewer, at=moment,
                    case_id=row.case_id, listing_id=row.listing_id, seller_id=row.seller_id,
                    payload={"lease_expires_at": format_time(expires), "tier": row.tier}))
            return {row.case_id for row in rows}

        held = self.ledger.store.write(work)
        return Renewal(renewed=[c for c in dict.fromkeys(case_ids) if c in held],
                       lost=[c for c in dict.fromkeys(case_ids) if c not in held],
                       lease_expires_at=expires if held else None)

    def case(self, case_id: str, at: datetime | None = None) -> CaseDetail:
        details = self.details([case_id], at=at)
        if not details:
            raise CaseNotFound(f"no review case {case_id!r}")
        return details[0]

    def details(self, case_ids: Sequence[str], at: datetime | None = None) -> list[CaseDetail]:
        """Full cases (complaints, seller summary, history) in the order of `case_ids`."""
        moment = utc(at or now())
        cases, links = review_cases_table.c, review_case_complaints_table.c
        with self.ledger.store.read() as conn:
            rows = {r.case_id: r for r in conn.execute(
                sa.select(review_cases_table, self._priority(moment).label("priority"))
                .where(cases.case_id.in_(list(case_ids))))}
            complaints: dict[str, list[CaseComplaint]] = {}
            for r in conn.execute(
                    sa.select(links.case_id, complaints_table)
                    .join(complaints_table, complaints_table.c.complaint_id == links.complaint_id)
                    .where(links.case_id.in_(list(rows)))
                    .order_by(complaints_table.c.filed_seq)):
                complaints.setdefault(r.case_id, []).append(CaseComplaint(
                    r.complaint_id, r.brand, r.reason, r.filed_at, r.status, r.note))
            history: dict[str, list[CaseEvent]] = {}
            for r in conn.execute(sa.select(events_table).where(
                    events_table.c.case_id.in_(list(rows))).order_by(events_table.c.seq)):
                event = row_event(r)
                history.setdefault(str(event.case_id), []).append(CaseEvent(
                    event.seq, str(event.type), event.actor, event.at, event.reason,
                    dict(event.payload)))
        sellers: dict[str, SellerState] = {}
        out = []
        for case_id in case_ids:
            row = rows.get(case_id)
            if row is None:
                continue
            case = self._case(row, moment)
            if case.seller_id not in sellers:
                sellers[case.seller_id] = self.ledger.seller(case.seller_id)
            out.append(CaseDetail(case, tuple(complaints.get(case_id, ())),
                                  _seller_summary(sellers[case.seller_id], case),
                                  tuple(history.get(case_id, ()))))
        return out

    def stats(self, at: datetime | None = None) -> QueueStats:
        moment = utc(at or now())
        cases = review_cases_table.c
        live = sa.and_(cases.claimed_by.is_not(None), cases.lease_expires_at > moment)
        today = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        with self.ledger.store.read() as conn:
            groups = conn.execute(
                sa.select(cases.band, cases.tier, sa.case((live, 1), else_=0).label("claimed"),
                          sa.func.count().label("n"), sa.func.min(cases.opened_at).label("oldest"))
                .where(cases.status == "open")
                .group_by(cases.band, cases.tier, sa.text("claimed"))).all()
            decided = conn.execute(sa.select(sa.func.count()).where(
                cases.status == "decided", cases.decided_at >= today)).scalar_one()
        by_band: dict[str, BandCount] = {}
        waiting = claimed = escalated = 0
        oldest: datetime | None = None
        for g in groups:
            band = g.band or "unscored"
            count = by_band.get(band, BandCount())
            if g.claimed:
                claimed += g.n
                by_band[band] = BandCount(count.waiting, count.claimed + g.n)
            else:
                waiting += g.n
                by_band[band] = BandCount(count.waiting + g.n, count.claimed)
            escalated += g.n if g.tier == "senior" else 0
            oldest = g.oldest if oldest is None else min(oldest, g.oldest)
        age = None if oldest is None else max((moment - oldest).total_seconds(), 0.0)
        return QueueStats(waiting, claimed, escalated, decided, age, by_band)

    # --- deciding ------------------------------------------------------------------------

    def decide(self, case_id: str, decision: CaseDecision, *, reviewer: str,
               note: str | None = None, at: datetime | None = None,
               senior: bool = False) -> CaseOutcome:
        """Decide a case; a decided case is a `CaseAlreadyDecided` (HTTP 409).

        An escalated case needs a senior reviewer (`senior`), or it is a `SeniorOnly`.
        """
        if decision not in CASE_DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(CASE_DECISIONS)}, "
                             f"got {decision!r}")
        if note is not None:
            check_text(note, "note", MAX_TEXT_CHARS)
        check_text(reviewer, "reviewer", MAX_ID_CHARS)
        moment = utc(at or now())
        with self.ledger.store.read() as conn:  # refuse the common conflicts without the lock
            _decidable(conn, case_id, decision, reviewer, moment, senior)

        def work(tx: WriteTx) -> CaseOutcome:
            row = _decidable(tx.conn, case_id, decision, reviewer, moment, senior)
            links = review_case_complaints_table.c
            pending = tx.conn.execute(
                sa.select(links.complaint_id)
                .join(complaints_table, complaints_table.c.complaint_id == links.complaint_id)
                .where(links.case_id == case_id, complaints_table.c.status == "pending")
                .order_by(complaints_table.c.filed_seq)).scalars().all()
            at_ = max(moment, row.opened_at)
            tx.append(Event(
                type=EventType.CASE_DECIDED, actor=reviewer, at=at_, case_id=case_id,
                listing_id=row.listing_id, seller_id=row.seller_id, brand=row.brand,
                reason=note, payload={"decision": decision, "tier": row.tier,
                                      "complaint_ids": list(pending)}))
            outcomes: list[ComplaintOutcome] = []
            if decision in FINAL_DECISIONS:
                if decision == "counterfeit":  # a freeze may have taken it down already
                    take_down(tx, listing_id=row.listing_id, seller_id=row.seller_id,
                              actor=reviewer, at=at_, cause="review", case_id=case_id,
                              brand=row.brand, reason=f"review case {case_id} decided counterfeit")
                verdict: Decision = "upheld" if decision == "counterfeit" else "rejected"
                for complaint_id in pending:
                    result = self.ledger.decide_within(tx, complaint_id, verdict, actor=reviewer,
                                                       note=note, at=at_, case_id=case_id)
                    outcomes.append(ComplaintOutcome(complaint_id, verdict,
                                                     result.strike_recorded, result.frozen_now))
            frozen = bool(frozen_among(tx.conn, [row.seller_id]))
            final = decision in FINAL_DECISIONS
            # down by a counterfeit verdict, by any verdict on a frozen seller's listing (the
            # ledger's rule for decided complaints), or before the decision
            down = bool(down_among(tx.conn, [row.listing_id]))
            return CaseOutcome(case_id, decision, "decided" if final else "open",
                               "senior" if decision == "escalate" else row.tier,
                               down, tuple(outcomes), frozen)

        return self.ledger.store.write(work)

    # --- queries ---------------------------------------------------------------------------

    def _priority(self, moment: datetime) -> sa.ColumnElement[float]:
        per_second = BAND_STEP / (self.settings.review_age_boost_hours * 3600.0)
        cases = review_cases_table.c
        return cases.points + per_second * (moment.timestamp() - cases.opened_epoch_s)

    def _waiting(self, where: QueueFilter, moment: datetime,
                 columns: Iterable[Any] = (review_cases_table,)) -> sa.Select:
        cases = review_cases_table.c
        query = sa.select(*columns, self._priority(moment).label("priority")).where(
            cases.status == "open",
            sa.or_(cases.claimed_by.is_(None), cases.lease_expires_at <= moment))
        return _matching(query, where).order_by(sa.desc("priority"), cases.opened_seq)

    def _case(self, row: sa.Row, moment: datetime) -> Case:
        priority = getattr(row, "priority", None)
        if priority is None:
            per_second = BAND_STEP / (self.settings.review_age_boost_hours * 3600.0)
            priority = row.points + per_second * (moment.timestamp() - row.opened_epoch_s)
        live = row.claimed_by is not None and row.lease_expires_at is not None and (
            row.lease_expires_at > moment)
        return Case(
            case_id=row.case_id, listing_id=row.listing_id, seller_id=row.seller_id,
            brand=row.brand, category=row.category, status=row.status, tier=row.tier,
            band=row.band, score=row.score, harm_usd=row.harm_usd, priority=float(priority),
            opened_at=row.opened_at, scored_at=row.scored_at, model_version=row.model_version,
            complaint_count=row.complaint_count, pending_complaints=row.pending_count,
            claimed_by=row.claimed_by if live else None,
            lease_expires_at=row.lease_expires_at if live else None,
            decision=row.decision, decided_by=row.decided_by, decided_at=row.decided_at,
            note=row.note, snapshot=snapshot_of(row.snapshot),
        )


# --- deciding ------------------------------------------------------------------------------

def _decidable(conn: Connection, case_id: str, decision: str, reviewer: str,
               moment: datetime, senior: bool) -> sa.Row:
    """The case's row if `reviewer` may decide it now; otherwise the reason why not."""
    row = conn.execute(sa.select(review_cases_table).where(
        review_cases_table.c.case_id == case_id)).first()
    if row is None:
        raise CaseNotFound(f"no review case {case_id!r}")
    if row.status == "decided":
        raise CaseAlreadyDecided(f"case {case_id} was already decided: {row.decision} "
                                 f"by {row.decided_by}")
    if row.status == "closed":
        raise CaseAlreadyDecided(f"case {case_id} is closed: its complaints were decided "
                                 f"outside the queue")
    if row.claimed_by not in (None, reviewer) and row.lease_expires_at > moment:
        raise CaseLeased(f"case {case_id} is claimed by {row.claimed_by} until "
                         f"{format_time(row.lease_expires_at)}")
    if decision == "escalate" and row.tier == "senior":
        raise AlreadyEscalated(f"case {case_id} is already in the senior queue; decide it")
    if row.tier == "senior" and not senior:
        raise SeniorOnly(f"case {case_id} was escalated: a senior reviewer decides it")
    return row


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_CLAIM:
        raise ValueError(f"limit must be between 1 and {MAX_CLAIM}, got {limit}")


def _seller_summary(state: SellerState, case: Case) -> SellerSummary:
    seller = (case.snapshot or {}).get("seller") or {}
    registered = seller.get("registered_at")
    return SellerSummary(
        seller_id=state.seller_id,
        registered_at=datetime.fromisoformat(registered.replace("Z", "+00:00"))
        if registered else None,
        country=seller.get("country"),
        business_verified=seller.get("business_verified"),
        strikes_by_brand=state.strikes_by_brand,
        complaints=len(state.complaints),
        pending_complaints=sum(c.status == "pending" for c in state.complaints),
        frozen=state.frozen,
        freeze_reason=state.current_freeze.reason if state.current_freeze else None,
    )


# --- scores --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _ScorePayload:
    """A scored listing checked and turned into the JSON its case event stores."""

    listing_id: str
    seller_id: str
    brand: str | None
    band: str
    scored_at: datetime
    payload: dict[str, Any]

    def event(self, kind: EventType, case_id: str | None, actor: str) -> Event:
        return Event(type=kind, actor=actor, at=self.scored_at, case_id=case_id,
                     listing_id=self.listing_id, seller_id=self.seller_id, brand=self.brand,
                     payload=self.payload)


def _frozen_owners(conn: Connection, items: list[_ScorePayload]) -> set[str]:
    """The listings among `items` whose seller is frozen and owns them: a listing the
    listing systems first gave as another seller's is not taken down in this one's name
    (a listing has one seller, as for complaints)."""
    frozen = frozen_among(conn, {item.seller_id for item in items})
    if not frozen:
        return set()
    theirs = [item for item in items if item.seller_id in frozen]
    owners = confirmed_sellers(conn, [item.listing_id for item in theirs])
    return {item.listing_id for item in theirs
            if owners.get(item.listing_id, item.seller_id) == item.seller_id}


def _score_plan(conn: Connection, items: Sequence[_ScorePayload]
                ) -> dict[str, tuple[str, str | None]]:
    """For each listing: open a case, update its open case, or keep things as they are."""
    ids = [item.listing_id for item in items]
    open_cases: dict[str, sa.Row] = {}
    decided: set[str] = set()
    for start in range(0, len(ids), 500):
        for row in conn.execute(_CASES_OF_LISTINGS, {"ids": ids[start:start + 500]}):
            if row.status == "open":
                open_cases[row.listing_id] = row
            else:
                decided.add(row.listing_id)
    plan: dict[str, tuple[str, str | None]] = {}
    for item in items:
        case = open_cases.get(item.listing_id)
        if case is not None:
            newer = case.scored_at is None or item.scored_at > case.scored_at
            changes = newer and not _scored_as(case, item)
            plan[item.listing_id] = ("update" if changes else "keep", case.case_id)
        elif item.listing_id not in decided and item.band in FLAGGED_BANDS:
            plan[item.listing_id] = ("open", None)
        else:
            plan[item.listing_id] = ("keep", None)
    return plan


_cases = review_cases_table.c
_CASES_OF_LISTINGS = (  # built once: every scoring pass plans with it
    sa.select(_cases.case_id, _cases.listing_id, _cases.status, _cases.scored_at, _cases.band,
              _cases.score, _cases.harm_usd, _cases.model_version, _cases.snapshot)
    .where(_cases.listing_id.in_(sa.bindparam("ids", expanding=True)),
           _cases.status.in_(("open", "decided"))))


def _scored_as(case: sa.Row, item: _ScorePayload) -> bool:
    """Whether the case holds this very score of this very listing already (a listing
    scored again unchanged, as listing systems do on edits that change nothing scored):
    then there is nothing to record, and the ledger does not grow by a copy of it."""
    p = item.payload
    return (case.band == p["band"] and case.score == p["score"]
            and case.harm_usd == p["harm_usd"] and case.model_version == p["model_version"]
            and case.snapshot == canonical_json({k: p[k] for k in SNAPSHOT_KEYS}))


def _score_payload(item: ScoredListing) -> _ScorePayload:
    if not _finite(item.score) or not 0.0 <= item.score <= 1.0:
        raise ValueError(f"score must be a probability in [0, 1], got {item.score!r}")
    if item.band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}, got {item.band!r}")
    check_text(item.model_version, "model_version", MAX_ID_CHARS)
    scored_at = utc(item.scored_at)
    listing = _listing_snapshot(item.listing)
    price = _price(listing, item.usd_per_unit, item.reference)
    return _ScorePayload(
        listing_id=listing["listing_id"], seller_id=listing["seller_id"],
        brand=_event_brand(listing["brand"]),
        band=item.band, scored_at=scored_at,
        payload={
            "band": item.band, "score": float(item.score),
            "harm_usd": float(item.score) * price["price_usd"] * listing["quantity"],
            "model_version": item.model_version, "scored_at": format_time(scored_at),
            "listing": listing, "seller": _seller_snapshot(item.listing), "price": price,
            "reasons": [_reason(r) for r in item.reasons],
        },
    )


def _listing_snapshot(listing: Mapping[str, Any]) -> dict[str, Any]:
    missing = [c for c in LISTING_COLUMNS if c not in listing]
    if missing:
        raise ValueError(f"listing lacks the contract column(s) {', '.join(missing)}")
    out: dict[str, Any] = {}
    for name in LISTING_TEXT:
        value = "" if _is_missing(listing[name]) else listing[name]
        if not isinstance(value, str):
            raise ValueError(f"listing {name} must be text, got {type(value).__name__}")
        if name in FREE_TEXT:
            _encodable(value, name)
        else:
            if not value.strip():
                raise ValueError(f"listing {name} must not be empty")
            check_text(value, name, MAX_ID_CHARS)
        out[name] = value
    out["created_at"] = _timestamp_text(listing["created_at"], "created_at")
    price = listing["price"]
    if isinstance(price, bool) or not _positive(price):
        raise ValueError(f"listing price must be a finite number > 0, got {price!r}")
    out["price"] = float(price)
    out["quantity"] = _integer(listing["quantity"], "quantity", 1)
    out["image_count"] = _integer(listing["image_count"], "image_count", 0)
    return out


def _seller_snapshot(listing: Mapping[str, Any]) -> dict[str, Any] | None:
    """The seller's contract columns if they came with the listing (all three), else None."""
    if any(_is_missing(listing.get(c)) for c in SELLER_COLUMNS):
        return None
    verified = listing["business_verified"]
    if isinstance(verified, str):
        text = verified.strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise ValueError(f"business_verified must be true or false, got {verified!r}")
        verified = text in ("true", "1")
    country = listing["country"]
    if not isinstance(country, str):
        raise ValueError(f"country must be text, got {type(country).__name__}")
    return {"registered_at": _timestamp_text(listing["registered_at"], "registered_at"),
            "country": check_text(country, "country", MAX_ID_CHARS),
            "business_verified": bool(verified)}


def _price(listing: dict[str, Any], usd_per_unit: float | None,
           reference: PriceReference | None) -> dict[str, Any]:
    if usd_per_unit is None:
        if listing["currency"] != "USD":
            raise ValueError(f"usd_per_unit is needed for a price in {listing['currency']}")
        usd_per_unit = 1.0
    if isinstance(usd_per_unit, bool) or not _positive(usd_per_unit):
        raise ValueError(f"usd_per_unit must be a finite number > 0, got {usd_per_unit!r}")
    price_usd = listing["price"] * float(usd_per_unit)
    ref = None if reference is None else {
        "brand": check_text(reference.brand, "reference brand", MAX_ID_CHARS),
        "category": check_text(reference.category, "reference category", MAX_ID_CHARS),
        "price_usd": float(reference.price_usd)}
    return {"price": listing["price"], "currency": listing["currency"],
            "usd_per_unit": float(usd_per_unit), "price_usd": price_usd, "reference": ref,
            "ratio": None if ref is None else price_usd / ref["price_usd"]}


def _reason(reason: Any) -> dict[str, Any]:
    """A reason as {signal, text, contribution}: from a mapping, a `Reason` or plain text."""
    text: Any
    signal: Any
    contribution: Any
    if isinstance(reason, str):
        text, signal, contribution = reason, None, None
    elif isinstance(reason, Mapping):
        text, signal = reason.get("text"), reason.get("signal")
        contribution = reason.get("contribution")
    else:
        text, signal = getattr(reason, "text", None), getattr(reason, "signal", None)
        contribution = getattr(reason, "contribution", None)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"a reason needs its text in plain words, got {reason!r}")
    if contribution is not None and not _finite(contribution):
        raise ValueError(f"a reason's contribution must be finite, got {contribution!r}")
    return {"signal": None if signal is None else str(signal),
            "text": check_text(text, "reason", MAX_TEXT_CHARS),
            "contribution": None if contribution is None else float(contribution)}


def _event_brand(brand: str) -> str | None:
    """The brand field as the event's brand column, when it fits there (it is in the payload)."""
    try:
        return check_text(brand, "brand", MAX_ID_CHARS) if brand.strip() else None
    except ValueError:
        return None


def _encodable(text: str, name: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"listing {name} is not valid Unicode text (lone surrogate)") from exc


def _timestamp_text(value: Any, name: str) -> str:
    try:
        moment = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not a timestamp: {value!r}") from exc
    if pd.isna(moment):
        raise ValueError(f"{name} must be given")
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    return format_time(moment.to_pydatetime())


def _integer(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not _finite(value) or float(value) != math.floor(value) or (
            value < minimum):
        raise ValueError(f"listing {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _positive(value: Any) -> bool:
    return _finite(value) and float(value) > 0


def _matching(query: sa.Select, where: QueueFilter) -> sa.Select:
    """`query` of review cases, narrowed to those `where` asks for (its tier included)."""
    cases = review_cases_table.c
    query = query.where(cases.tier == where.tier)
    if where.band is not None:
        query = query.where(cases.band == where.band)
    if where.category is not None:
        query = query.where(cases.category == where.category)
    if where.seller_id is not None:
        query = query.where(cases.seller_id == where.seller_id)
    if where.source == "model":
        query = query.where(cases.scored.is_(True))
    elif where.source == "complaint":
        query = query.where(cases.complaint_count > 0)
    if where.brand is not None:
        links = review_case_complaints_table.c
        complained = sa.exists(
            sa.select(links.complaint_id)
            .join(complaints_table, complaints_table.c.complaint_id == links.complaint_id)
            .where(links.case_id == cases.case_id, complaints_table.c.brand == where.brand))
        query = query.where(sa.or_(cases.brand == where.brand, complained))
    return query
