"""What every provider module shares: its error catalog, body reading, and how decisions that
are not the provider's own (scenario raw replies, faults) reach the wire.

A provider subclass holds only its wire format: routes, parsing, auth rules, rendering.
"""
from __future__ import annotations

import json
import re
import zlib
from itertools import accumulate
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import yaml
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from ..core.callbacks import CallbackRequest
from ..core.engine import Decision, Engine
from ..core.model import Account, Event, Message
from ..core.validation import Schemas, schemas_root

PROVIDER_KEY = web.AppKey("msgemu_provider", object)
FAULT_KEY = web.RequestKey("msgemu_fault", dict)  # fault the middleware applies to the response
OUTCOME_KEY = web.RequestKey("msgemu_outcome", tuple)  # (outcome, error key, message ids) for the journal


class BodyTooLarge(Exception):
    """The request body exceeded the configured limit."""


class Provider:
    name: ClassVar[str]
    title: ClassVar[str]
    #: canonical status -> this provider's status (name or code); one table per provider
    statuses: ClassVar[dict[str, Any]] = {}

    def __init__(self, engine: Engine, schemas: Schemas) -> None:
        self.engine = engine
        self.schemas = schemas
        self.errors: dict[str, dict[str, Any]] = load_catalog(self.name)
        self.prices: dict[str, Decimal] = load_prices(self.name)

    # -- routing ----------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def build_app(self) -> web.Application:
        app = web.Application()
        app[PROVIDER_KEY] = self
        app.add_routes(self.routes())
        return app

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

    def reject(self, request: web.Request, key: str, **context: Any) -> web.StreamResponse:
        mark(request, "rejected", key)
        return self.render_error(request, key, **context)

    # -- decisions that bypass the wire format ---------------------------------------------
    def special(self, request: web.Request, decision: Decision) -> web.StreamResponse | None:
        """A raw scenario reply or a fault response; None when the provider renders itself."""
        if decision.fault:
            request[FAULT_KEY] = decision.fault
        if decision.action == "raw":
            mark(request, "scenario", None)
            return raw_response(decision.raw or {})
        if decision.action == "fault":
            mark(request, "fault", None)
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

    def price(self, channel: str, units: int = 1) -> Decimal:
        return self.prices.get(channel, Decimal("0")) * units

    def status_of(self, status: Any) -> Any:
        value = getattr(status, "value", status)
        return self.statuses[value]


def mark(request: web.Request, outcome: str, error: str | None, message_ids: list[str] | None = None) -> None:
    """Tell the request journal how this request ended."""
    request[OUTCOME_KEY] = (outcome, error, list(message_ids or []))


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
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
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
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge() from None
    except (RequestPayloadError, HttpProcessingError):
        return b""  # a body that cannot be read (broken chunked encoding...): treated as empty
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if not raw or encoding in ("", "identity"):
        return raw
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _decompress(raw, encoding, getattr(request, "_client_max_size", 4 * 1024 * 1024))  # the server's limit
    return b""


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
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if "internal" not in data:
        raise ValueError(f"{path}: every error catalog needs an 'internal' entry")
    return data


PRICES_FILE = Path(__file__).resolve().parents[1] / "data" / "prices.yaml"


def load_prices(provider: str) -> dict[str, Decimal]:
    table = (yaml.safe_load(PRICES_FILE.read_text(encoding="utf-8")) or {}).get(provider, {})
    return {channel: Decimal(str(price)) for channel, price in table.items()}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )
