"""What every provider module shares: its error catalog, body reading, and how decisions that
are not the provider's own (scenario raw replies, faults) reach the wire.

A provider subclass holds only its wire format: routes, parsing, auth rules, rendering.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, ClassVar

from aiohttp import web

from ..resources import DATA, read_yaml
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
    """The body is not strict JSON."""


def parse_json(raw: bytes) -> Any:
    """Strict JSON, as the providers' servers parse it: UTF-8, no NaN/Infinity (which would
    also make our own answers invalid JSON when echoed back), nesting Python can handle."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotJSON() from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge() from None


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


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )
