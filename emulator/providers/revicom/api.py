"""The endpoints of the Revicom Direct API, their authorization and their wire errors.

Facts: shared/seeds/revicom-voicecode.txt and docs/research/revicom.md (tags [DOC], [DOC-iD],
[GUESS] there). Errors are `{"error": {"code", "msg"}}` with the HTTP status of
schemas/revicom/errors.yaml; every entry marked `source: guess` there is inferred.
"""
from __future__ import annotations

import base64
import json
from typing import Any, Awaitable, Callable

from aiohttp import web
from yarl import URL

from ...core.callbacks import CallbackRequest
from ...core.engine import Submission
from ...core.model import Account, Event, Message, Status
from ..base import BodyTooLarge, NotJSON, Provider, json_response, mark, parse_json, read_body
from . import items as message_items
from .views import BadQuery, Query, error_code, iso, message_object

MESSAGES_TOKEN = "token"  # TOKEN_1: messages (send, get, stop)
SERVICE_TOKEN = "service_token"  # TOKEN_2: system entities; refused by message methods (4030)
ANY_TOKEN = (MESSAGES_TOKEN, SERVICE_TOKEN)  # doc: balance takes a token of any type
SENT_DIRECTORY = "messages"  # per-account record of accepted messageUuids, for Getting Messages

# Which callbackEvents value asks for a callback on each canonical status (doc: `delivered`
# covers the final delivered / undelivered / unsent statuses; `read` covers read).
CALLBACK_EVENT = {
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "delivered",
    "expired": "delivered",
    "rejected": "delivered",
    "cancelled": "delivered",
    "read": "read",
}

Handler = Callable[[web.Request, Account], Awaitable[web.StreamResponse]]


class Rejection(Exception):
    """A request the API refuses as a whole, with the error key of its catalog."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class Revicom(Provider):
    name = "revicom"
    title = "Revicom Direct API (SMS, FLASHCALL, VOICECODE, WHATSAPP, VK; get, stop, balance)"
    # canonical status -> Revicom status. Doc: sent, delivered, undelivered (also: not delivered
    # within the lifetime), unsent (stopped), read. GUESS: the names of the two non-final
    # statuses, and `unsent` for a message the operator rejects.
    statuses = {
        "accepted": "created",
        "queued": "queued",
        "sent": "sent",
        "delivered": "delivered",
        "read": "read",
        "undelivered": "undelivered",
        "expired": "undelivered",
        "rejected": "unsent",
        "cancelled": "unsent",
    }

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
                return self.reject(request, exc.key)

        return serve

    # -- errors -----------------------------------------------------------------------------
    def render_error(self, request: web.Request, key: str, **context: Any) -> web.StreamResponse:
        entry = self.error(key)
        return json_response({"error": {"code": entry["code"], "msg": entry["msg"]}}, status=entry["http"])

    def _item_error(self, key: str) -> dict[str, Any]:
        """GUESS: a message refused inside an accepted request (no messageUuid)."""
        entry = self.error(key)
        return {"code": entry.get("item_code", 422), "errorCode": entry["code"]}

    # -- authorization ----------------------------------------------------------------------
    def _authenticate(self, request: web.Request, tokens: tuple[str, ...]) -> Account:
        """Doc: `Authorization: Basic <token>`, the token sent as is. No header: 4010; unknown
        token: 4012; a token of another type: 4030. `Bearer` is accepted too (public clients
        and the FLASHCALL-conversion page use it); any other scheme counts as no header (GUESS)."""
        header = request.headers.get("Authorization")
        scheme, _, token = (header or "").strip().partition(" ")
        if header is None or scheme.lower() not in ("basic", "bearer"):
            raise Rejection("not_authenticated")
        token = token.strip()
        for account in self.accounts():
            kind = next((k for k in ANY_TOKEN if token and account.secrets.get(k) == token), None)
            if kind is None:
                continue
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

    # -- sending ----------------------------------------------------------------------------
    async def send(self, request: web.Request, account: Account) -> web.StreamResponse:
        """POST /api/v1/message: an array of 1..1000 messages. A rule broken by any of them
        refuses the whole request (4220, doc); scenario/magic/balance refusals are per message
        with `errors: true` (doc: errors=false guarantees every message was generated)."""
        body = await self._json_body(request)
        if self.schemas.first_violation("revicom/message#/$defs/request", body):
            raise Rejection("invalid_messages_count")
        now = self.engine.clock.now()
        for item in body:
            key = message_items.violation(self.schemas, item, now)
            if key:
                raise Rejection(key)
        drafts = [message_items.draft(self.name, account.login, item, self.price) for item in body]
        decision = self.engine.submit(Submission(self.name, account, drafts, atomic=False))
        special = self.special(request, decision)
        if special is not None:
            return special
        results: list[dict[str, Any]] = []
        accepted: list[str] = []
        for outcome in decision.outcomes:
            if outcome.error:
                results.append(self._item_error(outcome.error))
                continue
            self.engine.directory(self.name, account.login, SENT_DIRECTORY).add({"uuid": outcome.message.id})
            accepted.append(outcome.message.id)
            results.append({"messageUuid": outcome.message.provider_id, "code": 201})
        first_error = next((o.error for o in decision.outcomes if o.error), None)
        mark(request, "accepted" if accepted else "rejected", first_error, accepted)
        return json_response({"errors": len(accepted) < len(results), "items": results})

    # -- getting ----------------------------------------------------------------------------
    async def list_messages(self, request: web.Request, account: Account) -> web.StreamResponse:
        """GET /api/v1/message with the documented filters. GUESS: the envelope
        `{"total", "items"}` (the list answer is not published; send and stop use `items`)."""
        try:
            query = Query.parse(request.query)
        except BadQuery:
            raise Rejection("invalid_query") from None
        total, page = query.select(self._sent_messages(account), self.status_of)
        mark(request, "query", None)
        return json_response({"total": total, "items": [message_object(m, self.status_of, account.currency) for m in page]})

    async def get_message(self, request: web.Request, account: Account) -> web.StreamResponse:
        """GET /api/v1/message/{uuid}: one message object ([DOC-iD] i-Digital)."""
        message = self.engine.find_message(self.name, account.login, request.match_info["uuid"])
        if message is None:
            raise Rejection("message_not_found")
        mark(request, "query", None, [message.id])
        return json_response(message_object(message, self.status_of, account.currency))

    def _sent_messages(self, account: Account) -> list[Message]:
        directory = self.engine.directory(self.name, account.login, SENT_DIRECTORY)
        found = []
        for record in directory:
            message = self.engine.find_message(self.name, account.login, record.fields["uuid"])
            if message is None:  # dropped by the store's retention cap
                directory.remove(record.id)
            else:
                found.append(message)
        return found

    # -- stopping ---------------------------------------------------------------------------
    async def stop(self, request: web.Request, account: Account) -> web.StreamResponse:
        """POST /api/v1/message/stop {"uuids": [...]}: per message 200 (stopped), 202 (was
        entering sending, stopped here too), 403 (sending or sent), 404 (unknown); `errors` is
        true when any is 403/404 (doc)."""
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
        """GUESS: the "Connection check" page is listed in the docs but its content was never
        found; an authenticated GET answering 200 `{"status": "ok"}`."""
        mark(request, "query", None)
        return json_response({"status": "ok"})

    # -- callbacks --------------------------------------------------------------------------
    def status_callbacks(self, message: Message, event: Event) -> list[CallbackRequest]:
        """Doc: POST callbackUrl, a JSON array of `{message_uuid, channel_type, callback_event,
        status, status_time, error_code?}`, only for the events the message asked for
        (callbackEvents; default `delivered`). INFERRED: one event per POST; `login:password@`
        of the URL sent as Basic auth (doc: the URL may carry them, "used for Basic auth")."""
        wanted = CALLBACK_EVENT.get(event.status.value)
        if not message.callback_url or wanted not in message.meta.get("callbackEvents", []):
            return []
        payload: dict[str, Any] = {
            "message_uuid": message.provider_id,
            "channel_type": event.channel,
            "callback_event": wanted,
            "status": self.status_of(event.status),
            "status_time": iso(event.at),
        }
        code = error_code(event.error)
        if code is not None:
            payload["error_code"] = code
        url, headers = _split_credentials(message.callback_url)
        return [CallbackRequest(url, json.dumps([payload], ensure_ascii=False, separators=(",", ":")), headers=headers)]


def _split_credentials(callback_url: str) -> tuple[str, dict[str, str]]:
    try:
        url = URL(callback_url)
    except (ValueError, TypeError):
        return callback_url, {}
    if not url.user:
        return callback_url, {}
    secret = base64.b64encode(f"{url.user}:{url.password or ''}".encode()).decode()
    return str(url.with_user(None)), {"Authorization": f"Basic {secret}"}
