"""Reviewers in several processes claim from one queue at once: no case goes to two of them,
on SQLite (immediate transactions) and on PostgreSQL (FOR UPDATE SKIP LOCKED + the chain lock)."""

from __future__ import annotations

import multiprocessing
import time
import traceback
from collections import Counter

import pytest
import sqlalchemy as sa

from serving.ledger.events import EventType
from serving.ledger.store import events_table
from tests.serving.queue_data import complain, open_queue, score

WORKERS = 4
CASES = 48
BATCH = 3


def claimer(url: str, worker: int, start_at: float) -> tuple[list[str], list[str]]:
    """Claim batches until the queue is empty; returns the case ids got, and any errors."""
    queue = open_queue(url)
    got: list[str] = []
    errors: list[str] = []
    try:
        time.sleep(max(start_at - time.time(), 0))
        while True:
            batch = queue.claim(f"reviewer/w{worker}", limit=BATCH)
            if not batch:
                return got, errors
            got.extend(d.case.case_id for d in batch)
            # decide one of each batch meanwhile, so claims race with decisions too
            queue.decide(batch[0].case.case_id, "not_counterfeit", reviewer=f"reviewer/w{worker}")
    except Exception:  # report it to the parent instead of dying silently
        errors.append(traceback.format_exc())
        return got, errors
    finally:
        queue.close()


@pytest.mark.slow
def test_concurrent_claimers_in_separate_processes_never_share_a_case(ledger_url: str) -> None:
    queue = open_queue(ledger_url)
    try:
        for i in range(CASES):
            if i % 4 == 3:
                complain(queue.ledger, f"L{i}", seller=f"S{i % 5}")
            else:
                score(queue, f"L{i}", 0.3 + (i % 7) / 10, "high" if i % 3 == 0 else "review",
                      seller=f"S{i % 5}", price=10.0 + i)
    finally:
        queue.close()

    context = multiprocessing.get_context("fork")
    start_at = time.time() + 1.5
    with context.Pool(WORKERS) as pool:
        results = pool.starmap(claimer, [(ledger_url, w, start_at) for w in range(WORKERS)])

    errors = [e for _, errs in results for e in errs]
    assert not errors, errors[0]
    # a claim hands a reviewer its own live leases again, so count reviewers per case
    reviewers = Counter(case_id for got, _ in results for case_id in set(got))
    assert len(reviewers) == CASES, "every case was claimed"
    assert max(reviewers.values()) == 1, [c for c, n in reviewers.items() if n > 1]
    assert sum(1 for got, _ in results if got) >= 2, "the claimers really ran side by side"

    queue = open_queue(ledger_url)
    try:
        with queue.ledger.store.read() as conn:
            claims = conn.execute(
                sa.select(events_table.c.case_id,
                          sa.func.count(sa.distinct(events_table.c.actor)))
                .where(events_table.c.type == str(EventType.CASE_CLAIMED))
                .group_by(events_table.c.case_id)).all()
        assert {case_id: n for case_id, n in claims} == dict.fromkeys(reviewers, 1)
        assert queue.ledger.verify().ok
    finally:
        queue.close()
