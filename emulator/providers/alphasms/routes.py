"""Every AlphaSMS path and the wire format that answers it (paths as the real host serves them)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .provider import AlphaSMS

JSON_SYNC = "/api/json.php"
JSON_ASYNC = "/v1/json"
XML = "/api/xml.php"
HTTP = "/api/http.php"


def routes(provider: "AlphaSMS") -> list[web.RouteDef]:
    return [
        web.route("*", JSON_SYNC, provider.json.handle_sync),
        web.route("*", JSON_ASYNC, provider.json.handle_async),
        web.route("*", XML, provider.xml.handle),
        web.route("*", HTTP, provider.http.handle),
    ]


def wire_of(request: web.Request) -> str:
    """Which wire format a request came by (errors are rendered in it)."""
    path = request.path
    if path.endswith(XML):
        return "xml"
    if path.endswith(HTTP):
        return "http"
    return "json"
