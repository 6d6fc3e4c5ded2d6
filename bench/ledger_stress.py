"""Stress the strike ledger: 8 processes filing and deciding the same complaints at once.

Every planned complaint is handled by `--copies` workers with the same idempotency key,
so the ledger sees duplicated filings and racing decisions, on a SQLite file (WAL,
synchronous=FULL) and on a throwaway PostgreSQL server (fsync on), one after the other.
The figure is decided complaints per second: complaints filed and decided, over the wall
time of the whole load. Each run is checked afterwards (exact strikes, one freeze per
frozen seller, hash chain and projections verified).

Run from the repo root: `python -m bench.ledger_stress [--sellers 60 --copies 2]`.
Writes bench/results/ledger.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from serving.ledger.events import EventType
from serving.ledger.ledger import Ledger
from serving.ledger.store import events_table
from serving.settings import LedgerSettings
from tests.postgres import ThrowawayPostgres
from tests.serving.ledger_load import LoadPlan, make_plan, run_worker

RESULTS_PATH = Path(__file__).parent / "results" / "ledger.json"


def run_load(url: str, plan: LoadPlan) -> dict[str, object]:
    """Run the plan with `plan.workers` processes against `url`; check and time it."""
    context = multiprocessing.get_context("fork")
    start_at = time.time() + 3.0  # every worker has opened the ledger by then
    with context.Pool(plan.workers) as pool:
        results = pool.starmap(run_worker, [(url, plan, w, start_at)
                                            for w in range(plan.workers)])
    wall_s = max(r.seconds for r in results)
    errors = [e for r in results for e in r.errors]
    decided = sum(r.decided for r in results)
    return {
        "complaints": len(plan.complaints),
        "decided": decided,
        "filing_replays": sum(r.replays for r in results),
        "decision_conflicts_409": sum(r.conflicts for r in results),
        "other_errors": len(errors),
        "first_error": errors[0] if errors else None,
        "wall_s": round(wall_s, 2),
        "decided_complaints_per_s": round(decided / wall_s, 1),
        "requests_per_s": round(
            sum(r.filed + r.replays + r.decided + r.conflicts for r in results) / wall_s, 1),
        "checks": check(url, plan),
    }


def check(url: str, plan: LoadPlan) -> dict[str, object]:
    ledger = Ledger.open(LedgerSettings(ledger_url=url))
    try:
        exact = all(
            ledger.seller(seller).strikes_by_brand == {b: n for b, n in by.items() if n}
            for seller, by in plan.expected_strikes().items())
        with ledger.store.read() as conn:
            freezes = Counter(conn.execute(
                sa.select(events_table.c.seller_id)
                .where(events_table.c.type == str(EventType.SELLER_FROZEN))).scalars())
            downs = conn.execute(
                sa.select(events_table.c.seller_id, events_table.c.listing_id)
                .where(events_table.c.type == str(EventType.LISTING_TAKEN_DOWN))).all()
        report = ledger.verify()
    finally:
        ledger.close()
    return {
        "exact_strike_counts": exact,
        "one_freeze_event_per_frozen_seller": freezes == Counter(plan.expected_frozen()),
        "frozen_sellers_listings_taken_down_once": len(downs) == len(set(downs)) and set(
            downs) == {(c.filing.seller_id, c.filing.listing_id) for c in plan.complaints
                       if c.filing.seller_id in plan.expected_frozen()},
        "verify_ok": report.ok,
        "events": report.events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--sellers", type=int, default=60)
    parser.add_argument("--brands", type=int, default=3)
    parser.add_argument("--listings", type=int, default=4)
    parser.add_argument("--copies", type=int, default=2,
                        help="workers handling each complaint (duplicated idempotency keys)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    args = parser.parse_args()

    load_at_start = os.getloadavg()  # the machine may be shared: read figures with this
    plan = make_plan(sellers=args.sellers, brands=args.brands, listings=args.listings,
                     workers=args.workers, copies=args.copies, seed=0)
    results: dict[str, object] = {}
    for backend in args.backends:
        with tempfile.TemporaryDirectory(prefix="strikeout-bench-") as scratch:
            if backend == "sqlite":
                results[backend] = run_load(f"sqlite:///{Path(scratch) / 'ledger.sqlite'}", plan)
            else:
                with ThrowawayPostgres(durable=True) as server:
                    results[backend] = run_load(server.create_database("bench"), plan)
        print(backend, json.dumps(results[backend], indent=1))

    payload = {
        "what": "decided complaints per second: 8 processes filing and deciding the same "
                "complaints (duplicated idempotency keys), durable commits",
        "command": "python -m bench.ledger_stress " + " ".join(
            f"--{k} {v}" for k, v in (("workers", args.workers), ("sellers", args.sellers),
                                      ("brands", args.brands), ("listings", args.listings),
                                      ("copies", args.copies))),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "load_average_at_start": [round(x, 2) for x in load_at_start]},
        "sqlite": "WAL, synchronous=FULL, file in the system temp folder (ext4)",
        "postgres": "PostgreSQL 15 throwaway server, unix socket, fsync=on, synchronous_commit=on",
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
