"""The strikeout service: BentoML's `/score`, the ledger's routes, health, metrics, reloads.

Run it with `strikeout serve` (or `bentoml serve serving.service:Strikeout`). Each
worker opens the ledger, loads `models:/strikeout-listing-risk@champion` from MLflow
in the background (`/livez` answers at once, `/readyz` is 503 until both are there),
and polls the alias to pick up a promoted model without a restart (`POST
/admin/reload` checks at once).

A `/score` request passes the `RequestGate` (body size, bearer key of role `scorer`),
BentoML's pydantic validation (400 naming the field), the checks that need the model
(`scoring_api.request_problems`), then waits for the micro-batcher's scoring thread,
which scores every request waiting together (`serving/online.py`). Configuration:
`ServingSettings` (`STRIKEOUT_*`); BentoML's own knobs through BENTOML_CONFIG_OPTIONS,
e.g. `services.strikeout.logging.access.enabled=true` (access logs are off: they cost
about 15% of throughput).

`/score` is left out of BentoML's OpenTelemetry middleware (`tracing.excluded_urls`).
The middleware makes its spans for every request even when none is sampled, which is
BentoML's default: about 0.85 ms of CPU per request, more than the rest of BentoML's
work for a one-listing request. Its responses therefore carry no `X-BentoML-Request-ID`.
To trace `/score`, configure an exporter and a sample rate and set the exclusions to
something else, e.g. `services.strikeout.tracing.excluded_urls=/livez`.

Each worker runs two busy threads, the event loop and the scoring thread, which take
turns holding the interpreter. Python makes the holder let go every 5 ms when the other
wants it; the workers set `STRIKEOUT_SWITCH_INTERVAL_MS` (20 ms by default) instead:
fewer hand-offs cost less CPU (on the benchmark's loads, 10-15% less per request).
"""

import gc
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from importlib import metadata
from typing import Annotated, Any

import attrs
import bentoml
import mlflow
from bentoml._internal.service.openapi.specification import OpenAPISpecification
from fastapi import APIRouter, Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import JSONResponse, Response

from serving.batcher import MicroBatcher, Overloaded
from serving.champion import ModelSlot, ModelUnavailable
from serving.connections import ConnectionRecycler
from serving.gate import KeyCache, Refused, RequestGate, authorize
from serving.history_store import HistoryStore
from serving.keys import Principal
from serving.ledger.ledger import Ledger
from serving.ledger.store import DATABASE_ERRORS, LedgerBusyError
from serving.ledger_api import KEY_REFUSALS, ledger_router
from serving.metrics import ServiceMetrics, exposition, service_metrics
from serving.online import OnlineScorer, ReviewFeed, RingState
from serving.queue import ReviewQueue
from serving.queue_api import queue_router
from serving.refusal_logs import one_line_refusals
from serving.request_timeout import release_request_timers
from serving.scoring_api import (
    ListingIn,
    ReloadResponse,
    ScoredRow,
    ScoreRequest,
    ScoreResponse,
    error_body,
    listing_arrays,
    request_problems,
    score_response,
    scored_rows,
)
from serving.sellers_api import sellers_router
from serving.settings import ServingSettings

# No `from __future__ import annotations`: BentoML and FastAPI read these signatures at runtime.

log = logging.getLogger("strikeout.service")
SERVICE_NAME = "strikeout"
# what makes /score a 503 with Retry-After rather than a 500
UNAVAILABLE: tuple[type[Exception], ...] = (LedgerBusyError, ModelUnavailable, *DATABASE_ERRORS)
BOOT_RETRY_S = 5.0


def _running() -> "Strikeout | None":
    """The service instance of this worker, once BentoML has made it."""
    try:
        return bentoml.get_current_service()
    except bentoml.exceptions.BentoMLException:
        return None


def _connection_max_age_s() -> float:
    service = _running()
    return 0.0 if service is None else service.settings.connection_max_age_s


# --- the FastAPI routes mounted next to BentoML's ------------------------------------------

def _open() -> "Strikeout":
    service = _running()
    if service is None or service.ledger is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the ledger is not open yet",
                            headers={"Retry-After": str(int(BOOT_RETRY_S))})
    return service


def _ledger() -> Ledger:
    ledger = _open().ledger
    assert ledger is not None  # _open checked
    return ledger


def _queue() -> ReviewQueue:
    return _open().queue


def _history() -> HistoryStore:
    return _open().history


_bearer_scheme = HTTPBearer(auto_error=False,
                            description="An API key from `strikeout keys create`.")


def _admin(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                  Depends(_bearer_scheme)]) -> Principal:
    try:
        return authorize(_open().keys, credentials.credentials if credentials else None,
                         "admin", fresh=True)
    except Refused as refused:
        raise HTTPException(refused.code, refused.message, headers=refused.headers) from None


admin_router = APIRouter(tags=["admin"], responses=KEY_REFUSALS)


@admin_router.post(
    "/admin/reload", response_model=ReloadResponse,
    summary="Load the model version the alias names now, in the worker that answers "
            "(admins); the other workers follow within STRIKEOUT_MODEL_POLL_S",
    responses={503: {"description": "The model cannot be resolved or loaded; the version "
                                    "scoring before keeps scoring."}})
def reload_model(principal: Annotated[Principal, Depends(_admin)]) -> ReloadResponse:
    service = _open()
    try:
        outcome = service.slot.reload()
    except ModelUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc),
                            headers={"Retry-After": "5"}) from exc
    log.info("reload by %s: %s -> %s", principal.actor, outcome.previous, outcome.version)
    return ReloadResponse(model_version=outcome.version,
                          previous_version=outcome.previous or "", changed=outcome.changed)


def metrics() -> Response:
    """Prometheus, no key: every worker's `strikeout_*` series (see `serving/metrics.py`)."""
    body, media_type = exposition()
    return Response(body, media_type=media_type)


routes = FastAPI(title="strikeout", docs_url=None, redoc_url=None, openapi_url=None)
routes.include_router(ledger_router(_ledger))
routes.include_router(queue_router(_queue))
routes.include_router(sellers_router(_history))
routes.include_router(admin_router)
routes.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)


# --- the OpenAPI spec ------------------------------------------------------------------------

OPENAPI_VERSION = "3.1.0"
FRAMEWORK_FIELDS = {  # fields of the error schemas BentoML and FastAPI add to the spec
    "error": "What went wrong, in words.",
    "detail": "Every problem found; for a 400 each names the field (`loc`) and the rule.",
    "loc": "Where the problem is: body, query or path, then the field names and positions.",
    "msg": "What is wrong with the value, in words.",
    "type": "The kind of problem (pydantic's error type).",
    "input": "The value that was refused.",
    "ctx": "The rule that was broken, e.g. the limit.",
    "task_id": "Id of a background task (the service runs none).",
    "status": "State of a background task.",
    "created_at": "When the task was submitted.",
    "executed_at": "When the task ran.",
}
SCORE_REFUSALS = {
    "401": "No key, or an unknown one.",
    "403": "The key's role is not `scorer`.",
    "413": "More than 1000 listings, or a body over 2 MiB.",
    "415": "The body is not JSON (its Content-Type names another type).",
    "503": "Overloaded, or the model or ledger is not ready; retry after `Retry-After` seconds.",
}
# the scheme FastAPI declares for the ledger's routes
BEARER: list[dict[str, list[str]]] = [{"HTTPBearer": []}]
ERROR_DETAIL = {"type": "array", "items": {"type": "object"}, "title": "Error Detail",
                "description": "Every problem found; for a 400 each names the field (`loc`) "
                               "and the rule (`msg`, `type`)."}


SERVICE_DESCRIPTION = (
    "Counterfeit-listing risk for a marketplace's listing systems (`POST /score`, "
    "`POST /sellers`, the takedown feed `GET /takedowns`), the strike ledger for brands "
    "and admins, and the reviewers' queue. Every route but the health checks, `/metrics` "
    "and this spec takes `Authorization: Bearer <key>` of the role it names.")


def _version() -> str:
    try:
        return metadata.version("strikeout")
    except metadata.PackageNotFoundError:  # served from a copy of the source (a bento)
        return "unknown"


def described(spec: OpenAPISpecification) -> OpenAPISpecification:
    """Describe the fields of BentoML's and FastAPI's own schemas and /score's refusals.

    Also declares OpenAPI 3.1: the schemas are pydantic 2's JSON Schema (`"type": "null"`,
    numeric `exclusiveMinimum`), which is 3.1, not the 3.0.2 BentoML writes. Works in place
    on the spec's dictionaries (its attrs objects are frozen) and returns a new spec object.
    """
    for schema in (_get(spec.components, "schemas") or {}).values():
        properties = _get(schema, "properties") or {}
        for name, field in list(properties.items()):
            if name in FRAMEWORK_FIELDS and not _get(field, "description"):
                properties[name] = _with(field, description=FRAMEWORK_FIELDS[name])
    invalid = (_get(spec.components, "schemas") or {}).get("InvalidArgument")
    if invalid is not None:  # BentoML declares a string; /score's 400s give a list
        (_get(invalid, "properties") or {})["detail"] = ERROR_DETAIL
    spec = attrs.evolve(spec, info=_with(spec.info, title="strikeout", contact=None,
                                         description=SERVICE_DESCRIPTION, version=_version()))
    readyz = _get(spec.paths.get("/readyz"), "get")
    if readyz is not None:
        _get(readyz, "responses").setdefault("503", {
            "description": "Not ready yet: the model or the ledger is still loading."})
    score = spec.paths.get("/score")
    post = _get(score, "post") if score is not None else None
    if post is not None:
        responses = _get(post, "responses")
        for code, text in SCORE_REFUSALS.items():
            responses.setdefault(code, {"description": text, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/InvalidArgument"}}}})
        spec.paths["/score"] = _with(score, post=_with(post, security=BEARER))
    return attrs.evolve(spec, openapi=OPENAPI_VERSION)


def _get(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _with(item: Any, **changes: Any) -> Any:
    if isinstance(item, dict):
        return {**item, **changes}
    return attrs.evolve(item, **changes) if attrs.has(type(item)) else item


class DescribedService(bentoml.Service):
    """BentoML's service with every field of its OpenAPI spec described."""

    @property
    def openapi_spec(self) -> OpenAPISpecification:
        return described(super().openapi_spec)


# --- the service -----------------------------------------------------------------------------

@bentoml.asgi_app(routes, path="/")
@bentoml.service(
    name=SERVICE_NAME,
    service_class=DescribedService,
    traffic={"timeout": 60},
    logging={"access": {"enabled": False}},
    metrics={"enabled": False},  # strikeout's own, served by `metrics` above: see there
    tracing={"excluded_urls": ["/score"]},
)
class Strikeout:
    """Counterfeit-listing risk scoring, the strike ledger and the reviewers' queue."""

    def __init__(self) -> None:
        self.settings = ServingSettings()
        sys.setswitchinterval(self.settings.switch_interval_ms / 1000)  # this worker's process
        release_request_timers()  # BentoML's left a timer alive for 60 s after every request
        one_line_refusals()  # a refused body is one warning, not an error with a traceback
        self.metrics: ServiceMetrics = service_metrics()
        self.ledger: Ledger | None = None
        self.keys: KeyCache | None = None
        self.slot: ModelSlot[OnlineScorer] = ModelSlot(
            self.settings.model_uri, self._scorer_for, self.settings.model_poll_s,
            on_swap=self.metrics.set_version)
        self.batcher: MicroBatcher[ListingIn, list[ScoredRow]] = MicroBatcher(
            self._score_batch, self.settings.max_batch_listings,
            self.settings.max_waiting_listings,
            linger_s=self.settings.batch_linger_ms / 1000)
        self._stopping = threading.Event()
        threading.Thread(target=self._boot, name="strikeout-boot", daemon=True).start()

    def _boot(self) -> None:
        """Open the ledger (waiting for its database if need be), then load the model."""
        uri = self.settings.model_tracking_uri
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        while not self._stopping.is_set():
            try:
                ledger = Ledger.open(self.settings)
                break
            except Exception as exc:
                log.error("ledger not open: %s; retrying in %.0f s", exc, BOOT_RETRY_S)
                self._stopping.wait(BOOT_RETRY_S)
        else:
            return
        if self.settings.wal_checkpoint_s:
            ledger.store.checkpoint_in_background(self.settings.wal_checkpoint_s)
        self.history = HistoryStore(ledger.store)
        self.queue = ReviewQueue(ledger, self.settings)
        self.keys = KeyCache(ledger.store, self.settings.auth_cache_s)
        self.ledger = ledger
        self.slot.start()

    def __is_ready__(self) -> bool:
        return self.ledger is not None and self.slot.current is not None

    @bentoml.on_shutdown
    def close(self) -> None:
        self._stopping.set()
        self.slot.stop()
        self.batcher.close()
        if self.ledger is not None:
            self.ledger.close()

    @property
    def max_body_bytes(self) -> int:
        return self.settings.max_body_bytes

    def _scorer_for(self, model: Any) -> OnlineScorer:
        assert self.ledger is not None
        ring = RingState(model, self.history, self.ledger, self.settings.ring_refresh_s)
        scorer = OnlineScorer(model, self.history, ring, ReviewFeed(self.queue, model))
        # compiled code and the active sellers' history loaded before the freeze and the
        # first request (a reload builds this while the previous model goes on scoring)
        warmed = scorer.warm_up(self.settings.warm_sellers)
        log.info("model %s: warmed the caches with %d sellers", model.version, warmed)
        # The model and its indexes are long-lived: out of the collector's sight, a full
        # collection no longer walks them while requests wait (a reload leaves the old
        # ones to reference counting, which frees all but cycles).
        gc.collect()
        gc.freeze()
        return scorer

    def _score_batch(self, requests: list[Sequence[ListingIn]]) -> list[list[ScoredRow]]:
        """Score the listings of several requests in one pass; each request's rows.

        Runs on the scoring thread: the results leave it as plain tuples, so the event
        loop, which answers every request, does no pandas work.
        """
        scorer = self.slot.current
        if scorer is None:
            raise ModelUnavailable("no model is loaded")
        listings, sellers = listing_arrays([x for request in requests for x in request])
        rows = scored_rows(scorer.score_columns(listings, sellers))
        self.metrics.batch_listings.observe(len(rows))
        for row in rows:
            self.metrics.scores.observe(row[1])
        for band, count in Counter(row[2] for row in rows).items():  # a label lookup a band
            self.metrics.bands.labels(band=band).inc(count)
        out, start = [], 0
        for request in requests:
            out.append(rows[start:start + len(request)])
            start += len(request)
        return out

    @bentoml.api(route="/score", input_spec=ScoreRequest, output_spec=ScoreResponse)
    async def score(self, listings: list[ListingIn], ctx: bentoml.Context) -> ScoreResponse:
        """Score 1 to 1000 listings (role `scorer`): calibrated risk, band and reasons.

        Each listing is scored with its seller's history (earlier listings kept by the
        service, complaints and strikes in the ledger) and then stored as history. A
        listing scored `review` or `high` opens a review case once. Errors: 400 names the
        field; 401/403 for keys; 413 for more than 1000 listings or a body over 2 MiB;
        503 with Retry-After when overloaded or not ready.
        """
        scorer = self.slot.current
        if scorer is None:
            return self._refuse(ctx, 503, {"error": "the model is not loaded yet"}, "not_ready",
                                retry_after=5)
        limit = self.settings.max_listings_per_request
        if len(listings) > limit:
            return self._refuse(ctx, 413, {"error": f"{len(listings)} listings in one request; "
                                                    f"at most {limit}"}, "too_many")
        problems = request_problems(listings, scorer.currencies)
        if problems:
            return self._refuse(ctx, 400, error_body(problems), "invalid")
        try:
            scored = await self.batcher.run(listings)
        except Overloaded as exc:
            return self._refuse(ctx, 503, {"error": f"overloaded: {exc}"}, "overloaded",
                                retry_after=self.settings.retry_after_s)
        except UNAVAILABLE as exc:
            log.error("scoring failed: %s", exc)
            return self._refuse(ctx, 503, {"error": "the ledger database or the model is not "
                                                    "available; retry"}, "unavailable",
                                retry_after=self.settings.retry_after_s)
        return score_response(scored)

    def _refuse(self, ctx: bentoml.Context, code: int, body: dict, reason: str,
                retry_after: int | None = None) -> Any:
        self.metrics.refused.labels(reason=reason).inc()
        if code < 500:  # one line, as BentoML's own refusals (`serving.refusal_logs`)
            first = body.get("detail", [None])[0]
            summary = body["error"] if first is None else (
                f"{body['error']}; first: {'.'.join(map(str, first['loc']))}: {first['msg']}")
            log.warning("Refused /score (client error): %s", summary)
        ctx.response.status_code = code  # BentoML applies the context's status to the response
        if retry_after is not None:
            ctx.response.headers["Retry-After"] = str(retry_after)
        return JSONResponse(body, status_code=code)


# The decorators made `Strikeout` a bentoml.Service, which mypy cannot see.
# The first added is the outermost of ours (BentoML's own wrap them): the gate's refusals
# may close their connection too.
Strikeout.add_asgi_middleware(  # type: ignore[attr-defined]
    ConnectionRecycler, max_age_s=_connection_max_age_s)
Strikeout.add_asgi_middleware(  # type: ignore[attr-defined]
    RequestGate, service=_running, roles={"/score": "scorer"})


def serve_command(settings: ServingSettings) -> tuple[list[str], dict[str, str]]:
    """The `bentoml serve` command line and environment for `strikeout serve`.

    The command runs BentoML's CLI through `bentoml_serve`, which gives the server a
    Prometheus directory of its own (see there).
    """
    env = dict(os.environ)
    env.setdefault("BENTOML_DO_NOT_TRACK", "True")
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    options = [env.get("BENTOML_CONFIG_OPTIONS", ""),
               f"services.{SERVICE_NAME}.workers={settings.workers}"]
    env["BENTOML_CONFIG_OPTIONS"] = " ".join(o for o in options if o)
    command = [sys.executable, "-c", LAUNCHER, "serve", "serving.service:Strikeout",
               "--host", settings.host, "--port", str(settings.port)]
    return command, env


LAUNCHER = "import sys; from serving.service import bentoml_serve; bentoml_serve(sys.argv[1:])"


def bentoml_serve(argv: list[str]) -> None:
    """Run BentoML's CLI (`argv`: e.g. `serve ...`) with a fresh Prometheus directory.

    BentoML keeps the workers' metric files in `$BENTOML_HOME/prometheus_multiproc_dir`
    and empties that folder whenever a server starts. With the default home, every
    BentoML server on the machine shares it, so a second server starting (another
    `strikeout serve`, a test run, a benchmark) deleted this one's files and its
    counters vanished from /metrics. A temporary folder per server, removed on exit,
    keeps each server's metrics its own.
    """
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml_cli.cli import cli

    directory = tempfile.mkdtemp(prefix="strikeout-prometheus-")
    BentoMLContainer.prometheus_multiproc_dir.set(directory)
    try:
        cli.main(args=argv, prog_name="bentoml")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
