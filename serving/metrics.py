"""Prometheus metrics of the scoring service, served with BentoML's own at `/metrics`.

BentoML runs each worker with `PROMETHEUS_MULTIPROC_DIR` set and merges the workers'
metrics when `/metrics` is read, but only for metrics created after that variable is
set: `prometheus_client` picks its storage when it is first imported. So nothing here
imports it at module level; `service_metrics()` creates the metrics on first use, in
the worker, once per process.
"""

from __future__ import annotations

import re
from collections.abc import Collection
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
                        "/score requests refused before scoring, by reason.", ["reason"]),
    )


_ENDPOINT = re.compile(r'endpoint="((?:[^"\\]|\\.)*)"')


def only_endpoints(exposition: str, kept: Collection[str]) -> str:
    """Prometheus text without the samples labelled with any other `endpoint` than `kept`.

    BentoML labels its per-request metrics with the request's raw path. The ledger's and
    the queue's paths hold ids (cases, sellers, complaints), and a caller without a key
    can make up any path; `/metrics` needs no key. Samples without an endpoint label,
    and the HELP and TYPE lines, pass as they are.
    """
    lines = exposition.splitlines(keepends=True)
    return "".join(line for line in lines if line.startswith("#")
                   or (found := _ENDPOINT.search(line)) is None or found.group(1) in kept)
