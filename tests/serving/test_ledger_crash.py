"""The ledger server killed with SIGKILL in the middle of a load loses nothing it acknowledged."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from serving.keys import create_key
from serving.ledger.ledger import Ledger
from serving.settings import LedgerSettings
from tests.processes import stopped_with_parent
from tests.serving.ledger_load import LoadPlan, PlannedComplaint, make_plan
from tests.serving.test_ledger_concurrency import check_ledger

CLIENTS = 4
KILL_AFTER_ACKS = 15


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def ledger_server(home: Path, port: int, reviewer_key: str, **settings: str
                  ) -> Iterator[subprocess.Popen[bytes]]:
    """`uvicorn` serving the ledger app from `home`, ready to answer; `settings` are
    `LedgerSettings` fields (as `STRIKEOUT_*` variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEOUT_")}
    env["STRIKEOUT_HOME"] = str(home)
    env.update({f"STRIKEOUT_{name.upper()}": value for name, value in settings.items()})
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "serving.ledger_app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=stopped_with_parent(signal.SIGTERM),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                probe = httpx.get(f"http://127.0.0.1:{port}/sellers/none",
                                  headers={"Authorization": f"Bearer {reviewer_key}"}, timeout=2)
                if probe.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in 60 s")
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


class Load:
    """Clients that file and decide complaints over HTTP and record what was acknowledged."""

    def __init__(self, port: int, keys: dict[str, str]) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.keys = keys
        self.lock = threading.Lock()
        self.filed: dict[str, str] = {}  # idempotency key -> complaint id, acknowledged
        self.decided: dict[str, str] = {}  # complaint id -> decision, acknowledged
        self.unexpected: list[str] = []

    def run(self, share: list[PlannedComplaint]) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            for planned in share:
                try:
                    self.one(client, planned)
                except httpx.TransportError:
                    return  # the server is gone

    def one(self, client: httpx.Client, planned: PlannedComplaint) -> None:
        filing = planned.filing
        filed = client.post(
            "/complaints",
            json={"listing_id": filing.listing_id, "seller_id": filing.seller_id,
                  "brand": filing.brand, "reason": filing.reason},
            headers={"Authorization": f"Bearer {self.keys[filing.brand]}",
                     "Idempotency-Key": planned.key})
        if filed.status_code not in (200, 201):
            self.unexpected.append(f"file {planned.key}: {filed.status_code} {filed.text}")
            return
        complaint_id = filed.json()["complaint_id"]
        with self.lock:
            if self.filed.setdefault(planned.key, complaint_id) != complaint_id:
                self.unexpected.append(f"key {planned.key} gave two complaints")
        decided = client.post(f"/complaints/{complaint_id}/decision",
                              json={"decision": planned.decision},
                              headers={"Authorization": f"Bearer {self.keys['reviewer']}"})
        if decided.status_code == 200:
            with self.lock:
                self.decided[complaint_id] = planned.decision
        elif decided.status_code != 409:
            self.unexpected.append(f"decide {complaint_id}: {decided.status_code} {decided.text}")

    def start(self, plan: LoadPlan) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.run, args=(plan.share(w),), daemon=True)
                   for w in range(plan.workers)]
        for thread in threads:
            thread.start()
        return threads


@pytest.mark.slow
def test_sigkill_mid_load_loses_no_acknowledged_complaint(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = LedgerSettings(home=home)
    ledger = Ledger.open(settings)
    keys = {"Brand0": create_key(ledger.store, "brand", "Brand0").key,
            "Brand1": create_key(ledger.store, "brand", "Brand1").key,
            "reviewer": create_key(ledger.store, "reviewer").key}
    ledger.close()
    plan = make_plan(sellers=6, brands=2, listings=3, workers=CLIENTS, copies=2, seed=3)
    port = free_port()

    load = Load(port, keys)
    with ledger_server(home, port, keys["reviewer"]) as server:
        threads = load.start(plan)
        deadline = time.monotonic() + 60
        while len(load.filed) < KILL_AFTER_ACKS and time.monotonic() < deadline:
            time.sleep(0.005)
        server.send_signal(signal.SIGKILL)
        server.wait()
        for thread in threads:
            thread.join(timeout=30)
    acked_filed, acked_decided = dict(load.filed), dict(load.decided)
    assert not load.unexpected, load.unexpected
    assert KILL_AFTER_ACKS <= len(acked_filed) < len(plan.complaints), "not killed mid-load"

    ledger = Ledger.open(settings)
    try:
        report = ledger.verify()
        assert report.ok, report.problems
        for complaint_id, decision in acked_decided.items():
            assert ledger.complaint(complaint_id).status == decision  # type: ignore[union-attr]
    finally:
        ledger.close()

    after = Load(port, keys)
    with ledger_server(home, port, keys["reviewer"]):
        for thread in after.start(plan):  # finish the load: replays, retries, the rest
            thread.join(timeout=120)
    assert not after.unexpected, after.unexpected
    for key, complaint_id in acked_filed.items():
        assert after.filed[key] == complaint_id  # acknowledged before the kill: same complaint

    ledger = Ledger.open(settings)
    try:
        check_ledger(ledger, plan)  # none twice, exact strikes, one freeze each, verify passes
    finally:
        ledger.close()
