"""What every provider module shares: its error catalog, body reading, and how decisions that
are not the provider's own (scenario raw replies, faults) reach the wire.

A provider subclass holds only its wire format: routes, parsing, auth rules, rendering.
"""
from __future__ import annotations

import difflib
import json
import re
import zlib
from itertools import accumulate
from decimal import Decimal
from typing import Any, ClassVar

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDict

from ..resources import DATA, read_yaml
from ..core.callbacks import CallbackRequest
from ..core.engine import Decision, Engine
from ..core.model import Account, Event, Message, Rejection, ZERO
from ..core.validation import Schemas, schemas_root

PROVIDER_KEY = web.AppKey("msgemu_provider", object)  # the one provider of a --provider-port app
PROVIDERS_KEY = web.AppKey("msgemu_providers", dict)  # name -> provider, each routed under /<name>/ of the main app
FAULT_KEY = web.RequestKey("msgemu_fault", dict)  # fault the middleware applies to the response
OUTCOME_KEY = web.RequestKey("msgemu_outcome", tuple)  # (outcome, error key, message ids) for the journal
REASON_KEY = web.RequestKey("msgemu_reason", Rejection)  # why it was refused, beside the outcome
UNKNOWN_PATH = "unknown_path"  # the error key every catalog gives a path the provider does not serve
# kinds of error keys shared by every provider (a key not listed here and not an auth key: "rules")
_HTTP_KEYS = frozenset({"method_not_allowed"})
_BODY_KEYS = frozenset({"body_too_large", "invalid_json", "invalid_xml", "invalid_content_type"})


# set on a request whose body was refused for its size: the journal says so (middleware._record)
# instead of reading again a stream the refusal left half read
BODY_TOO_LARGE_KEY = web.RequestKey("msgemu_body_too_large", bool)


class BodyTooLarge(Exception):
    """The request body exceeded the configured limit."""


class Provider:
    name: ClassVar[str]
    title: ClassVar[str]
    #: canonical status -> this provider's status (name or code); one table per provider
    statuses: ClassVar[dict[str, Any]] = {}
    #: error keys that mean "who are you?" (journaled with rule "auth"), and where credentials come
    auth_errors: ClassVar[frozenset[str]] = frozenset()
    auth_where: ClassVar[str] = "Authorization"

    def __init__(self, engine: Engine, schemas: Schemas) -> None:
        self.engine = engine
        self.schemas = schemas
        self.errors: dict[str, dict[str, Any]] = load_catalog(self.name)
        self.prices: dict[str, Decimal] = load_prices(self.name)

    # -- routing ----------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def mounted_routes(self) -> list[web.RouteDef]:
        """The routes under /<name> of the main app: routed there directly, not through a
        sub-application (which costs a second router walk and a second app per request)."""
        return [web.route(route.method, f"/{self.name}{route.path}", route.handler, **route.kwargs) for route in self.routes()]

    # -- errors -----------------------------------------------------------------------------
    def error(self, key: str) -> dict[str, Any]:
        """The catalog entry for a symbolic error key (unknown keys fall back to 'internal')."""
        return self.errors.get(key) or self.errors["internal"]

    def render_error(self, request: web.Request, key: str, **context: Any) -> web.StreamResponse:
        """The provider's documented answer for an error key, in its wire format."""
        raise NotImplementedError

    def internal_error(self, request: web.Request) -> web.StreamResponse:
        """Safety net for a bug of ours: still the provider's error shape, never a traceback."""
        return self.render_error(request, "internal")

    def reject(self, request: web.Request, key: str, why: Rejection | None = None, **context: Any) -> web.StreamResponse:
        """The provider's error for `key`, journaled with why (the schema violation, scenario
        rule... the caller knows; else the kind of check the key belongs to)."""
        mark(request, "rejected", key, reason=why or self.reason_for(key))
        return self.render_error(request, key, **context)

    def reject_auth(self, request: web.Request, key: str, where: str, **context: Any) -> web.StreamResponse:
        """Refused credentials; `where` names the header, parameter or field they came in."""
        return self.reject(request, key, Rejection(key, "auth", pointer=where), **context)

    def reject_decision(self, request: web.Request, decision: Decision, **context: Any) -> web.StreamResponse:
        """A submission core refused as a whole (scenario/magic rule, balance)."""
        key = decision.error or "internal"
        return self.reject(request, key, decision.reason, **context)

    def reason_for(self, key: str) -> Rejection:
        if key in self.auth_errors:
            return Rejection(key, "auth", pointer=self.auth_where)
        if key == "internal":
            return Rejection(key, "internal")
        if key == "insufficient_balance":
            return Rejection(key, "balance")
        if key in _HTTP_KEYS:
            return Rejection(key, "http")
        if key in _BODY_KEYS:
            return Rejection(key, "body")
        if key.endswith("not_found"):
            return Rejection(key, "lookup")
        entry = self.errors.get(key) or {}
        field, param = entry.get("field"), entry.get("param")  # catalogs that name the JSON field / parameter at fault
        pointer = f"/{field}" if isinstance(field, str) else param if isinstance(param, str) else None
        return Rejection(key, "rules", pointer=pointer)

    def unknown_path(self, request: web.Request) -> web.StreamResponse:
        """A path under this provider that none of its routes serves: its own error shape, and
        the nearest path it does serve in the journal (a typo is the usual cause)."""
        key = UNKNOWN_PATH if UNKNOWN_PATH in self.errors else "internal"
        return self.reject(request, key, route_reason(request, key))

    # -- decisions that bypass the wire format ---------------------------------------------
    def special(self, request: web.Request, decision: Decision) -> web.StreamResponse | None:
        """A raw scenario reply or a fault response; None when the provider renders itself."""
        if decision.fault:
            request[FAULT_KEY] = decision.fault
        if decision.action == "raw":
            mark(request, "scenario", None, reason=decision.reason)
            return raw_response(decision.raw or {})
        if decision.action == "fault":
            mark(request, "fault", None, reason=decision.reason)
            return web.Response(status=200)  # replaced by the fault middleware
        return None

    def reset(self) -> None:
        """Forget provider-side transient state (rate-limit windows...) on POST /_emulator/reset."""

    # -- callbacks (override where the provider sends them) ----------------------------------
    def status_callbacks(self, message: Message, event: Event) -> list[CallbackRequest]:
        return []

    def inbound_callbacks(self, message: Message, reply: dict[str, Any]) -> list[CallbackRequest]:
        return []

    # -- helpers ----------------------------------------------------------------------------
    def accounts(self) -> list[Account]:
        return self.engine.accounts(self.name)

    def account_named(self, login: str) -> Account | None:
        """The account with this login."""
        return self.engine.account(self.name, login)

    def price(self, channel: str, units: int = 1) -> Decimal:
        price = self.prices.get(channel, ZERO)
        return price if units == 1 else price * units  # a Decimal times 1 is the same Decimal

    def status_of(self, status: Any) -> Any:
        value = getattr(status, "value", status)
        return self.statuses[value]


def mark(
    request: web.Request, outcome: str, error: str | None, message_ids: list[str] | None = None,
    reason: Rejection | None = None,
) -> None:
    """Tell the request journal how this request ended (and, when refused, why)."""
    request[OUTCOME_KEY] = (outcome, error, list(message_ids or []))
    if reason is not None:
        request[REASON_KEY] = reason


def note(request: web.Request, reason: Rejection | None) -> None:
    """Keep why one item of a per-item answer was refused (the first one noted wins); a request
    whose other items were accepted is journaled with it too."""
    if reason is not None and REASON_KEY not in request:
        request[REASON_KEY] = reason


def route_reason(request: web.Request, key: str) -> Rejection:
    """`key` refused a path no route serves; names the provider's closest path (catch-alls aside)."""
    known = sorted({
        info.get("path") or info.get("formatter") or ""
        for info in _route_infos(request)
        if ".*" not in str(info.get("pattern", ""))
    } - {""})
    asked = request.path[:256]  # bounded work for absurd paths (SequenceMatcher is quadratic)
    nearest = max(known, key=lambda path: _likeness(asked, path), default=None)
    return Rejection(key, "route", pointer=request.path, nearest_path=nearest)


def _likeness(path: str, route: str) -> float:
    """How alike a requested path and a route are, a route's {placeholders} standing for the
    requested path's segments at the same place."""
    asked = path.split("/")
    filled = [(asked[i] if i < len(asked) else "") if part.startswith("{") else part for i, part in enumerate(route.split("/"))]
    return difflib.SequenceMatcher(None, path, "/".join(filled)).ratio()


def _route_infos(request: web.Request) -> list[dict[str, Any]]:
    """The routes of the provider the request fell into (their paths carry the mount prefix)."""
    provider = provider_of(request)
    if provider is None:
        return []
    if PROVIDER_KEY in request.app:  # a --provider-port app: all its routes are the provider's
        return [resource.get_info() for resource in request.app.router.resources()]
    prefix = f"/{provider.name}"
    return [
        resource.get_info()
        for resource in request.app.router.resources()
        if resource.canonical == prefix or resource.canonical.startswith(prefix + "/")
    ]


def provider_of(request: web.Request, keys: Any = None) -> "Provider | None":
    """The provider a request is for: a --provider-port app's own, else the one named by the
    path's first segment on the main app (the same paths a sub-application at /<name>/ took,
    unknown ones and /<name> itself included), else None (control API, UI, anything else).
    `keys`: where the app's own keys are read, when the caller has it at hand."""
    if keys is None:
        app = request.app
        keys = getattr(app, "_state", app)  # its dict: app.get() and `in` are two Python calls each (the app where a release lacks it)
    providers = keys.get(PROVIDERS_KEY)
    if providers is not None:
        # the decoded path is the same string as path_safe (which keeps %2F and %25 encoded) when
        # nothing is escaped, and ~0.8 us cheaper for each new request
        path = request.path if "%" not in request.raw_path else request.rel_url.path_safe
        return providers.get(path.split("/", 2)[1])
    return keys.get(PROVIDER_KEY)  # type: ignore[return-value]


class NotJSON(ValueError):
    """The body is not strict JSON (the message says why)."""


MAX_JSON_DEPTH = 512  # PHP's json_decode default, which several of these providers run on


def parse_json(raw: bytes) -> Any:
    """Strict JSON, as the providers' servers parse it: UTF-8, finite numbers only (NaN,
    Infinity and 1e999 would make our own answers invalid JSON when echoed back), integers
    of at most 4,300 digits, strings without lone surrogates (they cannot be written back as
    UTF-8), nesting at most MAX_JSON_DEPTH deep."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotJSON("not UTF-8") from None
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:  # cheap pre-check; only then measure
        _check_depth(text)
    try:
        if text.startswith("\ufeff"):  # what json.loads says of a BOM (the decoder alone would not)
            raise NotJSON("Unexpected UTF-8 BOM (decode using utf-8-sig)")
        value = _DECODER.decode(text)
    except RecursionError:
        raise NotJSON(f"nested more than {MAX_JSON_DEPTH} deep") from None
    except ValueError as exc:  # JSONDecodeError, 1e999, NaN, an integer of more than 4,300 digits
        raise NotJSON(str(exc).split(":")[0]) from None
    if "\\u" in text and _has_lone_surrogate(value):
        raise NotJSON("lone surrogate in a string")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"number out of range: {literal[:40]}")
    return number


# built once: json.loads/json.dumps with options build a new decoder/encoder on every call
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def _check_depth(text: str) -> None:
    """Nesting depth of JSON text outside strings, at C speed (regexes, then a running sum
    over the brackets left); refuses it past MAX_JSON_DEPTH."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).encode("ascii")
    if brackets and max(accumulate(map(_STEP.__getitem__, brackets))) > MAX_JSON_DEPTH:
        raise NotJSON(f"nested more than {MAX_JSON_DEPTH} deep")


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def read_body(request: web.Request) -> bytes:
    """The request body, gzip/deflate decoded when it says so (bounded by the body limit).

    The server does not decode bodies itself (auto_decompress=False, which would answer a
    bare 400 or 500 of its own): a body whose Content-Encoding is unknown or does not decode
    reads as empty here, so the provider answers its own error for a missing/malformed body,
    and the journal keeps the bytes that were sent."""
    try:
        raw = _received(request)
        if raw is None:
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        request[BODY_TOO_LARGE_KEY] = True
        raise BodyTooLarge() from None
    except (RequestPayloadError, HttpProcessingError):
        return b""  # a body that cannot be read (broken chunked encoding...): treated as empty
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if not raw or encoding in ("", "identity"):
        return raw
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _decompress(raw, encoding, getattr(request, "_client_max_size", 4 * 1024 * 1024))  # the server's limit
    return b""


def _received(request: web.Request) -> bytes | None:
    """The body when all of it has arrived (the usual case: a small body comes with its headers),
    taken at once as request.read() would return it and keeps it (its `_read_bytes`, which the
    journal reads too), without read()'s loop of coroutines; None when read() must wait for it,
    refuse it (over the limit), raise what the connection had, or when this aiohttp keeps it
    elsewhere (aiohttp is not pinned: slower then, never different)."""
    if not hasattr(request, "_read_bytes"):
        return None
    kept = request._read_bytes
    if kept is not None:
        return kept
    content = request.content
    if not content.is_eof() or content.exception() is not None:
        return None
    limit = getattr(request, "_client_max_size", 0)
    if limit and getattr(content, "total_bytes", limit + 1) > limit:
        return None  # request.read() refuses it (413), as the journal then says
    body = content.read_nowait()
    if type(body) is not bytes:
        body = bytes(body)
    request._read_bytes = body
    return body


def _decompress(raw: bytes, encoding: str, limit: int) -> bytes:
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else (zlib.MAX_WBITS if raw[:1] == b"\x78" else -zlib.MAX_WBITS)
    decompressor = zlib.decompressobj(wbits)
    try:
        body = decompressor.decompress(raw, limit + 1)  # a zip bomb stops at the limit
    except zlib.error:
        return b""
    if len(body) > limit:
        raise BodyTooLarge()
    return body


def raw_response(raw: dict[str, Any]) -> web.Response:
    body = raw.get("body", "")
    headers = dict(raw.get("headers") or {})
    if not isinstance(body, str):
        body = json.dumps(body, ensure_ascii=False)
        headers.setdefault("Content-Type", "application/json")
    return web.Response(status=int(raw.get("status", 200)), text=body, headers=headers)


def load_catalog(provider: str) -> dict[str, dict[str, Any]]:
    path = schemas_root() / provider / "errors.yaml"
    data = read_yaml(path) or {}
    if "internal" not in data:
        raise ValueError(f"{path}: every error catalog needs an 'internal' entry")
    return data


PRICES_FILE = DATA / "prices.yaml"


def load_prices(provider: str) -> dict[str, Decimal]:
    table = (read_yaml(PRICES_FILE) or {}).get(provider, {})
    return {channel: Decimal(str(price)) for channel, price in table.items()}


JSON_TYPE = "application/json; charset=utf-8"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return answer(_COMPACT(data).encode("utf-8"), status, JSON_TYPE, headers)


def answer(body: bytes, status: int = 200, content_type: str = JSON_TYPE, headers: dict[str, str] | None = None) -> web.Response:
    """A response of ready bytes with its whole Content-Type value: the same response (headers in
    the same order) as web.Response(status=..., body=..., content_type=..., charset=..., headers=...)
    at half its cost (aiohttp's content_type/charset arguments cost ~1.6 us a response; a ready
    header set is copied). Without headers of the caller's, the set for that type is made once."""
    if not headers:
        ready = _HEADER_SETS.get(content_type)
        if ready is None:
            ready = CIMultiDict({hdrs.CONTENT_TYPE: content_type})
            if len(_HEADER_SETS) < _HEADER_SETS_LIMIT:
                _HEADER_SETS[content_type] = ready
        return web.Response(status=status, body=body, headers=ready)  # copied by aiohttp: the set stays as it is
    merged = CIMultiDict(headers)
    if hdrs.CONTENT_TYPE in merged:
        raise ValueError("passing both Content-Type header and content_type is forbidden")  # as aiohttp says it
    merged[hdrs.CONTENT_TYPE] = content_type  # after the caller's, where aiohttp puts it
    return web.Response(status=status, body=body, headers=merged)


_HEADER_SETS: dict[str, CIMultiDict[str]] = {}  # Content-Type value -> the header set of an answer of that type
_HEADER_SETS_LIMIT = 64  # the types msgemu answers with are a handful; past this, a set is made per answer
