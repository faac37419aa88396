"""AlphaSMS (alphasms.ua / alphasms.net): three wire formats over one gateway.

routes.py      every path and the wire answering it
wire_json.py   JSON API, sync `/api/json.php` and async `/v1/json`
wire_xml.py    XML API `/api/xml.php`
wire_http.py   HTTP API `/api/http.php`
gateway.py     what they share: accounts, client ids, messages, statuses, balance, HLR
rules.py       item rules beyond schemas/alphasms/*.json
callbacks.py   the JSON `hook` payload
Data: schemas/alphasms/ (requests, errors.yaml, statuses.yaml), emulator/data/magic/alphasms.yaml.
Facts and sources: docs/providers/alphasms.md.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ...core.callbacks import CallbackRequest
from ...core.model import Event, Message
from ..base import Provider
from . import callbacks
from .gateway import STATUSES, Gateway
from .routes import routes, wire_of
from .wire_http import HttpWire
from .wire_json import JsonWire
from .wire_xml import XmlWire


class AlphaSMS(Provider):
    name = "alphasms"
    title = "AlphaSMS JSON (sync + async), XML and HTTP APIs (sms, viber, rcs, voice, call/otp, pipeline, hlr, status, balance)"
    auth_errors = frozenset({"access_denied", "wrong_login"})
    auth_where = "/auth"  # the JSON APIs; the XML and HTTP ones name their own fields
    statuses = STATUSES["json"]  # canonical -> JSON status name (XML codes, HTTP names: statuses.yaml)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gateway = Gateway(self)
        self.json = JsonWire(self)
        self.xml = XmlWire(self)
        self.http = HttpWire(self)

    def routes(self) -> list[web.RouteDef]:
        return routes(self)

    def render_error(self, request: web.Request, key: str, **context: Any) -> web.StreamResponse:
        wire = wire_of(request)
        if wire == "xml":
            return self.xml.package_error(key)
        if wire == "http":
            return self.http.error_text(key)
        return self.json.envelope_error(key)

    def reset(self) -> None:
        self.gateway.reset()

    def status_callbacks(self, message: Message, event: Event) -> list[CallbackRequest]:
        if not message.callback_url:  # no hook (the usual send): nothing to render, at any status
            return []
        return callbacks.status_callbacks(message, event)
