"""Octopush REST API: the provider class that ties the package together.

Package anatomy: routes.py (one handler per endpoint), wire.py (reading bodies, rendering
answers), rules.py (rules beyond the schemas), book.py (contacts, lists, campaigns on them),
callbacks.py (callback bodies and per-channel status names). Data: schemas/octopush/ (request
schemas, errors.yaml, statuses.yaml, products.yaml). Facts: docs/research/octopush.md.

Successful sends answer HTTP 200 (a Go client, C6, requires exactly 200). Callbacks are
configured per account (the real back office): secrets `callback_url` (every kind) or
`callback_url_for_deliveries`, `callback_url_for_inbounds`, `callback_url_for_blacklisted_numbers`
(the names of "Modify configuration" / sub-account pages).
"""
from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from typing import Any

from aiohttp import web

from ...resources import read_yaml
from ...core.callbacks import CallbackRequest
from ...core.model import Account, Attempt, Event, Message
from ...core.text import count_parts
from ...core.validation import schemas_root
from ..base import BodyTooLarge, NotJSON, Provider, json_response, parse_json, read_body
from . import callbacks, rules, wire
from .routes import Endpoints
from .rules import Contact, Rejected
from .wire import Send

REQUEST_ID_WINDOW = 24 * 3600  # "A request_id will expire after 24 hours" (every send page)
# Which metadata fields end up in a channel's content (what the subscriber gets and QA reads).
CONTENT_METADATA = {
    "sms": ("type", "with_replies"),
    "voice_sms": ("type", "voice_gender", "voice_language", "get_back_pressed_keys"),
    "rcs": ("with_replies", "message_type", "cards", "actions"),
    "email": ("email_from", "name_from", "subject", "template_name", "body_format", "emailing_service", "language"),
    "live_chat": (),
}
CALLBACK_SECRETS = {
    "deliveries": "callback_url_for_deliveries",
    "inbounds": "callback_url_for_inbounds",
    "stop": "callback_url_for_blacklisted_numbers",
}
DELIVERIES_SECRET = CALLBACK_SECRETS["deliveries"]
STATUS_NAMES = callbacks.StatusNames()


class Octopush(Endpoints, Provider):
    name = "octopush"
    title = "Octopush REST API (multi-channel send: sms, voice_sms, rcs, email, live_chat; SMS and voice campaigns; contact lists and tags; wallet)"
    # canonical status -> SMS delivery status; every channel's table: schemas/octopush/statuses.yaml
    statuses = {k: v or "PROCESSED" for k, v in STATUS_NAMES.names("sms").items()}
    auth_errors = frozenset({"unauthorized", "missing_credentials"})
    auth_where = "api-login,api-key"

    def __init__(self, engine, schemas) -> None:
        super().__init__(engine, schemas)
        self.products: dict[str, dict[str, Any]] = read_yaml(
            schemas_root() / "octopush" / "products.yaml"
        )
        self.reader = wire.Reader(schemas)

    # -- errors -----------------------------------------------------------------------------
    def render_error(self, request: web.Request, key: str, **context: Any) -> web.StreamResponse:
        status, body = wire.error_body(self.errors, context.get("fields") or [key])
        return json_response(body, status=status)

    def _refuse(self, request: web.Request, rejected: Rejected) -> web.StreamResponse:
        return self.reject(request, rejected.keys[0], rejected.why, fields=rejected.keys)

    # -- authentication and the body ------------------------------------------------------------
    def _caller(self, request: web.Request, method: str) -> Account | web.StreamResponse:
        """The authenticated account, or the error answer (wrong method, missing/wrong keys)."""
        if request.method != method:
            return self.reject(request, "method_not_allowed")
        account = self._authenticate(request)
        if isinstance(account, str):
            return self.reject(request, account)
        return account

    def _authenticate(self, request: web.Request) -> Account | str:
        """Headers api-login + api-key (every doc and client); HTTP Basic login:key as well
        (D15 mentions Basic Auth; the pairing is a guess). Missing -> 403, wrong -> 401."""
        login = request.headers.get("api-login", "").strip()
        key = request.headers.get("api-key", "").strip()
        if not (login and key):
            login, key = _basic_auth(request.headers.get("Authorization", ""))
        if not (login and key):
            return "missing_credentials"
        wanted = login.lower()
        for account in self.accounts():  # the key first: one lookup, where the login costs a lower() each
            if account.secrets.get("api_key") == key and account.login.lower() == wanted:
                return account
        return "unauthorized"

    async def _json_body(self, request: web.Request) -> dict[str, Any]:
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            raise Rejected("body_too_large") from None
        try:
            body = parse_json(raw)  # any Content-Type: the API "interprets" the request
        except NotJSON:
            raise Rejected("invalid_json") from None
        if not isinstance(body, dict):
            raise Rejected("invalid_json")
        return body

    # -- from a Send to messages --------------------------------------------------------------------
    def _check_send(self, account: Account, send: Send) -> None:
        """The documented refusals that depend on the whole request: the STOP mention (121) and
        a request_id seen within 24 hours (a simulation does not use it up)."""
        if rules.needs_stop_mention(send.channel, send.purpose, send.text):
            raise Rejected("stop_mention_missing")
        if send.request_id and not send.simulation:
            if self.engine.seen(self.name, account.login, f"request_id:{send.request_id}", REQUEST_ID_WINDOW):
                raise Rejected("duplicate_request_id")

    def _drafts(self, account: Account, send: Send, contacts: list[Contact], ticket: str) -> list[Message]:
        """One message per recipient left after the opt-outs."""
        if send.filter_optouts:
            kept = []
            for contact in contacts:  # a loop, not a comprehension: most sends have one recipient
                if not (contact.phone and self.engine.is_opted_out(self.name, account.login, contact.phone)):
                    kept.append(contact)
        else:
            kept = contacts
        if not kept:
            raise Rejected("no_valid_recipient")
        # what every recipient of the send shares, read once
        channel = send.channel
        content_base: dict[str, Any] = {}
        if send.sender:
            content_base["sender"] = send.sender
        metadata = send.metadata
        if metadata:
            content_base.update({k: metadata[k] for k in CONTENT_METADATA[channel] if k in metadata})
        callback_url = self._callback_url(account, "deliveries")
        scheduled_at = send.send_at if send.send_at and send.send_at > self.engine.clock.now() else None
        template_name = metadata.get("template_name")
        drafts = []
        for index, contact in enumerate(kept):
            text = rules.personalise(send.text, contact.params) if contact.params else send.text
            if send.optimise_text:
                text = rules.optimise(text) or text
            content: dict[str, Any] = {"text": text}
            content.update(content_base)
            parts = count_parts(text) if channel == "sms" else 1
            meta: dict[str, Any] = {
                "ticket": None if channel == "live_chat" else ticket,
                "list_name": send.list_name,
                "number": contact.phone,
                "email": contact.email,
                "conversation_id": contact.conversation_id,
                "purpose": send.purpose,
                "template_name": template_name,
            }
            if channel == "voice_sms":
                meta["estimated_duration"] = rules.estimated_duration(text)
            drafts.append(Message(
                provider=self.name,
                account=account.login,
                recipient=contact.identity,
                attempts=[Attempt(channel, content)],
                provider_id=f"{ticket}-{index + 1}",
                callback_url=callback_url,
                parts=parts,
                cost=self.price(channel, parts),
                scheduled_at=scheduled_at,
                meta=meta,
            ))
        return drafts

    def _units(self, account: Account, product: str) -> int:
        spec = self.products[product]
        price = self.price(spec["price_of"]) if "price_of" in spec else Decimal(str(spec["price"]))
        return int(account.balance // price) if price > 0 else 0

    # -- callbacks --------------------------------------------------------------------------
    def _callback_url(self, account: Account | str | None, kind: str) -> str | None:
        """Read at the time of the event, as Octopush reads its back-office settings."""
        if isinstance(account, str):
            account = self.account_named(account)
        if account is None:
            return None
        return account.secrets.get(CALLBACK_SECRETS[kind]) or account.secrets.get("callback_url") or None

    def status_callbacks(self, message: Message, event: Event) -> list[CallbackRequest]:
        """Delivery reports in the channel's own status words (statuses.yaml); a step the
        channel does not report (accepted, queued; a voice call's ACK) sends nothing."""
        channel = message.attempts[0].channel
        status = STATUS_NAMES.reported(channel, event.status, event.error)
        if status is None:
            return []
        account = self.engine.account(self.name, message.account)  # _callback_url's lookup, without its two calls
        if account is None:
            return []
        secrets = account.secrets
        url = secrets.get(DELIVERIES_SECRET) or secrets.get("callback_url")
        if not url:
            return []
        history = []
        for step in message.attempts[0].history[:-1]:
            name = STATUS_NAMES.reported(channel, step.status, step.error)
            if name is not None:
                history.append({"status": name, "delivery_date": callbacks.date(step.at)})
        return [callbacks.delivery_report(url, message, event, status, history)]

    def inbound_callbacks(self, message: Message, reply: dict[str, Any]) -> list[CallbackRequest]:
        """A reply (D8), or a STOP notification (D9) when the reply opted the number out."""
        if message.attempts[0].channel == "live_chat" or not message.meta.get("number"):
            return []
        if reply.get("optout"):
            url = self._callback_url(message.account, "stop")
            return [callbacks.stop(url, message, reply["text"], reply["at"])] if url else []
        url = self._callback_url(message.account, "inbounds")
        return [callbacks.reply(url, message, reply["text"], reply["at"])] if url else []


def _basic_auth(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return "", ""
    try:
        login, _, key = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return "", ""
    return login.strip(), key.strip()

