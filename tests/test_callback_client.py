"""The callbacks' HTTP client against real sockets: raw asyncio servers that answer exactly the
bytes each case needs (keep-alive, chunked, close-delimited, interim answers, a receiver that
drops the connection, stalls, or answers too much)."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import socket

import pytest
from yarl import URL

from emulator.core import callback_client
from emulator.core.callback_client import BadReply, CallbackClient, Disconnected
from emulator.core.targets import TargetRefused

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Receiver:
    """A raw TCP server: `answer(request_bytes, writer)` writes what the case needs. Counts the
    connections accepted and keeps every request's head."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.stopping = asyncio.Event()

    async def start(self) -> "Receiver":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> URL:
        return URL(f"http://{host}:{self.port}{path}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
                body = await reader.readexactly(length)
                self.heads.append(head)
                self.bodies.append(body)
                if await self.answer(head, writer) is False:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def stop(self) -> None:
        self.stopping.set()
        self.server.close()


async def receiver(answer) -> Receiver:
    return await Receiver(answer).start()


async def ok(head, writer):
    writer.write(OK)


class FakeDNS:
    """Resolves every name to 127.0.0.1, as the guarded resolver's result; refuses `bad.test`."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(self, host, port=0, family=socket.AF_INET):
        self.asked.append(host)
        if host == "bad.test":
            raise TargetRefused("bad.test is refused")
        if host == "nowhere.test":
            raise socket.gaierror(-2, "Name or service not known")
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}]


def client(limit: int = 10) -> CallbackClient:
    return CallbackClient(FakeDNS(), limit, "msgemu-callbacks/test")


@contextlib.asynccontextmanager
async def talking_to(answer, limit: int = 10):
    """A receiver answering with `answer`, and a client; both closed however the test ends."""
    hook = await receiver(answer)
    http = client(limit)
    try:
        yield hook, http
    finally:
        await http.close()
        await hook.stop()


async def test_connections_are_kept_alive_and_the_request_is_whole():
    async with talking_to(ok) as (hook, http):
        for n in range(5):
            reply = await http.send("POST", hook.url("/a hook?x=1"), {"Content-Type": "application/json"}, b'{"n": %d}' % n, 5, 2000)
            assert reply == (200, "ok")
        assert hook.connections == 1
        assert hook.bodies == [b'{"n": %d}' % n for n in range(5)]
        lines = hook.heads[0].split(b"\r\n")
        assert lines[0] == b"POST /a%20hook?x=1 HTTP/1.1"  # (encoded as aiohttp sent it: yarl)
        assert f"Host: 127.0.0.1:{hook.port}".encode() in lines and b"User-Agent: msgemu-callbacks/test" in lines
        assert b"Content-Type: application/json" in lines and b"Content-Length: 8" in lines


async def test_a_name_goes_through_the_resolver_and_is_the_host_header():
    async with talking_to(ok) as (hook, http):
        assert (await http.send("POST", hook.url(host="receiver.test"), {}, b"x", 5, 100)).status == 200
        assert http.resolver.asked == ["receiver.test"]
        assert f"Host: receiver.test:{hook.port}".encode() in hook.heads[0].split(b"\r\n")
        with pytest.raises(TargetRefused):
            await http.send("POST", hook.url(host="bad.test"), {}, b"x", 5, 100)
        with pytest.raises(OSError, match="cannot resolve nowhere.test: .*Name or service not known"):
            await http.send("POST", hook.url(host="nowhere.test"), {}, b"x", 5, 100)


async def test_chunked_answer_with_trailers_then_the_connection_is_reused():
    async def chunked(head, writer):
        writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n")
        await writer.drain()
        writer.write(b"5;ext=1\r\nhello\r\n")
        await asyncio.sleep(0.01)  # in parts
        writer.write(b"6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")

    async with talking_to(chunked) as (hook, http):
        assert await http.send("POST", hook.url(), {}, b"a", 5, 2000) == (201, "hello world")
        assert await http.send("POST", hook.url(), {}, b"b", 5, 7) == (201, "hello w")  # `keep` bytes of it
        assert hook.connections == 1


async def test_a_body_delimited_by_the_close_is_read_to_the_end_and_not_reused():
    async def old_style(head, writer):
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nall of it")
        return False  # closes

    async with talking_to(old_style) as (hook, http):
        assert await http.send("POST", hook.url(), {}, b"a", 5, 2000) == (200, "all of it")
        assert await http.send("POST", hook.url(), {}, b"b", 5, 2000) == (200, "all of it")
        assert hook.connections == 2


async def test_connection_close_is_honoured():
    async def closing(head, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        return False

    async with talking_to(closing) as (hook, http):
        for _ in range(3):
            assert (await http.send("POST", hook.url(), {}, b"a", 5, 2000)).status == 200
        assert hook.connections == 3


async def test_the_keep_alive_race_is_retried_once_on_a_new_connection():
    served: dict[int, int] = {}

    async def drop_the_second(head, writer):
        # each connection answers one request and drops the next one unanswered, as a receiver
        # whose idle timeout strikes as that request arrives
        served[id(writer)] = served.get(id(writer), 0) + 1
        if served[id(writer)] == 2:
            return False
        writer.write(OK)

    async with talking_to(drop_the_second) as (hook, http):
        assert (await http.send("POST", hook.url(), {}, b"a", 5, 2000)).status == 200
        assert (await http.send("POST", hook.url(), {}, b"b", 5, 2000)).status == 200
        assert hook.connections == 2 and hook.bodies == [b"a", b"b", b"b"]


async def test_an_answer_cut_short_is_an_error_and_not_sent_again():
    async def cut(head, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await writer.drain()
        return False

    async with talking_to(cut) as (hook, http):
        with pytest.raises(Disconnected):
            await http.send("POST", hook.url(), {}, b"a", 5, 2000)
        assert hook.bodies == [b"a"]


async def test_no_answer_times_out_at_the_deadline_and_the_connection_goes():
    async def silent(head, writer):
        await hook.stopping.wait()

    async with talking_to(silent) as (hook, http):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await http.send("POST", hook.url(), {}, b"a", 0.3, 2000)
        assert 0.25 < loop.time() - started < 2
        await asyncio.sleep(0.05)
        assert not http._open  # closed, not parked: its answer may still come


async def test_nothing_listening_is_a_connect_error_that_names_the_target():
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()
    http = client()
    with pytest.raises(OSError) as caught:
        await http.send("POST", URL(f"http://127.0.0.1:{port}/hook"), {}, b"a", 5, 2000)
    assert f"cannot connect to 127.0.0.1:{port}" in str(caught.value)
    await http.close()


@pytest.mark.parametrize(
    "answer, problem",
    [
        (b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * (70 * 1024), "response head over"),
        (b"SMTP 220 hello\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line"),
    ],
)
async def test_answers_that_are_not_http_are_refused_with_a_reason(answer, problem):
    async def bad(head, writer):
        writer.write(answer)

    async with talking_to(bad) as (hook, http):
        with pytest.raises(BadReply, match=problem):
            await http.send("POST", hook.url(), {}, b"a", 5, 2000)


async def test_an_interim_answer_is_skipped():
    async def continued(head, writer):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)

    async with talking_to(continued) as (hook, http):
        assert await http.send("POST", hook.url(), {}, b"a", 5, 2000) == (200, "ok")


async def test_a_huge_body_is_not_read_past_the_limit_and_the_connection_goes():
    size = 10 * callback_client.BODY_LIMIT

    async def huge(head, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        writer.write(b"x" * size)

    async with talking_to(huge) as (hook, http):
        assert await http.send("POST", hook.url(), {}, b"a", 5, 5) == (200, "xxxxx")
        assert await http.send("POST", hook.url(), {}, b"b", 5, 5) == (200, "xxxxx")
        assert hook.connections == 2


async def test_at_most_limit_connections_at_once():
    async def slow(head, writer):
        await asyncio.sleep(0.05)
        writer.write(OK)

    async with talking_to(slow, limit=2) as (hook, http):
        replies = await asyncio.gather(*(http.send("POST", hook.url(), {}, b"a", 5, 10) for _ in range(8)))
        assert [r.status for r in replies] == [200] * 8
        assert hook.most_open == 2 and hook.connections == 2


async def test_idle_connections_are_closed(monkeypatch):
    monkeypatch.setattr(callback_client, "IDLE_SECONDS", 0.1)
    async with talking_to(ok) as (hook, http):
        await http.send("POST", hook.url(), {}, b"a", 5, 10)
        assert hook.open == 1
        await asyncio.sleep(0.35)
        assert hook.open == 0 and not http._open


async def test_headers_cannot_carry_line_breaks_and_userinfo_is_basic_auth():
    async with talking_to(ok) as (hook, http):
        with pytest.raises(ValueError, match="line break"):
            await http.send("POST", hook.url(), {"X-Evil": "a\r\nX-Injected: 1"}, b"a", 5, 10)
        assert hook.connections == 0
        url = URL(f"http://me:p%40ss@127.0.0.1:{hook.port}/hook")
        assert (await http.send("POST", url, {"host": "app.test"}, b"a", 5, 10)).status == 200
        lines = hook.heads[0].split(b"\r\n")
        assert b"Authorization: Basic " + base64.b64encode(b"me:p@ss") in lines
        assert b"host: app.test" in lines and not any(line.startswith(b"Host:") for line in lines)
        with pytest.raises(ValueError, match="scheme"):
            await http.send("POST", URL("ftp://127.0.0.1/x"), {}, b"a", 5, 10)


async def test_a_head_in_drips_and_a_separator_split_across_reads():
    answer = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * 3000 + b"\r\nContent-Length: 2\r\n\r\nok"

    async def drip(head, writer):
        for start in range(0, len(answer), 7):  # 7-byte pieces: "\r\n\r\n" lands across two
            writer.write(answer[start : start + 7])
            await writer.drain()
            if start % 700 == 0:
                await asyncio.sleep(0.001)

    async with talking_to(drip) as (hook, http):
        assert await http.send("POST", hook.url(), {}, b"a", 5, 10) == (200, "ok")
        assert await http.send("POST", hook.url(), {}, b"b", 5, 10) == (200, "ok")
        assert hook.connections == 1


@pytest.mark.parametrize(
    "framing",
    [
        b"1\r\nx\r\n" * 20_000,  # thousands of one-byte chunks
        (b"1;" + b"e" * 4000 + b"\r\nx\r\n") * 40,  # chunk extensions padding the framing
    ],
)
async def test_chunked_framing_counts_towards_the_body_limit(framing):
    async def chunks(head, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + framing + b"0\r\n\r\n")

    async with talking_to(chunks) as (hook, http):
        assert await http.send("POST", hook.url(), {}, b"a", 5, 3) == (200, "xxx")
        assert await http.send("POST", hook.url(), {}, b"b", 5, 3) == (200, "xxx")
        assert hook.connections == 2  # over the limit: dropped, not reused


async def test_endless_interim_answers_are_refused():
    async def chatty(head, writer):
        writer.write(b"HTTP/1.1 102 Processing\r\n\r\n" * 50 + OK)

    async with talking_to(chatty) as (hook, http):
        with pytest.raises(BadReply, match="interim"):
            await http.send("POST", hook.url(), {}, b"a", 5, 10)
