"""The HTTP listener of `msgemu serve`: the same accept loop under asyncio's own loop and uvloop.

Why not `web.TCPSite` (loop.create_server): when file descriptors run out, the two loops behave
differently. asyncio leaves new connections in the kernel's backlog and retries accept() every
second; libuv (uvloop) accepts them and closes them at once (its "EMFILE trick"), so clients
waiting in the backlog are reset and nothing is logged. Here accepting is ours (a readiness
callback, `socket.accept()`, then `loop.connect_accepted_socket` hands the connection to
aiohttp), and it stops accepting *before* descriptors run out: at most `Budget.limit` HTTP
connections are open at once; beyond that new ones wait in the backlog until idle ones are cut
(--idle-timeout), and one line says so. EMFILE/ENFILE from accept (descriptors taken elsewhere
in the process) is treated the same way, with a short back-off. A connection is never accepted
only to be closed.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket

from aiohttp import web

from .arrival_order import in_arrival_order
from .core.callbacks import CALLBACK_CONNECTIONS

log = logging.getLogger("msgemu")

BACKLOG = 2048  # connections the kernel holds for us while we are at the bound (capped by net.core.somaxconn)
RESERVE_BASE = 64  # descriptors for everything but HTTP and callback connections (see connection_limit)
ROOM_CHECK = 0.05  # seconds between looks for room while at the bound (a sleep, never a busy loop)
RETRY_FIRST, RETRY_MAX = 0.05, 1.0  # back-off after EMFILE/ENFILE from accept(), doubling
# what asyncio's own listener counts as running out: descriptors (EMFILE, ENFILE), kernel memory
OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
UNBOUNDED = 1 << 20  # connections allowed when RLIMIT_NOFILE is unlimited or unknown


def open_files_limit() -> int | None:
    """The soft RLIMIT_NOFILE (`ulimit -n`), or None when unlimited or unknown (Windows)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):  # pragma: no cover - not on this platform
        return None
    return None if soft in (resource.RLIM_INFINITY, -1) else soft


def connection_limit(nofile: int | None) -> int:
    """How many HTTP connections may be open at once with `nofile` descriptors.

    The reserve is what the process opens besides its HTTP connections: RESERVE_BASE (64) for
    what a running `msgemu serve` holds anyway (counted in /proc on Linux with the main port, a
    provider port and the SMPP/SMTP listeners: 12 under asyncio, 19 under uvloop; that is
    stdio, epoll, wake-up pipes, log file, listening sockets; then a scenario file being read,
    a Valkey/Redis store's few connections, DNS lookups) with room to spare, plus
    CALLBACK_CONNECTIONS (200), the most connections the callback dispatcher opens at once. With
    a small `ulimit -n` at most a quarter is held back (1024 -> 768 HTTP connections): HTTP
    clients are what fills descriptors, and a callback refused for want of one is retried on its
    ladder. SMPP/SMTP sessions have bounds of their own and are not reserved for: they share
    what HTTP leaves, as they did before."""
    if nofile is None:
        return UNBOUNDED
    reserve = min(RESERVE_BASE + CALLBACK_CONNECTIONS, nofile // 4)
    return max(1, nofile - reserve)


class Shortage:
    """Says once per process that descriptors ran out, whichever listener found it first."""

    def __init__(self, nofile: int | None, limit: int) -> None:
        self.nofile = nofile
        self.limit = limit
        self.times = 0

    def report(self) -> None:
        """Counts one more shortage; logs the first."""
        self.times += 1
        if self.times == 1:
            log.warning(self.message())

    def message(self) -> str:
        ulimit = "unlimited" if self.nofile is None else self.nofile
        return (
            f"file descriptors ran out (ulimit -n is {ulimit}, {self.limit} of them for HTTP connections): "
            "new connections wait in the backlog until idle ones are closed (--idle-timeout); raise ulimit -n "
            "for more; logged once, not at every retry"
        )


class Budget:
    """The open HTTP connections of one process, shared by all its listening sockets.

    A connection counts from accept until its transport starts closing. Transports are kept in
    a set pruned of closed ones once it doubles (so it costs O(1) per connection and holds at
    most twice what is open), and again whenever it reaches the limit. `starting` counts the
    connections accepted and not yet handed to aiohttp."""

    def __init__(self, limit: int | None = None, nofile: int | None = None) -> None:
        self.nofile = open_files_limit() if nofile is None else nofile
        self.limit = connection_limit(self.nofile) if limit is None else limit
        self.shortage = Shortage(self.nofile, self.limit)
        self.starting = 0
        self._open: set[asyncio.BaseTransport] = set()
        self._next_prune = 64

    def full(self) -> bool:
        if len(self._open) + self.starting < self.limit:
            return False
        self._prune()
        return len(self._open) + self.starting >= self.limit

    def add(self, transport: asyncio.BaseTransport) -> None:
        self._open.add(transport)
        if len(self._open) >= self._next_prune:
            self._prune()

    def _prune(self) -> None:
        self._open = {t for t in self._open if not t.is_closing()}
        self._next_prune = 2 * len(self._open) + 64


class CannotListen(OSError):
    """One line for a port that cannot be bound (busy, no such address, no permission)."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        busy = cause.errno == errno.EADDRINUSE
        reason = "address already in use" if busy else (cause.strerror or str(cause))
        hint = " (another msgemu? choose one with --port or MSGEMU_PORT)" if busy else ""
        super().__init__(f"cannot listen on {host}:{port}: {reason}{hint}")


class Acceptor:
    """Accepts connections on listening sockets within a Budget and hands each to
    `protocol_factory` (loop.connect_accepted_socket): what every listener of msgemu shares,
    HTTP (ListenerSite) and the SMPP/SMTP front doors alike.

    Accepting works as asyncio's own listener does (a readiness callback on the listening
    socket takes up to a backlog's worth of connections per wake-up and sets each up in a
    task), except at the edges: at the bound, or on EMFILE/ENFILE, it stops watching the socket
    for a moment (ROOM_CHECK, or a back-off doubling from RETRY_FIRST to RETRY_MAX) and leaves
    the connections in the backlog."""

    def __init__(self, sockets: list[socket.socket], protocol_factory, budget: Budget, name: str,
                 backlog: int = BACKLOG) -> None:
        self.sockets = sockets
        self._factory = protocol_factory
        self._budget = budget
        self._name = name
        self._backlog = backlog
        self._loop = asyncio.get_running_loop()
        self._retry = RETRY_FIRST
        self._paused: dict[int, asyncio.TimerHandle] = {}  # fd -> when it is watched again
        self._starting: set[asyncio.Task] = set()

    def start(self) -> None:
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    @property
    def port(self) -> int:
        """The bound port (the one the kernel chose when asked for 0)."""
        return self.sockets[0].getsockname()[1]

    def close(self) -> None:
        """Stops accepting: takes what the sockets hold already, then closes them (from then on
        connections are refused; those taken go on). aiohttp's BaseSite.stop calls it."""
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())
            paused = self._paused.pop(sock.fileno(), None)
            if paused is not None:
                paused.cancel()
        # Closing a listening socket resets the connections the kernel completed and queued for
        # it, and their clients may have sent a request already: take them first, in one go (no
        # await between the last accept and the close), then serve them like any other.
        for sock in self.sockets:
            self._accept(sock, resume=False)
            sock.close()

    async def settled(self) -> None:
        """Until every connection taken has been handed to its protocol."""
        await asyncio.gather(*self._starting, return_exceptions=True)

    def _accept(self, sock: socket.socket, resume: bool = True) -> None:
        """Takes what the backlog holds (up to its size), unless the budget is spent."""
        budget = self._budget
        for _ in range(self._backlog):
            if budget.full():
                budget.shortage.report()
                if resume:
                    self._pause(sock, ROOM_CHECK)
                return
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the client gave up before we took it
            except OSError as exc:
                if exc.errno in OUT_OF_RESOURCES:
                    budget.shortage.report()
                elif resume:  # a listener that stops accepting would be silent: say it, keep going
                    log.warning("accept() on %s failed: %s; retrying", self._name, exc)
                if resume:
                    self._pause(sock, self._retry)
                    self._retry = min(self._retry * 2, RETRY_MAX)
                return
            self._retry = RETRY_FIRST
            conn.setblocking(False)
            budget.starting += 1
            task = self._loop.create_task(self._serve(conn))
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)

    def _pause(self, sock: socket.socket, delay: float) -> None:
        """Stops watching `sock` for `delay` seconds: a wait, never a busy loop."""
        self._loop.remove_reader(sock.fileno())
        self._paused[sock.fileno()] = self._loop.call_later(delay, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        self._paused.pop(sock.fileno(), None)
        self._loop.add_reader(sock.fileno(), self._accept, sock)

    async def _serve(self, conn: socket.socket) -> None:
        """Hands an accepted connection to its protocol (aiohttp sets TCP_NODELAY itself)."""
        try:
            transport, _ = await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError as exc:  # the client reset it already
            log.debug("connection lost while being set up: %s", exc)
            conn.close()
        else:
            self._budget.add(transport)
        finally:
            self._budget.starting -= 1


async def listen(host: str, port: int, protocol_factory, budget: Budget, name: str, reuse_port: bool = False,
                 backlog: int = BACKLOG) -> Acceptor:
    """Bind `host:port` and accept within `budget`: the one-line CannotListen when it cannot."""
    loop = asyncio.get_running_loop()
    try:
        sockets = await bind(loop, host, port, reuse_port, backlog)
    except OSError as exc:
        raise CannotListen(host, port, exc) from None
    acceptor = Acceptor(sockets, protocol_factory, budget, name, backlog)
    acceptor.start()
    return acceptor


class ListenerSite(web.BaseSite):
    """An aiohttp site on `host:port` whose connections an Acceptor takes, within a Budget.
    `stop()` closes the listening sockets: from then on connections are refused, while those
    already accepted go on (drain() in cli.py relies on that)."""

    __slots__ = ("_host", "_port", "_reuse_port", "_budget", "_acceptor")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, budget: Budget, *,
                 reuse_port: bool = False, backlog: int = BACKLOG) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._reuse_port = reuse_port
        self._budget = budget
        self._acceptor: Acceptor | None = None

    @property
    def name(self) -> str:
        host = self._host or "0.0.0.0"
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port (the one the kernel chose when asked for 0)."""
        return self._acceptor.port if self._acceptor is not None else self._port

    async def start(self) -> None:
        self._acceptor = await listen(self._host, self._port, in_arrival_order(self._runner.server), self._budget,
                                      f"http://{self._host}:{self._port}", self._reuse_port, self._backlog)
        await super().start()  # registers the site with its runner
        self._server = self._acceptor  # what BaseSite keeps: its sockets (runner.addresses), close()

    async def stop(self) -> None:
        await super().stop()  # closes the Acceptor and unregisters the site
        if self._acceptor is not None:
            await self._acceptor.settled()


async def bind(loop: asyncio.AbstractEventLoop, host: str, port: int, reuse_port: bool, backlog: int) -> list[socket.socket]:
    """Listening sockets for `host:port`, as loop.create_server makes them: one per address the
    name resolves to ('' or None: every IPv4 and IPv6 address), SO_REUSEADDR, IPv6 sockets
    IPv6-only, SO_REUSEPORT when several workers share the port; non-blocking."""
    infos = await loop.getaddrinfo(host or None, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = new_socket(family, kind, proto, reuse_port)
            sockets.append(sock)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def new_socket(family: int, kind: int, proto: int, reuse_port: bool) -> socket.socket:
    """A socket with the options every listener of msgemu binds with (and port_claim's check,
    which must meet what the workers will meet)."""
    sock = socket.socket(family, kind, proto)
    if os.name == "posix":  # as asyncio does: a restart may bind while old connections linger
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return sock
