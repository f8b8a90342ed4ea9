"""uvicorn's h11 protocol with a header timeout and a connection cap, for the receiver.

uvicorn 0.54 arms its keep-alive timer only after a response and cancels it
on any byte received, so a connection that never completes a request head
stays open for ever; and its ``limit_concurrency`` counts connections, so
enough stalled ones answer every real request 503. Here a connection with no
request in progress (just opened, or after a response) must send a whole
request head within ``header_timeout`` seconds, however it trickles in; and
past ``cap`` open connections the ones waiting longest for a request are
closed, never one with a request in progress.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from uvicorn.protocols.http.h11_impl import H11Protocol


class Connections:
    """One server's open connections; those waiting for a request, oldest first."""

    def __init__(self, refused: Counter[str], header_timeout: float, cap: int) -> None:
        self.refused = refused  # the receiver's, shown by /health
        self.header_timeout = header_timeout
        self.cap = cap
        self.open: set[GuardedH11] = set()
        self.waiting: dict[GuardedH11, None] = {}  # insertion order: oldest first


def guarded_h11(refused: Counter[str], header_timeout: float, cap: int) -> type[GuardedH11]:
    """The protocol class for one server (uvicorn builds it from the config alone)."""
    server = Connections(refused, header_timeout, cap)
    return type("ReceiverH11Protocol", (GuardedH11,), {"server_connections": server})


class GuardedH11(H11Protocol):
    server_connections: Connections  # set per server by guarded_h11

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        server = self.server_connections
        server.open.add(self)
        self._track()
        while len(server.open) > server.cap and server.waiting:
            next(iter(server.waiting))._close("evicted")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        self.server_connections.open.discard(self)
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self.server_connections.refused["bad_http"] += 1
        super().send_400_response(msg)

    def _track(self) -> None:
        in_progress = self.cycle is not None and not self.cycle.response_complete
        if in_progress or self.transport.is_closing():
            self._stop_waiting()
        elif self._deadline is None:  # the clock starts when the wait does, once
            server = self.server_connections
            self._deadline = self.loop.call_later(server.header_timeout, self._close, "timed_out")
            server.waiting[self] = None

    def _stop_waiting(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
            del self.server_connections.waiting[self]

    def _close(self, reason: str) -> None:
        server = self.server_connections
        self._stop_waiting()
        server.open.discard(self)
        # An idle keep-alive connection closed after its responses was served, not refused.
        if self.cycle is None or self.conn.trailing_data[0]:
            server.refused[reason] += 1
        self.transport.close()
