"""Who may use /_emulator (control API, inbox page, built-in receiver): `refusal`, asked by a
middleware before any handler of those paths runs.

- Bound to a non-loopback address, every /_emulator path (but GET /_emulator/health, for
  orchestrators' health checks) needs the control token: `Authorization: Bearer <token>`, or
  the cookie the inbox page sets when opened once as /_emulator/ui?token=<token>.
  Provider endpoints never need it: clients under test authenticate as with the provider.
- Without a token (loopback bind), the Host header must be a name this emulator serves
  (an IP literal, localhost, --host, --allowed-host): a DNS-rebinding page on another name
  gets 403.
- State-changing calls refuse what a web page on another origin can send without a CORS
  preflight: a foreign `Origin` or `Sec-Fetch-Site`, and a POST with a body of a form/text
  content type that lacks the `X-Msgemu-Request` header. JSON bodies and the header pass; a
  POST with neither body nor Content-Type (`curl -X POST .../reset`) passes too, as browsers
  always send `Origin` with such a request.
"""
from __future__ import annotations

import hmac
import ipaddress
from typing import Awaitable, Callable

from aiohttp import web

from ..runtime import RUNTIME_KEY
from ..settings import Settings
from . import cors
from .token import token_required

CONTROL_PREFIX = "/_emulator"
RECEIVER_PREFIX = "/_emulator/receiver/"
UI_PAGE = "/_emulator/ui"
OPEN_PATHS = frozenset({"/_emulator/health"})
TOKEN_COOKIE = "msgemu_token"
CUSTOM_HEADER = "X-Msgemu-Request"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# content types a cross-origin page may POST without a preflight (the CORS "simple" ones)
SIMPLE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def _problem(status: int, title: str, **headers: str) -> web.Response:
    return web.json_response({"error": title}, status=status, headers=headers or None)


def _same(given: str, token: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))


def _bearer(request: web.Request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _served_name(request: web.Request, settings: Settings) -> bool:
    """The Host header names this emulator (not a name an attacker's DNS points here)."""
    host = (request.host or "").lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name in LOOPBACK_NAMES or name.endswith(".localhost") or name == settings.host.lower() or name in settings.allowed_hosts:
        return True
    try:
        ipaddress.ip_address(name)
        return True  # an IP literal is never the result of a rebinding name
    except ValueError:
        return False


def _cross_site(request: web.Request, settings: Settings) -> str | None:
    origin = request.headers.get("Origin")
    if origin is not None and _cors_allowed(origin, settings):
        return None  # a web origin the user opened the control API to (--cors-origins)
    if origin is not None:
        scheme, _, rest = origin.partition("://")
        if origin == "null" or rest.rstrip("/").lower() != (request.host or "").lower():
            return f"cross-origin request refused (Origin: {origin})"
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    return None


def _cors_allowed(origin: str, settings: Settings) -> bool:
    origins = cors.parse_origins(settings.cors_origins)
    return origin != "null" and ("*" in origins or origin.rstrip("/") in origins)


def _simple_body(request: web.Request) -> bool:
    """A body a cross-origin page can POST without a preflight. A POST with neither body nor
    Content-Type is not one: browsers always send `Origin` with it (checked above)."""
    if "Content-Type" not in request.headers:
        return request.body_exists
    return request.content_type.lower() in SIMPLE_TYPES


def is_control(path: str) -> bool:
    """A path the guard watches: /_emulator and below."""
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


@web.middleware
async def control_guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """The guard as a layer of its own: where another layer must come after it (a shared
    store's sync, which a refused request should not pay). With the memory store the journal's
    layer asks `refusal` itself (middleware.GUARD_KEY): a provider request pays no layer for it."""
    if is_control(request.path):
        refused = refusal(request)
        if refused is not None:
            return refused
    return await handler(request)


def refusal(request: web.Request) -> web.Response | None:
    """The guard's answer to a /_emulator request it refuses (401, 403, or the 303 that drops a
    token from the inbox page's address), None when the request may go on."""
    path = request.path
    settings: Settings = request.config_dict[RUNTIME_KEY].settings
    token = settings.control_token if token_required(settings) else ""
    if token and not (path in OPEN_PATHS and request.method in SAFE_METHODS):
        if path == UI_PAGE and request.method == "GET" and "token" in request.query:
            if not _same(request.query["token"], token):
                return _problem(401, "wrong control token")
            response = web.Response(status=303, headers={"Location": UI_PAGE})  # drop the token from the address bar
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path=CONTROL_PREFIX)
            return response
        if not (_same(_bearer(request), token) or _same(request.cookies.get(TOKEN_COOKIE, ""), token)):
            return _problem(
                401,
                "control token required: Authorization: Bearer <token> (--control-token / MSGEMU_CONTROL_TOKEN)",
                **{"WWW-Authenticate": 'Bearer realm="msgemu"'},
            )
    elif not token and not _served_name(request, settings):
        return _problem(403, f"Host {request.host!r} is not served here (--allowed-host to add it)")
    if request.method not in SAFE_METHODS:
        refused = _cross_site(request, settings)
        if refused:
            return _problem(403, refused)
        if (
            request.method == "POST"
            and not path.startswith(RECEIVER_PREFIX)
            and _simple_body(request)
            and CUSTOM_HEADER not in request.headers
        ):
            return _problem(403, f"send JSON (Content-Type: application/json) or the {CUSTOM_HEADER} header")
    return None
