"""Whose listing is it: the seller of a listing, as the ledger's database first learnt it.

A complaint names a listing and a seller, and it is the brand that names them. The
ledger holds one seller per listing, so that a brand cannot get a strike recorded
against a seller who does not own the listing, or a listing taken down in another
seller's name:

1. the listing systems' own record (the history store: listings scored or imported);
2. else the seller in whose name the ledger took the listing down (takedowns are final);
3. else the seller of the listing's first scored review case;
4. else the seller named by the listing's first complaint not rejected.

A rejected complaint names no one: one brand's mistaken complaint must not keep every
other brand from complaining about the listing under its right seller. But a listing
taken down as a frozen seller's (a decided complaint does that, rejected too) stays
that seller's.

`confirmed_seller` reads the first, which is the marketplace's word: a frozen seller's
listing is taken down on a complaint only when the listing systems said it is that
seller's (an unknown listing goes down when it is scored). `named_seller` reads the
other two.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from serving.history_store import listings_table as history_listings
from serving.ledger.cases import review_cases_table
from serving.ledger.store import complaints_table

_CONFIRMED = sa.select(history_listings.c.seller_id).where(
    history_listings.c.listing_id == sa.bindparam("listing"))
# the takedowns projection's table, by name (serving/ledger/takedowns.py imports this module)
_TAKEDOWNS = sa.table("ledger_takedowns", sa.column("listing_id"), sa.column("seller_id"))
_TAKEN_DOWN_AS = sa.select(_TAKEDOWNS.c.seller_id).where(
    _TAKEDOWNS.c.listing_id == sa.bindparam("listing"))
_FIRST_SCORED_CASE = (sa.select(review_cases_table.c.seller_id)
                      .where(review_cases_table.c.listing_id == sa.bindparam("listing"),
                             review_cases_table.c.scored.is_(True))
                      .order_by(review_cases_table.c.opened_seq).limit(1))
_FIRST_STANDING_COMPLAINT = (sa.select(complaints_table.c.seller_id)
                             .where(complaints_table.c.listing_id == sa.bindparam("listing"),
                                    complaints_table.c.status != "rejected")
                             .order_by(complaints_table.c.filed_seq).limit(1))


def confirmed_seller(conn: Connection, listing_id: str) -> str | None:
    """The listing's seller as the listing systems gave it, if they did."""
    return conn.execute(_CONFIRMED, {"listing": listing_id}).scalar()


def named_seller(conn: Connection, listing_id: str) -> str | None:
    """The seller the listing was taken down as, else the one its first scored review
    case, else its first complaint not rejected, named: the listing's seller where the
    listing systems have not given one (`confirmed_seller`)."""
    for query in (_TAKEN_DOWN_AS, _FIRST_SCORED_CASE, _FIRST_STANDING_COMPLAINT):
        seller = conn.execute(query, {"listing": listing_id}).scalar()
        if seller is not None:
            return str(seller)
    return None


def confirmed_sellers(conn: Connection, listing_ids: Iterable[str]) -> dict[str, str]:
    """The sellers the listing systems gave for those of `listing_ids` they gave one."""
    ids = sorted(set(listing_ids))
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(sa.select(history_listings.c.listing_id,
                                      history_listings.c.seller_id).where(
            history_listings.c.listing_id.in_(ids[start:start + 500])))
        found.update((listing, seller) for listing, seller in rows)
    return found


def confirmed_elsewhere(conn: Connection, listing_ids: Iterable[str], seller_id: str
                        ) -> set[str]:
    """Which of `listing_ids` the listing systems gave as another seller's."""
    ids = sorted(set(listing_ids))
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        found.update(conn.execute(sa.select(history_listings.c.listing_id).where(
            history_listings.c.listing_id.in_(ids[start:start + 500]),
            history_listings.c.seller_id != seller_id)).scalars())
    return found
