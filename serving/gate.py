"""The service's front door: body size, API keys and /score's request metrics, before parsing.

`RequestGate` is an ASGI middleware in front of everything BentoML serves. It refuses
bodies over the limit (413) on every route without reading them whole, and on the
BentoML routes it guards (`/score`) it checks the bearer key's role (401/403) before
BentoML parses and validates the body, so a caller without a key costs next to nothing,
and it refuses bodies that are not JSON (415): BentoML would read a multipart or pickle
body otherwise, and answer a malformed one with a 500.
The mounted FastAPI routes (ledger, queue, admin) check keys themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.keys import Principal, Role, a_key_of, authenticate, key_hash
from serving.ledger.store import LedgerStore
from serving.metrics import ServiceMetrics

CHALLENGE = {"WWW-Authenticate": "Bearer"}
UNGUARDED = frozenset({"/livez", "/healthz", "/readyz", "/metrics", "/docs.json", "/"})
TIMED = "/score"


class Refused(Exception):
    """A call refused for its key: HTTP status, message and headers."""

    def __init__(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.headers = code, message, headers or {}


class KeyCache:
    """`keys.authenticate` with known keys remembered for `ttl_s`: a revoked key is refused
    here once its `ttl_s` has run out (the ledger's and queue's routes refuse it at once)."""

    def __init__(self, store: LedgerStore, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._known: dict[str, tuple[Principal, float]] = {}

    def check(self, key: str) -> Principal | None:
        digest = key_hash(key)
        hit = self._known.get(digest)
        now = self.clock()
        if hit is not None and hit[1] > now:
            return hit[0]
        principal = authenticate(self.store, key)
        if principal is not None and self.ttl_s > 0:
            self._known[digest] = (principal, now + self.ttl_s)
        return principal


def authorize(keys: KeyCache | None, key: str | None, role: Role,
              fresh: bool = False) -> Principal:
    """The caller behind `key` if it may act as `role`; otherwise `Refused` says why.
    `fresh` asks the database, not the cache (rare routes: a revoked key is refused at once)."""
    if keys is None:
        raise Refused(503, "the ledger is not open yet", {"Retry-After": "5"})
    if key is None:
        raise Refused(401, "missing bearer key (Authorization: Bearer <key>)", CHALLENGE)
    principal = authenticate(keys.store, key) if fresh else keys.check(key)
    if principal is None:
        raise Refused(401, "unknown key", CHALLENGE)
    if principal.role != role:
        raise Refused(403, f"{a_key_of(principal.role)} may not do this; needs {role}")
    return principal


class Guarded(Protocol):
    """What the gate needs of the running service."""

    keys: KeyCache | None
    metrics: ServiceMetrics

    @property
    def max_body_bytes(self) -> int: ...


def bearer_key(headers: dict[bytes, bytes]) -> str | None:
    value = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class RequestGate:
    """ASGI middleware: 413 for big bodies, 401/403 on the guarded routes, /score metrics.

    Args:
        app: the app behind the gate.
        service: gives the running service, or None while it starts (then 503).
        roles: BentoML routes guarded here and the role each needs.
    """

    def __init__(self, app: ASGIApp, service: Callable[[], Guarded | None],
                 roles: dict[str, Role]) -> None:
        self.app = app
        self.service = service
        self.roles = roles

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNGUARDED:
            return await self.app(scope, receive, send)
        service = self.service()
        if service is None:
            return await answer(send, 503, {"error": "the service is starting"},
                                {"Retry-After": "1"})
        if scope["path"] != TIMED:
            return await self._gated(service, scope, receive, send)
        started = time.perf_counter()
        status = [500]
        counted = False

        def count() -> None:
            nonlocal counted
            counted = True
            code = str(status[0])
            service.metrics.requests.labels(status=code).inc()
            service.metrics.latency.labels(status=code).observe(time.perf_counter() - started)

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                count()  # before the client can see the response, so /metrics never lags it
            await send(message)

        try:
            await self._gated(service, scope, receive, timed_send)
        finally:
            if not counted:  # no complete response: an error or a client gone
                count()

    async def _gated(self, service: Guarded, scope: Scope, receive: Receive,
                     send: Send) -> None:
        headers = dict(scope["headers"])
        limit = service.max_body_bytes
        too_big = {"error": f"the body is over {limit} bytes"}
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            return await answer(send, 413, too_big)
        role = self.roles.get(scope["path"])
        if role is not None:
            try:
                authorize(service.keys, bearer_key(headers), role)
            except Refused as refused:
                return await answer(send, refused.code, {"error": refused.message},
                                    refused.headers)
            if not _json_or_unsaid(headers):
                return await answer(send, 415, {"error": "the body must be JSON: send "
                                                         "Content-Type: application/json"})
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return await self.app(scope, receive, send)
        body = bytearray()  # at most `limit` bytes: read whole, then handed on
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                return await answer(send, 413, too_big)
            if not message.get("more_body", False):
                break
        handed_on = False

        async def replay() -> Message:
            nonlocal handed_on
            if handed_on:
                return await receive()
            handed_on = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def _json_or_unsaid(headers: dict[bytes, bytes]) -> bool:
    """Whether the body is declared JSON, or not declared at all (BentoML reads it as JSON)."""
    declared = headers.get(b"content-type")
    if declared is None:
        return True
    media_type = declared.split(b";", 1)[0].strip().lower()
    return media_type in (b"", b"application/json")


async def answer(send: Send, code: int, body: dict[str, Any],
                 headers: dict[str, str] | None = None) -> None:
    """Send a JSON response straight from the middleware."""
    response = JSONResponse(body, status_code=code, headers=headers or None)
    await response({"type": "http"}, _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
