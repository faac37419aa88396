"""A provider's answer written in one go (middleware._write_whole) is byte for byte what
aiohttp's prepare() and write_eof() write, over a real socket: status line, header names,
order and values, keep-alive and Connection: close, HTTP/1.0, HEAD, hooks that close the
connection; and an aiohttp without what it needs answers through prepare(), never twice."""
from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from emulator import middleware
from emulator.app import build_app
from emulator.providers.base import answer, json_response

from .conftest import test_settings

ALPHASMS = '{"auth":"alphasms-demo-key","data":[{"type":"sms","id":%d,"phone":380971234567,"sms_signature":"Bench","sms_message":"Code %d"}]}'
HYBER_AUTH = {"Content-Type": "application/json", "Authorization": "Basic ZGVtbzpkZW1vLXBhc3N3b3Jk"}


def request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# (name, raw requests sent on one connection, answers expected on it)
EXCHANGES = [
    ("alphasms sends, keep-alive", request("POST", "/alphasms/api/json.php", (ALPHASMS % (1, 1)).encode(), {"Content-Type": "application/json"})
     + request("POST", "/alphasms/api/json.php", (ALPHASMS % (2, 2)).encode(), {"Content-Type": "application/json"}), 2),
    ("alphasms refused", request("POST", "/alphasms/api/json.php", b'{"auth":"nope","data":[]}', {"Content-Type": "application/json"}), 1),
    ("unknown path in the provider's shape", request("GET", "/octopush/v1/nowhere"), 1),
    ("hyber refused with headers of its own", request("POST", "/hyber/1000", b"{}", {"Content-Type": "application/json", "Authorization": "Basic eDp5"}), 1),
    ("hyber send", request("POST", "/hyber/1000", b'{"phone_number":380961234567,"extra_id":"a1","channels":["sms"],'
                           b'"channel_options":{"sms":{"text":"Hi","alpha_name":"GMSU","ttl":300}}}', HYBER_AUTH), 1),
    ("HTTP/1.0", request("POST", "/alphasms/api/json.php", (ALPHASMS % (3, 3)).encode(), {"Content-Type": "application/json"}, "1.0"), 1),
    ("HTTP/1.0 keep-alive", request("POST", "/alphasms/api/json.php", (ALPHASMS % (4, 4)).encode(),
                                    {"Content-Type": "application/json", "Connection": "keep-alive"}, "1.0"), 1),
    ("Connection: close", request("POST", "/alphasms/api/json.php", (ALPHASMS % (5, 5)).encode(),
                                  {"Content-Type": "application/json", "Connection": "close"}), 1),
    ("HEAD", request("HEAD", "/alphasms/api/json.php"), 1),
    ("smsc form", request("POST", "/smsc/sys/send.php", b"login=demo&psw=demo-password&phones=79161234567&mes=Hi&fmt=3&charset=utf-8",
                          {"Content-Type": "application/x-www-form-urlencoded"}), 1),
]


async def read_answers(reader: asyncio.StreamReader, count: int, head_only: bool) -> bytes:
    seen = b""
    for _ in range(count):
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"Content-Length: (\d+)", head)
        seen += head + (b"" if head_only or not length else await reader.readexactly(int(length.group(1))))
    return seen


async def answers_of(app: web.Application) -> dict[str, bytes]:
    server = TestServer(app)
    await server.start_server()
    try:
        seen = {}
        for name, raw, count in EXCHANGES:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(raw)
            got = await asyncio.wait_for(read_answers(reader, count, name == "HEAD"), 5)
            closed = await asyncio.wait_for(reader.read(), 0.3) == b"" if b"close" in got or b"HTTP/1.0 200" in got and b"keep-alive" not in got else None
            writer.close()
            seen[name] = _masked(got) + (b" <closed>" if closed else b"")
        return seen
    finally:
        await server.close()


def _masked(raw: bytes) -> bytes:
    raw = re.sub(rb"Date: [^\r]+", b"Date: <date>", raw)
    raw = re.sub(rb'"msg_id":\d+', lambda found: re.sub(rb"\d", b"N", found.group(0)), raw)  # a counter shared by the apps of a process
    return re.sub(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", b"<uuid>", raw)


async def test_answers_written_whole_are_the_bytes_prepare_writes(monkeypatch):
    if middleware._WHOLE is None:
        pytest.skip("this aiohttp answers through prepare() only")
    written = []
    real = middleware._write_whole

    async def counted(request, response, app):
        written.append(await real(request, response, app))
        return written[-1]

    monkeypatch.setattr(middleware, "_write_whole", counted)
    whole = await answers_of(build_app(test_settings()))
    assert written.count(True) >= 9 and False in written  # the fast way answered, HEAD went through prepare()
    monkeypatch.setattr(middleware, "_WHOLE", None)
    prepared = await answers_of(build_app(test_settings()))
    assert whole == prepared
    assert b"Connection: close" in whole["Connection: close"] and whole["Connection: close"].endswith(b"<closed>")
    assert b"Connection: keep-alive" in whole["HTTP/1.0 keep-alive"]


async def test_a_prepare_hook_sees_the_finished_headers_and_can_close(monkeypatch):
    app = build_app(test_settings())
    seen = []

    async def closing(request: web.Request, response: web.StreamResponse) -> None:  # as `serve` does while stopping
        seen.append(response.headers.get("Content-Length"))
        response.force_close()
        response.headers["Connection"] = "close"

    app.on_response_prepare.append(closing)
    server = TestServer(app)
    await server.start_server()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(request("POST", "/alphasms/api/json.php", (ALPHASMS % (9, 9)).encode(), {"Content-Type": "application/json"}))
        got = await asyncio.wait_for(read_answers(reader, 1, False), 5)
        assert b"Connection: close" in got and await asyncio.wait_for(reader.read(), 2) == b""
        assert seen and seen[0] is not None  # the hook ran once, on headers with their Content-Length
        writer.close()
    finally:
        await server.close()


def test_an_aiohttp_without_what_it_takes_answers_through_prepare(monkeypatch):
    import aiohttp.http_writer

    assert middleware._whole_parts() is not None or middleware._WHOLE is None
    monkeypatch.delattr(aiohttp.http_writer, "_serialize_headers")
    assert middleware._whole_parts() is None
    monkeypatch.undo()

    async def prepare_ignoring_eof(self, request):  # a release that no longer reads _eof_sent
        return "a writer"

    monkeypatch.setattr(web.Response, "prepare", prepare_ignoring_eof)
    assert middleware._whole_parts() is None


def test_answer_is_the_response_aiohttp_builds_from_content_type_and_charset():
    for status, body, headers in [(200, b'{"a":1}', None), (401, b"{}", {"WWW-Authenticate": "Basic"}), (400, b"", {})]:
        mine = answer(body, status, "application/json; charset=utf-8", headers)
        theirs = web.Response(status=status, body=body, content_type="application/json", charset="utf-8", headers=headers)
        assert list(mine.headers.items()) == list(theirs.headers.items())
        assert (mine.status, mine.body, mine.content_type, mine.charset) == (theirs.status, theirs.body, theirs.content_type, theirs.charset)
    first, second = json_response({"a": 1}), json_response({"b": 2})
    first.headers["X-Mine"] = "1"  # a response's headers are its own, not the shared set
    assert "X-Mine" not in second.headers and "X-Mine" not in json_response({}).headers
    with pytest.raises(ValueError):
        answer(b"", 200, "text/plain", {"content-type": "text/html"})
