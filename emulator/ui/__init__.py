"""The inbox web page at /_emulator/ui: static files, live through /_emulator/stream."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
routes = web.RouteTableDef()


@routes.get("/_emulator/ui")
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


routes.static("/_emulator/ui/static", STATIC)
