"""One connection to Valkey/Redis for the shared store's hot path: commands packed and replies
parsed by hiredis (C), written and read on a plain asyncio stream. The store's commits and its
change feed go through here: redis-py's asyncio client spends about 100 µs of Python per call
(pool, timeouts, per-argument packing), this about a third of that, and a commit of a dozen
sends is one call.

Only for redis:// and unix:// URLs with hiredis installed (`link_for` says None otherwise, and
the store uses redis-py for everything). Calls on one link never overlap: the store makes one
at a time on each.
"""
from __future__ import annotations

import asyncio
from typing import Any

TIMEOUT = 30.0  # a reply not complete by then: the connection is dropped and the call fails


class LinkError(ConnectionError):
    """The call failed (connection lost, timed out, or the server answered with an error).
    `sent`: whether its commands may have run without this process knowing (a reply lost on
    the way: a commit made, its number never known); False for NotSent and Refused."""

    sent = True


class NotSent(LinkError):
    """No connection could be made: none of the call's commands ran."""

    sent = False


class Refused(LinkError):
    """A transaction's reply came, with an error for some of its commands: the others ran
    (`results`, errors included)."""

    sent = False

    def __init__(self, message: str, results: list[Any]) -> None:
        super().__init__(message)
        self.results = results


def link_for(url: str) -> "Link | None":
    try:
        import hiredis
    except ImportError:
        return None
    try:
        from redis.connection import parse_url
    except ImportError:
        from valkey.connection import parse_url  # type: ignore[no-redef]
    options = parse_url(url)
    if "connection_class" in options and "path" not in options:
        return None  # TLS: left to redis-py
    return Link(options, hiredis)


class Link:
    def __init__(self, options: dict[str, Any], hiredis: Any) -> None:
        self._options = options
        self._hiredis = hiredis
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser: Any = None

    def pack(self, *args: Any) -> bytes:
        return self._hiredis.pack_command(args)

    async def call(self, packed: list[bytes]) -> list[Any]:
        """Send the packed commands at once; their replies, in order (errors raise LinkError)."""
        if self._writer is None:
            try:
                await self._connect()
            except (LinkError, OSError, asyncio.TimeoutError) as exc:
                self.close()
                raise NotSent(str(exc) or type(exc).__name__) from None
        replies = await self._exchange(packed)
        for reply in replies:
            if isinstance(reply, self._hiredis.ReplyError):
                raise LinkError(str(reply))
        return replies

    async def _exchange(self, packed: list[bytes]) -> list[Any]:
        writer, reader, parser = self._writer, self._reader, self._parser
        loop = asyncio.get_running_loop()
        timer = loop.call_later(TIMEOUT, self.close)
        try:
            writer.writelines(packed)
            replies: list[Any] = []
            while len(replies) < len(packed):
                reply = parser.gets()
                if reply is False:
                    data = await reader.read(262144)
                    if not data:
                        raise LinkError("connection closed by the server")
                    parser.feed(data)
                    continue
                replies.append(reply)
            return replies
        except (LinkError, asyncio.CancelledError):
            self.close()  # (cancelled: its replies may still come, and must not answer the next call)
            raise
        except (OSError, AttributeError, asyncio.IncompleteReadError, self._hiredis.ProtocolError) as exc:
            self.close()  # (AttributeError: closed under our feet by the timeout)
            raise LinkError(str(exc) or type(exc).__name__) from None
        finally:
            timer.cancel()

    async def _connect(self) -> None:
        o = self._options
        if "path" in o:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(o["path"]), TIMEOUT)
        else:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(o.get("host", "localhost"), o.get("port", 6379)), TIMEOUT)
        self._reader, self._writer, self._parser = reader, writer, self._hiredis.Reader()
        hello = []
        if o.get("password"):
            hello.append(self.pack("AUTH", *([o["username"]] if o.get("username") else []), o["password"]))
        if o.get("db"):
            hello.append(self.pack("SELECT", o["db"]))
        if hello:
            for reply in await self._exchange(hello):
                if isinstance(reply, self._hiredis.ReplyError):
                    self.close()
                    raise LinkError(str(reply))

    def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
