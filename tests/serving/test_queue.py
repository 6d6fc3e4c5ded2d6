"""The review queue against real ledgers: ordering, cases from scores and complaints,
leases, decisions through the ledger's rules, stats, and `ledger verify` over it all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from serving.ledger.cases import review_cases_table
from serving.ledger.events import EventType
from serving.ledger.ledger import ComplaintFiling, EscalatedComplaint, Ledger
from serving.ledger.store import MIGRATIONS_PATH, SCHEMA_VERSION_TABLE, events_table
from serving.queue import (
    AlreadyEscalated,
    CaseAlreadyDecided,
    CaseLeased,
    CaseNotFound,
    QueueFilter,
    ReviewQueue,
    SeniorOnly,
)
from serving.settings import LedgerSettings
from tests.serving.queue_data import T0, complain, hours, listing, open_queue, score


@pytest.fixture
def queue(sqlite_url: str) -> Iterator[ReviewQueue]:
    opened = open_queue(sqlite_url)
    yield opened
    opened.close()


@pytest.fixture
def any_queue(ledger_url: str) -> Iterator[ReviewQueue]:
    opened = open_queue(ledger_url)
    yield opened
    opened.close()


def order(queue: ReviewQueue, at=T0 + hours(1), **where: object) -> list[str]:
    return [c.listing_id for c in queue.available(QueueFilter(**where), at=at)]  # type: ignore[arg-type]


def event_count(queue: ReviewQueue) -> int:
    with queue.ledger.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar()
                   or 0)


# --- ordering -------------------------------------------------------------------------------

def test_high_before_review_and_more_expected_harm_first(queue: ReviewQueue) -> None:
    score(queue, "cheap-high", 0.95, "high", price=20.0)
    score(queue, "dear-review", 0.60, "review", price=5000.0, quantity=50)
    score(queue, "dear-high", 0.80, "high", price=900.0, quantity=10)
    score(queue, "bulk-review", 0.40, "review", price=30.0, quantity=1000)
    score(queue, "small-review", 0.90, "review", price=15.0)
    # harm = score x price_usd x quantity: 150k > 12k > 19 (review), 7.2k > 19 (high)
    assert order(queue) == ["dear-high", "cheap-high", "dear-review", "bulk-review",
                            "small-review"]


def test_exposure_uses_usd_prices(queue: ReviewQueue) -> None:
    score(queue, "yen", 0.5, "review", price=10_000.0, currency="JPY", usd_per_unit=0.0067)
    score(queue, "dollars", 0.5, "review", price=100.0)
    assert order(queue) == ["dollars", "yen"]  # 10,000 JPY is $67
    case = queue.available(at=T0)[1]
    assert case.harm_usd == pytest.approx(0.5 * 67.0)
    assert case.price is not None and case.price["price_usd"] == pytest.approx(67.0)


def test_waiting_lifts_a_case_so_none_starves(queue: ReviewQueue) -> None:
    score(queue, "old-review", 0.3, "review", price=10.0, at=T0)  # 0 + 0.6 points
    score(queue, "high-20h", 0.99, "high", price=2000.0, quantity=100, at=T0 + hours(20))
    # each high: 10 + log10(1 + 198,000) = 15.3 points; a day of waiting is worth 10
    assert order(queue, at=T0 + hours(20)) == ["high-20h", "old-review"]
    score(queue, "high-40h", 0.99, "high", price=2000.0, quantity=100, at=T0 + hours(40))
    assert order(queue, at=T0 + hours(40)) == ["high-20h", "old-review", "high-40h"]
    assert order(queue, at=T0 + hours(400)) == ["high-20h", "old-review", "high-40h"]


def test_the_age_boost_is_a_setting(sqlite_url: str) -> None:
    queue = open_queue(sqlite_url, review_age_boost_hours=1.0)
    try:
        score(queue, "old-review", 0.3, "review", price=10.0, at=T0)
        score(queue, "new-high", 0.99, "high", price=2000.0, at=T0 + hours(2))
        assert order(queue, at=T0 + hours(2)) == ["old-review", "new-high"]
    finally:
        queue.close()


def test_filters(queue: ReviewQueue) -> None:
    score(queue, "a-bag", 0.9, "high", seller="S1")
    score(queue, "k-case", 0.6, "review", seller="S2", brand="Kathea",
          category="phone_accessories", reference=None)
    score(queue, "a-watch", 0.5, "review", seller="S3", category="watches")
    complain(queue.ledger, "k-case", seller="S2", brand="Arvedo")  # Arvedo reports a Kathea field
    complain(queue.ledger, "never-scored", seller="S4", brand="Kathea")
    assert order(queue, band="high") == ["a-bag"]
    assert set(order(queue, brand="Kathea")) == {"k-case", "never-scored"}
    assert set(order(queue, brand="Arvedo")) == {"a-bag", "a-watch", "k-case"}
    assert order(queue, category="watches") == ["a-watch"]
    assert order(queue, seller_id="S2") == ["k-case"]
    assert set(order(queue, source="complaint")) == {"k-case", "never-scored"}
    assert set(order(queue, source="model")) == {"a-bag", "k-case", "a-watch"}
    assert order(queue, tier="senior") == []
    with pytest.raises(ValueError, match="band must be one of"):
        QueueFilter(band="medium")  # type: ignore[arg-type]


# --- cases from scores and complaints -------------------------------------------------------

def test_one_case_per_listing_updated_by_newer_scores(queue: ReviewQueue) -> None:
    first = score(queue, "L1", 0.7, "review", at=T0)
    assert score(queue, "L1", 0.9, "high", at=T0 + hours(1)) == first
    assert score(queue, "L1", 0.1, "review", at=T0 - hours(1)) == first  # older: ignored
    assert score(queue, "L1", 0.9, "high", at=T0 + hours(1)) == first  # replay: no event
    [case] = queue.available(at=T0 + hours(2))
    assert (case.case_id, case.band, case.score) == (first, "high", 0.9)
    with queue.ledger.store.read() as conn:
        types = conn.execute(sa.select(events_table.c.type).order_by(events_table.c.seq)
                             ).scalars().all()
    assert types == [EventType.CASE_OPENED, EventType.CASE_UPDATED]


def test_a_listing_scored_again_unchanged_adds_nothing_to_the_ledger(
        ledger_url: str) -> None:
    """Listing systems score a listing again on every edit; most change nothing scored.
    Both databases: the stored score must compare equal to the one computed again."""
    queue = open_queue(ledger_url)
    try:
        _scored_again_unchanged(queue)
    finally:
        queue.close()


def _scored_again_unchanged(queue: ReviewQueue) -> None:
    first = score(queue, "L1", 0.7, "review", at=T0)
    assert score(queue, "L1", 0.7, "review", at=T0 + hours(1)) == first  # the same: no event
    assert score(queue, "L1", 0.7, "review", at=T0 + hours(2), price=80.0) == first  # edited
    # told the case is open (the service reads that with the history), the score is
    # planned in a read first; told wrongly, the write plans it right all the same
    assert score(queue, "L1", 0.7, "review", at=T0 + hours(3), price=80.0,
                 open_cases={"L1"}) == first
    assert score(queue, "L1", 0.7, "review", at=T0 + hours(3.5), price=80.0) == first
    assert score(queue, "L1", 0.01, "low", at=T0 + hours(4), price=80.0,
                 open_cases={"L9"}) == first  # sinks it
    [case] = queue.available(at=T0 + hours(5))
    assert case.listing is not None and case.listing["price"] == 80.0 and case.band == "low"
    with queue.ledger.store.read() as conn:
        types = conn.execute(sa.select(events_table.c.type).order_by(events_table.c.seq)
                             ).scalars().all()
    assert types == [EventType.CASE_OPENED, EventType.CASE_UPDATED, EventType.CASE_UPDATED]
    assert queue.ledger.verify().ok


def test_low_scores_open_nothing_but_sink_an_open_case(queue: ReviewQueue) -> None:
    assert score(queue, "fine", 0.01, "low") is None
    assert queue.available(at=T0) == []
    score(queue, "edited", 0.95, "high", at=T0)
    score(queue, "other", 0.35, "review", at=T0)
    score(queue, "edited", 0.05, "low", at=T0 + hours(1))
    assert order(queue) == ["other", "edited"]


def test_a_decided_listing_is_not_queued_again(queue: ReviewQueue) -> None:
    case_id = score(queue, "L1", 0.9, "high")
    assert case_id is not None
    queue.decide(case_id, "not_counterfeit", reviewer="reviewer/r1", at=T0 + hours(1))
    assert score(queue, "L1", 0.95, "high", at=T0 + hours(2)) is None
    assert queue.available(at=T0 + hours(3)) == []
    complain(queue.ledger, "L1", at=T0 + hours(4))  # a brand reports it later: a new case
    [reopened] = queue.available(at=T0 + hours(5))
    assert reopened.case_id != case_id and reopened.band is None
    assert reopened.listing is not None and reopened.listing["title"].startswith("Arvedo")
    assert reopened.reasons == []  # the old score's reasons are not this case's
    assert queue.ledger.verify().ok


def test_a_batch_of_scores_is_one_transaction_and_keeps_the_latest(queue: ReviewQueue) -> None:
    items = [
        (listing("L1"), 0.6, "review", T0), (listing("L2"), 0.1, "low", T0),
        (listing("L1"), 0.8, "high", T0 + hours(1)), (listing("L3"), 0.9, "high", T0),
    ]
    from serving.queue import ScoredListing
    ids = queue.record_scores([ScoredListing(row, s, b, [], "m/1", at)  # type: ignore[arg-type]
                               for row, s, b, at in items])
    assert ids[0] == ids[2] and ids[1] is None and ids[3] is not None
    cases = {c.listing_id: c for c in queue.available(at=T0 + hours(2))}
    assert cases["L1"].band == "high" and cases["L1"].score == 0.8


@pytest.mark.parametrize(("change", "message"), [
    ({"price": float("nan")}, "price must be a finite number"),
    ({"quantity": 0}, "quantity must be an integer >= 1"),
    ({"quantity": 2.5}, "quantity must be an integer"),
    ({"listing_id": " "}, "listing_id must not be empty"),
    ({"created_at": "yesterday"}, "created_at is not a timestamp"),
    ({"currency": "EUR"}, "usd_per_unit is needed"),
    ({"title": "\ud800"}, "lone surrogate"),
])
def test_bad_scored_listings_are_refused_with_the_field_named(
        queue: ReviewQueue, change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        queue.record_score({**listing("L1"), **change}, 0.9, "high", [], "m/1", T0)
    assert queue.available(at=T0) == []


def test_bad_scores_are_refused(queue: ReviewQueue) -> None:
    with pytest.raises(ValueError, match="probability"):
        queue.record_score(listing("L1"), 1.5, "high", [], "m/1", T0)
    with pytest.raises(ValueError, match="band must be one of"):
        queue.record_score(listing("L1"), 0.5, "medium", [], "m/1", T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reason needs its text"):
        queue.record_score(listing("L1"), 0.5, "high", [{"signal": "x"}], "m/1", T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        queue.record_score(listing("L1"), 0.5, "high", [], "m/1", T0.replace(tzinfo=None))


def test_a_complaint_opens_a_case_or_joins_the_open_one(queue: ReviewQueue) -> None:
    scored = score(queue, "L1", 0.9, "high")
    complain(queue.ledger, "L1", brand="Arvedo")
    complain(queue.ledger, "L1", brand="Kathea")
    complain(queue.ledger, "L2", seller="S2")
    cases = {c.listing_id: c for c in queue.available(at=T0 + hours(1))}
    assert cases["L1"].case_id == scored and cases["L1"].complaint_count == 2
    assert cases["L1"].sources == ("model", "complaint")
    assert cases["L2"].sources == ("complaint",) and cases["L2"].band is None
    detail = queue.case(cases["L1"].case_id)
    assert [c.brand for c in detail.complaints] == ["Arvedo", "Kathea"]
    # a later score of a listing opened by a complaint fills the case in
    score(queue, "L2", 0.7, "review", seller="S2", at=T0 + hours(1))
    updated = queue.case(cases["L2"].case_id)
    assert updated.case.band == "review" and updated.case.listing is not None


def test_complaints_decided_outside_the_queue_close_an_unscored_case(queue: ReviewQueue) -> None:
    first = complain(queue.ledger, "L9")
    second = complain(queue.ledger, "L9")
    queue.ledger.decide(first, "upheld", actor="reviewer/x")
    assert order(queue) == ["L9"]
    queue.ledger.decide(second, "rejected", actor="reviewer/x")
    assert order(queue) == []
    [case_id] = [r for r in _case_ids(queue)]
    with pytest.raises(CaseAlreadyDecided, match="closed"):
        queue.decide(case_id, "counterfeit", reviewer="reviewer/r1")
    complain(queue.ledger, "L9", at=T0 + hours(1))  # a new complaint opens a new case
    assert order(queue, at=T0 + hours(2)) == ["L9"]
    assert queue.ledger.verify().ok


# --- leases ------------------------------------------------------------------------------

def test_two_reviewers_never_get_the_same_case(any_queue: ReviewQueue) -> None:
    queue = any_queue
    for i in range(7):
        score(queue, f"L{i}", 0.5 + i / 20, "review", price=100.0 + i)
    a = [d.case.case_id for d in queue.claim("reviewer/a", limit=3, at=T0)]
    b = [d.case.case_id for d in queue.claim("reviewer/b", limit=3, at=T0)]
    c = [d.case.case_id for d in queue.claim("reviewer/c", limit=3, at=T0)]
    assert len(a) == len(b) == 3 and len(c) == 1
    assert not set(a) & set(b) and not (set(a) | set(b)) & set(c)
    assert queue.available(at=T0) == []
    # the highest priority went first
    assert [queue.case(i).case.listing_id for i in a] == ["L6", "L5", "L4"]


def test_an_expired_lease_returns_the_case_and_a_live_one_is_kept(queue: ReviewQueue) -> None:
    case_id = score(queue, "L1", 0.9, "high")
    [claimed] = queue.claim("reviewer/a", at=T0)
    assert claimed.case.claimed_by == "reviewer/a"
    assert claimed.case.lease_expires_at == T0 + hours(0.5)
    assert queue.claim("reviewer/b", at=T0 + hours(0.4)) == []
    with pytest.raises(CaseLeased, match="claimed by reviewer/a"):
        queue.decide(str(case_id), "counterfeit", reviewer="reviewer/b", at=T0 + hours(0.4))
    [taken] = queue.claim("reviewer/b", at=T0 + hours(0.6))  # a's lease ran out
    assert taken.case.claimed_by == "reviewer/b"
    assert queue.claim("reviewer/a", at=T0 + hours(0.6)) == []
    outcome = queue.decide(str(case_id), "counterfeit", reviewer="reviewer/b",
                           at=T0 + hours(0.7))
    assert outcome.status == "decided"


def test_claiming_again_renews_the_reviewers_own_leases_first(queue: ReviewQueue) -> None:
    for i in range(4):
        score(queue, f"L{i}", 0.5, "review", price=10.0 * (i + 1))
    first = [d.case.case_id for d in queue.claim("reviewer/a", limit=2, at=T0)]
    again = queue.claim("reviewer/a", limit=3, at=T0 + hours(0.25))
    assert [d.case.case_id for d in again][:2] == first and len(again) == 3
    assert again[0].case.lease_expires_at == T0 + hours(0.75)


def test_cases_already_held_come_back_only_when_they_match_the_claims_filter(
        queue: ReviewQueue) -> None:
    score(queue, "bag-high", 0.9, "high")
    score(queue, "bag-review", 0.5, "review", seller="S2")
    [high] = queue.claim("reviewer/a", QueueFilter(band="high"), limit=1, at=T0)
    assert high.case.listing_id == "bag-high"
    [review] = queue.claim("reviewer/a", QueueFilter(band="review"), limit=1, at=T0)
    assert review.case.listing_id == "bag-review"  # not the high case it holds
    held = queue.claim("reviewer/a", QueueFilter(seller_id="S2"), limit=2, at=T0)
    assert [d.case.listing_id for d in held] == ["bag-review"]


def test_renewing_keeps_the_reviewers_cases_and_names_those_it_lost(
        any_queue: ReviewQueue) -> None:
    queue = any_queue
    for i in range(4):
        score(queue, f"L{i}", 0.5, "review", price=10.0 * (i + 1))
    held = [d.case.case_id for d in queue.claim("reviewer/a", limit=4, at=T0)]
    queue.decide(held[3], "not_counterfeit", reviewer="reviewer/a", at=T0 + hours(0.1))
    queue.decide(held[2], "escalate", reviewer="reviewer/a", at=T0 + hours(0.1))
    [taken] = queue.claim("reviewer/b", limit=1, at=T0 + hours(0.6))  # a's leases lapsed
    assert taken.case.case_id == held[0]

    renewal = queue.renew("reviewer/a", [*held, "case_none"], at=T0 + hours(0.7))
    # the lapsed lease nobody took is still a's; the others are decided, escalated,
    # another reviewer's, or no case at all
    assert renewal.renewed == [held[1]]
    assert renewal.lost == [held[0], held[2], held[3], "case_none"]
    assert renewal.lease_expires_at == T0 + hours(1.2)
    assert queue.case(held[1], at=T0 + hours(0.8)).case.lease_expires_at == T0 + hours(1.2)
    assert queue.claim("reviewer/c", at=T0 + hours(1.0)) == []  # past a's first lease
    assert queue.case(held[0], at=T0 + hours(1.0)).case.claimed_by == "reviewer/b"
    later = [d.case.case_id for d in queue.claim("reviewer/c", at=T0 + hours(1.3))]
    assert sorted(later) == sorted(held[:2])  # both leases ran out


def test_renewing_nothing_of_ones_own_writes_nothing(queue: ReviewQueue) -> None:
    score(queue, "L1", 0.9, "high")
    [claimed] = queue.claim("reviewer/a", at=T0)
    before = event_count(queue)
    renewal = queue.renew("reviewer/b", [claimed.case.case_id], at=T0 + hours(0.1))
    assert (renewal.renewed, renewal.lease_expires_at) == ([], None)
    assert event_count(queue) == before
    with pytest.raises(ValueError, match="between 1 and 200 case ids"):
        queue.renew("reviewer/a", [], at=T0)
    with pytest.raises(ValueError, match="between 1 and 200 case ids"):
        queue.renew("reviewer/a", [f"case_{i}" for i in range(201)], at=T0)


def test_the_lease_length_is_a_setting(sqlite_url: str) -> None:
    queue = open_queue(sqlite_url, review_lease_minutes=5)
    try:
        score(queue, "L1", 0.9, "high")
        [claimed] = queue.claim("reviewer/a", at=T0)
        assert claimed.case.lease_expires_at == T0 + hours(5 / 60)
        assert len(queue.claim("reviewer/b", at=T0 + hours(6 / 60))) == 1
    finally:
        queue.close()


def test_claim_limits(queue: ReviewQueue) -> None:
    with pytest.raises(ValueError, match="limit must be between 1 and 200"):
        queue.claim("reviewer/a", limit=500)


# --- decisions ---------------------------------------------------------------------------

def test_counterfeit_upholds_the_complaints_through_the_ledger_rules(
        any_queue: ReviewQueue) -> None:
    queue = any_queue
    case_ids = []
    for i in range(3):
        case_ids.append(score(queue, f"L{i}", 0.9, "high"))
        complain(queue.ledger, f"L{i}", brand="Arvedo")
    complain(queue.ledger, "L0", brand="Kathea")
    outcomes = [queue.decide(str(c), "counterfeit", reviewer="reviewer/r1",
                             at=T0 + hours(1)) for c in case_ids]
    assert [len(o.complaints) for o in outcomes] == [2, 1, 1]
    assert all(o.listing_taken_down for o in outcomes)
    assert [o.seller_frozen for o in outcomes] == [False, False, True]
    assert [c.frozen_now for c in outcomes[2].complaints] == [True]
    state = queue.ledger.seller("S1")
    assert state.frozen and state.strikes_by_brand == {"Arvedo": 3, "Kathea": 1}
    with queue.ledger.store.read() as conn:
        downs = conn.execute(sa.select(events_table.c.listing_id).where(
            events_table.c.type == EventType.LISTING_TAKEN_DOWN)).scalars().all()
    assert sorted(downs) == ["L0", "L1", "L2"]
    assert queue.ledger.verify().ok


def test_counterfeit_verdict_on_a_listing_a_freeze_took_down(queue: ReviewQueue) -> None:
    case_id = score(queue, "L5", 0.9, "high")  # a case: the ledger knows the listing
    for i in range(3):
        queue.ledger.decide(complain(queue.ledger, f"L{i}"), "upheld", actor="reviewer/r2")
    downs = {t.listing_id: t.cause for t in queue.ledger.seller("S1").takedowns}
    assert downs == {"L0": "freeze", "L1": "freeze", "L2": "freeze", "L5": "freeze"}
    complain(queue.ledger, "L5", brand="Kathea")
    outcome = queue.decide(str(case_id), "counterfeit", reviewer="reviewer/r1")
    assert outcome.listing_taken_down and outcome.seller_frozen
    assert [c.strike_recorded for c in outcome.complaints] == [True]
    assert len(queue.ledger.seller("S1").takedowns) == 4  # L5 is not taken down twice
    assert queue.ledger.verify().ok


def test_a_frozen_sellers_new_listing_is_taken_down_as_its_case_opens(
        queue: ReviewQueue) -> None:
    for i in range(3):
        queue.ledger.decide(complain(queue.ledger, f"L{i}"), "upheld", actor="reviewer/r2")
    score(queue, "L7", 0.99, "high", at=T0 + hours(2))
    score(queue, "L7", 0.99, "high", at=T0 + hours(3))  # scored again: no second takedown
    score(queue, "L8", 0.99, "high", seller="S2")  # S2 is not frozen
    downs = {t.listing_id: t for t in queue.ledger.takedowns()}
    assert sorted(downs) == ["L0", "L1", "L2", "L7"]
    assert downs["L7"].cause == "freeze" and "seller S1, who is frozen" in downs["L7"].reason
    assert queue.ledger.verify().ok


def test_a_frozen_sellers_listing_down_already_takes_no_write_when_scored_again(
        any_queue: ReviewQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    """Listing systems score a frozen seller's listings again on every edit: once they
    are down, scoring them again changes nothing and must not queue for the write lock."""
    queue = any_queue
    for i in range(3):
        queue.ledger.decide(complain(queue.ledger, f"L{i}"), "upheld", actor="reviewer/r2")
    score(queue, "L7", 0.99, "high", at=T0 + hours(2))
    writes = []
    write = queue.ledger.store.write

    def counted(work: Any) -> Any:
        writes.append(work)
        return write(work)

    monkeypatch.setattr(queue.ledger.store, "write", counted)
    score(queue, "L7", 0.99, "high", at=T0 + hours(3), open_cases={"L7"})
    score(queue, "L1", 0.2, "low", at=T0 + hours(3))  # down with the freeze, no case
    assert writes == []
    score(queue, "L9", 0.2, "low", at=T0 + hours(3))  # a listing of the frozen seller, up
    assert len(writes) == 1
    assert sorted(t.listing_id for t in queue.ledger.takedowns()) == ["L0", "L1", "L2", "L7",
                                                                      "L9"]


def test_not_counterfeit_rejects_the_complaints(queue: ReviewQueue) -> None:
    case_id = score(queue, "L1", 0.9, "high")
    complaint = complain(queue.ledger, "L1")
    outcome = queue.decide(str(case_id), "not_counterfeit", reviewer="reviewer/r1",
                           note="genuine, invoice checked")
    assert not outcome.listing_taken_down
    assert [(c.complaint_id, c.status, c.strike_recorded) for c in outcome.complaints] == [
        (complaint, "rejected", False)]
    record = queue.ledger.complaint(complaint)
    assert record is not None and record.status == "rejected"
    assert record.note == "genuine, invoice checked"
    assert queue.ledger.seller("S1").strikes_by_brand == {}


def test_deciding_a_decided_case_is_refused_and_records_nothing(any_queue: ReviewQueue) -> None:
    queue = any_queue
    case_id = str(score(queue, "L1", 0.9, "high"))
    complain(queue.ledger, "L1")
    queue.decide(case_id, "counterfeit", reviewer="reviewer/r1")
    before = queue.ledger.verify().events
    for decision in ("counterfeit", "not_counterfeit", "escalate"):
        with pytest.raises(CaseAlreadyDecided, match="already decided: counterfeit"):
            queue.decide(case_id, decision, reviewer="reviewer/r2")  # type: ignore[arg-type]
    assert queue.ledger.verify().events == before
    assert queue.ledger.seller("S1").strikes_by_brand == {"Arvedo": 1}
    with pytest.raises(CaseNotFound):
        queue.decide("case_999", "counterfeit", reviewer="reviewer/r1")
    with pytest.raises(ValueError, match="decision must be one of"):
        queue.decide(case_id, "maybe", reviewer="reviewer/r1")  # type: ignore[arg-type]


def test_escalate_moves_a_case_to_the_senior_queue(queue: ReviewQueue) -> None:
    case_id = str(score(queue, "L1", 0.9, "high"))
    complaint = complain(queue.ledger, "L1")
    queue.claim("reviewer/a", at=T0)
    outcome = queue.decide(case_id, "escalate", reviewer="reviewer/a", note="unsure",
                           at=T0 + hours(0.1))
    assert (outcome.status, outcome.tier, outcome.complaints) == ("open", "senior", ())
    assert order(queue, at=T0 + hours(0.2)) == []
    assert order(queue, at=T0 + hours(0.2), tier="senior") == ["L1"]
    record = queue.ledger.complaint(complaint)
    assert record is not None and record.status == "pending"
    with pytest.raises(AlreadyEscalated):
        queue.decide(case_id, "escalate", reviewer="reviewer/b")
    with pytest.raises(SeniorOnly):
        queue.claim("reviewer/a", QueueFilter(tier="senior"), at=T0 + hours(0.2))
    with pytest.raises(SeniorOnly):
        queue.decide(case_id, "counterfeit", reviewer="reviewer/a", at=T0 + hours(0.2))
    [senior] = queue.claim("reviewer/senior", QueueFilter(tier="senior"), at=T0 + hours(0.2),
                           senior=True)
    assert senior.case.tier == "senior"
    assert [e.type for e in senior.history] == [
        "case_opened", "case_claimed", "case_decided", "case_claimed"]
    final = queue.decide(case_id, "counterfeit", reviewer="reviewer/senior",
                         at=T0 + hours(0.3), senior=True)
    assert final.status == "decided" and final.complaints[0].strike_recorded


def test_an_escalated_cases_complaint_is_decided_by_a_senior_reviewer_only(
        queue: ReviewQueue) -> None:
    case_id = str(score(queue, "L1", 0.9, "high"))
    complaint = complain(queue.ledger, "L1")
    queue.claim("reviewer/a", at=T0)
    queue.decide(case_id, "escalate", reviewer="reviewer/a", at=T0 + hours(0.1))
    with pytest.raises(EscalatedComplaint, match="senior"):  # not around the case either
        queue.ledger.decide(complaint, "upheld", actor="reviewer/a")
    assert queue.ledger.seller("S1").strikes == ()
    outcome = queue.ledger.decide(complaint, "upheld", actor="reviewer/senior", senior=True)
    assert outcome.strike_recorded


# --- stats and verify --------------------------------------------------------------------

def test_stats(queue: ReviewQueue) -> None:
    assert queue.stats(at=T0).open == 0 and queue.stats(at=T0).oldest_open_age_s is None
    for i, band in enumerate(["high", "high", "review", "review", "review"]):
        score(queue, f"L{i}", 0.9, band, at=T0 - hours(i))
    complain(queue.ledger, "L9", at=T0 - hours(10))
    queue.claim("reviewer/a", limit=2, at=T0)  # the two highs
    decided = queue.claim("reviewer/b", QueueFilter(band="review"), limit=1, at=T0)
    queue.decide(decided[0].case.case_id, "not_counterfeit", reviewer="reviewer/b",
                 at=T0 + hours(0.2))
    stats = queue.stats(at=T0 + hours(0.25))
    assert (stats.open, stats.claimed, stats.decided_today) == (3, 2, 1)
    assert stats.oldest_open_age_s == pytest.approx(10.25 * 3600)
    assert {k: (v.waiting, v.claimed) for k, v in stats.by_band.items()} == {
        "high": (0, 2), "review": (2, 0), "unscored": (1, 0)}
    later = queue.stats(at=T0 + hours(24))  # leases ran out; the decision was yesterday
    assert (later.open, later.claimed, later.decided_today) == (5, 0, 0)


def test_verify_rebuilds_the_case_tables_and_catches_edits(queue: ReviewQueue) -> None:
    case_id = str(score(queue, "L1", 0.9, "high"))
    complain(queue.ledger, "L1")
    complain(queue.ledger, "L2")
    queue.claim("reviewer/a", at=T0)
    queue.decide(case_id, "counterfeit", reviewer="reviewer/a", at=T0 + hours(0.1))
    assert queue.ledger.verify().ok
    with queue.ledger.store.engine.begin() as conn:
        conn.execute(review_cases_table.update().where(
            review_cases_table.c.case_id == case_id).values(decision="not_counterfeit"))
    report = queue.ledger.verify()
    assert not report.ok and "review_cases" in report.problems[0]


def test_a_ledger_from_before_the_queue_gets_its_cases_on_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = Ledger.open(LedgerSettings(ledger_url=url))
    kept = ledger.file_complaint(ComplaintFiling("L1", "S1", "Arvedo"), actor="b").complaint
    ledger.file_complaint(ComplaintFiling("L2", "S1", "Arvedo"), actor="b")
    ledger.decide(kept.complaint_id, "upheld", actor="reviewer/x")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    with ledger.store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "queue@-1")  # as if the queue had never been installed
        assert "review_cases" not in sa.inspect(conn).get_table_names()
        versions = conn.execute(sa.text(f"SELECT version_num FROM {SCHEMA_VERSION_TABLE}"))
        assert "queue_0001" not in versions.scalars().all()
    ledger.close()

    queue = open_queue(url)
    try:
        assert order(queue, at=T0) == ["L2"]  # L1's only complaint was decided: closed
        assert queue.ledger.verify().ok
    finally:
        queue.close()


def _case_ids(queue: ReviewQueue) -> list[str]:
    with queue.ledger.store.read() as conn:
        return conn.execute(sa.select(review_cases_table.c.case_id)).scalars().all()
