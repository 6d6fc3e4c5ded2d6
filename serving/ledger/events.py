"""Ledger events and the hash chain that makes tampering with them detectable.

Every fact the ledger knows is one `Event`. Once appended it becomes a
`RecordedEvent` with a gap-free `seq` and `hash = sha256(prev_hash + canonical JSON)`,
so editing, removing or reordering any past event breaks every later hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS_HASH = "0" * 64
MAX_ID_CHARS = 200
MAX_TEXT_CHARS = 4000


class EventType(StrEnum):
    """Every kind of event the ledger records; the review queue (issue 7) uses the `CASE_*` ones."""

    COMPLAINT_FILED = "complaint_filed"
    COMPLAINT_DECIDED = "complaint_decided"
    STRIKE_RECORDED = "strike_recorded"
    SELLER_FROZEN = "seller_frozen"
    FREEZE_LIFTED = "freeze_lifted"
    LISTING_TAKEN_DOWN = "listing_taken_down"
    CASE_OPENED = "case_opened"
    CASE_UPDATED = "case_updated"
    CASE_CLAIMED = "case_claimed"
    CASE_DECIDED = "case_decided"


@dataclass(frozen=True, kw_only=True)
class Event:
    """One fact, with who caused it, when, and why. `payload` holds type-specific details."""

    type: EventType
    actor: str
    at: datetime
    seller_id: str | None = None
    brand: str | None = None
    listing_id: str | None = None
    complaint_id: str | None = None
    case_id: str | None = None
    reason: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError(f"event time must be timezone-aware, got {self.at!r}")
        for name in ("actor", "seller_id", "brand", "listing_id", "complaint_id", "case_id"):
            value = getattr(self, name)
            if value is not None:
                check_text(value, name, MAX_ID_CHARS)
        if self.reason is not None:
            check_text(self.reason, "reason", MAX_TEXT_CHARS)


@dataclass(frozen=True, kw_only=True)
class RecordedEvent(Event):
    """An event at its place in the chain."""

    seq: int
    prev_hash: str
    hash: str


def check_text(value: str, name: str, max_chars: int) -> str:
    """Refuse text that no database stores faithfully (NUL, lone surrogates) or that is too long."""
    if len(value) > max_chars:
        raise ValueError(f"{name} is longer than {max_chars} characters")
    if "\x00" in value:
        raise ValueError(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name} is not valid Unicode text (lone surrogate)") from exc
    return value


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; naive timestamps are refused rather than guessed."""
    if moment.tzinfo is None:
        raise ValueError(f"timestamp must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """The one text form of a timestamp used in hashes."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def event_body(event: Event, seq: int) -> str:
    """The canonical JSON of an event at position `seq` (everything but the hashes)."""
    return canonical_json(
        {
            "seq": seq,
            "type": str(event.type),
            "actor": event.actor,
            "at": format_time(event.at),
            "seller_id": event.seller_id,
            "brand": event.brand,
            "listing_id": event.listing_id,
            "complaint_id": event.complaint_id,
            "case_id": event.case_id,
            "reason": event.reason,
            "payload": dict(event.payload),
        }
    )


def chain_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def seal(event: Event, seq: int, prev_hash: str) -> RecordedEvent:
    """Place `event` after the event whose hash is `prev_hash`."""
    digest = chain_hash(prev_hash, event_body(event, seq))
    fields = {name: getattr(event, name) for name in Event.__dataclass_fields__}
    fields["at"] = utc(event.at)
    fields["payload"] = json.loads(canonical_json(dict(event.payload)))
    return RecordedEvent(**fields, seq=seq, prev_hash=prev_hash, hash=digest)
