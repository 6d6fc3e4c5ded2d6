"""The strike ledger's operations: file, decide, unfreeze, look up, verify, import.

Each operation reads what it needs and appends its events in one serialized write
transaction (`LedgerStore.write`), so concurrent callers, replicas included, can
neither lose an event nor count one twice.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from features.contract import Marketplace, load_marketplace
from serving.ledger.cases import review_case_complaints_table, review_cases_table
from serving.ledger.events import (
    GENESIS_HASH,
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    Event,
    EventType,
    RecordedEvent,
    canonical_json,
    chain_hash,
    check_text,
    event_body,
    format_time,
)
from serving.ledger.owners import (
    confirmed_elsewhere,
    confirmed_seller,
    confirmed_sellers,
    named_seller,
)
from serving.ledger.projections import LEDGER_PROJECTIONS
from serving.ledger.rules import Standing, Strike, StrikeRules, UpheldComplaint, consequences
from serving.ledger.store import (
    LedgerStore,
    Projection,
    WriteTx,
    compare_projections,
    complaints_table,
    freezes_table,
    strikes_table,
)
from serving.ledger.takedowns import (
    Takedown,
    frozen_among,
    seller_takedowns,
    take_down_frozen,
    take_down_if_frozen,
    take_down_seller,
    takedowns_after,
)
from serving.settings import LedgerSettings

Decision = Literal["upheld", "rejected"]
DECISIONS: tuple[Decision, ...] = ("upheld", "rejected")
COMPLAINT_COLUMNS = ("complaint_id", "listing_id", "seller_id", "brand", "filed_at", "status",
                     "resolved_at")
IMPORT_BATCH = 500


class LedgerError(Exception):
    """A request the ledger refuses; the message says why."""


class ComplaintNotFound(LedgerError):
    pass


class LedgerConflict(LedgerError):
    """The request contradicts what the ledger already holds (HTTP 409)."""


class IdempotencyConflict(LedgerConflict):
    pass


class AlreadyDecided(LedgerConflict):
    pass


class NotFrozen(LedgerConflict):
    pass


class ListingOfAnotherSeller(LedgerConflict):
    """A complaint names a listing under a seller the ledger knows it is not from."""


class EscalatedComplaint(LedgerError):
    """A complaint of an escalated review case: a senior reviewer decides it."""


class ComplaintUnderReview(LedgerConflict):
    """A complaint whose review case another reviewer holds a live lease on."""


class ImportConflict(LedgerError):
    """A dataset's complaint history contradicts the ledger's, or breaks its limits."""


@dataclass(frozen=True)
class ComplaintFiling:
    """What a brand says when it files a complaint."""

    listing_id: str
    seller_id: str
    brand: str
    reason: str | None = None

    def __post_init__(self) -> None:
        for name in ("listing_id", "seller_id", "brand"):
            value = getattr(self, name)
            if not value or not value.strip():
                raise ValueError(f"{name} must not be empty")
            check_text(value, name, MAX_ID_CHARS)
        if self.reason is not None:
            check_text(self.reason, "reason", MAX_TEXT_CHARS)

    def request_hash(self) -> str:
        """Fingerprint of the request body, to tell a replay from a different request."""
        body = canonical_json({"listing_id": self.listing_id, "seller_id": self.seller_id,
                               "brand": self.brand, "reason": self.reason})
        return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ComplaintRecord:
    complaint_id: str
    listing_id: str
    seller_id: str
    brand: str
    reason: str | None
    status: str
    filed_at: datetime
    filed_by: str
    resolved_at: datetime | None
    decided_by: str | None
    note: str | None

    @classmethod
    def from_row(cls, row: sa.Row) -> ComplaintRecord:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Filed:
    complaint: ComplaintRecord
    created: bool


@dataclass(frozen=True)
class DecisionOutcome:
    complaint: ComplaintRecord
    strike_recorded: bool
    frozen_now: bool
    seller_frozen: bool
    # the seller's listings that a freeze took down, or the complaint's own listing of a
    # seller frozen already
    listings_taken_down: int = 0


@dataclass(frozen=True)
class StrikeRecord:
    listing_id: str
    brand: str
    complaint_id: str
    at: datetime
    counting: bool


@dataclass(frozen=True)
class FreezeRecord:
    frozen_at: datetime
    scope: str
    reason: str
    caused_by: tuple[dict[str, str], ...]
    lifted_at: datetime | None = None
    lifted_by: str | None = None
    lift_reason: str | None = None


@dataclass(frozen=True)
class SellerState:
    """A seller as the ledger sees it (or as one brand may see it)."""

    seller_id: str
    frozen: bool
    scope: str
    strikes_to_freeze: int
    strikes: tuple[StrikeRecord, ...]
    freezes: tuple[FreezeRecord, ...]
    complaints: tuple[ComplaintRecord, ...]
    takedowns: tuple[Takedown, ...] = ()

    @property
    def current_freeze(self) -> FreezeRecord | None:
        return self.freezes[-1] if self.frozen else None

    @property
    def strikes_by_brand(self) -> dict[str, int]:
        return dict(Counter(s.brand for s in self.strikes))

    @property
    def counting_by_brand(self) -> dict[str, int]:
        """Strikes since the last lift, by brand: those that count towards a freeze."""
        return dict(Counter(s.brand for s in self.strikes if s.counting))


@dataclass(frozen=True)
class VerifyReport:
    events: int
    head_hash: str
    broken_seq: int | None = None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class ImportReport:
    filed: int = 0
    decided: int = 0
    unchanged: int = 0
    strikes: int = 0
    freezes: int = 0
    takedowns: int = 0


@dataclass
class _ChainWalk:
    """Invariants checked while walking the chain: one freeze at a time, one decision each,
    one strike per (seller, listing, brand), one takedown per listing."""

    frozen: set[str] = field(default_factory=set)
    filed: set[str] = field(default_factory=set)
    decided: set[str] = field(default_factory=set)
    strikes: set[tuple[str | None, str | None, str | None]] = field(default_factory=set)
    down: set[str] = field(default_factory=set)

    def check(self, event: RecordedEvent) -> str | None:
        at = f"seq {event.seq}"
        match event.type:
            case EventType.COMPLAINT_FILED:
                if event.complaint_id in self.filed:
                    return f"{at}: complaint {event.complaint_id} filed twice"
                self.filed.add(str(event.complaint_id))
            case EventType.COMPLAINT_DECIDED:
                if event.complaint_id not in self.filed or event.complaint_id in self.decided:
                    return f"{at}: complaint {event.complaint_id} decided twice or never filed"
                self.decided.add(str(event.complaint_id))
            case EventType.STRIKE_RECORDED:
                key = (event.seller_id, event.listing_id, event.brand)
                if key in self.strikes:
                    return f"{at}: second strike for seller {event.seller_id}, listing " \
                           f"{event.listing_id}, brand {event.brand}"
                self.strikes.add(key)
            case EventType.SELLER_FROZEN:
                if event.seller_id in self.frozen:
                    return f"{at}: seller {event.seller_id} frozen again without a lift"
                self.frozen.add(str(event.seller_id))
            case EventType.FREEZE_LIFTED:
                if event.seller_id not in self.frozen:
                    return f"{at}: freeze of seller {event.seller_id} lifted but not frozen"
                self.frozen.discard(str(event.seller_id))
            case EventType.LISTING_TAKEN_DOWN:
                if event.listing_id in self.down:
                    return f"{at}: listing {event.listing_id} taken down twice"
                self.down.add(str(event.listing_id))
        return None


def now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """The strike ledger over one store, applying one set of strike rules."""

    def __init__(self, store: LedgerStore, rules: StrikeRules) -> None:
        self.store = store
        self.rules = rules

    @classmethod
    def open(cls, settings: LedgerSettings | None = None,
             projections: Sequence[Projection] = ()) -> Ledger:
        """Open (and migrate) the ledger that `settings` name; `projections` are extra ones."""
        settings = settings or LedgerSettings()
        store = LedgerStore(
            settings.database_url, (*LEDGER_PROJECTIONS, *projections),
            busy_timeout_s=settings.busy_timeout_s, write_attempts=settings.write_attempts,
            write_deadline_s=settings.write_deadline_s,
        )
        return cls(store, StrikeRules.from_settings(settings))

    def close(self) -> None:
        self.store.close()

    # --- writes -----------------------------------------------------------------------

    def file_complaint(self, filing: ComplaintFiling, *, actor: str,
                       idempotency_key: str | None = None, at: datetime | None = None) -> Filed:
        """Record a complaint; the same key with the same body returns the same complaint."""
        if idempotency_key is not None:
            check_text(idempotency_key, "idempotency key", MAX_ID_CHARS)
            with self.store.read() as conn:
                replayed = _replay(conn, filing, idempotency_key)
            if replayed is not None:
                return replayed
        at = at or now()

        def work(tx: WriteTx) -> Filed:
            if idempotency_key is not None:
                replayed = _replay(tx.conn, filing, idempotency_key)
                if replayed is not None:
                    return replayed
            confirmed = confirmed_seller(tx.conn, filing.listing_id)
            owner = confirmed if confirmed is not None else named_seller(tx.conn,
                                                                         filing.listing_id)
            if owner is not None and owner != filing.seller_id:  # the owner stays unsaid
                raise ListingOfAnotherSeller(
                    f"listing {filing.listing_id!r} is not a listing of seller "
                    f"{filing.seller_id!r}, as far as the ledger knows")
            complaint_id = f"cmp_{secrets.token_hex(12)}"
            event = tx.append(_filed_event(filing, complaint_id, actor, at, idempotency_key))
            if confirmed == filing.seller_id:
                take_down_if_frozen(tx, listing_id=filing.listing_id,
                                    seller_id=filing.seller_id, actor=actor, at=event.at,
                                    brand=filing.brand)
            return Filed(ComplaintRecord(
                complaint_id, filing.listing_id, filing.seller_id, filing.brand, filing.reason,
                "pending", event.at, actor, None, None, None), created=True)

        return self.store.write(work)

    def decide(self, complaint_id: str, decision: Decision, *, actor: str,
               note: str | None = None, at: datetime | None = None,
               senior: bool = False) -> DecisionOutcome:
        """Uphold or reject a pending complaint; deciding it again is an `AlreadyDecided`.

        A complaint whose review case was escalated is decided by a senior reviewer
        (`senior`), or it is an `EscalatedComplaint`; one whose case another reviewer has
        claimed, and whose lease has not ended at `at`, is a `ComplaintUnderReview` (the
        holder decides it; deciding the case rather than the complaint also takes the
        listing down).
        """
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
        if note is not None:
            check_text(note, "note", MAX_TEXT_CHARS)
        moment = at or now()
        query = sa.select(complaints_table).where(complaints_table.c.complaint_id == complaint_id)
        with self.store.read() as conn:  # refuse the common conflicts without the write lock
            _decidable(conn.execute(query).first(), complaint_id)
            _check_case(conn, complaint_id, senior, actor, moment)

        def work(tx: WriteTx) -> DecisionOutcome:
            row = _decidable(tx.conn.execute(query).first(), complaint_id)
            _check_case(tx.conn, complaint_id, senior, actor, moment)
            _check_owner(tx.conn, row, decision)
            return self._decide(tx, row, decision, actor, note, moment)

        return self.store.write(work)

    def decide_within(self, tx: WriteTx, complaint_id: str, decision: Decision, *, actor: str,
                      note: str | None, at: datetime, case_id: str | None = None
                      ) -> DecisionOutcome:
        """`decide` inside the caller's write transaction, with the caller's own events.

        The review queue decides a case's complaints this way, atomically with the case
        (`case_id`, which a takedown the decision causes names).
        """
        query = sa.select(complaints_table).where(complaints_table.c.complaint_id == complaint_id)
        row = _decidable(tx.conn.execute(query).first(), complaint_id)
        _check_owner(tx.conn, row, decision)
        return self._decide(tx, row, decision, actor, note, at, case_id)

    def _decide(self, tx: WriteTx, row: sa.Row, decision: Decision, actor: str,
                note: str | None, at: datetime, case_id: str | None = None) -> DecisionOutcome:
        # Replicas' clocks differ a little; a decision is never recorded before its filing.
        at = max(at, row.filed_at)
        tx.append(Event(
            type=EventType.COMPLAINT_DECIDED, actor=actor, at=at, seller_id=row.seller_id,
            brand=row.brand, listing_id=row.listing_id, complaint_id=row.complaint_id,
            reason=note, payload={"decision": decision},
        ))
        follow: list[Event] = []
        if decision == "upheld":
            standing = _standing(tx.conn, row.seller_id)
            upheld = UpheldComplaint(row.complaint_id, row.seller_id, row.listing_id, row.brand)
            follow = consequences(self.rules, standing, upheld, actor=actor, at=at)
            was_frozen = standing.frozen
        else:
            was_frozen = _is_frozen(tx.conn, row.seller_id)
        taken_down = 0
        for event in follow:
            recorded = tx.append(event)
            if recorded.type == EventType.SELLER_FROZEN:
                taken_down = take_down_seller(tx, recorded)
        if was_frozen and not confirmed_elsewhere(tx.conn, [row.listing_id], row.seller_id):
            # a reviewer has now seen the listing under a frozen seller: it goes down, as
            # it would have gone down had the freeze come after this decision
            taken_down += take_down_frozen(tx, listing_id=row.listing_id, seller_id=row.seller_id,
                                           actor=actor, at=at, case_id=case_id, brand=row.brand)
        types = {e.type for e in follow}
        return DecisionOutcome(
            complaint=replace(ComplaintRecord.from_row(row), status=decision, resolved_at=at,
                              decided_by=actor, note=note),
            strike_recorded=EventType.STRIKE_RECORDED in types,
            frozen_now=EventType.SELLER_FROZEN in types,
            seller_frozen=was_frozen or EventType.SELLER_FROZEN in types,
            listings_taken_down=taken_down,
        )

    def unfreeze(self, seller_id: str, *, reason: str, actor: str,
                 at: datetime | None = None) -> FreezeRecord:
        """Lift a seller's freeze (admins only, with a written reason)."""
        if not reason or not reason.strip():
            raise ValueError("a reason is required to lift a freeze")
        check_text(reason, "reason", MAX_TEXT_CHARS)
        moment = at or now()

        def work(tx: WriteTx) -> FreezeRecord:
            if not _is_frozen(tx.conn, seller_id):
                raise NotFrozen(f"seller {seller_id} is not frozen")
            tx.append(Event(type=EventType.FREEZE_LIFTED, actor=actor, at=moment,
                            seller_id=seller_id, reason=reason))
            return _freezes(tx.conn, seller_id)[-1].record

        return self.store.write(work)

    # --- reads ------------------------------------------------------------------------

    def complaint(self, complaint_id: str) -> ComplaintRecord | None:
        with self.store.read() as conn:
            row = conn.execute(sa.select(complaints_table).where(
                complaints_table.c.complaint_id == complaint_id)).first()
        return ComplaintRecord.from_row(row) if row is not None else None

    def seller(self, seller_id: str, *, brand: str | None = None) -> SellerState:
        """A seller's strikes, freezes and complaints; with `brand`, what that brand may see."""
        with self.store.read() as conn:
            strikes = _strike_rows(conn, seller_id)
            freezes = _freezes(conn, seller_id)
            complaints = [ComplaintRecord.from_row(r) for r in conn.execute(
                sa.select(complaints_table).where(complaints_table.c.seller_id == seller_id)
                .order_by(complaints_table.c.filed_seq))]
            takedowns = tuple(seller_takedowns(conn, seller_id))
        frozen = bool(freezes) and freezes[-1].lifted_seq is None
        last_lift = max((f.lifted_seq or 0 for f in freezes), default=0)
        records = tuple(StrikeRecord(s.listing_id, s.brand, s.complaint_id, s.at,
                                     counting=s.seq > last_lift) for s in strikes)
        state = SellerState(seller_id, frozen, self.rules.scope, self.rules.strikes_to_freeze,
                            records, tuple(f.record for f in freezes), tuple(complaints),
                            takedowns)
        return state if brand is None else _as_seen_by(state, brand)

    def frozen_sellers(self, seller_ids: Iterable[str]) -> set[str]:
        """Which of `seller_ids` are frozen now (for the scoring endpoint)."""
        with self.store.read() as conn:
            return frozen_among(conn, seller_ids)

    def takedowns(self, after_seq: int = 0, limit: int = 500) -> list[Takedown]:
        """Listings taken down after event `after_seq`, oldest first (the takedown feed)."""
        with self.store.read() as conn:
            return takedowns_after(conn, after_seq, limit)

    def complaints_frame(self, seller_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Complaints in the data contract's `complaints` columns and types.

        Online seller-history features are built from this exactly as batch features
        are built from `complaints.csv`.
        """
        query = sa.select(*(complaints_table.c[c] for c in COMPLAINT_COLUMNS)).order_by(
            complaints_table.c.filed_at, complaints_table.c.complaint_id)
        with self.store.read() as conn:
            if seller_ids is None:
                rows = conn.execute(query).all()
            else:
                ids = list(dict.fromkeys(seller_ids))
                rows = [r for start in range(0, len(ids), 500) for r in conn.execute(
                    query.where(complaints_table.c.seller_id.in_(ids[start:start + 500])))]
        return complaints_frame(rows)

    def verify(self) -> VerifyReport:
        """Recompute the hash chain, check the rule invariants and the projections."""
        prev_hash, count, walk = GENESIS_HASH, 0, _ChainWalk()
        with self.store.read() as conn:
            for event in self.store.events(conn):
                problem = _chain_problem(event, count + 1, prev_hash)
                if problem is not None:
                    return VerifyReport(count, prev_hash, count + 1, (problem,))
                invariant = walk.check(event)
                if invariant is not None:
                    return VerifyReport(count, prev_hash, event.seq, (invariant,))
                prev_hash, count = event.hash, count + 1
            problems = compare_projections(self.store, conn)
        return VerifyReport(count, prev_hash, None, tuple(problems))

    # --- import -----------------------------------------------------------------------

    def import_history(self, folder: Path | str, *, actor: str = "import") -> ImportReport:
        """Load a dataset's complaint history, in time order, with its original timestamps.

        Complaints already in the ledger are left as they are (a re-import changes
        nothing); a pending one that the dataset shows decided gets its decision. A
        complaint that contradicts the ledger, or that the ledger cannot record (an id or
        brand over its length limit), raises `ImportConflict` before anything is written.
        """
        return self.apply_import(self.plan_import(load_marketplace(folder), folder), actor=actor)

    def plan_import(self, market: Marketplace, folder: Path | str) -> ImportPlan:
        """What `import_history` would write of `market` (loaded from `folder`), or
        `ImportConflict`: a caller that writes something else with the import (the history
        store's listings) checks first."""
        complaints = market.complaints
        owners = dict(zip(market.listings["listing_id"], market.listings["seller_id"],
                          strict=True))
        with self.store.read() as conn:  # the ledger as it was before this import
            known = {r.complaint_id: ComplaintRecord.from_row(r) for r in conn.execute(
                sa.select(complaints_table))}
            confirmed = confirmed_sellers(conn, complaints["listing_id"])
            named = _named_sellers(conn, complaints, known, {*owners, *confirmed})
        actions, conflicts, unchanged = _import_plan(complaints, known, owners,
                                                     (confirmed, named))
        if conflicts:
            shown = "\n".join(f"  - {c}" for c in conflicts[:10])
            more = f"\n  (and {len(conflicts) - 10} more)" if len(conflicts) > 10 else ""
            raise ImportConflict(
                f"{len(conflicts)} complaint(s) in {folder} contradict the ledger or cannot "
                f"be recorded:\n{shown}{more}")
        return ImportPlan(actions, unchanged)

    def apply_import(self, plan: ImportPlan, *, actor: str = "import") -> ImportReport:
        """Write a `plan_import` plan (complaints known meanwhile are left as they are)."""
        report = ImportReport(unchanged=plan.unchanged)
        for start in range(0, len(plan.actions), IMPORT_BATCH):
            work = partial(self._import_batch, batch=plan.actions[start:start + IMPORT_BATCH],
                           actor=actor, report=report)
            report = self.store.write(work)
        return report

    def _import_batch(self, tx: WriteTx, batch: list[_ImportAction], actor: str,
                      report: ImportReport) -> ImportReport:
        for action in batch:
            row = tx.conn.execute(sa.select(complaints_table).where(
                complaints_table.c.complaint_id == action.filing_id)).first()
            if action.decision is None:
                if row is None:
                    _check_import_owner(tx.conn, action.filing_id, action.filing, None)
                    tx.append(_filed_event(action.filing, action.filing_id, actor, action.at, None))
                    down = take_down_if_frozen(
                        tx, listing_id=action.filing.listing_id,
                        seller_id=action.filing.seller_id, actor=actor, at=action.at,
                        brand=action.filing.brand)
                    report = replace(report, filed=report.filed + 1,
                                     takedowns=report.takedowns + down)
            elif row is not None and row.status == "pending":
                _check_import_owner(tx.conn, action.filing_id, action.filing, action.decision)
                outcome = self._decide(tx, row, action.decision, actor, None, action.at)
                report = replace(report, decided=report.decided + 1,
                                 strikes=report.strikes + outcome.strike_recorded,
                                 freezes=report.freezes + outcome.frozen_now,
                                 takedowns=report.takedowns + outcome.listings_taken_down)
        return report


@dataclass(frozen=True)
class ImportPlan:
    """The complaint events an import will write, in time order (`Ledger.plan_import`)."""

    actions: list[_ImportAction]
    unchanged: int


@dataclass(frozen=True)
class _ImportAction:
    at: datetime
    order: int
    filing_id: str
    filing: ComplaintFiling
    decision: Decision | None = None


@dataclass(frozen=True)
class _FreezeRow:
    record: FreezeRecord
    frozen_seq: int
    lifted_seq: int | None


FUTURE_TOLERANCE = timedelta(days=1)


def _named_sellers(conn: Connection, complaints: pd.DataFrame,
                   known: dict[str, ComplaintRecord], given: set[str]) -> dict[str, str]:
    """`named_seller` of the new complaints' listings, but those that the history store or
    the dataset's listings give a seller (`given`): the listing systems' word outranks a
    review case's or a complaint's."""
    asked = {listing for complaint, listing in zip(
        complaints["complaint_id"], complaints["listing_id"], strict=True)
        if complaint not in known and listing not in given}
    found = {listing: named_seller(conn, listing) for listing in sorted(asked)}
    return {listing: seller for listing, seller in found.items() if seller is not None}


def _import_plan(complaints: pd.DataFrame, known: dict[str, ComplaintRecord],
                 owners: dict[str, str], held: tuple[dict[str, str], dict[str, str]]
                 ) -> tuple[list[_ImportAction], list[str], int]:
    """The import's actions, in time order; the complaints it must refuse; those it leaves.

    `owners`: the dataset's listings and their sellers; `held`: the ledger's own, before
    the import: the listing systems' (`confirmed_seller`) and the named ones
    (`_named_sellers`). A complaint naming another seller than its listing's is refused,
    as the API refuses it: its strike would fall on a seller who does not own the listing.
    One the ledger holds already is refused only if the import would uphold it against
    the listing systems' record, as `decide` refuses it. So is one filed or decided in the
    future.
    """
    confirmed, named = held
    named = dict(named)  # and the sellers this import's own complaints name, first filed first
    actions: list[_ImportAction] = []
    conflicts: list[str] = []
    unchanged = 0
    horizon = now() + FUTURE_TOLERANCE  # clocks differ a little, not by days
    in_filing_order = complaints.sort_values(["filed_at", "complaint_id"], kind="stable")
    for row in in_filing_order.itertuples(index=False):
        try:
            check_text(row.complaint_id, "complaint_id", MAX_ID_CHARS)
            filing = ComplaintFiling(row.listing_id, row.seller_id, row.brand)
        except ValueError as exc:  # the ledger's own limits, which the contract does not set
            conflicts.append(f"complaint {str(row.complaint_id)[:40]}: {exc}")
            continue
        late = [f"{name} {format_time(_timestamp(value))}" for name, value in (
            ("filed_at", row.filed_at), ("resolved_at", row.resolved_at))
            if not pd.isna(value) and _timestamp(value) > horizon]
        if late:
            conflicts.append(f"complaint {row.complaint_id}: {' and '.join(late)} is in the "
                             f"future (the ledger is append-only: it would stay there)")
            continue
        owner = owners.get(row.listing_id)
        if owner is not None and owner != row.seller_id:
            conflicts.append(f"complaint {row.complaint_id} names seller {row.seller_id!r}, "
                             f"but the dataset's listings give listing {row.listing_id!r} to "
                             f"seller {owner!r}")
            continue
        filed_at = _timestamp(row.filed_at)
        status = str(row.status)
        decision: Decision | None = status if status in DECISIONS else None  # type: ignore[assignment]
        old = known.get(row.complaint_id)
        if old is not None and (old.listing_id, old.seller_id, old.brand,
                                format_time(old.filed_at)) != (
                filing.listing_id, filing.seller_id, filing.brand, format_time(filed_at)):
            conflicts.append(f"complaint {row.complaint_id}: listing, seller, brand or filed_at "
                             f"differ from the ledger's")
            continue
        if old is not None and old.status != "pending" and decision not in (None, old.status):
            conflicts.append(f"complaint {row.complaint_id} is {decision} in the dataset but "
                             f"{old.status} in the ledger")
            continue
        if old is None:  # to be filed: whose listing it is, as `file_complaint` asks
            holder = confirmed.get(row.listing_id, named.get(row.listing_id))
        elif old.status == "pending" and decision == "upheld":  # as `decide` asks
            holder = confirmed.get(row.listing_id)
        else:
            holder = None
        if holder is not None and holder != row.seller_id:
            conflicts.append(f"complaint {row.complaint_id} names seller {row.seller_id!r}, "
                             f"but the ledger holds listing {row.listing_id!r} as a listing "
                             f"of seller {holder!r}")
            continue
        if old is None:
            actions.append(_ImportAction(filed_at, 0, row.complaint_id, filing))
            if decision != "rejected" and row.listing_id not in owners:
                named.setdefault(row.listing_id, row.seller_id)
        if decision is not None and (old is None or old.status == "pending"):
            actions.append(_ImportAction(_timestamp(row.resolved_at), 1, row.complaint_id,
                                         filing, decision))
        elif old is not None:
            unchanged += 1
    actions.sort(key=lambda a: (a.at, a.order, a.filing_id))
    return actions, conflicts, unchanged


def _timestamp(value: pd.Timestamp) -> datetime:
    return pd.Timestamp(value).floor("us").to_pydatetime()


def _filed_event(filing: ComplaintFiling, complaint_id: str, actor: str, at: datetime,
                 idempotency_key: str | None) -> Event:
    payload = {} if idempotency_key is None else {
        "idempotency_key": idempotency_key, "request_hash": filing.request_hash()}
    return Event(
        type=EventType.COMPLAINT_FILED, actor=actor, at=at, seller_id=filing.seller_id,
        brand=filing.brand, listing_id=filing.listing_id, complaint_id=complaint_id,
        reason=filing.reason, payload=payload,
    )


def _replay(conn: Connection, filing: ComplaintFiling, idempotency_key: str) -> Filed | None:
    row = conn.execute(sa.select(complaints_table).where(
        complaints_table.c.brand == filing.brand,
        complaints_table.c.idempotency_key == idempotency_key)).first()
    if row is None:
        return None
    if row.request_hash != filing.request_hash():
        raise IdempotencyConflict(
            f"idempotency key {idempotency_key!r} was already used for complaint "
            f"{row.complaint_id} with a different body")
    return Filed(ComplaintRecord.from_row(row), created=False)


def _decidable(row: sa.Row | None, complaint_id: str) -> sa.Row:
    """The complaint's row if it can be decided; otherwise the reason why not."""
    if row is None:
        raise ComplaintNotFound(f"no complaint {complaint_id!r}")
    if row.status != "pending":
        raise AlreadyDecided(f"complaint {complaint_id} was already decided: {row.status}")
    return row


def _strike_rows(conn: Connection, seller_id: str) -> list[sa.Row]:
    return list(conn.execute(sa.select(strikes_table).where(
        strikes_table.c.seller_id == seller_id).order_by(strikes_table.c.seq)))


def _freezes(conn: Connection, seller_id: str) -> list[_FreezeRow]:
    rows = conn.execute(sa.select(freezes_table).where(
        freezes_table.c.seller_id == seller_id).order_by(freezes_table.c.frozen_seq))
    return [_FreezeRow(
        FreezeRecord(r.frozen_at, r.scope, r.reason, tuple(json.loads(r.caused_by)),
                     r.lifted_at, r.lifted_by, r.lift_reason),
        r.frozen_seq, r.lifted_seq) for r in rows]


def _is_frozen(conn: Connection, seller_id: str) -> bool:
    return conn.execute(sa.select(freezes_table.c.frozen_seq).where(
        freezes_table.c.seller_id == seller_id,
        freezes_table.c.lifted_seq.is_(None))).first() is not None


def _standing(conn: Connection, seller_id: str) -> Standing:
    strikes = tuple(Strike(r.listing_id, r.brand, r.complaint_id, r.seq)
                    for r in _strike_rows(conn, seller_id))
    lifts = conn.execute(sa.select(freezes_table.c.lifted_seq).where(
        freezes_table.c.seller_id == seller_id)).scalars().all()
    frozen = any(seq is None for seq in lifts)
    return Standing(seller_id, strikes, frozen, max((s for s in lifts if s), default=0))


def _chain_problem(event: RecordedEvent, expected_seq: int, prev_hash: str) -> str | None:
    if event.seq != expected_seq:
        return f"seq {expected_seq} is missing (the next stored event is seq {event.seq})"
    if event.prev_hash != prev_hash:
        return f"seq {event.seq}: prev_hash does not match the hash of seq {event.seq - 1}"
    if chain_hash(prev_hash, event_body(event, event.seq)) != event.hash:
        return f"seq {event.seq}: the event's content does not match its hash (edited)"
    return None


def _check_owner(conn: Connection, row: sa.Row, decision: Decision) -> None:
    """Refuse to uphold a complaint whose listing the listing systems give as another
    seller's: it was filed before they did, and its strike would fall on the wrong seller."""
    if decision == "upheld" and _given_to_another(conn, row.listing_id, row.seller_id):
        raise ListingOfAnotherSeller(
            f"complaint {row.complaint_id} names seller {row.seller_id!r}, but the listing "
            f"systems give listing {row.listing_id!r} as another seller's: it cannot be "
            f"upheld; reject it, and the brand may file again against the right seller")


def _given_to_another(conn: Connection, listing_id: str, seller_id: str) -> str | None:
    """The seller the listing systems give the listing to, if another than `seller_id`."""
    owner = confirmed_seller(conn, listing_id)
    return owner if owner is not None and owner != seller_id else None


def _check_import_owner(conn: Connection, complaint_id: str, filing: ComplaintFiling,
                        decision: Decision | None) -> None:
    """`plan_import`'s check of the listing systems' record, again in the write transaction:
    they may have given the listing as another seller's since the plan was made."""
    if decision not in (None, "upheld"):
        return
    owner = _given_to_another(conn, filing.listing_id, filing.seller_id)
    if owner is not None:
        raise ImportConflict(
            f"complaint {complaint_id} names seller {filing.seller_id!r}, but the listing "
            f"systems gave listing {filing.listing_id!r} as a listing of seller {owner!r} "
            f"while the import ran: it stopped there (the batches before it stand; importing again "
            f"names what is left to refuse)")


def _check_case(conn: Connection, complaint_id: str, senior: bool, actor: str,
                moment: datetime) -> None:
    """Refuse a decision that the complaint's review case stands in the way of: escalated
    (unless `senior`), or claimed by another reviewer whose lease runs past `moment`."""
    cases, links = review_cases_table.c, review_case_complaints_table.c
    case = conn.execute(sa.select(cases.case_id, cases.tier, cases.claimed_by,
                                  cases.lease_expires_at).join_from(
        review_case_complaints_table, review_cases_table, links.case_id == cases.case_id)
        .where(links.complaint_id == complaint_id)).first()
    if case is None:
        return
    if case.tier == "senior" and not senior:
        raise EscalatedComplaint(f"complaint {complaint_id}'s review case was escalated: "
                                 "a senior reviewer decides it")
    if case.claimed_by not in (None, actor) and case.lease_expires_at > moment:
        raise ComplaintUnderReview(
            f"complaint {complaint_id}'s review case {case.case_id} is claimed by "
            f"{case.claimed_by} until {format_time(case.lease_expires_at)}: its holder "
            "decides it")


def _as_seen_by(state: SellerState, brand: str) -> SellerState:
    """What a brand may see: its own complaints and strikes, the freezes, and the takedowns
    of the listings it complained about.

    The freezes' and the freeze takedowns' own reasons name the brand whose strikes froze
    the seller and count them; a brand sees a reason in general words instead.
    """
    frozen_because = f"the seller reached the limit of {state.strikes_to_freeze} upheld strikes"
    freezes = tuple(
        replace(f, reason=frozen_because,
                caused_by=tuple(c for c in f.caused_by if c["brand"] == brand),
                lifted_by=None, lift_reason=None)
        for f in state.freezes)
    mine = {c.listing_id for c in state.complaints if c.brand == brand}
    takedowns = tuple(
        replace(t, reason=f"seller {state.seller_id} frozen: {frozen_because}")
        if t.cause == "freeze" else t
        for t in state.takedowns if t.listing_id in mine)
    return replace(
        state,
        strikes=tuple(s for s in state.strikes if s.brand == brand),
        freezes=freezes,
        complaints=tuple(c for c in state.complaints if c.brand == brand),
        takedowns=takedowns,
    )


def complaints_frame(rows: Sequence[sa.Row]) -> pd.DataFrame:
    """Rows of (complaint_id, ..., resolved_at) as a contract-typed complaints table."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(COMPLAINT_COLUMNS)
    data = dict(zip(COMPLAINT_COLUMNS, columns, strict=True))
    frame = pd.DataFrame({
        name: (pd.to_datetime(pd.Series(list(values), dtype=object), utc=True)
               .astype("datetime64[ns, UTC]")
               if name in ("filed_at", "resolved_at")
               else pd.Series(list(values), dtype=object).astype(str))
        for name, values in data.items()
    })
    return frame
