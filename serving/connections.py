"""Keep-alive connections spread over the workers: each is asked to reconnect now and then.

The service's workers share one listening socket, and whichever worker accepts a
connection serves it for as long as the client keeps it alive. When a client's
connection pool opens all at once, one worker can accept every connection and do all
the work while the other idles, for the life of the pool (measured: half the
throughput, `bench.service`). `ConnectionRecycler` answers `Connection: close` on the
first response after a connection has been in use for `max_age_s`. The client opens a
new connection, and the kernel wakes every worker waiting to accept it: an idle worker
gets to it before a busy one, so the connections drift to where the capacity is. A
reconnect on loopback or a LAN costs a fraction of a millisecond, once every
`max_age_s` per connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_TRACKED = 4096  # connections remembered per worker; past it, the oldest is forgotten


class ConnectionRecycler:
    """ASGI middleware: `Connection: close` once a client connection is `max_age_s` old.

    Args:
        app: the app behind it.
        max_age_s: gives the age (seconds since the connection's first request) at which
            a connection is closed after its response; 0 or less: never.
        clock: monotonic seconds.

    A connection is known by its client address and port, which are unique while it is
    open. Requests that close their connection anyway (HTTP/1.0, or `Connection: close`
    from the client) are not remembered. A keep-alive client that closed a connection
    itself leaves an entry behind; when a later connection reuses the port, it is
    recycled early once, which costs a reconnect. Past `MAX_TRACKED` entries the oldest
    is forgotten (its connection, if still open, counts its age afresh).

    Behind a proxy whose `X-Forwarded-For` uvicorn trusts (loopback, by default), the
    client is rewritten to the forwarded address with port 0: such requests cannot be
    told apart by connection and are never recycled here (the proxy spreads its own
    connections over the workers, or recycles them itself).
    """

    def __init__(self, app: ASGIApp, max_age_s: Callable[[], float],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.max_age_s = max_age_s
        self.clock = clock
        self._first_seen: dict[tuple[str, int], float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if (scope["type"] != "http" or client is None or client[1] == 0
                or _closes_anyway(scope) or not self._expired(tuple(client))):
            return await self.app(scope, receive, send)

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ())
                           if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)

    def _expired(self, client: tuple[str, int]) -> bool:
        """Whether this request's connection is to close after it (then it is forgotten)."""
        limit = self.max_age_s()
        if limit <= 0:
            return False
        now = self.clock()
        first = self._first_seen.get(client)
        if first is None:
            if len(self._first_seen) >= MAX_TRACKED:  # entries are in order of first sight
                del self._first_seen[next(iter(self._first_seen))]
            self._first_seen[client] = now
            return False
        if now - first < limit:
            return False
        del self._first_seen[client]
        return True


def _closes_anyway(scope: Scope) -> bool:
    """Whether the client's own request ends its connection (HTTP/1.0, `Connection: close`)."""
    if scope.get("http_version") == "1.0":
        return True
    return any(name == b"connection" and b"close" in value.lower()
               for name, value in scope.get("headers", ()))
