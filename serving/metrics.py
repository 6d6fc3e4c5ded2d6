"""Prometheus metrics of the scoring service, served at `/metrics` (`exposition`).

BentoML runs each worker with `PROMETHEUS_MULTIPROC_DIR` set and merges the workers'
metrics when `/metrics` is read, but only for metrics created after that variable is
set: `prometheus_client` picks its storage when it is first imported. So nothing here
imports it at module level; `service_metrics()` creates the metrics on first use, in
the worker, once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 20)) + (0.99,)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 2000)


@dataclass(frozen=True)
class ServiceMetrics:
    latency: Any  # Histogram: seconds per /score request, by status
    requests: Any  # Counter: /score requests by HTTP status
    scores: Any  # Histogram: the scores returned
    bands: Any  # Counter: listings scored, by band
    batch_listings: Any  # Histogram: listings per pass of the model (micro-batch)
    model_version: Any  # Gauge: 1 for the version that scores now, 0 for earlier ones
    refused: Any  # Counter: requests refused before scoring, by reason

    def set_version(self, version: str, previous: str | None) -> None:
        if previous is not None and previous != version:
            self.model_version.labels(version=previous).set(0)
        self.model_version.labels(version=version).set(1)


@cache
def service_metrics() -> ServiceMetrics:
    """The service's metrics, created once per process (see the module docstring)."""
    from prometheus_client import Counter, Gauge, Histogram

    return ServiceMetrics(
        latency=Histogram("strikeout_score_request_seconds",
                          "Time to answer a /score request (body read to response), by status.",
                          ["status"], buckets=LATENCY_BUCKETS_S),
        requests=Counter("strikeout_score_requests", "Requests to /score, by HTTP status.",
                         ["status"]),
        scores=Histogram("strikeout_score", "Scores returned (calibrated probability).",
                         buckets=SCORE_BUCKETS),
        bands=Counter("strikeout_listings_scored", "Listings scored, by band.", ["band"]),
        batch_listings=Histogram("strikeout_batch_listings",
                                 "Listings scored together in one pass of the model.",
                                 buckets=BATCH_BUCKETS),
        model_version=Gauge("strikeout_model_version_info",
                            "The model version scoring requests (1) and earlier ones (0).",
                            ["version"], multiprocess_mode="livemax"),
        refused=Counter("strikeout_score_refused",
                        "/score requests the service refused before scoring, by reason "
                        "(not ready, too many listings, invalid, overloaded, unavailable); "
                        "the gate's refusals (key, role, body size, not JSON) are counted by "
                        "status in strikeout_score_requests.", ["reason"]),
    )


def exposition() -> tuple[bytes, str]:
    """Every worker's series in Prometheus' text format, merged as BentoML merges them,
    and the format's media type.

    BentoML's own per-request series are switched off in the service (`metrics` in its
    config): BentoML labels them with the raw request path, and the ledger's and the
    queue's paths hold ids (cases, sellers, complaints), so every id asked for, and every
    path a caller without a key makes up, added series for good (in the workers' metric
    files, even when `/metrics` left them out). `/score`'s requests, latency, scores and
    bands are strikeout's own series, labelled by status and band alone.
    """
    from bentoml._internal.configuration.containers import BentoMLContainer

    client = BentoMLContainer.metrics_client.get()
    return bytes(client.generate_latest()), str(client.CONTENT_TYPE_LATEST)
