"""The HTTP/1.1 client callbacks go out with: one request per try, on kept-alive connections.

A callback needs little of a general client: one request with its body in memory, no cookies,
no redirects (a 3xx is a failed try), no compression, no proxy. aiohttp's client spent 89 µs of
CPU a POST here against 36 for a protocol this size (benchmarks/callback_client.py), and a send
with callbacks makes two. What it keeps of a client's duties:

- Where it connects: a name is resolved by the guarded resolver (core/targets.py: every address
  judged by the policy) and connected to on an address it returned, never looked up again;
  resolutions are kept DNS_SECONDS. A literal address is the caller's to judge (Dispatcher).
- Bounded: at most `limit` connections open, a response head of HEAD_LIMIT bytes, a body read
  to its end up to BODY_LIMIT bytes, chunked framing included (past that the connection is
  closed, the status stands), `keep` bytes of it returned, INTERIM_LIMIT 1xx answers; one
  deadline for the whole try (waiting for a connection, connecting, the answer).
- Kept alive: a connection goes back to its (scheme, host, port) pool when its answer was whole
  and neither side asked to close; idle for IDLE_SECONDS, it is closed. A reused connection the
  receiver closed before any byte of the answer (it timed the connection out as the request
  left: a keep-alive race) is tried once more on a new connection, as browsers and urllib3 do.
- HTTPS with the system's CA certificates, the host name checked.
"""
from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from collections import deque
from typing import Any, NamedTuple

from yarl import URL

from .targets import literal_address

HEAD_LIMIT = 64 * 1024  # bytes of a response's status line and headers
BODY_LIMIT = 64 * 1024  # bytes of a response body read; past it the connection is dropped
LINE_LIMIT = 4 * 1024  # bytes of a chunk-size line or a trailer line
INTERIM_LIMIT = 10  # 1xx answers skipped before the real one; more is not an HTTP server talking
IDLE_SECONDS = 15.0  # an idle kept-alive connection is closed after this
DNS_SECONDS = 10.0  # a name's checked addresses are reused this long
NO_BODY = frozenset({204, 304})


class Reply(NamedTuple):
    status: int
    text: str  # the first `keep` bytes of the body, decoded (UTF-8, invalid bytes replaced)


class BadReply(ValueError):
    """The receiver's answer is not HTTP/1.x as this client reads it."""


class Disconnected(ConnectionError):
    """The receiver closed the connection before its answer was whole."""

    def __init__(self, message: str, answered: bool) -> None:
        super().__init__(message)
        self.answered = answered  # some bytes of this answer had come


class CannotConnect(OSError):
    """No address of the target accepted a connection."""


class _Connection(asyncio.Protocol):
    """One connection and the answer being read on it (a small incremental parser)."""

    def __init__(self, client: CallbackClient, key: tuple) -> None:
        self.client = client
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.waiter: asyncio.Future | None = None
        self.keep = 0  # body bytes returned of the answer being read
        self._reset()

    def _reset(self) -> None:
        self.buffer = bytearray()
        self.pos = 0  # where the parser is in the buffer (what is before it was parsed)
        self.scanned = 0  # how far the buffer was searched for the separator being waited for
        self.state = "head"  # head | length | chunk-size | chunk-data | trailers | close | done
        self.status = 0
        self.interim = 0  # 1xx answers skipped
        self.keep_alive = True
        self.remaining = 0  # body bytes still owed (length, chunk-data)
        self.body = bytearray()  # the first `keep` bytes
        self.read = 0  # bytes of the body read so far, its chunked framing included
        self.got_any = False

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        self.got_any = True
        self.buffer += data
        try:
            done = self._parse()
        except BadReply as exc:
            self._settle(exc)
            return
        if self.pos:  # the bytes parsed go, once a read
            del self.buffer[: self.pos]
            self.scanned = max(0, self.scanned - self.pos)
            self.pos = 0
        if done:
            self._settle(None)

    def eof_received(self) -> bool:
        if self.waiter is not None and not self.waiter.done() and self.state == "close":
            self.keep_alive = False
            self._settle(None)  # a body delimited by the connection's end is whole
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.client._lost(self)
        if self.waiter is not None and not self.waiter.done():
            if self.state == "close":
                self.keep_alive = False
                self._settle(None)
            else:
                self._settle(Disconnected("the receiver closed the connection before its answer was whole", self.got_any))

    # -- one exchange ----------------------------------------------------------------------------
    def start(self, request: bytes, waiter: asyncio.Future, keep: int) -> None:
        self._reset()
        self.keep = keep
        self.waiter = waiter
        assert self.transport is not None
        self.transport.write(request)

    def _settle(self, error: Exception | None) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            return
        if error is not None:
            self.keep_alive = False
            waiter.set_exception(error)
        else:
            waiter.set_result(Reply(self.status, bytes(self.body).decode("utf-8", "replace")))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    # -- the parser: True once the answer is whole ------------------------------------------------
    # A receiver's bytes cost time linear in their number, whatever their shape: a separator is
    # searched for only in bytes not searched yet (a head dripped a byte at a time), the chunked
    # framing counts towards BODY_LIMIT (one-byte chunks, padded extensions), and at most
    # INTERIM_LIMIT 1xx answers are skipped.
    def _parse(self) -> bool:
        while True:
            state = self.state
            if state == "head":
                head = self._cut(b"\r\n\r\n", HEAD_LIMIT, "response head")
                if head is None:
                    return False
                if self._head(head):
                    self.interim += 1
                    if self.interim > INTERIM_LIMIT:
                        raise BadReply(f"over {INTERIM_LIMIT} interim (1xx) answers")
                    continue  # an interim answer (100 Continue...): the real one follows
                if self.state == "done":
                    return self._whole()
            elif state == "length":
                self._take(min(self.remaining, len(self.buffer) - self.pos))
                if self.remaining == 0:
                    return self._whole()
                return self._over_limit()
            elif state == "close":
                self._take(len(self.buffer) - self.pos)
                return self._over_limit()
            elif state == "chunk-size":
                line = self._cut(b"\r\n", LINE_LIMIT, "chunk-size line")
                if line is None:
                    return self._over_limit()
                self.read += len(line) + 2
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise BadReply(f"bad chunk size {size_text[:20]!r}") from None
                if size < 0:
                    raise BadReply("bad chunk size")
                self.state, self.remaining = ("trailers", 0) if size == 0 else ("chunk-data", size)
                if self._over_limit():
                    return True
            elif state == "chunk-data":
                available = len(self.buffer) - self.pos
                if available < self.remaining + 2:
                    self._take(min(self.remaining, available))  # a large chunk arrives in parts
                    return self._over_limit()
                self._take(self.remaining)
                if self.buffer[self.pos : self.pos + 2] != b"\r\n":
                    raise BadReply("chunk not followed by CRLF")
                self.pos += 2
                self.read += 2
                self.state = "chunk-size"
            elif state == "trailers":
                line = self._cut(b"\r\n", LINE_LIMIT, "trailer line")
                if line is None:
                    return False
                self.read += len(line) + 2
                if not line:
                    return self._whole()
                if self._over_limit():
                    return True
            else:
                raise BadReply(f"unexpected bytes after the answer ({state})")

    def _cut(self, separator: bytes, limit: int, what: str) -> bytes | None:
        """What comes before `separator`, the parser moved past both; None while it has not
        come, BadReply once more than `limit` bytes came without it."""
        end = self.buffer.find(separator, max(self.pos, self.scanned - len(separator) + 1))
        if end < 0:
            self.scanned = len(self.buffer)
            if len(self.buffer) - self.pos > limit:
                raise BadReply(f"{what} over {limit} bytes")
            return None
        taken = bytes(self.buffer[self.pos : end])
        self.pos = end + len(separator)
        self.scanned = self.pos
        return taken

    def _take(self, count: int) -> None:
        if count <= 0:
            return
        room = self.keep - len(self.body)
        if room > 0:
            self.body += self.buffer[self.pos : self.pos + min(room, count)]
        self.pos += count
        self.read += count
        if self.state in ("length", "chunk-data"):
            self.remaining -= count

    def _whole(self) -> bool:
        if len(self.buffer) > self.pos:  # bytes past the answer: nothing asked for them, so not reused
            self.keep_alive = False
        return True

    def _over_limit(self) -> bool:
        """A body past BODY_LIMIT is not read further: the answer stands, the connection goes."""
        if self.read > BODY_LIMIT:
            self.keep_alive = False
            return True
        return False

    def _head(self, head: bytes) -> bool:
        """Reads a status line and headers; True for an interim (1xx) answer, to be skipped."""
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") or not (len(parts[1]) == 3 and parts[1].isdigit()):
            raise BadReply(f"not an HTTP/1.x status line: {lines[0][:60]!r}")
        status = int(parts[1])
        if 100 <= status < 200:
            if status == 101:
                raise BadReply("the receiver switched protocols")
            return True
        self.status = status
        keep_alive = parts[0] == b"HTTP/1.1"
        length: int | None = None
        chunked = encoded = False
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                raise BadReply(f"bad header line {line[:60]!r}")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                if not value.isdigit() or (length is not None and int(value) != length):
                    raise BadReply(f"bad Content-Length {value[:20]!r}")
                length = int(value)
            elif name == b"transfer-encoding":
                encoded = True
                chunked = value.lower().rsplit(b",", 1)[-1].strip() == b"chunked"
            elif name == b"connection":
                tokens = {token.strip() for token in value.lower().split(b",")}
                if b"close" in tokens:
                    keep_alive = False
                elif b"keep-alive" in tokens:
                    keep_alive = True
        self.keep_alive = keep_alive
        if status in NO_BODY:
            self.state = "done"
        elif encoded:
            self.state = "chunk-size" if chunked else "close"
        elif length is not None:
            self.state, self.remaining = ("length", length) if length else ("done", 0)
        else:
            self.state = "close"
        if self.state == "close":
            self.keep_alive = False
        return False


class CallbackClient:
    """Sends one request and returns its Reply; raises TargetRefused (from the resolver),
    TimeoutError, CannotConnect, Disconnected, BadReply or another OSError."""

    def __init__(self, resolver: Any, limit: int, user_agent: str) -> None:
        self.resolver = resolver
        self.limit = limit
        self.user_agent = user_agent
        self._slots = asyncio.Semaphore(limit)
        self._idle: dict[tuple, deque[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._names: dict[tuple[str, int], tuple[float, list[dict[str, Any]]]] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._tls: ssl.SSLContext | None = None
        self.closed = False

    async def send(self, method: str, url: URL, headers: dict[str, str], body: bytes, timeout: float, keep: int) -> Reply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self.closed:
            raise ConnectionError("the callback client is closed")
        if url.scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {url.scheme!r} (http or https)")
        host = url.raw_host
        if not host:
            raise ValueError(f"no host in {str(url)[:200]!r}")
        port = url.port or (443 if url.scheme == "https" else 80)
        request = _render(method, url, headers, body, self.user_agent)
        key = (url.scheme, host, port)
        if self._slots.locked():
            await _before(deadline, self._slots.acquire())
        else:
            await self._slots.acquire()
        try:
            conn = self._reuse(key)
            if conn is not None:
                try:
                    return await self._exchange(conn, request, deadline, keep)
                except Disconnected as exc:
                    if exc.answered:
                        raise  # (not the keep-alive race: part of an answer came)
            conn = await _before(deadline, self._connect(key, url))
            return await self._exchange(conn, request, deadline, keep)
        finally:
            self._slots.release()

    async def close(self) -> None:
        self.closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for conn in list(self._open):
            conn.close()
        self._idle.clear()

    # -- connections -----------------------------------------------------------------------------
    def _reuse(self, key: tuple) -> _Connection | None:
        pool = self._idle.get(key)
        while pool:
            conn = pool.pop()  # the most recently used: the least likely to be timed out
            if not conn.closed:
                return conn
        return None

    async def _connect(self, key: tuple, url: URL) -> _Connection:
        scheme, host, port = key
        if len(self._open) >= self.limit:
            self._close_oldest_idle()
        literal = literal_address(host)
        if literal is not None:
            targets = [(str(literal), socket.AF_INET6 if literal.version == 6 else socket.AF_INET)]
        else:
            targets = [(found["host"], found["family"]) for found in await self._resolve(host, port)]
        tls = self._tls_context() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        failure: Exception | None = None
        for address, family in targets:
            conn = _Connection(self, key)
            try:
                await loop.create_connection(lambda: conn, address, port, family=family, ssl=tls,
                                             server_hostname=host if tls else None)
            except OSError as exc:
                failure = exc
                continue
            self._open.add(conn)
            return conn
        reason = f"{type(failure).__name__}: {failure}" if failure is not None else "no address"
        raise CannotConnect(f"cannot connect to {url.host_port_subcomponent}: {reason}")

    async def _resolve(self, host: str, port: int) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        cached = self._names.get((host, port))
        if cached is not None and cached[0] > loop.time():
            return cached[1]
        try:
            found = await self.resolver.resolve(host, port, family=socket.AF_UNSPEC)
        except OSError as exc:  # (a refused target is not an OSError: it goes up as it is)
            raise CannotConnect(f"cannot resolve {host}: {exc}") from exc
        if len(self._names) >= 1024:
            self._names.clear()
        self._names[(host, port)] = (loop.time() + DNS_SECONDS, found)
        return found

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    async def _exchange(self, conn: _Connection, request: bytes, deadline: float, keep: int) -> Reply:
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            conn.start(request, waiter, keep)
            reply = await waiter
        except BaseException:
            conn.close()
            raise
        finally:
            timer.cancel()
        if conn.keep_alive and not conn.closed and not self.closed:
            self._park(conn)
        else:
            conn.close()
        return reply

    def _park(self, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        conn.idle_since = loop.time()
        self._idle.setdefault(conn.key, deque()).append(conn)
        if self._sweep is None:
            self._sweep = loop.call_later(IDLE_SECONDS, self._close_idle)

    def _close_idle(self) -> None:
        """Connections idle for IDLE_SECONDS are closed; the sweep comes back while any is left."""
        self._sweep = None
        loop = asyncio.get_running_loop()
        horizon = loop.time() - IDLE_SECONDS
        left = False
        for key, pool in list(self._idle.items()):
            while pool and (pool[0].closed or pool[0].idle_since <= horizon):
                pool.popleft().close()
            if pool:
                left = True
            else:
                del self._idle[key]
        if left and not self.closed:
            self._sweep = loop.call_later(IDLE_SECONDS, self._close_idle)

    def _close_oldest_idle(self) -> None:
        oldest = min((pool[0] for pool in self._idle.values() if pool), key=lambda c: c.idle_since, default=None)
        if oldest is not None:
            self._idle[oldest.key].popleft()
            oldest.close()

    def _lost(self, conn: _Connection) -> None:
        self._open.discard(conn)


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


async def _before(deadline: float, awaitable: Any) -> Any:
    """The awaitable's result, or TimeoutError at the deadline (only for the rare waits: the
    slot when all are taken, a new connection; an answer has its own timer, with no task)."""
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining <= 0:
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise TimeoutError()
    try:
        return await asyncio.wait_for(awaitable, remaining)
    except asyncio.TimeoutError:
        raise TimeoutError() from None


def _render(method: str, url: URL, headers: dict[str, str], body: bytes, user_agent: str) -> bytes:
    """The request's bytes; header names and values may not carry line breaks."""
    fields = {"Host": url.host_port_subcomponent, "User-Agent": user_agent, "Accept": "*/*"}
    if url.user is not None:
        credentials = f"{url.user}:{url.password or ''}".encode("utf-8")
        fields["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
    by_lower = {name.lower(): name for name in fields}
    for name, value in headers.items():
        existing = by_lower.get(name.lower())
        if existing is not None and existing != name:
            del fields[existing]
        fields[name] = value
        by_lower[name.lower()] = name
    fields["Content-Length"] = str(len(body))
    lines = [f"{method} {url.raw_path_qs or '/'} HTTP/1.1"]
    for name, value in fields.items():
        text = f"{name}: {value}"
        if "\r" in text or "\n" in text or "\0" in text:
            raise ValueError(f"header {name!r} has a line break")
        lines.append(text)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
