"""Review cases as the ledger's events imply them: the review queue's projection.

A case is one listing waiting for a reviewer. It opens with a `case_opened` event (the
model flagged the listing) or with the `complaint_filed` event of a complaint about a
listing that has no open case (a brand reported it; if an earlier case holds the listing
as last scored, the new case shows it too, without the old reasons); a later complaint
about the same listing joins its open case. `case_updated` carries a newer score,
`case_claimed` a reviewer's lease, `case_decided` a decision. A case whose complaints were
all decided outside the queue (`POST /complaints/{id}/decision`, `ledger import`) and
that the model never flagged closes by itself. Nothing but this projection writes these tables, so
`ledger verify` rebuilds and checks them like the ledger's own.

Case ids come from the seq of the opening event (`case_<seq>`): replaying the events
gives every case the same id again.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from serving.ledger.events import EventType, RecordedEvent, canonical_json
from serving.ledger.store import UtcDateTime, metadata

# The priority of a case is `points + BAND_STEP * waited_hours / review_age_boost_hours`;
# `points` depends only on the case's events, so it is stored, and the age term is added
# when the queue is read (serving/queue.py).
BAND_STEP = 10.0
BAND_POINTS = {"high": BAND_STEP, "review": 0.0, "low": -BAND_STEP}
HARM_POINTS_CAP = 9.0  # log10 of $1e9 expected harm: below BAND_STEP, so bands stay apart
UNSCORED_POINTS = 4.0  # a brand's complaint about a listing never scored: like $10k of harm

CASE_STATUSES = ("open", "decided", "closed")
TIERS = ("standard", "senior")
FINAL_DECISIONS = ("counterfeit", "not_counterfeit")
CASE_DECISIONS = (*FINAL_DECISIONS, "escalate")
SNAPSHOT_KEYS = ("listing", "seller", "price", "reasons")  # what a score stores with its case


def _id(name: str, **kw: Any) -> sa.Column:
    return sa.Column(name, sa.String(200), **kw)


review_cases_table = sa.Table(
    "review_cases",
    metadata,
    _id("case_id", primary_key=True),
    _id("listing_id", nullable=False),
    _id("seller_id", nullable=False),
    _id("brand"),
    _id("category"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("band", sa.String(16)),
    sa.Column("score", sa.Float()),
    sa.Column("harm_usd", sa.Float()),
    sa.Column("points", sa.Float(), nullable=False),
    sa.Column("scored", sa.Boolean(), nullable=False),
    sa.Column("complaint_count", sa.Integer(), nullable=False),
    sa.Column("pending_count", sa.Integer(), nullable=False),
    sa.Column("opened_at", UtcDateTime(), nullable=False),
    sa.Column("opened_epoch_s", sa.Float(), nullable=False),
    sa.Column("opened_seq", sa.BigInteger(), nullable=False),
    sa.Column("scored_at", UtcDateTime()),
    _id("model_version"),
    sa.Column("snapshot", sa.Text()),
    _id("claimed_by"),
    sa.Column("lease_expires_at", UtcDateTime()),
    sa.Column("decision", sa.String(20)),
    _id("decided_by"),
    sa.Column("decided_at", UtcDateTime()),
    sa.Column("note", sa.Text()),
    sa.Column("updated_seq", sa.BigInteger(), nullable=False),
    sa.Index("ix_review_cases_queue", "status", "tier"),
    sa.Index("ix_review_cases_listing", "listing_id", "status"),
    sa.Index("ix_review_cases_seller", "seller_id"),
)

review_case_complaints_table = sa.Table(
    "review_case_complaints",
    metadata,
    _id("complaint_id", primary_key=True),
    _id("case_id", nullable=False),
    sa.Index("ix_review_case_complaints_case", "case_id"),
)


def case_points(band: str | None, score: float | None, harm_usd: float | None) -> float:
    """The age-free part of a case's priority (see the module docs of serving/queue.py)."""
    if band is None or score is None or harm_usd is None:
        return UNSCORED_POINTS
    harm = min(max(math.log10(1.0 + max(harm_usd, 0.0)), 0.0), HARM_POINTS_CAP)
    return BAND_POINTS[band] + harm


def case_id_at(seq: int) -> str:
    return f"case_{seq}"


class CaseProjection:
    """One row per review case, plus which complaints each case carries.

    It runs inside every ledger write (and over every event on `verify` and imports), so
    its statements are built once and executed with parameters: building SQLAlchemy
    statements per event cost more than running them.
    """

    tables = (review_cases_table, review_case_complaints_table)

    def apply(self, conn: Connection, event: RecordedEvent) -> None:
        match event.type:
            case EventType.CASE_OPENED:
                conn.execute(_INSERT_CASE, _new_case(
                    event, status="open", tier="standard", complaint_count=0, pending_count=0,
                    **_score_columns(event)))
            case EventType.CASE_UPDATED:
                _update(conn, event, **_score_columns(event))
            case EventType.CASE_CLAIMED:
                _update(conn, event, claimed_by=event.actor,
                        lease_expires_at=_time(event.payload["lease_expires_at"]))
            case EventType.CASE_DECIDED:
                if event.payload["decision"] == "escalate":
                    _update(conn, event, tier="senior", claimed_by=None, lease_expires_at=None)
                else:
                    _update(conn, event, status="decided", decision=event.payload["decision"],
                            decided_by=event.actor, decided_at=event.at, note=event.reason,
                            claimed_by=None, lease_expires_at=None)
            case EventType.COMPLAINT_FILED:
                self._complaint_filed(conn, event)
            case EventType.COMPLAINT_DECIDED:
                self._complaint_decided(conn, event)

    def _complaint_filed(self, conn: Connection, event: RecordedEvent) -> None:
        case_id = conn.execute(_OPEN_CASE_OF_LISTING, {"listing": event.listing_id}).scalar()
        if case_id is None:
            case_id = case_id_at(event.seq)
            known = snapshot_of(conn.execute(_LAST_SNAPSHOT, {"listing": event.listing_id}
                                             ).scalar())
            conn.execute(_INSERT_CASE, _new_case(
                event, case_id=case_id, brand=event.brand, status="open", tier="standard",
                scored=False, points=case_points(None, None, None), complaint_count=1,
                pending_count=1, category=known["listing"]["category"] if known else None,
                snapshot=canonical_json({**known, "reasons": []}) if known else None))
        else:
            conn.execute(_ONE_MORE_COMPLAINT, {"key": case_id, "seq": event.seq})
        conn.execute(_LINK_COMPLAINT, {"complaint_id": event.complaint_id, "case_id": case_id})

    def _complaint_decided(self, conn: Connection, event: RecordedEvent) -> None:
        """Count the decision; close an open, never-scored case once nothing is pending."""
        case = conn.execute(_CASE_OF_COMPLAINT, {"complaint": event.complaint_id}).first()
        if case is None:
            return
        pending = case.pending_count - 1
        closes = case.status == "open" and not case.scored and pending == 0
        values: dict[str, Any] = {"status": "closed", "claimed_by": None,
                                  "lease_expires_at": None} if closes else {}
        conn.execute(_UPDATE_CASE, {"key": case.case_id, "pending_count": pending,
                                    "updated_seq": event.seq, **values})


_cases, _links = review_cases_table.c, review_case_complaints_table.c
_INSERT_CASE = review_cases_table.insert()
_UPDATE_CASE = review_cases_table.update().where(_cases.case_id == sa.bindparam("key"))
_ONE_MORE_COMPLAINT = _UPDATE_CASE.values(
    complaint_count=_cases.complaint_count + 1, pending_count=_cases.pending_count + 1,
    updated_seq=sa.bindparam("seq"))
_LINK_COMPLAINT = review_case_complaints_table.insert()
_OPEN_CASE_OF_LISTING = sa.select(_cases.case_id).where(
    _cases.listing_id == sa.bindparam("listing"), _cases.status == "open")
_LAST_SNAPSHOT = (  # the listing as last scored, from an earlier (decided) case
    sa.select(_cases.snapshot)
    .where(_cases.listing_id == sa.bindparam("listing"), _cases.snapshot.is_not(None))
    .order_by(_cases.updated_seq.desc()).limit(1))
_CASE_OF_COMPLAINT = (
    sa.select(_cases.case_id, _cases.status, _cases.scored, _cases.pending_count)
    .join(review_case_complaints_table, _links.case_id == _cases.case_id)
    .where(_links.complaint_id == sa.bindparam("complaint")))
_CASE_COLUMNS = tuple(c.name for c in review_cases_table.columns)


def _update(conn: Connection, event: RecordedEvent, **values: Any) -> None:
    conn.execute(_UPDATE_CASE, {"key": event.case_id, "updated_seq": event.seq, **values})


def _new_case(event: RecordedEvent, **values: Any) -> dict[str, Any]:
    """Every column of a new case row (one compiled INSERT for all of them)."""
    row = dict.fromkeys(_CASE_COLUMNS)
    row.update(case_id=event.case_id, listing_id=event.listing_id, seller_id=event.seller_id,
               opened_at=event.at, opened_epoch_s=event.at.timestamp(), opened_seq=event.seq,
               updated_seq=event.seq)
    row.update(values)
    return row


def _score_columns(event: RecordedEvent) -> dict[str, Any]:
    """The columns a score sets, from a `case_opened`/`case_updated` event's payload."""
    p = event.payload
    listing = p["listing"]
    return {
        "brand": event.brand, "category": listing.get("category"),
        "band": p["band"], "score": p["score"], "harm_usd": p["harm_usd"],
        "points": case_points(p["band"], p["score"], p["harm_usd"]), "scored": True,
        "scored_at": _time(p["scored_at"]), "model_version": p["model_version"],
        "snapshot": canonical_json({k: p[k] for k in SNAPSHOT_KEYS}),
    }


def snapshot_of(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
