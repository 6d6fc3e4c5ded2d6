"""Eight processes filing and deciding the same complaints at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import time

import pytest
import sqlalchemy as sa

from serving.ledger.events import EventType
from serving.ledger.ledger import Ledger
from serving.ledger.store import complaints_table, events_table
from tests.serving.conftest import open_ledger
from tests.serving.ledger_load import LoadPlan, make_plan, run_worker

WORKERS = 8


@pytest.mark.slow
def test_eight_writers_never_lose_or_double_count(ledger_url: str) -> None:
    plan = make_plan(sellers=6, brands=2, listings=3, workers=WORKERS, copies=3, seed=3)
    assert 0 < len(plan.expected_frozen()) < 6  # some sellers freeze, some do not
    # fork: the workers share the plan without pickling and start fast; each opens its
    # own engine (and races the others to migrate the fresh database).
    context = multiprocessing.get_context("fork")
    start_at = time.time() + 2.0
    with context.Pool(WORKERS) as pool:
        results = pool.starmap(run_worker,
                               [(ledger_url, plan, w, start_at) for w in range(WORKERS)])

    errors = [e for r in results for e in r.errors]
    assert not errors, errors[0]
    planned = len(plan.complaints)
    assert sum(r.filed for r in results) == planned
    assert sum(r.replays for r in results) == planned * (plan.copies - 1)
    assert sum(r.decided for r in results) == planned
    assert sum(r.conflicts for r in results) == planned * (plan.copies - 1)

    ledger = open_ledger(ledger_url)
    try:
        check_ledger(ledger, plan)
    finally:
        ledger.close()


def check_ledger(ledger: Ledger, plan: LoadPlan) -> None:
    """Exact strikes, the right sellers frozen by exactly one freeze event, a sound chain."""
    expected = plan.expected_strikes()
    frozen = plan.expected_frozen()
    for seller, by_brand in expected.items():
        state = ledger.seller(seller)
        assert state.strikes_by_brand == {b: n for b, n in by_brand.items() if n}, seller
        assert state.frozen == (seller in frozen), seller
    with ledger.store.read() as conn:
        freezes: dict[str, int] = {
            seller: count for seller, count in conn.execute(
                sa.select(events_table.c.seller_id, sa.func.count())
                .where(events_table.c.type == str(EventType.SELLER_FROZEN))
                .group_by(events_table.c.seller_id))}
        complaints = conn.execute(sa.select(sa.func.count()).select_from(complaints_table))
        assert complaints.scalar_one() == len(plan.complaints)
    assert freezes == dict.fromkeys(frozen, 1)
    with ledger.store.read() as conn:
        downs = conn.execute(sa.select(events_table.c.seller_id, events_table.c.listing_id)
                             .where(events_table.c.type == str(EventType.LISTING_TAKEN_DOWN))
                             ).all()
    listings = {(c.filing.seller_id, c.filing.listing_id) for c in plan.complaints}
    assert len(downs) == len(set(downs))  # each listing taken down once
    assert set(downs) == {(s, li) for s, li in listings if s in frozen}  # all of theirs, no more
    report = ledger.verify()
    assert report.ok, report.problems
