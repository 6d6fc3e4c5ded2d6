"""Tampering with the ledger's history is refused by the database and caught by `verify`."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from serving.ledger.ledger import Ledger
from tests.serving.test_ledger_rules import file_and_decide


def history(ledger: Ledger) -> None:
    for i in range(3):
        file_and_decide(ledger, "S1", f"L{i}", "Arvedo")  # 3 x (filed, decided, strike) + freeze


def drop_append_only_guard(ledger: Ledger) -> None:
    """What someone with write access to the database could do first."""
    with ledger.store.engine.begin() as conn:
        if ledger.store.is_postgres:
            conn.execute(sa.text("ALTER TABLE ledger_events DISABLE TRIGGER USER"))
        else:
            conn.execute(sa.text("DROP TRIGGER ledger_events_no_update"))
            conn.execute(sa.text("DROP TRIGGER ledger_events_no_delete"))


def test_the_database_refuses_updates_and_deletes_of_events(ledger: Ledger) -> None:
    history(ledger)
    for statement in ("UPDATE ledger_events SET reason = 'x' WHERE seq = 2",
                      "DELETE FROM ledger_events WHERE seq = 10"):
        with pytest.raises(DBAPIError, match="append-only"), ledger.store.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert ledger.verify().ok


def test_an_edited_event_is_named_by_its_seq(ledger: Ledger) -> None:
    history(ledger)
    drop_append_only_guard(ledger)
    with ledger.store.engine.begin() as conn:
        conn.execute(sa.text(
            "UPDATE ledger_events SET payload = '{\"decision\":\"rejected\"}' WHERE seq = 5"))
    report = ledger.verify()
    assert not report.ok and report.broken_seq == 5 and report.events == 4
    assert "seq 5" in report.problems[0] and "edited" in report.problems[0]


def test_a_removed_event_is_named_by_its_seq(ledger: Ledger) -> None:
    history(ledger)
    drop_append_only_guard(ledger)
    with ledger.store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM ledger_events WHERE seq = 7"))
    report = ledger.verify()
    assert report.broken_seq == 7 and "seq 7 is missing" in report.problems[0]


def test_a_rehashed_edit_breaks_the_next_link(ledger: Ledger) -> None:
    """Recomputing the edited event's own hash does not help: the next event points back."""
    history(ledger)
    drop_append_only_guard(ledger)
    with ledger.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE ledger_events SET hash = :h WHERE seq = 3"), {"h": "f" * 64})
    report = ledger.verify()
    assert report.broken_seq == 3
    with ledger.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE ledger_events SET prev_hash = :h WHERE seq = 4"),
                     {"h": "f" * 64})
    assert ledger.verify().broken_seq == 3


def test_an_edited_projection_is_caught(ledger: Ledger) -> None:
    history(ledger)
    with ledger.store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM ledger_freezes"))
        conn.execute(sa.text("UPDATE ledger_complaints SET status = 'rejected' "
                             "WHERE listing_id = 'L0'"))
    report = ledger.verify()
    assert report.broken_seq is None and not report.ok
    assert any(p.startswith("ledger_complaints") for p in report.problems)
    assert any(p.startswith("ledger_freezes") and "missing" in p for p in report.problems)
