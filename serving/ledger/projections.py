"""The ledger's projections: complaints, strikes, freezes, cases and takedowns, from the events.

Each projection applies one kind of event to its table inside the write transaction.
Nothing else writes these tables, so replaying the events rebuilds them exactly.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from serving.ledger.cases import CaseProjection
from serving.ledger.events import EventType, RecordedEvent, canonical_json
from serving.ledger.store import Projection, complaints_table, freezes_table, strikes_table
from serving.ledger.takedowns import TakedownProjection


class ComplaintProjection:
    """One row per complaint: who filed it, its idempotency key, and its decision."""

    tables = (complaints_table,)

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.type == EventType.COMPLAINT_FILED:
            conn.execute(complaints_table.insert().values(
                complaint_id=event.complaint_id, listing_id=event.listing_id,
                seller_id=event.seller_id, brand=event.brand, reason=event.reason,
                filed_at=event.at, filed_by=event.actor, filed_seq=event.seq,
                idempotency_key=event.payload.get("idempotency_key"),
                request_hash=event.payload.get("request_hash"), status="pending",
            ))
        elif event.type == EventType.COMPLAINT_DECIDED:
            conn.execute(
                complaints_table.update()
                .where(complaints_table.c.complaint_id == event.complaint_id)
                .values(status=event.payload["decision"], resolved_at=event.at,
                        decided_by=event.actor, note=event.reason, decided_seq=event.seq)
            )


class StrikeProjection:
    """One row per strike: a seller's listing upheld for a brand, counted once."""

    tables = (strikes_table,)

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.type == EventType.STRIKE_RECORDED:
            conn.execute(strikes_table.insert().values(
                seller_id=event.seller_id, listing_id=event.listing_id, brand=event.brand,
                complaint_id=event.complaint_id, at=event.at, seq=event.seq,
            ))


class FreezeProjection:
    """One row per freeze, with its lift once an admin lifts it."""

    tables = (freezes_table,)

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.type == EventType.SELLER_FROZEN:
            conn.execute(freezes_table.insert().values(
                frozen_seq=event.seq, seller_id=event.seller_id, frozen_at=event.at,
                scope=event.payload["scope"], reason=event.reason,
                caused_by=canonical_json(event.payload["caused_by"]),
            ))
        elif event.type == EventType.FREEZE_LIFTED:
            conn.execute(
                freezes_table.update()
                .where(freezes_table.c.seller_id == event.seller_id,
                       freezes_table.c.lifted_seq.is_(None))
                .values(lifted_seq=event.seq, lifted_at=event.at, lifted_by=event.actor,
                        lift_reason=event.reason)
            )


LEDGER_PROJECTIONS: tuple[Projection, ...] = (
    ComplaintProjection(), StrikeProjection(), FreezeProjection(), CaseProjection(),
    TakedownProjection(),
)

