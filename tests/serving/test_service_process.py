"""The service as users run it: a real `bentoml serve` process (two workers) on a free port.

Started with the command `strikeout serve` runs (`serving.service.serve_command`) and
killed, process group and all, when the module is done.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

from serving.service import serve_command
from serving.settings import ServingSettings
from tests.processes import stopped_with_parent
from tests.serving.service_support import (
    MODEL_NAME,
    LedgerWorld,
    ModelWorld,
    bearer,
    before,
    cut_moment,
    environment,
    free_port,
    later_listings,
    listing_json,
    make_ledger,
    model_world,
    service_environment,
    wait_until,
)

pytestmark = [pytest.mark.service, pytest.mark.slow, pytest.mark.xdist_group("service")]
REPO = Path(__file__).resolve().parents[2]
WORKERS = 2


@dataclass
class Served:
    url: str
    world: ModelWorld
    ledger: LedgerWorld
    listings: list[dict]
    log_path: Path
    bentoml_home: Path

    def score(self, client: httpx.Client, listings: list[dict]) -> httpx.Response:
        return client.post(f"{self.url}/score", json={"listings": listings},
                           headers=bearer(self.ledger.keys["scorer"]), timeout=60)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    world = model_world()
    folder = tmp_path_factory.mktemp("served")
    cut = cut_moment(world.market)
    ledger = make_ledger(folder, world, before(world.market, cut))
    port = free_port()
    env = service_environment(world, ledger, model_poll_s="1", max_waiting_listings="64",
                              max_batch_listings="32", connection_max_age_s="1")
    with environment(**env):
        command, process_env = serve_command(ServingSettings(port=port, workers=WORKERS))
    process_env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # BentoML sets the workers' own
    bentoml_home = folder / "bentoml"  # a home of its own: a test may start another server
    process_env["BENTOML_HOME"] = str(bentoml_home)
    log_path = folder / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=process_env, cwd=REPO, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=stopped_with_parent(signal.SIGTERM))
    url = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            """Every worker ready: each loads its model on its own, and one ready worker
            answers 200 while the other still answers 503. Fresh connections land on
            either worker, so a dozen answers in a row cover both."""
            assert process.poll() is None, log_path.read_text()[-3000:]
            try:
                return all(httpx.get(f"{url}/readyz", timeout=2).status_code == 200
                           for _ in range(12))
            except httpx.TransportError:
                return False

        wait_until(ready, 180, "bentoml serve to be ready")
        listings = [listing_json(r) for _, r in later_listings(world.market, cut).iterrows()]
        yield Served(url, world, ledger, listings, log_path, bentoml_home)
    finally:
        _stop(process)


def test_the_served_service_scores_and_answers_health_checks(served: Served) -> None:
    with httpx.Client() as client:
        assert client.get(f"{served.url}/livez").status_code == 200
        response = served.score(client, served.listings[:3])
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["listing_id"] for r in results] == [x["listing_id"] for x in served.listings[:3]]
        assert {r["model_version"] for r in results} == {served.world.version}
        # /score skips BentoML's tracing middleware (its spans cost ~0.85 ms a request),
        # whose span would give the response BentoML's request id
        assert "x-bentoml-request-id" not in response.headers
        assert client.post(f"{served.url}/score", json={"listings": []}).status_code == 401
        assert client.get(f"{served.url}/docs.json").json()["openapi"] == "3.1.0"


def test_a_keep_alive_connection_is_closed_once_it_is_a_second_old(served: Served) -> None:
    # the fixture sets STRIKEOUT_CONNECTION_MAX_AGE_S=1; every other test here makes its
    # requests across such reconnects too
    with httpx.Client() as client:
        first = served.score(client, served.listings[60:61])
        assert first.status_code == 200, first.text
        assert first.headers.get("connection") != "close"
        time.sleep(1.2)
        second = served.score(client, served.listings[61:62])
        assert second.status_code == 200, second.text
        assert second.headers["connection"] == "close"
        third = served.score(client, served.listings[62:63])  # on a new connection
        assert third.status_code == 200, third.text
        assert third.headers.get("connection") != "close"


def _another_bentoml_server_starts(bentoml_home: Path) -> None:
    """What any BentoML server does on start: empty the home's Prometheus folder."""
    subprocess.run([sys.executable, "-c", "from bentoml.serving import ensure_prometheus_dir; "
                    "ensure_prometheus_dir()"], env={**os.environ, "BENTOML_HOME": str(
                        bentoml_home)}, check=True, timeout=120)


def test_metrics_add_up_over_both_workers(served: Served) -> None:
    # Before the fix the workers' metric files lived in that shared folder, so a server
    # started elsewhere on the machine made this service's counters vanish from /metrics.
    _another_bentoml_server_starts(served.bentoml_home)
    with httpx.Client() as client, ThreadPoolExecutor(16) as pool:
        def one(i: int) -> int:
            return served.score(client, [served.listings[10 + i % 50]]).status_code

        codes = list(pool.map(one, range(64)))
        assert codes.count(200) == 64, codes
        text = client.get(f"{served.url}/metrics").text
    ok = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
             if line.startswith('strikeout_score_requests_total{status="200"'))
    assert ok >= 64
    assert f'strikeout_model_version_info{{version="{served.world.version}"}} 1.0' in text
    assert "strikeout_score_request_seconds_bucket" in text
    assert "endpoint=" not in text  # BentoML's per-path series are off


def test_past_the_waiting_limit_requests_get_503_with_retry_after(served: Served) -> None:
    batch = served.listings[100:140]  # 40 listings a request; 64 may wait per worker
    with httpx.Client() as client, ThreadPoolExecutor(24) as pool:
        responses = list(pool.map(lambda _: served.score(client, batch), range(24)))
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503}, codes
    refused = [r for r in responses if r.status_code == 503]
    assert refused and codes.count(200) >= 2, codes
    assert all(r.headers["Retry-After"].isdigit() for r in refused)
    assert "overloaded" in refused[0].json()["error"]


def test_a_moved_alias_is_picked_up_by_polling_without_failed_requests(served: Served) -> None:
    with environment(MLFLOW_TRACKING_URI=served.world.tracking_uri):
        client = MlflowClient(tracking_uri=served.world.tracking_uri,
                              registry_uri=served.world.tracking_uri)
        first = client.get_model_version_by_alias(MODEL_NAME, "champion")
        newer = client.create_model_version(MODEL_NAME, first.source, run_id=first.run_id)
    target = f"{MODEL_NAME}/{newer.version}"
    seen: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def keep_scoring(offset: int) -> None:
        with httpx.Client() as http:
            i = 0
            while not stop.is_set():
                response = served.score(http, [served.listings[200 + (offset + i) % 100]])
                i += 1
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")
                else:
                    seen.append(response.json()["results"][0]["model_version"])

    threads = [threading.Thread(target=keep_scoring, args=(n * 50,)) for n in range(4)]
    for thread in threads:
        thread.start()
    def fresh_answers_all_new(count: int = 20) -> bool:
        """Whether `count` requests, each on a new connection (which the kernel hands to
        an idle worker, so both take some), are all answered by the new version."""
        for i in range(count):
            with httpx.Client() as http:
                response = served.score(http, [served.listings[300 + i]])
            if response.status_code != 200:
                failures.append(f"{response.status_code} {response.text}")
                return False
            if response.json()["results"][0]["model_version"] != target:
                return False
        return True

    try:
        client.set_registered_model_alias(MODEL_NAME, "champion", newer.version)
        # both workers poll every second; each answers with the new version once it swapped
        wait_until(lambda: target in seen[-40:], 120, "a worker on " + target)
        stop.set()  # the load ran through the swap; then every worker must have swapped
        for thread in threads:
            thread.join(60)
        wait_until(fresh_answers_all_new, 120, "both workers on " + target)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        client.set_registered_model_alias(MODEL_NAME, "champion", first.version)
    assert failures == []
    assert seen[0] == served.world.version and target in seen


def test_bentoml_build_packs_the_service(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"),
           "BENTOML_DO_NOT_TRACK": "True"}
    result = subprocess.run([sys.executable, "-m", "bentoml", "build", "--output", "tag"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    bentos = list((tmp_path / "bentoml" / "bentos" / "strikeout").glob("*/src"))
    assert len(bentos) == 1
    src = bentos[0]
    assert (src / "serving" / "service.py").is_file()
    assert (src / "training" / "model.py").is_file()
    assert (src / "serving" / "migrations" / "versions" / "history_0001_listing_history.py"
            ).is_file()
    assert not (src / "tests").exists()
