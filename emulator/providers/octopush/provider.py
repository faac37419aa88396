"""Octopush REST API (real base https://api.octopush.com/v1/public): wire format only.

Facts: shared/seeds/octopush-multichannel.txt (the multichannel send, "SEED") and
docs/research/octopush.md (tags D*/C* below refer to its source index). Every answer is JSON:
success bodies as documented, errors as {"code", "message"} or the documented 400
"Payload validation error." wrapper with a per-field `errors` object; schemas/octopush/errors.yaml
says which codes/texts are documented and which are guessed. Successful sends answer HTTP 200
(a Go client, C6, requires exactly 200). Callbacks are configured per account (the real
back office): secrets `callback_url` (every kind) or `callback_url_for_deliveries`,
`callback_url_for_inbounds`, `callback_url_for_blacklisted_numbers` (D14 names).
"""
from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable

from aiohttp import web

from ...resources import read_yaml
from ...core.callbacks import CallbackRequest
from ...core.engine import Submission
from ...core.model import Account, Attempt, Event, Message, Status
from ...core.text import count_segments
from ...core.validation import Violation, schemas_root
from ..base import BodyTooLarge, NotJSON, Provider, json_response, mark, parse_json, read_body
from . import callbacks
from .payload import (
    CHANNELS,
    CONTENT_METADATA,
    Contact,
    Rejected,
    Send,
    cast,
    cast_recipients,
    filters_optouts,
    needs_stop_mention,
    optimise,
    parse_send_at,
    personalise,
    resolve_contacts,
)

MULTICHANNEL = "octopush/multichannel"
SMS_CAMPAIGN = "octopush/sms-campaign"
REQUEST_ID_WINDOW = 24 * 3600  # "A request_id will expire after 24 hours" (SEED)
TICKET_PREFIX = {"sms": "sms", "voice_sms": "voice", "rcs": "rcs", "email": "email", "live_chat": "live_chat"}
# Which account secret holds the URL of each kind of callback; `callback_url` serves them all.
CALLBACK_SECRETS = {
    "deliveries": "callback_url_for_deliveries",
    "inbounds": "callback_url_for_inbounds",
    "stop": "callback_url_for_blacklisted_numbers",
}
MONEY_UNITS = {"EUR": "euros"}  # check-balance `unit` without a product (D3); others: the ISO code
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_TRUE = ("1", "true", "yes", "on")


class Octopush(Provider):
    name = "octopush"
    title = "Octopush REST API (multi-channel send: sms, voice_sms, rcs, email, live_chat; SMS campaign; wallet)"
    # canonical status -> Octopush delivery status (D6 SMS list, D7 multichannel list).
    # GUESS: expired -> UNKNOWN_DELIVERY (no final report), rejected -> NOT_ALLOWED,
    # cancelled -> UNDEFINED; accepted/queued are never reported (PROCESSED = queued, D7).
    # Email reports use the email names of D7 for two of them (EMAIL_STATUSES).
    statuses = {
        "accepted": "PROCESSED",
        "queued": "PROCESSED",
        "sent": "ACK",
        "delivered": "DELIVERED",
        "read": "READ",
        "undelivered": "NOT_DELIVERED",
        "expired": "UNKNOWN_DELIVERY",
        "rejected": "NOT_ALLOWED",
        "cancelled": "UNDEFINED",
    }
    EMAIL_STATUSES = {**statuses, "sent": "TRANSMITTED", "read": "OPENED"}

    def __init__(self, engine, schemas) -> None:
        super().__init__(engine, schemas)
        self.products: dict[str, dict[str, Any]] = read_yaml(
            schemas_root() / "octopush" / "products.yaml"
        )
        # first catalog entry naming a field is that field's error
        self.field_errors: dict[str, str] = {}
        for key, entry in self.errors.items():
            if "field" in entry:
                self.field_errors.setdefault(entry["field"], key)
        defs = schemas.raw(MULTICHANNEL)["$defs"]
        self._types = {
            MULTICHANNEL: self._property_types(schemas.raw(MULTICHANNEL)["properties"]),
            SMS_CAMPAIGN: self._property_types(schemas.raw(SMS_CAMPAIGN)["properties"]),
            "recipient": self._property_types(defs["recipient"]["properties"]),
            **{channel: self._property_types(defs[f"metadata_{channel}"]["properties"]) for channel in CHANNELS},
        }

    def routes(self) -> list[web.RouteDef]:
        return [
            web.route("*", "/v1/public/multi-channel/send", self.multichannel_send),
            web.route("*", "/v1/public/sms-campaign/send", self.sms_campaign_send),
            web.route("*", "/v1/public/wallet/check-balance", self.check_balance),
            web.route("*", "/v1/public/wallet/check-credits", self.check_credits),
        ]

    # -- errors -----------------------------------------------------------------------------
    def render_error(self, request: web.Request, key: str, **context: Any) -> web.StreamResponse:
        entry = self.error(key)
        if "field" not in entry:
            return json_response({"code": entry["code"], "message": entry["message"]}, status=entry["http"])
        errors: dict[str, dict[str, Any]] = {}
        for field_key in context.get("fields") or [key]:
            field_entry = self.error(field_key)
            errors.setdefault(field_entry.get("field", "payload"), {"code": field_entry["code"], "message": field_entry["message"]})
        wrapper = self.error("payload_validation")
        return json_response({"code": wrapper["code"], "message": wrapper["message"], "errors": errors}, status=wrapper["http"])

    def _refuse(self, request: web.Request, rejected: Rejected) -> web.StreamResponse:
        return self.reject(request, rejected.keys[0], fields=rejected.keys)

    # -- authentication ---------------------------------------------------------------------
    def _authenticate(self, request: web.Request) -> Account | str:
        """Headers api-login + api-key (every doc and client); HTTP Basic login:key as well
        (D15 mentions Basic Auth; the pairing is a guess). Missing -> 403, wrong -> 401."""
        login = request.headers.get("api-login", "").strip()
        key = request.headers.get("api-key", "").strip()
        if not (login and key):
            login, key = _basic_auth(request.headers.get("Authorization", ""))
        if not (login and key):
            return "missing_credentials"
        for account in self.accounts():
            if account.login.lower() == login.lower() and account.secrets.get("api_key") == key:
                return account
        return "unauthorized"

    async def _json_body(self, request: web.Request) -> dict[str, Any]:
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            raise Rejected("body_too_large") from None
        try:
            # any Content-Type: the API "interprets" (SEED); NaN/Infinity are not JSON
            body = parse_json(raw)
        except NotJSON:
            raise Rejected("invalid_json") from None
        if not isinstance(body, dict):
            raise Rejected("invalid_json")
        return body

    # -- sends ------------------------------------------------------------------------------
    async def multichannel_send(self, request: web.Request) -> web.StreamResponse:
        return await self._send(request, self._read_multichannel, classic=False)

    async def sms_campaign_send(self, request: web.Request) -> web.StreamResponse:
        return await self._send(request, self._read_sms_campaign, classic=True)

    async def _send(self, request: web.Request, read: Callable[[dict[str, Any]], Send], classic: bool) -> web.StreamResponse:
        if request.method != "POST":
            return self.reject(request, "method_not_allowed")
        account = self._authenticate(request)
        if isinstance(account, str):
            return self.reject(request, account)
        try:
            send = read(await self._json_body(request))
            drafts = self._drafts(account, send)
        except Rejected as rejected:
            return self._refuse(request, rejected)
        submission = Submission(self.name, account, drafts, atomic=True, charge=not send.simulation, store=not send.simulation)
        decision = self.engine.submit(submission)
        special = self.special(request, decision)
        if special is not None:
            return special
        if decision.action == "reject":
            return self.reject(request, decision.error or "internal")
        if send.simulation:
            mark(request, "query", None)
        else:
            mark(request, "accepted", None, [m.id for m in drafts])
        return json_response(self._success(account, send, drafts, classic=classic))

    def _read_multichannel(self, body: dict[str, Any]) -> Send:
        body = self._validated(MULTICHANNEL, body)
        channel, metadata = body["channel"], body.get("metadata", {})
        purpose = body.get("purpose")
        return Send(
            channel=channel,
            text=body["text"],
            contacts=resolve_contacts(channel, body["recipients"]),
            sender=body.get("sender"),
            send_at=parse_send_at(body.get("send_at")),
            purpose=purpose,
            list_name=body.get("list_name"),
            metadata=metadata,
            simulation=body.get("simulation_mode", False),
            optimise_text=body.get("auto_optimize_text", True),
            filter_optouts=filters_optouts(purpose, body.get("optout_filtering"), body.get("auto_delete_optout_contacts")),
            request_id=metadata.get("request_id"),
        )

    def _read_sms_campaign(self, body: dict[str, Any]) -> Send:
        body = self._validated(SMS_CAMPAIGN, body)
        purpose = body.get("purpose")
        return Send(
            channel="sms",
            text=body["text"],
            contacts=resolve_contacts("sms", body["recipients"]),
            sender=body.get("sender"),
            send_at=parse_send_at(body.get("send_at")),
            purpose=purpose,
            list_name=body.get("list_name"),
            metadata={k: body[k] for k in ("type", "with_replies") if k in body},
            simulation=body.get("simulation_mode", False),
            optimise_text=body.get("auto_optimize_text", True),
            filter_optouts=filters_optouts(purpose, body.get("optout_filtering"), body.get("auto_remove_blacklisted_numbers")),
            request_id=body.get("request_id"),
        )

    def _validated(self, schema: str, body: dict[str, Any]) -> dict[str, Any]:
        """Cast, then every field error of the schema at once (the `errors` object)."""
        body = cast(body, self._types[schema])
        body["recipients"] = cast_recipients(body.get("recipients"), self._types["recipient"])
        if body["recipients"] is None:
            del body["recipients"]
        channel = body.get("channel")
        if isinstance(channel, str) and channel in CHANNELS and isinstance(body.get("metadata"), dict):
            body["metadata"] = cast(body["metadata"], self._types[channel])
        keys: list[str] = []
        for violation in self.schemas.violations(schema, body):
            key = self.field_errors.get(_field_of(violation), "invalid_payload")
            if key not in keys:
                keys.append(key)
        if not keys and not body["text"].strip():
            keys.append("invalid_text")
        if keys:
            raise Rejected(*keys)
        return body

    def _drafts(self, account: Account, send: Send) -> list[Message]:
        """One message per recipient left after the STOP rule, opt-outs and request_id."""
        if needs_stop_mention(send.channel, send.purpose, send.text):
            raise Rejected("stop_mention_missing")
        contacts = [c for c in send.contacts if not (send.filter_optouts and c.phone and self.engine.is_opted_out(self.name, account.login, c.phone))]
        if not contacts:
            raise Rejected("no_valid_recipient")
        if send.request_id and not send.simulation:
            if self.engine.seen(self.name, account.login, f"request_id:{send.request_id}", REQUEST_ID_WINDOW):
                raise Rejected("duplicate_request_id")
        ticket = f"{TICKET_PREFIX[send.channel]}_{secrets.token_hex(7)[:13]}"
        return [self._draft(account, send, ticket, index, contact) for index, contact in enumerate(contacts)]

    def _draft(self, account: Account, send: Send, ticket: str, index: int, contact: Contact) -> Message:
        channel = send.channel
        text = personalise(send.text, contact.params)
        if send.optimise_text:
            text = optimise(text) or text
        content: dict[str, Any] = {"text": text}
        if send.sender:
            content["sender"] = send.sender
        content.update({k: send.metadata[k] for k in CONTENT_METADATA[channel] if k in send.metadata})
        parts = count_segments(text).parts if channel == "sms" else 1
        meta: dict[str, Any] = {
            "ticket": None if channel == "live_chat" else ticket,
            "list_name": send.list_name,
            "number": contact.phone,
            "email": contact.email,
            "conversation_id": contact.conversation_id,
            "purpose": send.purpose,
            "template_name": send.metadata.get("template_name"),
        }
        if channel == "voice_sms":
            meta["estimated_duration"] = estimated_duration(text)
        now = self.engine.clock.now()
        return Message(
            provider=self.name,
            account=account.login,
            recipient=contact.identity,
            attempts=[Attempt(channel, content)],
            provider_id=f"{ticket}-{index + 1}",
            callback_url=self._callback_url(account, "deliveries"),
            parts=parts,
            cost=self.price(channel, parts),
            scheduled_at=send.send_at if send.send_at and send.send_at > now else None,
            meta=meta,
        )

    def _success(self, account: Account, send: Send, drafts: list[Message], classic: bool) -> dict[str, Any]:
        ticket = drafts[0].meta["ticket"]
        total = float(sum((m.cost for m in drafts), Decimal("0")))
        counts = {"number_of_contacts": len(drafts), "total_cost": total}
        residual = float(account.balance)
        if send.channel == "sms":
            body = {"sms_ticket": ticket, **counts, "number_of_sms_needed": sum(m.parts for m in drafts), "residual_credit": residual}
            if not classic:
                # GUESS: SEED masks this field ("******"); we echo the text as sent
                body["message"] = optimise(send.text) if send.optimise_text else send.text
            return body
        body = {"ticket_number": ticket, **counts}
        if send.channel == "voice_sms":
            body["estimated_duration"] = max(m.meta["estimated_duration"] for m in drafts)
        body["residual_credit"] = residual
        return body

    # -- wallet -----------------------------------------------------------------------------
    async def check_balance(self, request: web.Request) -> web.StreamResponse:
        """GET wallet/check-balance (D3): money left, or units of one product in one country."""
        if request.method != "GET":
            return self.reject(request, "method_not_allowed")
        account = self._authenticate(request)
        if isinstance(account, str):
            return self.reject(request, account)
        product = request.query.get("product_name") or None
        country = request.query.get("country_code") or None
        wrong = []
        if (product or country) and product not in self.products:
            wrong.append("product_name")
        if (product or country) and not (country and _COUNTRY.match(country)):
            wrong.append("country_code")
        if wrong:
            return self._refuse(request, Rejected(*wrong))
        if product:
            body: dict[str, Any] = {"amount": self._units(account, product), "unit": product}
        else:
            body = {"amount": float(account.balance), "unit": MONEY_UNITS.get(account.currency, account.currency)}
        if request.query.get("with_details", "").strip().lower() in _TRUE:
            body["wallet_packs"] = [self._wallet_pack(account)]
        mark(request, "query", None)
        return json_response(body)

    async def check_credits(self, request: web.Request) -> web.StreamResponse:
        """GET wallet/check-credits?country_codes[]=FR&... (D4): units of every product per country."""
        if request.method != "GET":
            return self.reject(request, "method_not_allowed")
        account = self._authenticate(request)
        if isinstance(account, str):
            return self.reject(request, account)
        codes = [
            code.strip()
            for key, value in request.query.items()
            if key == "country_codes" or key.startswith("country_codes[")
            for code in value.split(",")
        ]
        if not codes or not all(_COUNTRY.match(code) for code in codes):
            return self.reject(request, "country_codes")
        credits = {product["credits_key"]: self._units(account, name) for name, product in self.products.items()}
        mark(request, "query", None)
        return json_response({code.upper(): dict(credits) for code in codes})

    def _units(self, account: Account, product: str) -> int:
        spec = self.products[product]
        price = self.price(spec["price_of"]) if "price_of" in spec else Decimal(str(spec["price"]))
        return int(account.balance // price) if price > 0 else 0

    def _wallet_pack(self, account: Account) -> dict[str, Any]:
        """One pack holding the whole balance; id stable per account, expiry a year ahead (guess)."""
        expiry = datetime.fromtimestamp(self.engine.clock.now(), timezone.utc) + timedelta(days=365)
        return {
            "wallet_pack_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"msgemu:octopush:{account.login}")),
            "credit": float(account.balance),
            "expiration_date": expiry.isoformat(timespec="seconds"),
        }

    # -- callbacks --------------------------------------------------------------------------
    def _account(self, login: str) -> Account | None:
        return next((a for a in self.accounts() if a.login == login), None)

    def _callback_url(self, account: Account | str | None, kind: str) -> str | None:
        """Read at the time of the event, as Octopush reads its back-office settings."""
        if isinstance(account, str):
            account = self._account(account)
        if account is None:
            return None
        return account.secrets.get(CALLBACK_SECRETS[kind]) or account.secrets.get("callback_url") or None

    def status_callbacks(self, message: Message, event: Event) -> list[CallbackRequest]:
        """Delivery reports (D6/D7) from ACK on. GUESS: live_chat sends none (no ticket)."""
        channel = message.attempts[0].channel
        if channel == "live_chat" or event.status in (Status.ACCEPTED, Status.QUEUED):
            return []
        url = self._callback_url(message.account, "deliveries")
        if not url:
            return []
        names = self.EMAIL_STATUSES if channel == "email" else self.statuses
        history = [
            {"status": names[t.status.value], "delivery_date": callbacks.date(t.at)}
            for t in message.attempts[0].history[:-1]
            if t.status not in (Status.ACCEPTED, Status.QUEUED)
        ]
        return [callbacks.delivery_report(url, message, event, _reported(event, names), history)]

    def inbound_callbacks(self, message: Message, reply: dict[str, Any]) -> list[CallbackRequest]:
        """A reply (D8), or a STOP notification (D9) when the reply opted the number out."""
        if message.attempts[0].channel == "live_chat" or not message.meta.get("number"):
            return []
        if reply.get("optout"):
            url = self._callback_url(message.account, "stop")
            return [callbacks.stop(url, message, reply["text"], reply["at"])] if url else []
        url = self._callback_url(message.account, "inbounds")
        return [callbacks.reply(url, message, reply["text"], reply["at"])] if url else []

    # -- schema helpers ---------------------------------------------------------------------
    def _property_types(self, properties: dict[str, Any]) -> dict[str, str]:
        """name -> JSON type ("boolean", "string"...) for casting; enums are strings."""
        types = {}
        for name, spec in properties.items():
            spec = self._resolve(spec)
            kind = spec.get("type") or ("string" if "enum" in spec else None)
            if isinstance(kind, str):
                types[name] = kind
        return types

    def _resolve(self, spec: dict[str, Any]) -> dict[str, Any]:
        ref = spec.get("$ref")
        if not ref:
            return spec
        file, _, pointer = ref.partition("#")
        node = self.schemas.raw(file.removeprefix("urn:msgemu:") or MULTICHANNEL)
        for part in pointer.strip("/").split("/"):
            node = node[part]
        return node


def estimated_duration(text: str) -> int:
    """GUESS: seconds of one call, ~15 characters spoken per second, billed by 30 s blocks
    (SEED's one example: a 36-character text -> 30)."""
    return 30 * max(1, math.ceil(len(text) / 15 / 30))


def _reported(event: Event, names: dict[str, str]) -> str:
    """The status a report carries: a scenario step's Octopush status (BAD_DESTINATION,
    BLACKLISTED_NUMBER...) when it gives one, else the channel's name for the canonical one."""
    if event.error and re.fullmatch(r"[A-Z_]+", str(event.error)):
        return str(event.error)
    return names[event.status.value]


def _field_of(violation: Violation) -> str:
    """The name Octopush reports a field error under: metadata fields by their own name."""
    parts = [p for p in violation.pointer.split("/") if p]
    if not parts:
        return violation.field or "payload"
    if parts[0] == "metadata" and len(parts) > 1:
        return parts[1]
    return parts[0]


def _basic_auth(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return "", ""
    try:
        login, _, key = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return "", ""
    return login.strip(), key.strip()
