"""HTTP requests taken in the order they arrived, so that under load no client waits twice as
long as another.

A busy single-threaded server reads many connections in one turn of its loop, and the kernel
lists them in an order of its own: a request that came in early during a long turn may be taken
after every one that came in later, and so wait for nearly two turns while others wait for
none. At 50 connections that made p99 about 2x the median for any server on this loop, msgemu
or a bare handler (benchmarks/latency_floor.py); taken in arrival order, an aiohttp handler of
150 µs keeps it at about 1.25x.

The kernel does not say when a request arrived, but an HTTP/1.1 client sends its next request
only after the answer to the last one: a connection cannot hold a request older than its
previous hand-over. So among the connections read in one turn, the one handed a request longest
ago has waited longest, and goes first: the turn's reads wait for its end (one scheduled call)
and are then handed over oldest first. A connection that nobody else was handed anything since
its own last hand-over (a lone client) is handed over at once and pays no extra loop turn. Not
the turn's first read whoever it is: aiohttp wakes that one a loop turn sooner than the waiting
ones, which put 93% of handler runs out of order in a first version.
Nothing waits longer than that one turn, and every byte is handed over in the order it came on
its own connection (before its end or loss too)."""
from __future__ import annotations

import asyncio
import heapq
import weakref

_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, "Turns"] = weakref.WeakKeyDictionary()


class Turns:
    """The hand-over order of one event loop's HTTP connections (every port of the loop: they
    share its thread)."""

    __slots__ = ("loop", "handed", "waiting", "scheduled", "__weakref__")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.handed = 0  # hand-overs and new connections so far: the order's clock (never repeats)
        self.waiting: list[tuple[int, InArrivalOrder]] = []  # heap: (last hand-over, connection)
        self.scheduled = False  # the turn's hand_over() is scheduled: later reads wait for it

    def tick(self) -> int:
        self.handed += 1
        return self.handed

    def hand_over(self) -> None:
        """Hands every connection read in this turn its bytes, the longest-waiting first."""
        self.scheduled = False
        waiting = self.waiting
        while waiting:
            _, connection = heapq.heappop(waiting)
            connection.release()


def in_arrival_order(protocol_factory):
    """`protocol_factory` (aiohttp's web.Server) with its connections taken in arrival order."""
    loop = asyncio.get_running_loop()
    turns = _turns.get(loop)
    if turns is None:
        turns = _turns[loop] = Turns(loop)

    def make() -> InArrivalOrder:
        return InArrivalOrder(protocol_factory(), turns)
    return make


class InArrivalOrder(asyncio.Protocol):
    """One connection's protocol (aiohttp's RequestHandler) behind the turn's hand-over: the
    transport writes to it directly, only what is read passes here."""

    __slots__ = ("inner", "turns", "last", "held", "transport")

    def __init__(self, inner: asyncio.Protocol, turns: Turns) -> None:
        self.inner = inner
        self.turns = turns
        self.last = 0
        self.held: list[bytes] | None = None  # bytes read this turn, not handed over yet
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.last = self.turns.tick()
        self.transport = transport
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        held = self.held
        if held is not None:  # already waiting in this turn
            held.append(data)
            return
        turns = self.turns
        if self.last == turns.handed and not turns.scheduled:
            # Nobody else was handed anything since this connection was, and nobody waits: a
            # lone client (or an upload's next chunk on a quiet server) goes on at once.
            self.last = turns.tick()
            self.inner.data_received(data)
            return
        self.held = [data]
        heapq.heappush(turns.waiting, (self.last, self))
        if not turns.scheduled:
            turns.scheduled = True
            turns.loop.call_soon(turns.hand_over)

    def release(self) -> None:
        """Hands over what this connection read (a no-op when its end or loss came first)."""
        held = self.held
        if held is None:
            return
        self.held = None
        self.last = self.turns.tick()
        inner = self.inner
        try:
            for data in held:
                inner.data_received(data)
        except Exception as exc:  # what the loop does when data_received fails: say it, drop the
            self.turns.loop.call_exception_handler({  # connection; the turn's others go on
                "message": "Fatal error: protocol.data_received() call failed.",
                "exception": exc, "protocol": inner, "transport": self.transport})
            if self.transport is not None:
                self.transport.abort()

    def eof_received(self) -> bool | None:
        self.release()
        return self.inner.eof_received()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.release()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()
