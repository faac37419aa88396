"""The endpoints of the Revicom Direct API (direct.revicom.ltd/api/v1), their authorization and
how each answers. Rules live in rules.py/filters.py, shapes in wire.py, callbacks in callbacks.py,
data in schemas/revicom/. Facts and their sources: docs/research/revicom.md.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiohttp import web

from ...core.callbacks import CallbackRequest
from ...core.model import Account, Event, Message, Status
from ..base import BodyTooLarge, NotJSON, Provider, answer, json_response, mark, parse_json, read_body
from . import callbacks, sending, wire
from .filters import BadQuery, Query
from .reference import tables
from .wire import Rejection

MESSAGES_TOKEN = "token"  # TOKEN_1: messages (send, get, stop)
SERVICE_TOKEN = "service_token"  # TOKEN_2: system entities; refused by message methods (4030)
ANY_TOKEN = (MESSAGES_TOKEN, SERVICE_TOKEN)  # doc (Account Balance): a token of any type

Handler = Callable[[web.Request, Account], Awaitable[web.StreamResponse]]


class Revicom(Provider):
    name = "revicom"
    title = "Revicom Direct API (SMS, FLASHCALL, VOICECODE, VIBER, WHATSAPP, VK; get, stop, balance)"
    statuses = tables()["status_names"]
    auth_errors = frozenset({"not_authenticated", "bad_credentials", "access_denied"})

    def routes(self) -> list[web.RouteDef]:
        endpoints: list[tuple[str, dict[str, Handler], tuple[str, ...]]] = [
            ("/api/v1/message", {"GET": self.list_messages, "POST": self.send}, (MESSAGES_TOKEN,)),
            ("/api/v1/message/stop", {"POST": self.stop}, (MESSAGES_TOKEN,)),
            ("/api/v1/message/{uuid}", {"GET": self.get_message}, (MESSAGES_TOKEN,)),  # path: [DOC-iD]
            ("/api/v1/balance", {"GET": self.balance}, ANY_TOKEN),
            ("/api/v1/ping", {"GET": self.ping}, ANY_TOKEN),  # GUESS: connection check path
        ]
        routes = []
        for path, methods, tokens in endpoints:
            handler = self._endpoint(methods, tokens)
            # public clients call ".../message/" too, which Spring matches like ".../message"
            routes += [web.route("*", path, handler), web.route("*", path + "/", handler)]
        return routes

    def _endpoint(self, methods: dict[str, Handler], tokens: tuple[str, ...]):
        async def serve(request: web.Request) -> web.StreamResponse:
            try:
                account = self._authenticate(request, tokens)
                handler = methods.get("GET" if request.method == "HEAD" else request.method)
                if handler is None:
                    raise Rejection("method_not_allowed")
                return await handler(request, account)
            except Rejection as exc:
                return self.reject(request, exc.key, exc.why)

        return serve

    def render_error(self, request: web.Request, key: str, **context: Any) -> web.StreamResponse:
        entry = self.error(key)
        return json_response(wire.error_body(entry), status=entry["http"])

    # -- authorization ----------------------------------------------------------------------
    def _authenticate(self, request: web.Request, tokens: tuple[str, ...]) -> Account:
        """Doc: `Authorization: Basic <token>`, the token sent as is. No header: 4010; unknown
        token: 4012; a token of another type: 4030. `Bearer` is accepted too (public clients
        and the FLASHCALL-conversion block use it); any other scheme counts as no header (GUESS)."""
        header = request.headers.get("Authorization")
        scheme, _, token = (header or "").strip().partition(" ")
        if header is None or scheme.lower() not in ("basic", "bearer"):
            raise Rejection("not_authenticated")
        token = token.strip()
        for account in self.accounts() if token else ():  # loops, not generators: every request authenticates
            secrets = account.secrets
            for kind in ANY_TOKEN:
                if secrets.get(kind) == token:
                    if kind not in tokens:
                        raise Rejection("access_denied")
                    return account
        raise Rejection("bad_credentials")

    async def _json_body(self, request: web.Request) -> Any:
        if request.content_type != "application/json":
            raise Rejection("invalid_content_type")
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            raise Rejection("body_too_large") from None
        try:
            return parse_json(raw)  # Jackson refuses NaN/Infinity by default too
        except NotJSON:
            raise Rejection("invalid_json") from None

    # -- POST /api/v1/message ---------------------------------------------------------------
    async def send(self, request: web.Request, account: Account) -> web.StreamResponse:
        result = sending.send(self, account, await self._json_body(request))
        special = self.special(request, result.decision)
        if special is not None:
            return special
        mark(request, "accepted" if result.accepted else "rejected", result.first_error, result.accepted, result.first_reason)
        text = wire.sent_answer_text(result.errors, result.items)
        if text is not None:
            return answer(text.encode("utf-8"))
        return json_response({"errors": result.errors, "items": result.items})

    # -- GET /api/v1/message[/{uuid}] -------------------------------------------------------
    async def list_messages(self, request: web.Request, account: Account) -> web.StreamResponse:
        """GUESS: the envelope `{"total", "items"}` (the list answer is not published; send and
        stop answer with `items`)."""
        try:
            query = Query.parse(request.query)
        except BadQuery:
            raise Rejection("invalid_query") from None
        total, page = query.select(self._sent_messages(account), self.status_of)
        mark(request, "query", None)
        items = [wire.message_object(m, self.status_of, account.currency) for m in page]
        return json_response({"total": total, "items": items})

    async def get_message(self, request: web.Request, account: Account) -> web.StreamResponse:
        message = self.engine.find_message(self.name, account.login, request.match_info["uuid"])
        if message is None:
            raise Rejection("message_not_found")
        mark(request, "query", None, [message.id])
        return json_response(wire.message_object(message, self.status_of, account.currency))

    def _sent_messages(self, account: Account) -> list[Message]:
        return self.engine.sent_messages(self.name, account.login)

    # -- POST /api/v1/message/stop ----------------------------------------------------------
    async def stop(self, request: web.Request, account: Account) -> web.StreamResponse:
        """Doc (Stopping Messages): per message 200 (will be stopped), 202 (was entering sending,
        may not be stopped: stopped here), 403 (sending or sent), 404 (unknown); `errors` is
        true when any is 403/404; a stopped message ends `unsent`."""
        body = await self._json_body(request)
        if self.schemas.first_violation("revicom/stop", body):
            raise Rejection("invalid_uuids")
        results = []
        stopped = []
        for uuid in body["uuids"]:
            message = self.engine.find_message(self.name, account.login, uuid)
            code = self._stop(message)
            if code in (200, 202) and message is not None:
                stopped.append(message.id)
            results.append({"messageUuid": uuid, "code": code})
        mark(request, "query", None, stopped)
        return json_response({"errors": any(r["code"] in (403, 404) for r in results), "items": results})

    def _stop(self, message: Message | None) -> int:
        if message is None:
            return 404
        status = message.status
        if status not in (Status.ACCEPTED, Status.QUEUED) or not self.engine.cancel(message):
            return 403
        return 200 if status == Status.ACCEPTED else 202

    # -- account ----------------------------------------------------------------------------
    async def balance(self, request: web.Request, account: Account) -> web.StreamResponse:
        """GET /api/v1/balance: `{"<currency>": amount}` (doc example `{"USD": 1200.00}`)."""
        mark(request, "query", None)
        return json_response({account.currency: round(float(account.balance), 2)})

    async def ping(self, request: web.Request, account: Account) -> web.StreamResponse:
        """GUESS: the "Connection check" page is in the docs' menu but no copy of its content
        was found; an authenticated GET answering 200 `{"status": "ok"}`."""
        mark(request, "query", None)
        return json_response({"status": "ok"})

    # -- callbacks --------------------------------------------------------------------------
    def status_callbacks(self, message: Message, event: Event) -> list[CallbackRequest]:
        if not message.callback_url:  # no callback asked for (the usual send): nothing to render
            return []
        return callbacks.status_callbacks(message, event, self.status_of)
