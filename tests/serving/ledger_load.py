"""A concurrent load on the ledger: many processes file and decide the same complaints.

Shared by the concurrency test and `bench/ledger_stress.py`. Every planned complaint
has one idempotency key and one decision; each is handled by several workers at once,
so the ledger sees duplicated keys and racing decisions. The only refusals the rules
allow are `AlreadyDecided` (409) for the racers who lose a decision.
"""

from __future__ import annotations

import random
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field

from serving.ledger.ledger import AlreadyDecided, ComplaintFiling, Ledger
from serving.settings import LedgerSettings


@dataclass(frozen=True)
class PlannedComplaint:
    key: str
    filing: ComplaintFiling
    decision: str


@dataclass(frozen=True)
class LoadPlan:
    complaints: tuple[PlannedComplaint, ...]
    workers: int
    copies: int

    def expected_strikes(self) -> dict[str, dict[str, int]]:
        """Strikes by seller and brand: distinct listings with an upheld complaint."""
        struck: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for c in self.complaints:
            if c.decision == "upheld":
                struck[c.filing.seller_id][c.filing.brand].add(c.filing.listing_id)
        return {s: {b: len(ls) for b, ls in by.items()} for s, by in struck.items()}

    def expected_frozen(self, strikes_to_freeze: int = 3) -> set[str]:
        return {s for s, by in self.expected_strikes().items()
                if max(by.values()) >= strikes_to_freeze}

    def share(self, worker: int) -> list[PlannedComplaint]:
        """The complaints `worker` handles, in its own order: each one `copies` workers get."""
        mine = [c for i, c in enumerate(self.complaints)
                if (worker - i) % self.workers < self.copies]
        random.Random(worker).shuffle(mine)
        return mine


def make_plan(*, sellers: int, brands: int, listings: int, workers: int = 8, copies: int = 3,
              seed: int = 0) -> LoadPlan:
    """Per seller and brand, `listings` listings; some get two complaints, some are rejected."""
    rng = random.Random(seed)
    complaints = []
    for s in range(sellers):
        for b in range(brands):
            for lst in range(listings):
                for repeat in range(1 + (rng.random() < 0.3)):
                    decision = "rejected" if rng.random() < 0.2 else "upheld"
                    complaints.append(PlannedComplaint(
                        key=f"k-{s}-{b}-{lst}-{repeat}",
                        filing=ComplaintFiling(f"L-{s}-{lst}", f"S{s}", f"Brand{b}",
                                               f"report {repeat}"),
                        decision=decision))
    return LoadPlan(tuple(complaints), workers, copies)


@dataclass
class WorkerResult:
    worker: int
    filed: int = 0
    replays: int = 0
    decided: int = 0
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_worker(url: str, plan: LoadPlan, worker: int, start_at: float) -> WorkerResult:
    """Open the ledger (racing the others to migrate it), wait for the start, then load."""
    result = WorkerResult(worker)
    try:
        ledger = Ledger.open(LedgerSettings(ledger_url=url))
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the test
        result.errors.append(traceback.format_exc())
        return result
    time.sleep(max(0.0, start_at - time.time()))
    began = time.perf_counter()
    try:
        for planned in plan.share(worker):
            try:
                filed = ledger.file_complaint(planned.filing, actor=f"brand/{worker}",
                                              idempotency_key=planned.key)
                result.filed += filed.created
                result.replays += not filed.created
                ledger.decide(filed.complaint.complaint_id, planned.decision,  # type: ignore[arg-type]
                              actor=f"reviewer/{worker}")
                result.decided += 1
            except AlreadyDecided:
                result.conflicts += 1
            except Exception:  # noqa: BLE001 - any other error is a failure to report
                result.errors.append(traceback.format_exc())
    finally:
        result.seconds = time.perf_counter() - began
        ledger.close()
    return result
