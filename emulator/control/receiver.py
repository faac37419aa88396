"""A built-in callback receiver, /_emulator/receiver/{name}: a webhook endpoint to point a
request's callback URL at when the application under test has none, and the flaky receiver
of the `callbacks-receiver-flaky` scenario (fail the first N calls, every Nth, or answer slowly).
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from aiohttp import web

from ..runtime import RUNTIME_KEY

routes = web.RouteTableDef()
KEEP = 1000  # calls kept per receiver name


def _received(request: web.Request) -> dict[str, deque]:
    return request.config_dict[RUNTIME_KEY].store.received


@routes.route("*", "/_emulator/receiver/{name}")
async def receive(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if request.method == "GET" and not request.query.get("as_callback"):
        calls = list(_received(request).get(name, ()))
        return web.json_response({"name": name, "count": len(calls), "calls": calls})
    if request.method == "DELETE":
        _received(request).pop(name, None)
        return web.json_response({"name": name, "count": 0, "calls": []})
    runtime = request.config_dict[RUNTIME_KEY]
    behaviour: dict[str, Any] = runtime.scenarios.active.receiver if runtime.scenarios.active else {}
    calls = _received(request).setdefault(name, deque(maxlen=KEEP))
    number = len(calls) + 1
    body = (await request.read()).decode("utf-8", "replace")
    status = 200
    fail_first = int(behaviour.get("fail_first", 0))
    fail_every = int(behaviour.get("fail_every", 0))
    if number <= fail_first or (fail_every and (number - fail_first) % fail_every == 0):
        status = int(behaviour.get("status", 503))
    calls.append(
        {
            "n": number,
            "method": request.method,
            "query": request.query_string,
            "content_type": request.content_type,
            "headers": dict(request.headers),
            "body": body,
            "answered": status,
        }
    )
    if behaviour.get("delay"):
        await asyncio.sleep(float(behaviour["delay"]))
    return web.Response(status=status, text="OK" if status == 200 else "receiver failing on purpose")
