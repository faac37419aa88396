"""AlphaSMS JSON API (`POST /api/json.php`): wire format only.

Facts: shared/seeds/alphasms-multichannel.txt and shared/providers/smsc-alphasms.md part 2.
Envelope `{"auth", "data": [items]}` -> `{"success": true, "data": [per-item results]}`;
envelope errors (bad key, not JSON, wrong Content-Type) -> `{"success": false, "error"}`,
always HTTP 200. Item texts not published by AlphaSMS are marked `source: guess` in
schemas/alphasms/errors.yaml. The webhook payload is not published either: see
status_callbacks for the inferred shape.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from ..core.callbacks import CallbackRequest
from ..core.engine import Submission
from ..core.model import Attempt, Event, Message, Status, digits, next_gateway_id
from ..core.text import count_segments
from .base import BodyTooLarge, NotJSON, Provider, json_response, mark, parse_json, read_body

# One item type -> the cascade of channels it sends on.
CASCADES = {
    "sms": ["sms"],
    "viber": ["viber"],
    "viber+sms": ["viber", "sms"],
    "rcs": ["rcs"],
    "rcs+sms": ["rcs", "sms"],
    "rcs+viber+sms": ["rcs", "viber", "sms"],
    "voice": ["voice"],
    "call/otp": ["call"],
}
# Schema definitions (schemas/alphasms/items.json) an item must satisfy: one per channel of a
# flat cascade type (named after the channel unless listed here), or the type's own.
CHANNEL_SCHEMAS = {"voice": "voice_item", "call": "id_phone"}
OTHER_SCHEMAS = {"pipeline": ["pipeline"], "hlr": ["id_phone"], "status": ["status"], "balance": []}


def item_schemas(kind: str) -> list[str] | None:
    """The definitions an item of `kind` must satisfy; None for an unknown type."""
    if kind in CASCADES:
        return [CHANNEL_SCHEMAS.get(channel, channel) for channel in CASCADES[kind]]
    return OTHER_SCHEMAS.get(kind)
VIBER_NEEDS = {  # viber_type -> fields it requires
    "text": ("viber_message",),
    "image": ("viber_image",),
    "text+link": ("viber_message", "viber_link", "viber_button"),
    "text+image+link": ("viber_message", "viber_image", "viber_link", "viber_button"),
}
SIGNATURE_FIELDS = {"sms_signature", "viber_signature", "rcs_signature", "signature"}
TEXT_FIELDS = {"sms_message", "viber_message", "rcs_message", "message"}


class ItemError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class AlphaSMS(Provider):
    name = "alphasms"
    title = "AlphaSMS JSON API (sms, viber, rcs, voice, call/otp, pipeline, hlr, status, balance)"
    # canonical status -> AlphaSMS status name (XML API family, docs A2; READ from A1)
    statuses = {
        "accepted": "ACCEPTED",
        "queued": "SCHEDULED",
        "sent": "ENROUTE",
        "delivered": "DELIVERED",
        "read": "READ",
        "undelivered": "UNDELIVERABLE",
        "expired": "EXPIRED",
        "rejected": "REJECTED",
        "cancelled": "DELETED",
    }

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", "/api/json.php", self.handle)]

    # -- errors -----------------------------------------------------------------------------
    def render_error(self, request: web.Request, key: str, **context: Any) -> web.StreamResponse:
        return json_response({"success": False, "error": self.error(key)["text"]})

    def item_error(self, key: str, client_id: Any) -> dict[str, Any]:
        result: dict[str, Any] = {"success": False, "error": self.error(key)["text"]}
        if client_id is not None:
            result["data"] = {"id": client_id}
        return result

    # -- the one endpoint -------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return self.reject(request, "method_not_allowed")
        if request.content_type != "application/json":
            return self.reject(request, "invalid_content_type")
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            return self.reject(request, "body_too_large")
        try:
            body = parse_json(raw)
        except NotJSON:
            return self.reject(request, "invalid_json")
        if not isinstance(body, dict) or not isinstance(body.get("auth"), str):
            return self.reject(request, "access_denied" if isinstance(body, dict) else "invalid_request")
        account = next((a for a in self.accounts() if a.secrets.get("api_key") == body["auth"]), None)
        if account is None:
            return self.reject(request, "access_denied")
        if self.schemas.first_violation("alphasms/envelope", body):
            return self.reject(request, "invalid_request")
        return await self._process(request, account, body["data"])

    async def _process(self, request: web.Request, account, items: list[dict[str, Any]]) -> web.StreamResponse:
        results: list[dict[str, Any] | None] = [None] * len(items)
        drafts: list[tuple[int, Message]] = []
        for index, item in enumerate(items):
            kind = item.get("type")
            client_id = item.get("id")
            try:
                self._validate(item)
                if kind in CASCADES or kind == "pipeline":
                    if self.engine.is_opted_out(self.name, account.login, digits(item["phone"])):
                        raise ItemError("opted_out")
                    drafts.append((index, self._draft(account.login, item)))
            except ItemError as exc:
                results[index] = self.item_error(exc.key, client_id)

        outcome_ids: list[str] = []
        if drafts:
            submission = Submission(self.name, account, [m for _, m in drafts], atomic=False)
            decision = self.engine.submit(submission)
            special = self.special(request, decision)
            if special is not None:
                return special
            for (index, message), outcome in zip(drafts, decision.outcomes):
                if outcome.error:
                    if self.error(outcome.error)["level"] == "envelope":
                        return self.reject(request, outcome.error)
                    results[index] = self.item_error(outcome.error, message.meta["client_id"])
                    continue
                outcome_ids.append(message.id)
                if message.client_ref is not None:
                    self.engine.index_message(message, f"id:{message.client_ref}")
                results[index] = {"success": True, "data": self._sent_data(message)}

        for index, item in enumerate(items):
            if results[index] is None:
                results[index] = self._query(account, item)
        mark(request, "accepted" if outcome_ids else ("query" if not drafts else "rejected"), None, outcome_ids)
        return json_response({"success": True, "data": results})

    # -- validation -------------------------------------------------------------------------
    def _validate(self, item: dict[str, Any]) -> None:
        definitions = item_schemas(item.get("type")) if isinstance(item.get("type"), str) else None
        if definitions is None:
            raise ItemError("unknown_type")
        kind = item["type"]
        for definition in definitions:
            violation = self.schemas.first_violation(f"alphasms/items#/$defs/{definition}", item)
            if violation:
                raise ItemError(_error_for(violation.field, violation.keyword))
        if "viber_type" in item:
            for needed in VIBER_NEEDS[item["viber_type"]]:
                if not item.get(needed):
                    raise ItemError("empty_message" if needed == "viber_message" else "invalid_parameters")
        if kind == "pipeline":
            for channel in item["pipeline"]:
                if not isinstance(item.get(channel), dict):
                    raise ItemError("invalid_pipeline")
            viber = item.get("viber")
            if isinstance(viber, dict) and viber.get("type", "text") in ("text", "text+link", "text+image+link"):
                if not viber.get("message"):
                    raise ItemError("empty_message")

    # -- translation to the domain ---------------------------------------------------------------
    def _draft(self, account: str, item: dict[str, Any]) -> Message:
        kind = item["type"]
        phone = digits(item["phone"])
        if kind == "pipeline":
            attempts = [Attempt(ch, _pipeline_content(ch, item[ch])) for ch in item["pipeline"]]
        else:
            attempts = [Attempt(ch, _flat_content(ch, item)) for ch in CASCADES[kind]]
        first = attempts[0]
        parts = count_segments(first.content.get("text", "")).parts if first.channel == "sms" else 1
        message = Message(
            provider=self.name,
            account=account,
            recipient=phone,
            attempts=attempts,
            provider_id=str(next_gateway_id()),
            client_ref=str(item["id"]),
            callback_url=item.get("hook"),
            parts=parts,
            cost=self.price(first.channel, parts),
            meta={"type": kind, "client_id": item["id"]},  # client id echoed with its JSON type
        )
        if kind == "call/otp":
            caller = "380" + "".join(random.choice("0123456789") for _ in range(9))
            message.otp = caller[-4:]
            first.content.update({"caller": caller, "text": f"Incoming call from +{caller}"})
        return message

    def _sent_data(self, message: Message) -> dict[str, Any]:
        client_id = message.meta["client_id"]
        if message.meta["type"] == "call/otp":
            return {"code": message.otp, "price": float(message.cost)}
        return {"id": client_id, "msg_id": int(message.provider_id), "data": 1, "parts": message.parts}

    # -- queries ----------------------------------------------------------------------------
    def _query(self, account, item: dict[str, Any]) -> dict[str, Any]:
        kind = item["type"]
        if kind == "balance":
            return {"success": True, "data": {"amount": round(float(account.balance), 4), "currency": account.currency}}
        if kind == "status":
            message = self.engine.find_message(self.name, account.login, f"id:{item['id']}")
            if message is None:
                return self.item_error("message_not_found", item["id"])
            return {
                "success": True,
                "data": {"id": item["id"], "type": message.channel, "status": self.status_of(message.status)},
            }
        if kind == "hlr":
            return {"success": True, "data": _hlr(digits(item["phone"]))}
        return self.item_error("unknown_type", item.get("id"))

    # -- webhook ----------------------------------------------------------------------------
    def status_callbacks(self, message: Message, event: Event) -> list[CallbackRequest]:
        """INFERRED: AlphaSMS does not publish its `hook` payload. We POST JSON
        `{"id", "msg_id", "type", "status", "time"}` on every status past ACCEPTED, matching the
        fields of the documented status answer plus the gateway id clients already store."""
        if not message.callback_url or event.status in (Status.ACCEPTED, Status.QUEUED):
            return []
        payload = {
            "id": message.meta["client_id"],
            "msg_id": int(message.provider_id),
            "type": event.channel,
            "status": self.status_of(event.status),
            "time": datetime.fromtimestamp(event.at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        }
        return [CallbackRequest(message.callback_url, json.dumps(payload))]


def _error_for(field: str, keyword: str) -> str:
    if field == "phone":
        return "invalid_phone"
    if field in SIGNATURE_FIELDS:
        return "alpha_name"
    if field in TEXT_FIELDS and keyword in ("required", "minLength"):
        return "empty_message"
    if field == "pipeline":
        return "invalid_pipeline"
    return "invalid_parameters"


def _flat_content(channel: str, item: dict[str, Any]) -> dict[str, Any]:
    """Content of one channel of a flat item (`sms_message`, `viber_signature`...)."""
    if channel == "voice":
        return {"text": item["message"], "voice": item.get("voice"), "dtmf": item.get("dtmf", False)}
    if channel == "call":
        return {}
    prefix = f"{channel}_"
    content = {k[len(prefix):]: v for k, v in item.items() if k.startswith(prefix)}
    content["text"] = content.pop("message", "")
    if "lifetime" in content:
        content["_ttl"] = content["lifetime"]
    return content


def _pipeline_content(channel: str, options: dict[str, Any]) -> dict[str, Any]:
    content = {k: v for k, v in options.items() if k != "message"}
    content["text"] = options.get("message", "")
    if "lifetime" in options:
        content["_ttl"] = options["lifetime"]
    return content


_OPERATORS = {  # Ukrainian mobile prefixes after 380 -> operator, for HLR answers
    ("39", "67", "68", "96", "97", "98"): ("Kyivstar", "25503"),
    ("50", "66", "95", "99"): ("Vodafone Ukraine", "25501"),
    ("63", "73", "93"): ("lifecell", "25506"),
}


def _hlr(phone: str) -> dict[str, Any]:
    name, mccmnc = "Kyivstar", "25503"
    for prefixes, (operator, code) in _OPERATORS.items():
        if phone.startswith("380") and phone[3:5] in prefixes:
            name, mccmnc = operator, code
    network = {"name": name, "prefix": phone[3:5], "country": {"name": "Ukraine", "prefix": "380"}}
    return {
        "phone": int(phone) if phone.isdigit() else phone,
        "status": "DELIVERED",
        "imsi": mccmnc + phone[-10:].rjust(10, "0"),
        "mccmnc": mccmnc,
        "ported": False,
        "network": {"origin": network, "ported": network},
    }
