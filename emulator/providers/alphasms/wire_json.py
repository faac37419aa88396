"""JSON API: `POST /api/json.php` (synchronous) and `POST /v1/json` (asynchronous).

Sync: `{"auth", "data": [items]}` -> `{"success": true, "data": [per-item results]}`, item order
kept; envelope errors -> `{"success": false, "error"}`; always HTTP 200 (docs.alphasms.net/api/json).
Async: same body, items of type `sms` only; answers `{"request_id", "success": true}` and no
per-message `msg_id` (docs "Send SMS", asynchronous sending). Results are then read as for any
message: the `status` request by client `id` and the `hook`.
"""
from __future__ import annotations

import uuid
from dataclasses import replace
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ...core.model import Attempt, Message, Rejection
from ..base import BodyTooLarge, NotJSON, answer, json_response, mark, note, parse_json, read_body
from .rules import CASCADES, ID_OPTIONAL, SEND_TYPES, item_rejection

if TYPE_CHECKING:
    from .provider import AlphaSMS


class JsonWire:
    def __init__(self, provider: "AlphaSMS") -> None:
        self.provider = provider
        self.gateway = provider.gateway

    # -- rendering ---------------------------------------------------------------------------
    def envelope_error(self, key: str) -> web.Response:
        return json_response({"success": False, "error": self.provider.error(key)["text"]})

    def item_error(self, key: str, client_id: Any) -> dict[str, Any]:
        result: dict[str, Any] = {"success": False, "error": self.provider.error(key)["text"]}
        if client_id is not None:
            result["data"] = {"id": client_id}
        return result

    # -- request reading (shared by both endpoints) -----------------------------------------
    async def _read(self, request: web.Request):
        """(account, items) or the envelope error response."""
        provider = self.provider
        if request.method != "POST":
            return provider.reject(request, "method_not_allowed")
        if request.content_type != "application/json":
            return provider.reject(request, "invalid_content_type")
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            return provider.reject(request, "body_too_large")
        try:
            body = parse_json(raw)
        except NotJSON:
            return provider.reject(request, "invalid_json")
        if not isinstance(body, dict):
            return provider.reject(request, "invalid_request")
        account = self.gateway.account_for_key(body.get("auth"))
        if account is None:
            return provider.reject(request, "access_denied")
        violation = provider.schemas.first_violation("alphasms/envelope", body)
        if violation:
            return provider.reject(request, "invalid_request", Rejection.schema("invalid_request", violation))
        return account, body["data"]

    # -- POST /api/json.php -------------------------------------------------------------------
    async def handle_sync(self, request: web.Request) -> web.StreamResponse:
        read = await self._read(request)
        if isinstance(read, web.StreamResponse):
            return read
        account, items = read
        results: list[dict[str, Any] | None] = [None] * len(items)
        drafts: list[tuple[int, Message]] = []
        first_error: str | None = None  # the first refused item's, for the journal
        ids = self.gateway.client_ids(account)
        for index, item in enumerate(items):
            kind = item.get("type")
            why = item_rejection(self.provider.schemas, item)
            error = None
            if why is not None:
                note(request, _at_item(why, index))
                error = why.key
            if error is None and kind in SEND_TYPES:
                if kind not in ID_OPTIONAL:
                    error = ids.claim(item.get("id"))
                if error is None and self.gateway.is_opted_out(account, item["phone"]):
                    error = "opted_out"
                if error is None:
                    drafts.append((index, self.draft(account, item)))
                else:
                    note(request, _rule_of(error, index))
            if error is not None:
                first_error = first_error or error
                results[index] = self.item_error(error, item.get("id"))

        messages = [m for _, m in drafts]
        special, errors = self.gateway.submit(request, account, messages)
        if special is not None:
            return special
        if messages and first_error is None and errors.count(None) == len(items):  # every item sent (the usual request)
            text = sent_text_of(messages)
            if text is not None:
                mark(request, "accepted", None, [m.id for m in messages])
                return answer(text.encode("utf-8"))
        accepted: list[str] = []
        for (index, message), error in zip(drafts, errors):
            if error is None:
                accepted.append(message.id)
                results[index] = {"success": True, "data": self._sent_data(message)}
            elif self.provider.error(error)["level"] == "envelope" and len(items) == 1:
                # documented as the whole answer (call/otp "Operator not supported"); in a request
                # of several items the others may be accepted already, so it stays this item's
                return self.provider.reject(request, error)
            else:
                first_error = first_error or error
                results[index] = self.item_error(error, message.meta["client_id"])

        if None in results:  # queries (balance, status, hlr) and unknown types
            for index, item in enumerate(items):
                if results[index] is None:
                    results[index] = self._query(account, item)
        mark(request, "accepted" if accepted else ("rejected" if first_error else "query"), first_error, accepted)
        text = sent_answer_text(results)
        if text is not None:
            return answer(text.encode("utf-8"))
        return json_response({"success": True, "data": results})

    # -- POST /v1/json --------------------------------------------------------------------------
    async def handle_async(self, request: web.Request) -> web.StreamResponse:
        """The request is checked and queued as a whole: only `sms` items (as documented), each
        valid, else the envelope error (which error is a guess: nothing is published). Items the
        gateway then refuses (magic recipients, funds) are reported by `status` for their id."""
        read = await self._read(request)
        if isinstance(read, web.StreamResponse):
            return read
        account, items = read
        if any(item.get("type") != "sms" for item in items):
            return self.provider.reject(request, "async_types")
        ids = self.gateway.client_ids(account)
        drafts: list[Message] = []
        for index, item in enumerate(items):
            why = _at_item(item_rejection(self.provider.schemas, item), index)
            error = why.key if why else ids.claim(item.get("id"))
            if error is None and self.gateway.is_opted_out(account, item["phone"]):
                error = "opted_out"
            if error is not None:
                return self.provider.reject(request, error, why or _rule_of(error, index))
            drafts.append(self.draft(account, item))
        special, errors = self.gateway.submit(request, account, drafts)
        if special is not None:
            return special
        for message, error in zip(drafts, errors):
            if error is not None:
                self.gateway.remember_refusal(account, message.meta["client_id"], error)
        mark(request, "accepted", None, [m.id for m, e in zip(drafts, errors) if e is None])
        return json_response({"request_id": uuid.uuid4().hex, "success": True})

    # -- items -> domain ------------------------------------------------------------------------
    def draft(self, account, item: dict[str, Any]) -> Message:
        kind = item["type"]
        if kind == "pipeline":
            attempts = [Attempt(ch, _pipeline_content(item[ch])) for ch in item["pipeline"]]
        else:
            attempts = [Attempt(ch, _flat_content(ch, item)) for ch in CASCADES[kind]]
        return self.gateway.new_message(
            account, kind, item["phone"], attempts, client_id=item.get("id"), hook=item.get("hook")
        )

    @staticmethod
    def _sent_data(message: Message) -> dict[str, Any]:
        if message.meta["type"] == "call/otp":
            return {"code": message.otp, "price": float(message.cost)}
        return {"id": message.meta["client_id"], "msg_id": int(message.provider_id), "data": 1, "parts": message.parts}

    def _query(self, account, item: dict[str, Any]) -> dict[str, Any]:
        kind = item["type"]
        if kind == "balance":
            return {"success": True, "data": {"amount": round(float(account.balance), 4), "currency": account.currency}}
        if kind == "status":
            message = self.gateway.find(account, client_id=item["id"])
            if message is None:
                refused = self.gateway.refusal(account, item["id"])
                return self.item_error(refused or "message_not_found", item["id"])
            return {
                "success": True,
                "data": {"id": item["id"], "type": message.channel, "status": self.gateway.status(message, "json")},
            }
        if kind == "hlr":
            return {"success": True, "data": self.gateway.hlr(item["phone"])}
        return self.item_error("unknown_type", item.get("id"))


_SENT = ("id", "msg_id", "data", "parts")


def sent_answer_text(results: list[Any]) -> str | None:
    """The sync answer when every item was sent (the usual request), as the JSON text
    json_response writes (compact, non-ASCII as is): the same string and int texts its C
    encoder writes, without an encoder set up per answer. None for any other answer (a
    refused item, a query, a call/otp code): the encoder writes those."""
    texts = []
    for result in results:
        if type(result) is not dict or len(result) != 2 or result.get("success") is not True:
            return None
        data = result["data"]
        if type(data) is not dict or tuple(data) != _SENT:
            return None
        client_id, msg_id, one, parts = data.values()
        client_id = _client_id_text(client_id)
        if client_id is None:
            return None
        if type(msg_id) is not int or type(parts) is not int or type(one) is not int or one != 1:
            return None
        texts.append(f'{{"success":true,"data":{{"id":{client_id},"msg_id":{msg_id},"data":1,"parts":{parts}}}}}')
    return '{"success":true,"data":[' + ",".join(texts) + "]}"


def _client_id_text(client_id: object) -> str | None:
    """A client id as the encoder writes it (an int or a str), None for any other type."""
    if type(client_id) is int:
        return int.__repr__(client_id)
    if type(client_id) is str:
        return encode_basestring(client_id)
    return None


def sent_text_of(messages: list[Message]) -> str | None:
    """sent_answer_text of the results _sent_data makes of `messages`, all sent, without
    making them (a dict each, then read back): None where that would be None (a call/otp
    code, a client id neither int nor str, parts not an int)."""
    texts = []
    for message in messages:
        meta = message.meta
        if meta["type"] == "call/otp":
            return None
        client_id = _client_id_text(meta["client_id"])
        if client_id is None:
            return None
        parts = message.parts
        if type(parts) is not int:
            return None
        texts.append(f'{{"success":true,"data":{{"id":{client_id},"msg_id":{int(message.provider_id)},"data":1,"parts":{parts}}}}}')
    return '{"success":true,"data":[' + ",".join(texts) + "]}"


_PREFIXES = {channel: f"{channel}_" for channel in ("sms", "viber", "rcs")}


def _flat_content(channel: str, item: dict[str, Any]) -> dict[str, Any]:
    """Content of one channel of a flat item (`sms_message`, `viber_signature`...)."""
    if channel == "voice":
        return {"text": item["message"], "voice": item.get("voice"), "dtmf": item.get("dtmf", False)}
    if channel == "call":
        return {}
    prefix = _PREFIXES.get(channel) or f"{channel}_"
    cut = len(prefix)
    content = {}
    for key, value in item.items():  # a loop: a comprehension is a function call of its own
        if key.startswith(prefix):
            content[key[cut:]] = value
    content["text"] = content.pop("message", "")
    if "lifetime" in content:
        content["_ttl"] = content["lifetime"]
    return content


def _pipeline_content(options: dict[str, Any]) -> dict[str, Any]:
    content = {k: v for k, v in options.items() if k != "message"}
    content["text"] = options.get("message", "")
    if "lifetime" in options:
        content["_ttl"] = options["lifetime"]
    return content


def _at_item(why: Rejection | None, index: int) -> Rejection | None:
    """An item's reason with its pointer made absolute in the request body (/data/<index>...)."""
    if why is None:
        return None
    pointer = (why.pointer or "").lstrip("/")
    return replace(why, pointer=f"/data/{index}/{pointer}".rstrip("/"))


def _rule_of(key: str, index: int) -> Rejection:
    """The client-id rule (rules.ClientIds) or the account's stop list refused item `index`."""
    if key == "opted_out":
        return Rejection(key, "rules", pointer=f"/data/{index}/phone", detail="the number is in the account's stop list")
    return Rejection(key, "rules", pointer=f"/data/{index}/id", detail="client id already used")
