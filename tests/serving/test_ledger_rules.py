"""The strike rule through the ledger: strikes, freezes, lifts, idempotency, double decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from serving.ledger.events import EventType
from serving.ledger.ledger import (
    AlreadyDecided,
    ComplaintFiling,
    ComplaintNotFound,
    DecisionOutcome,
    IdempotencyConflict,
    Ledger,
    NotFrozen,
)
from serving.ledger.rules import Standing, Strike, StrikeRules, UpheldComplaint, consequences
from serving.ledger.store import events_table
from tests.serving.conftest import open_ledger


def file_and_decide(ledger: Ledger, seller: str, listing: str, brand: str,
                    decision: str = "upheld") -> DecisionOutcome:
    filed = ledger.file_complaint(ComplaintFiling(listing, seller, brand, "counterfeit"),
                                  actor=f"brand:{brand}")
    return ledger.decide(filed.complaint.complaint_id, decision, actor="reviewer")  # type: ignore[arg-type]


def count_events(ledger: Ledger, kind: EventType | None = None, seller: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(events_table)
    if kind is not None:
        query = query.where(events_table.c.type == str(kind))
    if seller is not None:
        query = query.where(events_table.c.seller_id == seller)
    with ledger.store.read() as conn:
        return int(conn.execute(query).scalar_one())


def test_third_strike_from_one_brand_freezes_and_records_its_causes(ledger: Ledger) -> None:
    outcomes = [file_and_decide(ledger, "S1", f"never-scored-{i}", "Arvedo") for i in range(3)]
    assert [o.strike_recorded for o in outcomes] == [True, True, True]
    assert [o.frozen_now for o in outcomes] == [False, False, True]
    state = ledger.seller("S1")
    assert state.frozen and state.strikes_by_brand == {"Arvedo": 3}
    freeze = state.current_freeze
    assert freeze is not None and freeze.scope == "brand"
    assert sorted(c["complaint_id"] for c in freeze.caused_by) == sorted(
        o.complaint.complaint_id for o in outcomes)
    assert count_events(ledger, EventType.SELLER_FROZEN, "S1") == 1
    assert ledger.frozen_sellers(["S1", "S2"]) == {"S1"}
    assert ledger.verify().ok


def test_complaints_about_one_listing_are_one_strike(ledger: Ledger) -> None:
    outcomes = [file_and_decide(ledger, "S1", "L1", "Arvedo") for _ in range(4)]
    assert [o.strike_recorded for o in outcomes] == [True, False, False, False]
    state = ledger.seller("S1")
    assert not state.frozen and state.strikes_by_brand == {"Arvedo": 1}
    assert len(state.complaints) == 4


def test_rejected_complaints_are_no_strike(ledger: Ledger) -> None:
    for i in range(3):
        assert not file_and_decide(ledger, "S1", f"L{i}", "Arvedo", "rejected").strike_recorded
    assert ledger.seller("S1").strikes_by_brand == {}
    assert count_events(ledger, EventType.STRIKE_RECORDED) == 0


def test_brand_scope_counts_each_brand_apart_and_all_scope_together(ledger_url: str) -> None:
    by_brand, together = open_ledger(ledger_url), open_ledger(ledger_url, strike_scope="all")
    try:
        for i, brand in enumerate(["Arvedo", "Arvedo", "Kathea"]):
            file_and_decide(by_brand, "S1", f"L{i}", brand)
            file_and_decide(together, "S2", f"M{i}", brand)  # one database: other listings
        assert not by_brand.seller("S1").frozen
        frozen = together.seller("S2")
        assert frozen.frozen and frozen.current_freeze is not None
        assert {c["brand"] for c in frozen.current_freeze.caused_by} == {"Arvedo", "Kathea"}
    finally:
        by_brand.close()
        together.close()


def test_all_scope_counts_a_listing_upheld_for_two_brands_once(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url, strike_scope="all")
    try:
        file_and_decide(ledger, "S1", "L1", "Arvedo")
        file_and_decide(ledger, "S1", "L1", "Kathea")
        file_and_decide(ledger, "S1", "L2", "Kathea")
        state = ledger.seller("S1")
        assert state.strikes_by_brand == {"Arvedo": 1, "Kathea": 2} and not state.frozen
        assert file_and_decide(ledger, "S1", "L3", "Arvedo").frozen_now
    finally:
        ledger.close()


def test_strikes_to_freeze_is_a_setting(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url, strikes_to_freeze=2)
    try:
        assert not file_and_decide(ledger, "S1", "L1", "Arvedo").frozen_now
        assert file_and_decide(ledger, "S1", "L2", "Arvedo").frozen_now
    finally:
        ledger.close()


def test_deciding_twice_is_a_conflict_and_never_a_second_strike(ledger: Ledger) -> None:
    filed = ledger.file_complaint(ComplaintFiling("L1", "S1", "Arvedo", "fake"), actor="b")
    ledger.decide(filed.complaint.complaint_id, "upheld", actor="r")
    before = count_events(ledger)
    for decision in ("upheld", "rejected"):
        with pytest.raises(AlreadyDecided):
            ledger.decide(filed.complaint.complaint_id, decision, actor="r2")  # type: ignore[arg-type]
    assert count_events(ledger) == before
    assert ledger.seller("S1").strikes_by_brand == {"Arvedo": 1}
    with pytest.raises(ComplaintNotFound):
        ledger.decide("no-such-complaint", "upheld", actor="r")


def test_a_frozen_seller_is_frozen_once_and_a_lift_restarts_the_count(ledger: Ledger) -> None:
    for i in range(5):  # strikes 4 and 5 come while frozen: recorded, no second freeze
        file_and_decide(ledger, "S1", f"L{i}", "Arvedo")
    assert count_events(ledger, EventType.SELLER_FROZEN) == 1
    assert ledger.seller("S1").strikes_by_brand == {"Arvedo": 5}

    lifted = ledger.unfreeze("S1", reason="appeal granted", actor="admin")
    assert lifted.lift_reason == "appeal granted" and lifted.lifted_at is not None
    state = ledger.seller("S1")
    assert not state.frozen and state.counting_by_brand == {}
    with pytest.raises(NotFrozen):
        ledger.unfreeze("S1", reason="again", actor="admin")

    assert not file_and_decide(ledger, "S1", "L5", "Arvedo").frozen_now
    assert not file_and_decide(ledger, "S1", "L0", "Arvedo").strike_recorded  # struck before
    assert not file_and_decide(ledger, "S1", "L6", "Arvedo").frozen_now
    assert file_and_decide(ledger, "S1", "L7", "Arvedo").frozen_now
    state = ledger.seller("S1")
    assert [f.lifted_at is None for f in state.freezes] == [False, True]
    assert state.current_freeze is not None
    assert {c["listing_id"] for c in state.current_freeze.caused_by} == {"L5", "L6", "L7"}
    assert count_events(ledger, EventType.SELLER_FROZEN) == 2
    assert ledger.verify().ok


def test_unfreezing_needs_a_reason(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="reason"):
        ledger.unfreeze("S1", reason="  ", actor="admin")


def test_idempotency_key_same_body_same_complaint_other_body_conflict(ledger: Ledger) -> None:
    filing = ComplaintFiling("L1", "S1", "Arvedo", "fake")
    first = ledger.file_complaint(filing, actor="b", idempotency_key="k1")
    again = ledger.file_complaint(filing, actor="b", idempotency_key="k1")
    assert first.created and not again.created
    assert again.complaint.complaint_id == first.complaint.complaint_id
    before = count_events(ledger)
    with pytest.raises(IdempotencyConflict):
        ledger.file_complaint(ComplaintFiling("L2", "S1", "Arvedo", "fake"), actor="b",
                              idempotency_key="k1")
    assert count_events(ledger) == before
    other_brand = ledger.file_complaint(ComplaintFiling("L1", "S1", "Kathea", "fake"),
                                        actor="b", idempotency_key="k1")
    assert other_brand.created


def test_bad_filings_are_refused_with_the_field_named(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="listing_id"):
        ComplaintFiling(" ", "S1", "Arvedo")
    with pytest.raises(ValueError, match="NUL"):
        ComplaintFiling("L1", "S1", "Arvedo", "a\x00b")
    with pytest.raises(ValueError, match="decision"):
        ledger.decide("x", "maybe", actor="r")  # type: ignore[arg-type]


def test_a_brand_sees_only_its_own_part_of_a_seller(ledger: Ledger) -> None:
    for i, brand in enumerate(["Arvedo", "Kathea", "Kathea", "Kathea"]):
        file_and_decide(ledger, "S1", f"L{i}", brand)
    seen = ledger.seller("S1", brand="Arvedo")
    assert seen.frozen  # the consequence is public, the other brand's complaints are not
    assert {c.brand for c in seen.complaints} == {"Arvedo"}
    assert seen.strikes_by_brand == {"Arvedo": 1}
    assert seen.current_freeze is not None and seen.current_freeze.caused_by == ()
    assert "Kathea" in ledger.seller("S1").current_freeze.reason  # type: ignore[union-attr]
    assert "Kathea" not in seen.current_freeze.reason  # nor does its reason name them
    assert "3 upheld strikes" in seen.current_freeze.reason  # the limit, not their count


def test_decision_time_is_never_before_filing(ledger: Ledger) -> None:
    filed = ledger.file_complaint(ComplaintFiling("L1", "S1", "Arvedo"), actor="b",
                                  at=datetime(2026, 3, 2, tzinfo=UTC))
    outcome = ledger.decide(filed.complaint.complaint_id, "rejected", actor="r",
                            at=datetime(2026, 3, 1, tzinfo=UTC))
    assert outcome.complaint.resolved_at == datetime(2026, 3, 2, tzinfo=UTC)


def test_consequences_of_an_upheld_complaint() -> None:
    rules = StrikeRules(strikes_to_freeze=3, scope="brand")
    standing = Standing("S1", (Strike("L1", "A", "c1", 1), Strike("L2", "A", "c2", 5)),
                        frozen=False)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    again = consequences(rules, standing, UpheldComplaint("c3", "S1", "L1", "A"), actor="r", at=at)
    assert again == []
    third = consequences(rules, standing, UpheldComplaint("c4", "S1", "L3", "A"), actor="r", at=at)
    assert [e.type for e in third] == [EventType.STRIKE_RECORDED, EventType.SELLER_FROZEN]
    assert [c["complaint_id"] for c in third[1].payload["caused_by"]] == ["c1", "c2", "c4"]
    lifted = Standing("S1", standing.strikes, frozen=False, counting_after_seq=5)
    after_lift = consequences(rules, lifted, UpheldComplaint("c5", "S1", "L3", "A"), actor="r",
                              at=at)
    assert [e.type for e in after_lift] == [EventType.STRIKE_RECORDED]
