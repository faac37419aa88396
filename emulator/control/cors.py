"""CORS on the control API (/_emulator/...): which web origins may read and steer the emulator
from a browser (a dashboard, a front-end's dev server). `--cors-origins` lists them; the default
is none, so no CORS header is ever sent and browsers keep other origins out.

Provider paths are left alone: real providers are called server to server.
"""
from __future__ import annotations

from typing import Any, Iterable

from aiohttp import web

CONTROL_PREFIX = "/_emulator"
METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
MAX_AGE = "600"
MAX_REQUESTED_HEADERS = 512  # characters of Access-Control-Request-Headers echoed back


def parse_origins(value: Any) -> frozenset[str]:
    """`https://a.test,http://localhost:3000` (or a list) -> origins; `*` allows any origin."""
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else (value or [])
    return frozenset(str(item).strip().rstrip("/") for item in items if str(item).strip())


def install(app: web.Application, origins: frozenset[str]) -> None:
    """Answer preflights (a middleware) and mark every control answer, event streams included,
    as readable by an allowed origin (on_response_prepare: headers go out with the first byte)."""
    if not origins:
        return
    allow_any = "*" in origins

    def allowed(origin: str | None) -> bool:
        return bool(origin) and (allow_any or origin in origins)

    @web.middleware
    async def cors_preflight(request: web.Request, handler) -> web.StreamResponse:
        if request.method != "OPTIONS" or not request.path.startswith(CONTROL_PREFIX) or "Access-Control-Request-Method" not in request.headers:
            return await handler(request)
        origin = request.headers.get("Origin")
        if not allowed(origin):
            return web.json_response({"error": "origin not allowed by --cors-origins", "origin": origin}, status=403)
        response = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = METHODS
        requested = request.headers.get("Access-Control-Request-Headers", "")[:MAX_REQUESTED_HEADERS]
        if requested:
            response.headers["Access-Control-Allow-Headers"] = requested
        response.headers["Access-Control-Max-Age"] = MAX_AGE
        return response

    async def mark(request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if request.path.startswith(CONTROL_PREFIX) and allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = origin or ""
            response.headers["Access-Control-Allow-Credentials"] = "true"
            vary = response.headers.get("Vary")
            response.headers["Vary"] = "Origin" if not vary else (vary if "Origin" in vary else f"{vary}, Origin")

    app.middlewares.insert(0, cors_preflight)
    app.on_response_prepare.append(mark)
