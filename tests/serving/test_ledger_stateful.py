"""Any sequence of filings, replays, decisions and lifts: frozen exactly at the third strike.

A hypothesis state machine drives a real SQLite ledger and keeps a plain model of the
rule beside it: the strikes a seller has (one per listing and brand), which of them
count (those after the last lift) and whether the seller is frozen. After every step
the ledger must agree with the model (takedowns included: a freeze takes down the
listings of the seller's decided complaints, each listing once, a complaint decided
while the seller is frozen takes its listing down, and a complaint alone takes nothing
down; a listing is its first complaint's seller's, and a complaint naming
it under another is refused), replays and refusals must add no event, and at the end the
hash chain and the projections must verify.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule

from serving.ledger.events import EventType
from serving.ledger.ledger import (
    AlreadyDecided,
    ComplaintFiling,
    IdempotencyConflict,
    Ledger,
    ListingOfAnotherSeller,
    NotFrozen,
)
from serving.settings import LedgerSettings, StrikeScope
from tests.serving.test_ledger_rules import count_events

SELLERS = ("S1", "S2")
BRANDS = ("Arvedo", "Kathea")
LISTINGS = ("L1", "L2", "L3", "L4")
STRIKES_TO_FREEZE = 3


class StrikeModel:
    """The rule, as plainly as it can be written."""

    def __init__(self, scope: StrikeScope) -> None:
        self.scope = scope
        self.struck: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.counting: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.frozen: dict[str, bool] = defaultdict(bool)
        self.freezes: Counter[str] = Counter()
        self.filed: dict[str, list[tuple[str, str]]] = defaultdict(list)  # (complaint, seller)
        self.rejected: set[str] = set()
        self.decided: dict[str, set[str]] = defaultdict(set)  # listings a reviewer has seen
        self.down: dict[str, str] = {}  # listing taken down -> the seller it went down as

    def file(self, complaint_id: str, seller: str, listing: str) -> None:
        self.filed[listing].append((complaint_id, seller))

    def owner(self, listing: str) -> str | None:
        """A listing's seller: the one it was taken down as, else the one its first
        complaint not rejected names."""
        return self.down.get(listing) or next(
            (seller for complaint_id, seller in self.filed[listing]
             if complaint_id not in self.rejected), None)

    def decide(self, seller: str, listing: str) -> None:
        self.decided[seller].add(listing)
        if self.frozen[seller]:  # seen under a frozen seller: down, as a freeze takes it
            self.down.setdefault(listing, seller)

    def uphold(self, seller: str, listing: str, brand: str) -> None:
        if (listing, brand) in self.struck[seller]:
            return
        self.struck[seller].add((listing, brand))
        self.counting[seller].add((listing, brand))
        if self.frozen[seller]:
            return
        in_scope = {lst for lst, b in self.counting[seller] if self.scope == "all" or b == brand}
        if len(in_scope) >= STRIKES_TO_FREEZE:
            self.frozen[seller] = True
            self.freezes[seller] += 1
            for seen in self.decided[seller]:
                if self.owner(seen) in (None, seller):  # not one the ledger gives another
                    self.down.setdefault(seen, seller)
            event("a seller was frozen")

    def lift(self, seller: str) -> None:
        self.frozen[seller] = False
        self.counting[seller] = set()


class LedgerMachine(RuleBasedStateMachine):
    scope: StrikeScope = "brand"
    complaints = Bundle("complaints")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="strikeout-stateful-"))
        self.ledger = Ledger.open(LedgerSettings(home=self.folder, strike_scope=self.scope))
        self.model = StrikeModel(self.scope)
        self.filed: dict[tuple[str, str], tuple[ComplaintFiling, str]] = {}
        self.status: dict[str, str] = {}
        self.about: dict[str, ComplaintFiling] = {}

    def teardown(self) -> None:
        try:
            report = self.ledger.verify()
            assert report.ok, report.problems
        finally:
            self.ledger.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    @rule(target=complaints, seller=st.sampled_from(SELLERS), listing=st.sampled_from(LISTINGS),
          brand=st.sampled_from(BRANDS), key=st.integers(0, 5), reason=st.sampled_from("ab"))
    def file(self, seller: str, listing: str, brand: str, key: int, reason: str) -> object:
        complaint_id = self.file_once(seller, listing, brand, key, reason)
        return multiple() if complaint_id is None else complaint_id

    def file_once(self, seller: str, listing: str, brand: str, key: int,
                  reason: str) -> str | None:
        """File (or replay) a complaint and check the ledger's answer against the model;
        the complaint's id, or None if it was refused."""
        filing = ComplaintFiling(listing, seller, brand, reason)
        idem = f"key-{key}"
        before = count_events(self.ledger)
        earlier = self.filed.get((brand, idem))
        if earlier is not None and earlier[0] != filing:
            with pytest.raises(IdempotencyConflict):
                self.ledger.file_complaint(filing, actor="brand", idempotency_key=idem)
            assert count_events(self.ledger) == before
            return earlier[1]
        owner = self.model.owner(listing)
        if earlier is None and owner not in (None, seller):
            with pytest.raises(ListingOfAnotherSeller):
                self.ledger.file_complaint(filing, actor="brand", idempotency_key=idem)
            assert count_events(self.ledger) == before
            event("a complaint naming another seller's listing was refused")
            return None
        filed = self.ledger.file_complaint(filing, actor="brand", idempotency_key=idem)
        if earlier is not None:
            assert not filed.created and filed.complaint.complaint_id == earlier[1]
            assert count_events(self.ledger) == before
        else:
            assert filed.created
            self.filed[(brand, idem)] = (filing, filed.complaint.complaint_id)
            self.status[filed.complaint.complaint_id] = "pending"
            self.about[filed.complaint.complaint_id] = filing
            self.model.file(filed.complaint.complaint_id, seller, listing)
        return filed.complaint.complaint_id

    @rule(target=complaints, seller=st.sampled_from(SELLERS),
          listing=st.sampled_from(LISTINGS), brand=st.sampled_from(BRANDS),
          key=st.integers(0, 40))
    def file_and_uphold(self, seller: str, listing: str, brand: str, key: int) -> object:
        """The path to a strike as one step, so that runs reach three strikes often."""
        complaint_id = self.file_once(seller, listing, brand, key, "a")
        if complaint_id is None:
            return multiple()
        self.decide_once(complaint_id, "upheld")
        return complaint_id

    @rule(complaint_id=complaints, decision=st.sampled_from(["upheld", "upheld", "rejected"]))
    def decide(self, complaint_id: str, decision: str) -> None:
        self.decide_once(complaint_id, decision)

    def decide_once(self, complaint_id: str, decision: str) -> None:
        before = count_events(self.ledger)
        if self.status[complaint_id] != "pending":
            with pytest.raises(AlreadyDecided):
                self.ledger.decide(complaint_id, decision, actor="reviewer")  # type: ignore[arg-type]
            assert count_events(self.ledger) == before
            return
        self.ledger.decide(complaint_id, decision, actor="reviewer")  # type: ignore[arg-type]
        self.status[complaint_id] = decision
        filing = self.about[complaint_id]
        self.model.decide(filing.seller_id, filing.listing_id)
        if decision == "upheld":
            self.model.uphold(filing.seller_id, filing.listing_id, filing.brand)
        else:
            self.model.rejected.add(complaint_id)

    @rule(seller=st.sampled_from(SELLERS))
    def unfreeze(self, seller: str) -> None:
        if not self.model.frozen[seller]:
            before = count_events(self.ledger)
            with pytest.raises(NotFrozen):
                self.ledger.unfreeze(seller, reason="appeal", actor="admin")
            assert count_events(self.ledger) == before
            return
        self.ledger.unfreeze(seller, reason="appeal", actor="admin")
        self.model.lift(seller)
        event("a freeze was lifted")

    @invariant()
    def ledger_agrees_with_the_model(self) -> None:
        for seller in SELLERS:
            state = self.ledger.seller(seller)
            assert state.frozen == self.model.frozen[seller], seller
            assert state.strikes_by_brand == dict(Counter(b for _, b in self.model.struck[seller]))
            assert count_events(self.ledger, EventType.SELLER_FROZEN, seller) == \
                self.model.freezes[seller]
        assert self.ledger.frozen_sellers(SELLERS) == {
            s for s in SELLERS if self.model.frozen[s]}
        downs = [t.listing_id for t in self.ledger.takedowns(limit=1000)]
        assert len(downs) == len(set(downs)) and set(downs) == set(self.model.down)


class AllBrandsMachine(LedgerMachine):
    scope: StrikeScope = "all"


RUN = settings(max_examples=15, stateful_step_count=35, deadline=None,
               suppress_health_check=[HealthCheck.too_slow])

TestBrandScope = LedgerMachine.TestCase
TestBrandScope.settings = RUN
TestBrandScope = pytest.mark.slow(TestBrandScope)
TestAllScope = AllBrandsMachine.TestCase
TestAllScope.settings = RUN
TestAllScope = pytest.mark.slow(TestAllScope)
