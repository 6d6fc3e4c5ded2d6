"""Time the scoring service: one listing in-process, then /score over loopback, beside a baseline.

1. In-process: later listings one at a time as the service's scoring thread takes them
   (checked request models -> `listing_arrays` -> `OnlineScorer.score_columns`: history
   lookup, features, model, band, storing the listing, the review feed), with a split of
   the time, the issue's measure (lookup, features, model, band) by the size of the
   seller's stored history, the same without reasons for every other listing, a control
   (fixed work timed between listings: the machine's own spread of times), and a
   pyinstrument profile (bench/results/service_profile.txt).
2. Over HTTP on loopback, `strikeout serve` (BentoML, `--workers`): 32 concurrent clients
   sending one listing per request, cycling through 2,000 listings (so most are listings
   scored again, as listing systems do on every edit); the same with a new listing id in
   every request (listings never seen, with the content of those 2,000); then 8 clients
   sending 100 listings per request, cycling through 4,000.
3. The same loads against a minimal FastAPI app (uvicorn, same worker count) that loads
   the same MLflow model and calls its pyfunc `predict` once per request.
4. The same loads and bodies against a bare BentoML `/score` that does no scoring
   (bench/bare_bento.py, `bentoml serve`, same worker count, access log off): the
   ceiling the HTTP stack alone reaches on this machine.

The three servers run side by side and take each load in turn, `--rounds` times over, so
that the machine's slow and fast spells fall on all of them alike.

The load generator is a small keep-alive HTTP/1.1 client in its own process; on a 2-core
machine it competes with the server for CPU, as any client on the same box would. It
reconnects when a response says `Connection: close` (strikeout's service does every 5 s
per connection) and reports the connections it opened.

Run from the repo root: `python -m bench.service [--listings 30000 --seconds 20]`
(`--home DIR` reuses a home where this benchmark already trained a model;
`--skip-in-process` runs only the HTTP part).
Writes bench/results/service.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from bench.machine import machine_info
from features.contract import load_marketplace

RESULTS_PATH = Path(__file__).parent / "results" / "service.json"
PROFILE_PATH = Path(__file__).parent / "results" / "service_profile.txt"
REPO = Path(__file__).resolve().parents[1]
MODEL_NAME = "strikeout-listing-risk"
CUT_QUANTILE = 0.8


# --- set-up ------------------------------------------------------------------------------------

def prepare_home(home: Path, n_listings: int) -> dict[str, Any]:
    """Synthesize, train and promote a model under `home` (skipped when already there)."""
    from mlflow.tracking import MlflowClient

    from features.contract import save_marketplace
    from features.synthetic import SynthConfig, generate_marketplace
    from training.config import TrainingConfig
    from training.tracking import connect
    from training.train import train

    os.environ["STRIKEOUT_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    data_path = home / "data"
    connect()
    client = MlflowClient()
    if data_path.is_dir():
        version = client.get_model_version_by_alias(MODEL_NAME, "champion")
        return {"data_path": str(data_path), "version": version.version, "trained_s": None}
    save_marketplace(generate_marketplace(SynthConfig(n_listings=n_listings, seed=3)), data_path)
    started = time.perf_counter()
    result = train(data_path, TrainingConfig())
    client.set_registered_model_alias(MODEL_NAME, "champion", result.model_version)
    return {"data_path": str(data_path), "version": result.model_version,
            "trained_s": round(time.perf_counter() - started, 1)}


def service_home(home: Path | None, name: str) -> tuple[Path, dict[str, Any]]:
    """For a benchmark on this one's model: its home (`home`, where `bench.service`
    trained the model, reused; else a new one, trained here) and `prepare_home`'s setup."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    home = home or Path(tempfile.mkdtemp(prefix=f"strikeout-bench-{name}-"))
    home.mkdir(parents=True, exist_ok=True)
    return home, prepare_home(home, 30_000)


def home_of_service_model(description: str, name: str) -> tuple[Path, dict[str, Any], Any]:
    """`service_home` of the command line's `--home`, and the champion model as the
    service loads it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--home", type=Path, default=None,
                        help="a home where bench.service trained its model (reused)")
    home, setup = service_home(parser.parse_args().home, name)

    from serving.batch import load_scorer
    from training.tracking import connect

    connect()
    return home, setup, load_scorer(f"models:/{MODEL_NAME}@champion")


def prepare_ledger(home: Path, data_path: Path) -> tuple[str, str, pd.DataFrame]:
    """A fresh ledger with all complaints and the history before the cut; a scorer key."""
    from features.contract import Marketplace
    from serving.history_store import HistoryStore, import_listings
    from serving.keys import create_key
    from serving.ledger.ledger import Ledger
    from serving.settings import ServingSettings

    market = load_marketplace(data_path)
    cut = market.listings["created_at"].quantile(CUT_QUANTILE)
    url = f"sqlite:///{home / f'bench-ledger-{time.time_ns()}.sqlite'}"
    ledger = Ledger.open(ServingSettings(ledger_url=url))
    try:
        ledger.import_history(data_path)
        early = market.listings[market.listings["created_at"] < cut]
        import_listings(HistoryStore(ledger.store), Marketplace(
            early, market.sellers, market.complaints, market.brands, market.fx_rates))
        key = create_key(ledger.store, "scorer").key
    finally:
        ledger.close()
    later = market.listings[market.listings["created_at"] >= cut].drop(columns=["label"])
    return url, key, later.sort_values(["created_at", "listing_id"]).reset_index(drop=True)


def remove_ledger(url: str) -> None:
    """Delete a throwaway ledger of `prepare_ledger` (tens of MB each) with its WAL files."""
    path = Path(url.removeprefix("sqlite:///"))
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)


def percentiles(values_s: list[float]) -> dict[str, float]:
    ms = np.asarray(values_s) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "mean_ms": round(float(ms.mean()), 2), "n": len(ms)}


# --- 1. in-process -------------------------------------------------------------------------

def fixed_work() -> int:
    """The same pure-Python work on every call (1-2 ms, as one listing): a control."""
    total = 0
    for i in range(30_000):
        total += i * i
    return total


class ScoringWorker(NamedTuple):
    """What one worker of the service holds to score: the ledger, the model, its ring state
    and the scorer (its caches warmed for `warmed` sellers)."""

    ledger: Any
    model: Any
    ring: Any
    scorer: Any
    warmed: int


def scoring_worker(ledger_url: str, model: Any = None,
                   warm_sellers: int | None = None) -> ScoringWorker:
    """A scorer over `ledger_url` and `model` (the champion loaded anew when None), as
    each service worker sets it up when it loads a model: caches warmed for the most
    recently active sellers (`STRIKEOUT_WARM_SELLERS` unless `warm_sellers` is given),
    then the garbage collector's objects so far frozen."""
    import gc

    from serving.batch import load_scorer
    from serving.history_store import HistoryStore
    from serving.ledger.ledger import Ledger
    from serving.online import OnlineScorer, ReviewFeed, RingState
    from serving.queue import ReviewQueue
    from serving.settings import ServingSettings
    from training.tracking import connect

    connect()
    settings = ServingSettings(ledger_url=ledger_url)
    ledger = Ledger.open(settings)
    history = HistoryStore(ledger.store)
    model = model or load_scorer(f"models:/{MODEL_NAME}@champion")
    ring = RingState(model, history, ledger, settings.ring_refresh_s)
    scorer = OnlineScorer(model, history, ring, ReviewFeed(ReviewQueue(ledger, settings), model))
    warmed = scorer.warm_up(settings.warm_sellers if warm_sellers is None else warm_sellers)
    gc.collect()
    gc.freeze()
    return ScoringWorker(ledger, model, ring, scorer, warmed)


def in_process(ledger_url: str, later: pd.DataFrame, n: int) -> dict[str, Any]:
    """One listing at a time through OnlineScorer, split into its parts, then profiled.

    Every other listing is scored without reasons (LightGBM's contributions, which the
    service computes for flagged listings only): the issue's measure names history
    lookup, features, model and band. Both are reported.

    The scorer warms its caches first, as each worker of the service does when it loads
    a model (`STRIKEOUT_WARM_SELLERS`, the most recently active sellers).

    Between listings, `fixed_work` is timed as a control: work that never varies, so
    the spread of its times (p99 over p50) is the machine's own, in the same minutes."""
    from pyinstrument import Profiler

    from serving.scoring_api import ScoreRequest, listing_arrays

    ledger, model, ring, scorer, warmed = scoring_worker(ledger_url)
    # as the service receives them: checked request models, turned into arrays on the
    # scoring thread (`listing_arrays` is timed as part of the lookup)
    requests = [ScoreRequest.model_validate_json(body).listings
                for body in listing_bodies(later, 1, 2 * n + 100)]
    for listings in requests[:20]:  # warm-up: first calls build caches
        scorer.score_columns(*listing_arrays(listings))
    total, lookup, model_s, store_s, scored, stored_rows = [], [], [], [], [], []
    bare, flagged = [], 0  # every other listing without reasons: the measure
    bare_struck = []  # per listing of `bare`: its seller holds a strike (its text is indexed)
    control = []
    for k, listings in enumerate(requests[20:2 * n + 20]):
        explained = k % 2 == 0
        t0 = time.perf_counter()
        fixed_work()
        control.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        batch = scorer.prepare(*listing_arrays(listings))
        t1 = time.perf_counter()
        result = model.score_columns(batch.market, with_reasons=explained,
                                     ring_index=ring.index, earlier=batch.earlier)
        t2 = time.perf_counter()
        scorer.store(batch, result["events"])
        t3 = time.perf_counter()
        if not explained:
            bare.append(t2 - t0)
            bare_struck.append(listings[0].seller_id in ring.struck)
            continue
        flagged += int(result["band"][0] != "low")
        lookup.append(t1 - t0)
        model_s.append(t2 - t1)
        store_s.append(t3 - t2)
        scored.append(t2 - t0)
        total.append(t3 - t0)
        stored_rows.append(sum(len(events.created) for events in batch.earlier.events))
    full = []
    for listings in requests[2 * n + 20:2 * n + 60]:  # timed without the profiler
        t0 = time.perf_counter()
        scorer.score_columns(*listing_arrays(listings))
        full.append(time.perf_counter() - t0)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for listings in requests[2 * n + 60:2 * n + 100]:
        scorer.score_columns(*listing_arrays(listings))
    profiler.stop()
    PROFILE_PATH.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    ledger.close()
    return {
        "what": "one listing: history lookup + ring update, features + model + band, store",
        "warmed_sellers": warmed,
        "history_lookup": percentiles(lookup),
        "features_model_band": percentiles(model_s),
        "store_listing": percentiles(store_s),
        "lookup_features_model_band": percentiles(scored),
        "flagged_share": round(flagged / max(len(scored), 1), 3),
        "lookup_features_model_band_without_reasons": percentiles(bare),
        "lookup_features_model_band_by_seller_history": by_history_size(scored, stored_rows),
        "without_reasons_by_seller_struck": by_struck(bare, bare_struck),
        "lookup_features_model_store": percentiles(total),
        "control_fixed_work": {**percentiles(control), "p99_over_p50": round(
            float(np.percentile(control, 99) / np.percentile(control, 50)), 2)},
        "online_scorer_score_with_review_feed": percentiles(full),
        "profile": str(PROFILE_PATH.relative_to(REPO)),
    }


def by_struck(times_s: list[float], struck: list[bool]) -> dict[str, dict[str, Any]]:
    """`percentiles` of listings whose seller holds a strike apart from the others: a struck
    seller's new listing adds its phrases to the ring index before it is scored."""
    marks = np.asarray(struck, dtype=bool)
    return {name: percentiles(list(np.asarray(times_s)[rows]))
            for name, rows in (("struck", marks), ("not_struck", ~marks)) if rows.any()}


def by_history_size(times_s: list[float], stored_rows: list[int]) -> list[dict[str, Any]]:
    """`percentiles` of the listings grouped by how many listings their seller had stored:
    the features read the seller's whole history, so its size sets much of the cost."""
    rows = np.asarray(stored_rows)
    out = []
    for low, high in ((0, 10), (10, 100), (100, 1000), (1000, None)):
        within = (rows >= low) & (rows < high if high is not None else True)
        if within.any():
            out.append({"seller_stored_listings": f"{low}-{high - 1}" if high else f"{low}+",
                        **percentiles(list(np.asarray(times_s)[within]))})
    return out


# --- 2 and 3. over HTTP ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout_s: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout_s} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def _client(host: str, port: int, requests: list[tuple[bytes, int]], deadline: float,
                  out: list[tuple[float, int, int]], offset: int, opened: list[int]) -> None:
    """A keep-alive connection sending requests back to back until the deadline.

    When a response says `Connection: close`, the next request goes on a new connection
    (its connect time counts in that request's latency).
    """
    reader, writer = await asyncio.open_connection(host, port)
    opened[0] += 1
    i = offset
    sent = 0
    tag = f"{os.urandom(3).hex()}{offset % 100:02d}".encode()  # this client's, this load's
    assert len(tag) + 6 == len(NEW_ID)  # the body keeps its length
    try:
        while time.monotonic() < deadline:
            payload, n = requests[i % len(requests)]
            i += 1
            if NEW_ID in payload:  # a listing never sent before: a unique id, of the same width
                payload = payload.replace(NEW_ID, tag + b"%06d" % sent)
                sent += 1
            started = time.perf_counter()
            if writer.is_closing():
                reader, writer = await asyncio.open_connection(host, port)
                opened[0] += 1
            writer.write(payload)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            close = False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection":
                    close = value.strip().lower() == "close"
            await reader.readexactly(length)
            out.append((time.perf_counter() - started, int(status_line.split()[1]), n))
            if close:
                writer.close()
    finally:
        writer.close()


def _load_process(host: str, port: int, requests: list[tuple[bytes, int]], clients: int,
                  seconds: float, queue: Any) -> None:
    out: list[tuple[float, int, int]] = []
    opened = [0]

    async def main() -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(_client(host, port, requests, deadline, out,
                                       k * len(requests) // clients, opened)
                               for k in range(clients)))

    started = time.monotonic()
    asyncio.run(main())
    queue.put((out, time.monotonic() - started, opened[0]))


def process_cpu_s(process: subprocess.Popen) -> dict[int, float]:
    """CPU seconds each of the server's processes (the command and its workers) has used."""
    import psutil

    root = psutil.Process(process.pid)
    used = {}
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        used[proc.pid] = times.user + times.system
    return used


def server_cpu_s(process: subprocess.Popen) -> float:
    """CPU seconds the server's processes have used so far, all together.

    Per listing, this is the cost figure that holds on a shared machine: throughput and
    latency move with whatever else runs, CPU per listing much less.
    """
    return sum(process_cpu_s(process).values())


def run_load(port: int, path: str, bodies: list[bytes], listings_per_request: int,
             headers: dict[str, str], clients: int, seconds: float,
             method: str = "POST") -> dict[str, Any]:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    requests = [((f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                  f"application/json\r\nContent-Length: {len(b)}\r\n{head}\r\n").encode() + b,
                 listings_per_request) for b in bodies]
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    worker = context.Process(target=_load_process,
                             args=("127.0.0.1", port, requests, clients, seconds, queue))
    worker.start()
    out, wall_s, opened = queue.get()
    worker.join()
    latencies = [t for t, code, _ in out if code == 200]
    codes: dict[str, int] = {}
    for _, code, _ in out:
        codes[str(code)] = codes.get(str(code), 0) + 1
    ok_listings = sum(n for _, code, n in out if code == 200)
    return {"clients": clients, "listings_per_request": listings_per_request,
            "seconds": round(wall_s, 1), "requests": len(out), "statuses": codes,
            "connections_opened": opened,
            "requests_per_s": round(codes.get("200", 0) / wall_s, 1),
            "listings_per_s": round(ok_listings / wall_s, 1),
            **(percentiles(latencies) if latencies else {})}


NEW_ID = b"#" * 14  # ends a body's listing ids: the load generator makes it unique


def listing_bodies(later: pd.DataFrame, size: int, count: int, new_ids: bool = False
                   ) -> list[bytes]:
    """`count` request bodies of `size` listings each, cycling through `later`.

    With `new_ids`, every listing id ends in `NEW_ID`, which the load generator replaces
    with a value unique to each request sent: every request is a listing the server has
    never seen (same content as one of `later`, its own id). Without, the bodies repeat
    as the load cycles through them: listings scored again, as on edits.
    """
    rows = later.copy()
    for column in ("created_at", "registered_at"):
        if column in rows:
            rows[column] = rows[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if new_ids:
        rows["listing_id"] = rows["listing_id"] + "~" + NEW_ID.decode()
    records = rows.to_dict("records")
    return [json.dumps({"listings": [records[(i * size + j) % len(records)]
                                     for j in range(size)]}).encode() for i in range(count)]


def serve_strikeout(home: Path, ledger_url: str, port: int, workers: int
                    ) -> subprocess.Popen:
    from serving.service import serve_command
    from serving.settings import ServingSettings

    os.environ.update(STRIKEOUT_HOME=str(home), STRIKEOUT_LEDGER_URL=ledger_url)
    command, env = serve_command(ServingSettings(port=port, workers=workers))
    return subprocess.Popen(command, env=env, cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def serve_baseline(home: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "STRIKEOUT_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    command = [sys.executable, "-m", "uvicorn", "--factory", "bench.service:baseline_app",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
               "--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(command, env=env, cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def serve_bare(port: int, workers: int) -> subprocess.Popen:
    """`bentoml serve` of bench/bare_bento.py, launched the way `strikeout serve` is."""
    from bench.bare_bento import SERVICE_NAME
    from serving.service import LAUNCHER

    options = [os.environ.get("BENTOML_CONFIG_OPTIONS", ""),
               f"services.{SERVICE_NAME}.workers={workers}"]
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "True",
           "BENTOML_CONFIG_OPTIONS": " ".join(o for o in options if o)}
    command = [sys.executable, "-c", LAUNCHER, "serve", "bench.bare_bento:BareScore",
               "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(command, env=env, cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def baseline_app() -> Any:
    """The baseline: FastAPI, the same MLflow model, its pyfunc `predict` once per request."""
    import mlflow
    from fastapi import FastAPI

    from training.tracking import connect

    connect()
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
    app = FastAPI()

    @app.get("/ready")
    def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/score")
    def score(body: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        predicted = model.predict(pd.DataFrame(body["listings"]))
        return {"results": predicted.to_dict("records")}

    return app


def batch_sizes(port: int) -> tuple[float, float] | None:
    """(listings, passes) of the model so far, from the service's /metrics (None elsewhere)."""
    import httpx

    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    except httpx.HTTPError:
        return None
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith(("strikeout_batch_listings_sum",
                                  "strikeout_batch_listings_count"))}
    if len(values) != 2:
        return None
    return values["strikeout_batch_listings_sum"], values["strikeout_batch_listings_count"]


@dataclass
class Server:
    """A server under test, started, and what to send it."""

    name: str
    process: subprocess.Popen
    port: int
    ready_path: str
    headers: dict[str, str]
    later: pd.DataFrame  # the listings to send, as JSON rows


# (label, listings per request, clients, new listing ids)
LOADS = (("single_listing_32_clients", 1, 32, False),
         ("single_new_listing_32_clients", 1, 32, True),
         ("hundred_listings_8_clients", 100, 8, False))


def one_load(server: Server, bodies: list[bytes], size: int, clients: int,
             seconds: float) -> dict[str, Any]:
    """One load against one server, with the server's CPU per listing and batch sizes."""
    before, cpu_s = batch_sizes(server.port), process_cpu_s(server.process)
    result = run_load(server.port, "/score", bodies, size, server.headers, clients, seconds)
    listings = sum(result["statuses"].values()) * size
    used = [cpu - cpu_s.get(pid, 0.0) for pid, cpu in process_cpu_s(server.process).items()]
    result["server_cpu_ms_per_listing"] = round(sum(used) * 1000 / max(listings, 1), 2)
    # the workers share one listening socket: a burst of new keep-alive connections can
    # all land on one worker, which then does the work of all (1.0 = one did all)
    result["busiest_process_cpu_share"] = (round(max(used) / sum(used), 2) if sum(used) > 0
                                           else None)
    after = batch_sizes(server.port)
    if before and after and after[1] > before[1]:
        result["mean_listings_per_model_pass"] = round(
            (after[0] - before[0]) / (after[1] - before[1]), 1)
    return result


def over_http(servers: list[Server], seconds: float, rounds: int) -> list[dict[str, Any]]:
    """Each load against every server in turn, `rounds` times over.

    The machine's speed drifts over minutes; taking the servers in turn, load by load and
    round by round, lets a slow spell fall on all of them alike. Each measure keeps its
    rounds and names its median round (by listings/s).
    """
    try:
        bodies = {}
        for server in servers:
            wait_ready(f"http://127.0.0.1:{server.port}{server.ready_path}", server.process)
            bodies[server.name] = {
                (1, False): listing_bodies(server.later, 1, 2000),
                (1, True): listing_bodies(server.later, 1, 2000, new_ids=True),
                (100, False): listing_bodies(server.later, 100, 40)}
            run_load(server.port, "/score", bodies[server.name][1, False][:50], 1,
                     server.headers, 4, 3)  # warm-up
        results: dict[str, dict[str, Any]] = {s.name: {"server": s.name} for s in servers}
        for label, size, clients, new_ids in LOADS:
            for _ in range(rounds):
                for server in servers:
                    results[server.name].setdefault(label, {"rounds": []})["rounds"].append(
                        one_load(server, bodies[server.name][size, new_ids], size, clients,
                                 seconds))
        for server in servers:
            for label, *_ in LOADS:
                measured = results[server.name][label]
                by_rate = sorted(measured["rounds"], key=lambda r: r["listings_per_s"])
                measured["median_round"] = measured["rounds"].index(
                    by_rate[(len(by_rate) - 1) // 2])
            # the server's floor: a health check does no scoring, only the HTTP stack
            cpu_s = server_cpu_s(server.process)
            floor = run_load(server.port, server.ready_path, [b""], 0, {}, 32,
                             min(seconds, 5.0), method="GET")
            results[server.name]["health_check_32_clients"] = {
                "path": server.ready_path, "requests_per_s": floor["requests_per_s"],
                "server_cpu_ms_per_request": round(
                    (server_cpu_s(server.process) - cpu_s) * 1000 / max(floor["requests"], 1),
                    3)}
        return [results[s.name] for s in servers]
    finally:
        for server in servers:
            stop(server.process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listings", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3,
                        help="times each load runs against each server, servers in turn")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--in-process", type=int, default=1000, dest="in_process")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--skip-in-process", action="store_true",
                        help="only the HTTP part (no in-process timing, no profile)")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    home = args.home or Path(tempfile.mkdtemp(prefix="strikeout-bench-service-"))
    home.mkdir(parents=True, exist_ok=True)
    setup = prepare_home(home, args.listings)
    data_path = Path(setup["data_path"])

    single = None
    if not args.skip_in_process:
        url, key, later = prepare_ledger(home, data_path)
        single = in_process(url, later, args.in_process)
        remove_ledger(url)

    url, key, later = prepare_ledger(home, data_path)  # fresh history for the HTTP runs
    with_sellers = later.merge(load_marketplace(data_path).sellers, on="seller_id")
    ports = [free_port() for _ in range(3)]
    servers = [
        Server("strikeout (BentoML, micro-batched)",
               serve_strikeout(home, url, ports[0], args.workers), ports[0], "/readyz",
               {"Authorization": f"Bearer {key}"}, later),
        Server("baseline (FastAPI + pyfunc predict per request)",
               serve_baseline(home, ports[1], args.workers), ports[1], "/ready", {},
               with_sellers),
        Server("bare BentoML endpoint (no scoring: HTTP ceiling)",
               serve_bare(ports[2], args.workers), ports[2], "/readyz", {}, later)]
    http = over_http(servers, args.seconds, args.rounds)
    remove_ledger(url)
    result = {
        "machine": machine_info(),
        "setup": {"listings": args.listings, "workers": args.workers, **setup,
                  "scored_listings_available": len(later)},
        "in_process_one_listing": single,
        "http": http,
        "targets": {"in_process_p99_ms": 2, "single_32_clients_p99_ms": 50,
                    "single_32_clients_listings_per_s": 1000,
                    "hundred_listings_per_s": 10000},
    }
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
