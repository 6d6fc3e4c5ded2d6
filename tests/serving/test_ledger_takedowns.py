"""A freeze takes down the seller's open listings: each listing once, in the same transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from features.contract import load_marketplace
from serving.history_store import HistoryStore, import_listings
from serving.ledger.events import Event, EventType
from serving.ledger.ledger import ComplaintFiling, DecisionOutcome, Ledger, ListingOfAnotherSeller
from serving.ledger.store import MIGRATIONS_PATH, events_table
from tests.serving.conftest import open_ledger
from tests.serving.queue_data import open_queue, score


def uphold(ledger: Ledger, listing: str, seller: str = "S1",
           brand: str = "Arvedo") -> DecisionOutcome:
    filed = ledger.file_complaint(ComplaintFiling(listing, seller, brand, "counterfeit"),
                                  actor=f"brand:{brand}")
    return ledger.decide(filed.complaint.complaint_id, "upheld", actor="reviewer")


def takedown_events(ledger: Ledger) -> list[tuple[str, str, dict]]:
    with ledger.store.read() as conn:
        rows = conn.execute(sa.select(events_table.c.listing_id, events_table.c.seller_id,
                                      events_table.c.payload)
                            .where(events_table.c.type == str(EventType.LISTING_TAKEN_DOWN))
                            .order_by(events_table.c.seq)).all()
    return [(r.listing_id, r.seller_id, json.loads(r.payload)) for r in rows]


def store_listing(history: HistoryStore, listing_id: str, seller: str = "S1") -> None:
    row = history.listings([seller]).iloc[[0]].assign(listing_id=listing_id)
    history.add(listings=row)


@pytest.fixture
def history(ledger: Ledger, tiny_dataset: Path) -> HistoryStore:
    store = HistoryStore(ledger.store)
    import_listings(store, load_marketplace(tiny_dataset))  # S1: L1, L2; S2: L3, L4
    return store


def test_a_freeze_takes_down_every_known_listing_of_the_seller(
        ledger: Ledger, history: HistoryStore) -> None:
    assert uphold(ledger, "L1").listings_taken_down == 0
    assert uphold(ledger, "L9").listings_taken_down == 0  # brands report listings never scored
    assert takedown_events(ledger) == []
    third = uphold(ledger, "L10")
    assert third.frozen_now and third.listings_taken_down == 4
    events = takedown_events(ledger)
    assert sorted(e[0] for e in events) == ["L1", "L10", "L2", "L9"]
    assert {e[1] for e in events} == {"S1"}  # S2's listings stay up
    assert all(e[2]["cause"] == "freeze" and e[2]["frozen_seq"] > 0 for e in events)
    state = ledger.seller("S1")
    assert [t.listing_id for t in state.takedowns] == ["L1", "L10", "L2", "L9"]
    assert all(t.cause == "freeze" and "frozen" in t.reason for t in state.takedowns)
    assert [t.listing_id for t in ledger.takedowns()] == ["L1", "L10", "L2", "L9"]
    assert ledger.seller("S2").takedowns == ()
    assert ledger.verify().ok


def test_a_listing_is_taken_down_once_across_a_lift_and_a_second_freeze(
        ledger: Ledger, history: HistoryStore) -> None:
    for listing in ("L1", "L2", "L9"):
        uphold(ledger, listing)
    first = {e[0] for e in takedown_events(ledger)}
    assert first == {"L1", "L2", "L9"}
    ledger.unfreeze("S1", reason="appeal granted", actor="admin")
    store_listing(history, "L20")
    outcomes = [uphold(ledger, listing) for listing in ("L21", "L22", "L23")]
    assert [o.frozen_now for o in outcomes] == [False, False, True]
    assert outcomes[-1].listings_taken_down == 4  # L20 to L23; the first three are down
    listings = [e[0] for e in takedown_events(ledger)]
    assert sorted(listings) == ["L1", "L2", "L20", "L21", "L22", "L23", "L9"]
    assert len(listings) == len(set(listings))
    assert ledger.verify().ok


def test_a_strike_while_frozen_takes_nothing_down_again(
        ledger: Ledger, history: HistoryStore) -> None:
    for listing in ("L1", "L2", "L9"):
        uphold(ledger, listing)
    before = len(takedown_events(ledger))
    late = uphold(ledger, "L1", brand="Kathea")  # frozen already: a strike, no second freeze
    assert late.strike_recorded and not late.frozen_now and late.listings_taken_down == 0
    assert len(takedown_events(ledger)) == before


def test_a_complaint_decided_after_the_freeze_takes_its_listing_down_as_the_freeze_would(
        ledger: Ledger, history: HistoryStore) -> None:
    for listing in ("L1", "L2", "L9"):
        uphold(ledger, listing)
    # never scored: the brand's word alone, so filing takes nothing down...
    late = ledger.file_complaint(ComplaintFiling("L70", "S1", "Kathea"), actor="brand:Kathea")
    other = ledger.file_complaint(ComplaintFiling("L71", "S1", "Kathea"), actor="brand:Kathea")
    assert sorted(t.listing_id for t in ledger.takedowns()) == ["L1", "L2", "L9"]
    # ...but a reviewer's decision puts the listing under the frozen seller, either way,
    # as it would have had the decision come before the freeze (which takes down the
    # listings of decided complaints)
    upheld = ledger.decide(late.complaint.complaint_id, "upheld", actor="reviewer")
    assert upheld.seller_frozen and not upheld.frozen_now and upheld.listings_taken_down == 1
    rejected = ledger.decide(other.complaint.complaint_id, "rejected", actor="reviewer")
    assert rejected.listings_taken_down == 1
    downs = {t.listing_id: t for t in ledger.takedowns()}
    assert sorted(downs) == ["L1", "L2", "L70", "L71", "L9"]
    assert downs["L70"].cause == "freeze" and "frozen" in downs["L70"].reason
    again = uphold(ledger, "L70", brand="Arvedo")  # down already: not twice
    assert again.listings_taken_down == 0
    assert len(takedown_events(ledger)) == 5
    assert ledger.verify().ok


def test_a_not_counterfeit_case_of_a_frozen_sellers_listing_takes_it_down_and_says_so(
        ledger: Ledger, history: HistoryStore, ledger_url: str) -> None:
    for listing in ("L1", "L2", "L9"):
        uphold(ledger, listing)
    ledger.file_complaint(ComplaintFiling("L50", "S1", "Kathea"), actor="brand:Kathea")
    queue = open_queue(ledger_url)
    try:
        [held] = [c for c in queue.claim("reviewer/a") if c.case.listing_id == "L50"]
        outcome = queue.decide(held.case.case_id, "not_counterfeit", reviewer="reviewer/a")
    finally:
        queue.close()
    assert outcome.listing_taken_down and outcome.seller_frozen
    [down] = [t for t in ledger.takedowns() if t.listing_id == "L50"]
    assert down.cause == "freeze"
    assert [e[0] for e in takedown_events(ledger)].count("L50") == 1
    with ledger.store.read() as conn:
        case_of = conn.execute(sa.select(events_table.c.case_id).where(
            events_table.c.type == str(EventType.LISTING_TAKEN_DOWN),
            events_table.c.listing_id == "L50")).scalar()
    assert case_of == held.case.case_id  # the takedown names the case that decided it
    assert ledger.verify().ok


def test_scoring_another_sellers_listing_under_a_frozen_seller_takes_nothing_down(
        ledger: Ledger, history: HistoryStore, ledger_url: str) -> None:
    for listing in ("L21", "L22", "L23"):
        uphold(ledger, listing, seller="S2")  # S2 frozen; L1 is S1's, as the store says
    before = {t.listing_id for t in ledger.takedowns()}
    queue = open_queue(ledger_url)
    try:
        score(queue, "L1", 0.2, "review", seller="S2")  # the request names the wrong seller
        score(queue, "L80", 0.2, "review", seller="S2")  # a new listing of the frozen seller
    finally:
        queue.close()
    assert {t.listing_id for t in ledger.takedowns()} - before == {"L80"}
    assert ledger.verify().ok


def test_a_complaint_takes_down_a_frozen_sellers_listing_only_if_the_listing_systems_gave_it(
        ledger: Ledger, history: HistoryStore, ledger_url: str) -> None:
    for listing in ("L1", "L2", "L9"):
        uphold(ledger, listing)
    store_listing(history, "L30")  # the listing systems' own record: S1's
    filed = ledger.file_complaint(ComplaintFiling("L30", "S1", "Kathea"), actor="brand:Kathea")
    assert filed.created
    again = ledger.file_complaint(ComplaintFiling("L30", "S1", "Arvedo"), actor="brand:Arvedo")
    assert again.created
    ledger.file_complaint(ComplaintFiling("L31", "S2", "Kathea"), actor="brand:Kathea")
    # L32 was never scored: that it is S1's is the brand's word alone, which takes nothing down
    ledger.file_complaint(ComplaintFiling("L32", "S1", "Kathea"), actor="brand:Kathea")
    downs = {t.listing_id: t for t in ledger.takedowns()}
    assert sorted(downs) == ["L1", "L2", "L30", "L9"]  # L30 once; S2 is not frozen
    assert "frozen" in downs["L30"].reason

    queue = open_queue(ledger_url)
    try:  # scored, L32 is S1's on the listing systems' word: down it goes
        score(queue, "L32", 0.99, "high")
    finally:
        queue.close()
    assert sorted(t.listing_id for t in ledger.takedowns()) == ["L1", "L2", "L30", "L32", "L9"]
    assert ledger.verify().ok


def test_a_brand_cannot_name_a_known_listing_under_another_seller(
        ledger: Ledger, history: HistoryStore) -> None:
    for listing in ("L21", "L22", "L23"):  # S2 is frozen; L1 is S1's, as the store says
        uphold(ledger, listing, seller="S2")
    before = len(ledger.takedowns())
    with pytest.raises(ListingOfAnotherSeller, match="not a listing of seller 'S2'") as refused:
        ledger.file_complaint(ComplaintFiling("L1", "S2", "Kathea"), actor="brand:Kathea")
    assert "S1" not in str(refused.value)  # the refusal does not tell who the seller is
    # nor a listing a review case or an earlier complaint put under another seller
    ledger.file_complaint(ComplaintFiling("L40", "S1", "Arvedo"), actor="brand:Arvedo")
    with pytest.raises(ListingOfAnotherSeller):
        ledger.file_complaint(ComplaintFiling("L40", "S2", "Kathea"), actor="brand:Kathea")
    assert len(ledger.takedowns()) == before  # L1 stays up: S2's freeze is not S1's
    assert all(c.listing_id != "L1" for c in ledger.seller("S2").complaints)


def test_a_rejected_complaint_no_longer_says_whose_listing_it_is(ledger: Ledger) -> None:
    """One brand's mistaken complaint, once rejected, keeps no other brand (nor itself)
    from complaining about the listing under its right seller."""
    wrong = ledger.file_complaint(ComplaintFiling("L50", "S2", "Arvedo"), actor="brand:Arvedo")
    with pytest.raises(ListingOfAnotherSeller):  # pending, it still names the seller
        ledger.file_complaint(ComplaintFiling("L50", "S1", "Kathea"), actor="brand:Kathea")
    ledger.decide(wrong.complaint.complaint_id, "rejected", actor="reviewer")
    right = ledger.file_complaint(ComplaintFiling("L50", "S1", "Kathea"), actor="brand:Kathea")
    assert right.created
    again = ledger.file_complaint(ComplaintFiling("L50", "S1", "Arvedo"), actor="brand:Arvedo")
    assert again.created
    with pytest.raises(ListingOfAnotherSeller):  # now the standing complaints name S1
        ledger.file_complaint(ComplaintFiling("L50", "S2", "Arvedo"), actor="brand:Arvedo")
    ledger.decide(right.complaint.complaint_id, "upheld", actor="reviewer")
    assert [s.listing_id for s in ledger.seller("S1").strikes] == ["L50"]
    assert ledger.verify().ok


def test_a_listing_taken_down_as_a_frozen_sellers_stays_that_sellers(ledger: Ledger) -> None:
    """A complaint decided while its seller is frozen takes the listing down in that
    seller's name, rejected too: no brand may then have it struck as another seller's."""
    for listing in ("L61", "L62", "L63"):
        uphold(ledger, listing)  # S1 frozen
    rejected = ledger.file_complaint(ComplaintFiling("L71", "S1", "Arvedo"), actor="brand:Arvedo")
    ledger.decide(rejected.complaint.complaint_id, "rejected", actor="reviewer")
    assert [(t.listing_id, t.seller_id) for t in ledger.takedowns()
            if t.listing_id == "L71"] == [("L71", "S1")]
    with pytest.raises(ListingOfAnotherSeller):
        ledger.file_complaint(ComplaintFiling("L71", "S2", "Kathea"), actor="brand:Kathea")
    assert not ledger.seller("S2").strikes
    assert ledger.verify().ok


def test_a_freeze_leaves_a_listing_a_later_complaint_gave_another_seller(
        ledger: Ledger) -> None:
    """S1's complaint about L81 was rejected, and another brand then named S2 as its
    seller: when S1 is frozen, L81 is not taken down as S1's."""
    rejected = ledger.file_complaint(ComplaintFiling("L81", "S1", "Arvedo"), actor="brand:Arvedo")
    ledger.decide(rejected.complaint.complaint_id, "rejected", actor="reviewer")
    ledger.file_complaint(ComplaintFiling("L81", "S2", "Kathea"), actor="brand:Kathea")
    mine = ledger.file_complaint(ComplaintFiling("L82", "S1", "Arvedo"), actor="brand:Arvedo")
    ledger.decide(mine.complaint.complaint_id, "rejected", actor="reviewer")
    for listing in ("L83", "L84", "L85"):
        uphold(ledger, listing)  # S1 frozen
    down = {t.listing_id: t.seller_id for t in ledger.takedowns()}
    assert "L81" not in down
    assert down["L82"] == "S1"  # its own rejected complaint's listing: seen under S1
    assert ledger.verify().ok


def test_a_complaint_filed_before_the_listing_was_known_cannot_strike_another_seller(
        ledger: Ledger, history: HistoryStore, ledger_url: str) -> None:
    early = ledger.file_complaint(ComplaintFiling("L60", "S1", "Kathea"), actor="brand:Kathea")
    store_listing(history, "L60", seller="S2")  # then the listing systems: it is S2's
    with pytest.raises(ListingOfAnotherSeller, match="cannot be upheld"):
        ledger.decide(early.complaint.complaint_id, "upheld", actor="reviewer")
    assert ledger.seller("S1").strikes == () and ledger.seller("S2").strikes == ()
    queue = open_queue(ledger_url)
    try:  # nor through its review case
        [held] = queue.claim("reviewer/a")
        with pytest.raises(ListingOfAnotherSeller):
            queue.decide(held.case.case_id, "counterfeit", reviewer="reviewer/a")
        assert ledger.seller("S1").strikes == ()
        rejected = ledger.decide(early.complaint.complaint_id, "rejected",
                                 actor="reviewer/a")  # the case's holder, who may
        assert not rejected.strike_recorded
    finally:
        queue.close()
    assert ledger.verify().ok


def test_a_freeze_leaves_up_what_pending_complaints_alone_name_or_the_store_gives_another(
        ledger: Ledger, history: HistoryStore) -> None:
    ledger.file_complaint(ComplaintFiling("L50", "S1", "Kathea"), actor="brand:Kathea")
    uphold(ledger, "L51")  # reviewed under S1, then stored as S2's by the listing systems
    store_listing(history, "L51", seller="S2")
    uphold(ledger, "L1")
    third = uphold(ledger, "L2")
    assert third.frozen_now
    assert sorted(t.listing_id for t in ledger.takedowns()) == ["L1", "L2"]


def test_all_brands_scope_takes_down_as_well(sqlite_url: str, tiny_dataset: Path) -> None:
    ledger = open_ledger(sqlite_url, strike_scope="all")
    import_listings(HistoryStore(ledger.store), load_marketplace(tiny_dataset))
    uphold(ledger, "L1", brand="Arvedo")
    uphold(ledger, "L2", brand="Kathea")
    third = uphold(ledger, "L33", seller="S1", brand="Lumen")
    assert third.frozen_now and third.listings_taken_down == 3  # L1, L2, L33
    ledger.close()


def test_verify_finds_a_listing_taken_down_twice(ledger: Ledger) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    down = Event(type=EventType.LISTING_TAKEN_DOWN, actor="tamperer", at=at, seller_id="S1",
                 listing_id="L1", reason="again", payload={"cause": "review"})
    ledger.store.write(lambda tx: (tx.append(down), tx.append(down)))
    report = ledger.verify()
    assert not report.ok and "L1 taken down twice" in report.problems[0]


def test_a_brand_sees_the_takedowns_of_its_own_complaints(
        ledger: Ledger, history: HistoryStore) -> None:
    uphold(ledger, "L5", brand="Kathea")
    for listing in ("L1", "L2", "L9"):
        uphold(ledger, listing)
    assert [t.listing_id for t in ledger.seller("S1", brand="Kathea").takedowns] == ["L5"]
    assert {t.listing_id for t in ledger.seller("S1", brand="Arvedo").takedowns} == {
        "L1", "L2", "L9"}
    assert len(ledger.seller("S1").takedowns) == 4
    seen = ledger.seller("S1", brand="Kathea").takedowns[0]  # taken down by Arvedo's strikes
    assert "Arvedo" in ledger.seller("S1").takedowns[0].reason
    assert seen.cause == "freeze" and "frozen" in seen.reason and "Arvedo" not in seen.reason


def test_a_ledger_from_before_takedowns_gets_them_on_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    queue = open_queue(url)
    case_id = str(score(queue, "L1", 0.9, "high"))
    queue.decide(case_id, "counterfeit", reviewer="reviewer/a")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    with queue.ledger.store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "takedowns@-1")  # as if takedowns had never been installed
        assert "ledger_takedowns" not in sa.inspect(conn).get_table_names()
    queue.close()

    ledger = open_ledger(url)
    try:
        assert [(t.listing_id, t.cause) for t in ledger.seller("S1").takedowns] == [
            ("L1", "review")]
        assert ledger.verify().ok
    finally:
        ledger.close()
