"""A provider reads a request's body the same whether it all came with the headers (taken at
once, providers/base._received) or arrives later, in pieces, chunked, or over the limit: the
same answer, and the journal keeps the same body, over a real socket."""
from __future__ import annotations

import asyncio
import json
import re

from aiohttp.test_utils import TestServer

from emulator.app import build_app
from emulator.settings import Settings

HYBER = '{"phone_number":380961234567,"extra_id":"%s","channels":["sms"],"channel_options":{"sms":{"text":"Hi","alpha_name":"GMSU","ttl":300}}}'
HEAD = "POST /hyber/1000 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Basic ZGVtbzpkZW1vLXBhc3N3b3Jk\r\n"
LIMIT = 1024


async def answer(port: int, parts: list[bytes]) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i, part in enumerate(parts):
        if i:
            await asyncio.sleep(0.15)  # the handler is waiting for the rest by then
        writer.write(part)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    body = await reader.readexactly(length)
    writer.close()
    return head.split(b"\r\n")[0] + b" " + re.sub(rb'"[0-9a-f-]{36}"', b'"<uuid>"', body)


async def journal(port: int) -> list[dict]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /_emulator/requests?limit=100 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return json.loads(raw.partition(b"\r\n\r\n")[2])["requests"]


async def test_bodies_read_at_once_in_pieces_chunked_and_over_the_limit():
    server = TestServer(build_app(Settings(clock="manual", watch_scenario=False, max_body=LIMIT)))
    await server.start_server()
    try:
        port = server.port
        whole = (HYBER % "a1").encode()
        at_once = await answer(port, [(HEAD + f"Content-Length: {len(whole)}\r\n\r\n").encode() + whole])
        late = (HYBER % "a2").encode()
        in_pieces = await answer(port, [(HEAD + f"Content-Length: {len(late)}\r\n\r\n").encode() + late[:20], late[20:]])
        chunked_body = (HYBER % "a3").encode()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in (chunked_body[:10], chunked_body[10:50], chunked_body[50:]))
        chunked = await answer(port, [(HEAD + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks + b"0\r\n\r\n"])
        at_limit = (HYBER % "a4").encode()
        at_limit = at_limit[:-1] + b" " * (LIMIT - len(at_limit)) + b"}"
        limit_ok = await answer(port, [(HEAD + f"Content-Length: {LIMIT}\r\n\r\n").encode() + at_limit])
        over = at_limit[:-1] + b" }"
        too_large = await answer(port, [(HEAD + f"Content-Length: {LIMIT + 1}\r\n\r\n").encode() + over])

        assert at_once == in_pieces == chunked == limit_ok == b'HTTP/1.1 200 OK {"message_id":"<uuid>"}'
        assert too_large.startswith(b"HTTP/1.1 413") or b"error" in too_large  # hyber's own answer to a body too large
        records = await journal(port)
        for extra_id, body in (("a1", whole), ("a2", late), ("a3", chunked_body), ("a4", at_limit)):
            record = next(r for r in records if f'"extra_id":"{extra_id}"' in r["body"])
            assert (record["body"].encode(), record["body_size"], record["outcome"]) == (body, len(body), "accepted")
        refused = [r for r in records if r["error"] == "body_too_large"]
        assert len(refused) == 1 and refused[0]["outcome"] == "rejected"
        # journaled as refused for its size, with the size it announced: not the half-read rest
        assert (refused[0]["body"], refused[0]["body_size"]) == ("<body larger than the configured limit>", LIMIT + 1)
    finally:
        await server.close()
