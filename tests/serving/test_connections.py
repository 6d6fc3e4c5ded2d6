"""ConnectionRecycler: `Connection: close` once a keep-alive connection is old enough."""

from __future__ import annotations

import asyncio
from typing import Any

from serving import connections
from serving.connections import ConnectionRecycler


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _app(scope: dict, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"Connection", b"keep-alive")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _request(recycler: ConnectionRecycler, client: tuple[str, int] | None,
             kind: str = "http", http_version: str = "1.1",
             headers: tuple[tuple[bytes, bytes], ...] = ()) -> list[dict]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": kind, "client": client, "path": "/score", "http_version": http_version,
             "headers": list(headers)}
    asyncio.run(recycler(scope, receive, send))
    return sent


def _closes(sent: list[dict]) -> bool:
    headers = [(k.lower(), v) for k, v in sent[0]["headers"]]
    assert sent[1] == {"type": "http.response.body", "body": b"ok"}  # the body is untouched
    return (b"connection", b"close") in headers


def test_a_connection_is_closed_on_its_first_response_past_the_age_then_starts_afresh() -> None:
    clock = Clock()
    recycler = ConnectionRecycler(_app, lambda: 5.0, clock)
    one, other = ("10.0.0.1", 50000), ("10.0.0.1", 50001)
    assert not _closes(_request(recycler, one))
    clock.now += 3
    assert not _closes(_request(recycler, other))
    clock.now += 1.9
    assert not _closes(_request(recycler, one))  # 4.9 s in use
    clock.now += 0.1
    sent = _request(recycler, one)  # 5 s: this response closes the connection
    assert _closes(sent)
    assert [k.lower() for k, _ in sent[0]["headers"]].count(b"connection") == 1
    assert not _closes(_request(recycler, other))  # 2 s in use
    assert not _closes(_request(recycler, one))  # a new connection on the same port
    clock.now += 3
    assert _closes(_request(recycler, other))
    assert not _closes(_request(recycler, one))


def test_no_age_means_never_and_other_traffic_passes_untouched() -> None:
    clock = Clock()
    recycler = ConnectionRecycler(_app, lambda: 0.0, clock)
    for _ in range(3):
        assert not _closes(_request(recycler, ("10.0.0.1", 50000)))
        clock.now += 1000
    recycler = ConnectionRecycler(_app, lambda: 1.0, clock)
    for _ in range(3):  # no client address (a Unix socket): nothing to know it by
        assert not _closes(_request(recycler, None))
        clock.now += 10
    sent = _request(recycler, ("10.0.0.1", 50000), kind="websocket")
    assert sent[0]["headers"][1] == (b"Connection", b"keep-alive")


def test_requests_that_cannot_be_told_apart_or_close_anyway_are_not_remembered() -> None:
    clock = Clock()
    recycler = ConnectionRecycler(_app, lambda: 1.0, clock)
    for _ in range(3):
        # uvicorn rewrote the client to a trusted proxy's X-Forwarded-For: port 0
        assert not _closes(_request(recycler, ("203.0.113.7", 0)))
        assert not _closes(_request(recycler, ("10.0.0.3", 1), http_version="1.0"))
        assert not _closes(_request(recycler, ("10.0.0.3", 2),
                                    headers=((b"connection", b"Close"),)))
        clock.now += 10
    assert recycler._first_seen == {}


def test_the_connections_remembered_are_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(connections, "MAX_TRACKED", 8)
    clock = Clock()
    recycler = ConnectionRecycler(_app, lambda: 5.0, clock)
    for port in range(1, 21):
        _request(recycler, ("10.0.0.2", port))
        assert len(recycler._first_seen) <= 8
    assert sorted(port for _, port in recycler._first_seen) == list(range(13, 21))
    clock.now += 10
    assert not _closes(_request(recycler, ("10.0.0.2", 1)))  # the oldest, forgotten: afresh
    assert _closes(_request(recycler, ("10.0.0.2", 20)))
