"""A built-in callback receiver, /_emulator/receiver/{name}: a webhook endpoint to point a
request's callback URL at when the application under test has none, and the flaky receiver
of the `callbacks-receiver-flaky` scenario (fail the first N calls, every Nth, or answer slowly).
What it keeps is bounded (control/received.py): large bodies truncated, oldest calls evicted.
"""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ..runtime import RUNTIME_KEY
from .received import BODY_KEPT, HEADER_VALUE_KEPT, HEADERS_KEPT, ReceivedCalls

routes = web.RouteTableDef()
DELAY_LIMIT = 300.0  # seconds a scenario may make the receiver wait before answering


def _received(request: web.Request) -> ReceivedCalls:
    return request.config_dict[RUNTIME_KEY].received


async def _body(request: web.Request) -> tuple[bytes, int]:
    """The first BODY_KEPT bytes of the body and its full size (the rest is read, not kept)."""
    kept = bytearray()
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if len(kept) < BODY_KEPT:
            kept += chunk[: BODY_KEPT - len(kept)]
    return bytes(kept), size


def _headers(request: web.Request, token: str) -> dict[str, str]:
    """The headers, bounded; the control token (sent by msgemu to its own receiver) redacted."""
    kept = {k: v[:HEADER_VALUE_KEPT] for k, v in list(request.headers.items())[:HEADERS_KEPT]}
    if token and kept.get("Authorization") == f"Bearer {token}":
        kept["Authorization"] = "Bearer <control token>"
    return kept


@routes.route("*", "/_emulator/receiver/{name}")
async def receive(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    received = _received(request)
    if request.method == "GET" and not request.query.get("as_callback"):
        calls = received.calls(name)
        return web.json_response({"name": name, "count": len(calls), "calls": calls, "kept": received.stats()})
    if request.method == "DELETE":
        received.drop(name)
        request.config_dict[RUNTIME_KEY].store.tell("received_drop", name)  # (a shared store's other processes)
        return web.json_response({"name": name, "count": 0, "calls": [], "kept": received.stats()})
    runtime = request.config_dict[RUNTIME_KEY]
    behaviour: dict[str, Any] = runtime.scenarios.active.receiver if runtime.scenarios.active else {}
    number = received.next_number(name)
    body, size = await _body(request)
    status = 200
    fail_first = int(behaviour.get("fail_first", 0))
    fail_every = int(behaviour.get("fail_every", 0))
    if number <= fail_first or (fail_every and (number - fail_first) % fail_every == 0):
        status = int(behaviour.get("status", 503))
    call = {
        "n": number,
        "method": request.method,
        "query": request.query_string[:BODY_KEPT],
        "content_type": request.content_type,
        "headers": _headers(request, runtime.settings.control_token),
        "body": body.decode("utf-8", "replace"),
        "body_size": size,
        "truncated": size > len(body),
        "answered": status,
    }
    received.record(name, call)
    runtime.store.tell("received", (name, call))  # the other processes of a shared store list it too
    if behaviour.get("delay"):
        await asyncio.sleep(min(DELAY_LIMIT, float(behaviour["delay"])))
    return web.Response(status=status, text="OK" if status == 200 else "receiver failing on purpose")
