"""The "strike out" rule: which events follow when a complaint is upheld.

Pure functions over a seller's `Standing`; the ledger loads the standing and appends
the events these return in the same transaction as the decision.

- A strike is one (seller, listing, brand): several upheld complaints about the same
  listing by the same brand are one strike, and a listing that was struck once is never
  struck again for that brand (not even after a freeze is lifted).
- Scope "brand": a seller is frozen when one brand's strikes reach `strikes_to_freeze`.
  Scope "all": when the strikes of all brands together do, a listing counting once
  however many brands it was upheld for.
- A freeze is permanent until an admin lifts it. While frozen, further strikes are
  recorded (history) but cause no second freeze. A lift starts the count afresh: only
  strikes recorded after the lift count towards a new freeze, because the admin who
  lifted the freeze has judged the strikes before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from serving.ledger.events import Event, EventType
from serving.settings import LedgerSettings, StrikeScope


@dataclass(frozen=True)
class StrikeRules:
    """How many strikes freeze a seller, and which strikes count together."""

    strikes_to_freeze: int
    scope: StrikeScope

    @classmethod
    def from_settings(cls, settings: LedgerSettings) -> StrikeRules:
        return cls(settings.strikes_to_freeze, settings.strike_scope)


@dataclass(frozen=True)
class Strike:
    listing_id: str
    brand: str
    complaint_id: str
    seq: int


@dataclass(frozen=True)
class Standing:
    """What the rule needs to know about one seller before a decision."""

    seller_id: str
    strikes: tuple[Strike, ...]
    frozen: bool
    counting_after_seq: int = 0

    @property
    def counting(self) -> tuple[Strike, ...]:
        """Strikes that count towards the next freeze: those after the last lift."""
        return tuple(s for s in self.strikes if s.seq > self.counting_after_seq)


@dataclass(frozen=True)
class UpheldComplaint:
    complaint_id: str
    seller_id: str
    listing_id: str
    brand: str


def in_scope(rules: StrikeRules, strikes: Iterable[Strike], brand: str) -> list[Strike]:
    """The strikes that count together with a new strike for `brand`, one per listing."""
    counted: list[Strike] = []
    listings: set[str] = set()
    for strike in strikes:
        if rules.scope == "brand" and strike.brand != brand:
            continue
        if strike.listing_id not in listings:
            listings.add(strike.listing_id)
            counted.append(strike)
    return counted


def consequences(rules: StrikeRules, standing: Standing, upheld: UpheldComplaint, *,
                 actor: str, at: datetime) -> list[Event]:
    """The strike and freeze events that an upheld complaint causes (maybe none)."""
    if any(s.listing_id == upheld.listing_id and s.brand == upheld.brand
           for s in standing.strikes):
        return []
    strike = Event(
        type=EventType.STRIKE_RECORDED, actor=actor, at=at, seller_id=upheld.seller_id,
        brand=upheld.brand, listing_id=upheld.listing_id, complaint_id=upheld.complaint_id,
        reason=f"complaint {upheld.complaint_id} upheld",
    )
    if standing.frozen:
        return [strike]
    new = Strike(upheld.listing_id, upheld.brand, upheld.complaint_id, seq=_AFTER_ALL)
    counted = in_scope(rules, (*standing.counting, new), upheld.brand)
    if len(counted) < rules.strikes_to_freeze:
        return [strike]
    whose = f"brand {upheld.brand}" if rules.scope == "brand" else "all brands"
    freeze = Event(
        type=EventType.SELLER_FROZEN, actor=actor, at=at, seller_id=upheld.seller_id,
        brand=upheld.brand if rules.scope == "brand" else None,
        complaint_id=upheld.complaint_id,
        reason=f"{len(counted)} upheld strikes from {whose} "
               f"(the limit is {rules.strikes_to_freeze})",
        payload={
            "scope": rules.scope,
            "strikes_to_freeze": rules.strikes_to_freeze,
            "caused_by": [
                {"complaint_id": s.complaint_id, "listing_id": s.listing_id, "brand": s.brand}
                for s in counted
            ],
        },
    )
    return [strike, freeze]


_AFTER_ALL = 2**63 - 1  # the new strike's seq is not known yet; it comes after every other
