"""Taking listings down: what a counterfeit verdict or a seller's freeze does to listings.

A listing is taken down at most once; `ledger_takedowns` is the projection of the
`listing_taken_down` events that says which are down, when and why. A reviewer's
counterfeit verdict takes its listing down (`take_down`). A freeze takes down, in the
same transaction, every listing of the seller that the ledger's database knows and that
is still up (`take_down_seller`): the listings the service scored or imported (the
history store, scored review cases) and the listings of the seller's decided complaints.
A listing of a frozen seller that the ledger learns of later is taken down as it arrives:
when it is scored (the review queue), or when a brand complains about a listing that the
listing systems gave as that seller's (`take_down_if_frozen`), or when a reviewer
decides a complaint about it (`take_down_frozen`). A brand's word alone takes nothing
down (`serving.ledger.owners`). Listing systems read takedowns in order, by event
sequence, from `GET /takedowns` (`takedowns_after`).

Lifting a freeze puts nothing back up: relisting is the seller's own, new, listing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from serving.history_store import listings_table as history_listings
from serving.ledger.cases import review_cases_table
from serving.ledger.events import Event, EventType, RecordedEvent
from serving.ledger.owners import confirmed_sellers, named_seller
from serving.ledger.store import (
    UtcDateTime,
    WriteTx,
    complaints_table,
    freezes_table,
    metadata,
)

Cause = Literal["review", "freeze"]

takedowns_table = sa.Table(
    "ledger_takedowns",
    metadata,
    sa.Column("listing_id", sa.String(200), primary_key=True),
    sa.Column("seller_id", sa.String(200), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False, unique=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("cause", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Index("ix_ledger_takedowns_seller", "seller_id"),
)


@dataclass(frozen=True)
class Takedown:
    seq: int
    listing_id: str
    seller_id: str
    at: datetime
    cause: Cause
    reason: str

    @classmethod
    def from_row(cls, row: sa.Row) -> Takedown:
        return cls(row.seq, row.listing_id, row.seller_id, row.at, row.cause, row.reason)


class TakedownProjection:
    """One row per listing taken down; the first takedown event of a listing is the one."""

    tables = (takedowns_table,)

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.type != EventType.LISTING_TAKEN_DOWN or is_down(conn, str(event.listing_id)):
            return
        conn.execute(_INSERT_TAKEDOWN, {
            "listing_id": event.listing_id, "seller_id": event.seller_id, "seq": event.seq,
            "at": event.at, "actor": event.actor, "cause": event.payload.get("cause", "review"),
            "reason": event.reason})


def is_down(conn: Connection, listing_id: str) -> bool:
    return conn.execute(_TAKEDOWN_OF, {"listing": listing_id}).first() is not None


# built once: these run inside ledger writes, once per event
_INSERT_TAKEDOWN = takedowns_table.insert()
_TAKEDOWN_OF = sa.select(takedowns_table.c.seq).where(
    takedowns_table.c.listing_id == sa.bindparam("listing"))
# and these on every scoring pass
_FROZEN_AMONG = sa.select(freezes_table.c.seller_id).where(
    freezes_table.c.seller_id.in_(sa.bindparam("ids", expanding=True)),
    freezes_table.c.lifted_seq.is_(None))
_DOWN_AMONG = sa.select(takedowns_table.c.listing_id).where(
    takedowns_table.c.listing_id.in_(sa.bindparam("ids", expanding=True)))


def take_down(tx: WriteTx, *, listing_id: str, seller_id: str, actor: str, at: datetime,
              reason: str, cause: Cause, case_id: str | None = None, brand: str | None = None,
              frozen_seq: int | None = None) -> bool:
    """Take one listing down unless it is down already; True if this call took it down."""
    if is_down(tx.conn, listing_id):
        return False
    payload: dict[str, object] = {"cause": cause}
    if frozen_seq is not None:
        payload["frozen_seq"] = frozen_seq
    tx.append(Event(type=EventType.LISTING_TAKEN_DOWN, actor=actor, at=at, seller_id=seller_id,
                    listing_id=listing_id, case_id=case_id, brand=brand, reason=reason,
                    payload=payload))
    return True


def take_down_seller(tx: WriteTx, freeze: RecordedEvent) -> int:
    """Take down every listing of the frozen seller that is still up; how many were.

    The seller's listings are those the listing systems gave as the seller's (the history
    store, scored review cases) and those a reviewer has seen under the seller (decided
    complaints): a pending complaint names a listing on the brand's word alone.
    """
    seller_id = str(freeze.seller_id)
    known = set(tx.conn.execute(sa.select(history_listings.c.listing_id).where(
        history_listings.c.seller_id == seller_id)).scalars())
    cases, complaints = review_cases_table.c, complaints_table.c
    known.update(tx.conn.execute(sa.select(cases.listing_id).where(
        cases.seller_id == seller_id, cases.scored.is_(True))).scalars())
    reviewed = set(tx.conn.execute(sa.select(complaints.listing_id).where(
        complaints.seller_id == seller_id, complaints.status != "pending")).scalars())
    confirmed = confirmed_sellers(tx.conn, reviewed)
    # not a listing the ledger gives another seller: the listing systems did, or (this
    # seller's complaint rejected) a later complaint named another
    known.update(listing for listing in reviewed if confirmed.get(listing) == seller_id or (
        listing not in confirmed and named_seller(tx.conn, listing) in (None, seller_id)))
    down = set(tx.conn.execute(sa.select(takedowns_table.c.listing_id).where(
        takedowns_table.c.seller_id == seller_id)).scalars())
    reason = f"seller {seller_id} frozen: {freeze.reason}"
    for listing_id in sorted(known - down):
        take_down(tx, listing_id=listing_id, seller_id=seller_id, actor=freeze.actor,
                  at=freeze.at, reason=reason, cause="freeze", frozen_seq=freeze.seq)
    return len(known - down)


def take_down_if_frozen(tx: WriteTx, *, listing_id: str, seller_id: str, actor: str,
                        at: datetime, case_id: str | None = None,
                        brand: str | None = None) -> bool:
    """Take a listing down if its seller is frozen (and it is not down yet)."""
    if not frozen_among(tx.conn, [seller_id]):
        return False
    return take_down_frozen(tx, listing_id=listing_id, seller_id=seller_id, actor=actor,
                            at=at, case_id=case_id, brand=brand)


def take_down_frozen(tx: WriteTx, *, listing_id: str, seller_id: str, actor: str,
                     at: datetime, case_id: str | None = None, brand: str | None = None) -> bool:
    """Take down a listing of a seller known to be frozen (unless it is down already)."""
    return take_down(tx, listing_id=listing_id, seller_id=seller_id, actor=actor, at=at,
                     reason=f"listing of seller {seller_id}, who is frozen", cause="freeze",
                     case_id=case_id, brand=brand)


def frozen_among(conn: Connection, seller_ids: Iterable[str]) -> set[str]:
    """Which of `seller_ids` are frozen now."""
    return _among(conn, _FROZEN_AMONG, seller_ids)


def down_among(conn: Connection, listing_ids: Iterable[str]) -> set[str]:
    """Which of `listing_ids` are taken down."""
    return _among(conn, _DOWN_AMONG, listing_ids)


def _among(conn: Connection, query: sa.Select, ids: Iterable[str]) -> set[str]:
    """The ids `query` (with an expanding `ids` parameter) finds among `ids`, asked 500
    at a time."""
    asked = sorted(set(ids))
    found: set[str] = set()
    for start in range(0, len(asked), 500):
        found.update(conn.execute(query, {"ids": asked[start:start + 500]}).scalars())
    return found


def seller_takedowns(conn: Connection, seller_id: str) -> list[Takedown]:
    rows = conn.execute(sa.select(takedowns_table).where(
        takedowns_table.c.seller_id == seller_id).order_by(takedowns_table.c.seq))
    return [Takedown.from_row(r) for r in rows]


def takedowns_after(conn: Connection, after_seq: int, limit: int) -> list[Takedown]:
    """Takedowns recorded after event `after_seq`, oldest first: the listing systems' feed."""
    rows = conn.execute(sa.select(takedowns_table).where(takedowns_table.c.seq > after_seq)
                        .order_by(takedowns_table.c.seq).limit(limit))
    return [Takedown.from_row(r) for r in rows]
