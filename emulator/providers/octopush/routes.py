"""Octopush endpoints under /v1/public (real base https://api.octopush.com/v1/public): one
handler each, in the order a request flows (method, auth, body, rules, engine, answer).

Paths: the docs (dev.octopush.com, octopush-api.readme.io) and the official PHP SDK, which calls
`vocal-campaign/send` where the docs now say `voice-campaign/send`; both are served.
"""
from __future__ import annotations

import os
import re
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

from aiohttp import web

from ...core.engine import Submission
from ..base import answer, json_response, mark
from . import rules, wire
from .book import Book
from .rules import Rejected
from .wire import Send

if TYPE_CHECKING:
    from .provider import Octopush

MONEY_UNITS = {"EUR": "euros"}  # check-balance `unit` without a product (D3); others: the ISO code
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_TRUE = ("1", "true", "yes", "on")
TICKET_PREFIXES = {"voice_sms": "voice"}  # a ticket starts with its channel's name, but for these

# path -> handler name; `*` methods: a wrong method gets the provider's error, not aiohttp's 405
ROUTES = {
    "/v1/public/multi-channel/send": "multichannel_send",
    "/v1/public/sms-campaign/send": "sms_campaign_send",
    "/v1/public/voice-campaign/send": "voice_campaign_send",
    "/v1/public/vocal-campaign/send": "vocal_campaign_send",
    "/v1/public/contact-list/create": "contact_list_create",
    "/v1/public/contact/create": "contact_create",
    "/v1/public/sms-campaign-on-list/create": "list_campaign_create",
    "/v1/public/sms-campaign-on-tag/create": "list_campaign_create",
    "/v1/public/sms-campaign-on-list/status": "list_campaign_status",
    "/v1/public/sms-campaign-on-list/send": "list_campaign_send",
    "/v1/public/sms-campaign-on-tag/send": "list_campaign_send",
    "/v1/public/sms-campaign-on-list/cancel": "list_campaign_cancel",
    "/v1/public/voice-campaign-on-list/create": "list_campaign_create",
    "/v1/public/voice-campaign-on-tag/create": "list_campaign_create",
    "/v1/public/voice-campaign-on-list/status": "list_campaign_status",
    "/v1/public/voice-campaign-on-list/send": "list_campaign_send",
    "/v1/public/voice-campaign-on-tag/send": "list_campaign_send",
    "/v1/public/voice-campaign-on-list/cancel": "list_campaign_cancel",
    "/v1/public/wallet/check-balance": "check_balance",
    "/v1/public/wallet/check-credits": "check_credits",
}


class Endpoints:
    """The handlers; mixed into the Octopush provider class (provider.py)."""

    def routes(self: "Octopush") -> list[web.RouteDef]:
        return [web.route("*", path, getattr(self, handler)) for path, handler in ROUTES.items()]

    # -- sends ------------------------------------------------------------------------------
    async def multichannel_send(self: "Octopush", request: web.Request) -> web.StreamResponse:
        """multichannel doc (octopush-api.readme.io post_public_apimulti_channelsend)."""
        return await self._send(request, self.reader.multichannel, "multichannel")

    async def sms_campaign_send(self: "Octopush", request: web.Request) -> web.StreamResponse:
        """dev.octopush.com Send SMS; SDK SendSmsCampaignRequest."""
        return await self._send(request, self.reader.sms_campaign, "sms")

    async def voice_campaign_send(self: "Octopush", request: web.Request) -> web.StreamResponse:
        """dev.octopush.com Voice SMS API / Send Voice SMS."""
        return await self._send(request, self.reader.voice_campaign, "voice")

    async def vocal_campaign_send(self: "Octopush", request: web.Request) -> web.StreamResponse:
        """The official PHP SDK's SendVocalCampaignRequest (URI 'vocal-campaign/send')."""
        return await self._send(request, self.reader.voice_campaign, "vocal")

    async def _send(self: "Octopush", request: web.Request, read: Callable[[dict[str, Any]], Send], style: str) -> web.StreamResponse:
        account = self._caller(request, "POST")
        if isinstance(account, web.StreamResponse):
            return account
        try:
            send = read(await self._json_body(request))
            self._check_send(account, send)
            ticket = self._ticket(send.channel, style)
            drafts = self._drafts(account, send, send.contacts, ticket)
        except Rejected as rejected:
            return self._refuse(request, rejected)
        submission = Submission(self.name, account, drafts, atomic=True, charge=not send.simulation, store=not send.simulation)
        decision = self.engine.submit(submission)
        special = self.special(request, decision)
        if special is not None:
            return special
        if decision.action == "reject":
            return self.reject_decision(request, decision)
        if send.simulation:
            mark(request, "query", None)
        else:
            mark(request, "accepted", None, [m.id for m in drafts])
        body = wire.send_answer(send, drafts, account.balance, style)
        text = wire.answer_text(body)
        if text is None:
            return json_response(body)
        return answer(text.encode("utf-8"))  # as json_response

    # -- contacts and lists -----------------------------------------------------------------------
    async def contact_list_create(self: "Octopush", request: web.Request) -> web.StreamResponse:
        """dev.octopush.com Create a contact list: {"list_name"} -> 201 CREATED (body not shown:
        GUESS, the list name echoed)."""
        account = self._caller(request, "POST")
        if isinstance(account, web.StreamResponse):
            return account
        try:
            body = await self._json_body(request)
            name = body.get("list_name")
            name = str(name).strip() if isinstance(name, (str, int)) and not isinstance(name, bool) else ""
            if not name:
                raise Rejected("invalid_list_name")
            Book(self.engine, self.name, account.login).create_list(name[:255])
        except Rejected as rejected:
            return self._refuse(request, rejected)
        mark(request, "query", None)
        return json_response({"list_name": name[:255]}, status=201)

    async def contact_create(self: "Octopush", request: web.Request) -> web.StreamResponse:
        """dev.octopush.com Add a contact; readme post_public_apicontactscreate. 201 with the
        number of contacts stored (GUESS: the response body is not shown)."""
        account = self._caller(request, "POST")
        if isinstance(account, web.StreamResponse):
            return account
        try:
            body = self.reader.contacts(await self._json_body(request))
            book = Book(self.engine, self.name, account.login)
            if body.get("auto_remove_blacklisted_numbers"):
                body["contacts"] = [c for c in body["contacts"] if not self.engine.is_opted_out(self.name, account.login, str(c.get("phone_number", "")))]
            added = book.add_contacts(body)
        except Rejected as rejected:
            return self._refuse(request, rejected)
        mark(request, "query", None)
        return json_response({"number_of_contacts": added}, status=201)

    # -- SMS and voice campaigns on a list or a tag ---------------------------------------------------
    async def list_campaign_create(self: "Octopush", request: web.Request) -> web.StreamResponse:
        """dev.octopush.com Send SMS to contacts (sms-campaign-on-list/create, -on-tag/create) and
        Sending Voice SMS to your registered contacts (voice-campaign-on-list/create, -on-tag/create):
        the campaign is computed at once (GUESS: the real one is asynchronous) and waits for
        its confirmation. Answer 201 {"ticket_number"} (GUESS: "the ticket_number transmitted
        by Octopush after the call to the creation function"; the body is not shown)."""
        account = self._caller(request, "POST")
        if isinstance(account, web.StreamResponse):
            return account
        try:
            channel = "voice_sms" if "/voice-campaign-" in request.path else "sms"
            prepared = self.reader.list_campaign(await self._json_body(request), channel)
            send = prepared.send
            self._check_send(account, send)
            book = Book(self.engine, self.name, account.login)
            members = book.members(prepared.list_name, prepared.tag_name)
            contacts = [
                rules.Contact(c.fields["phone"], phone=c.fields["phone"], params=dict(c.fields["params"]))
                for c in members
                if not (send.filter_optouts and self.engine.is_opted_out(self.name, account.login, c.fields["phone"]))
            ]
            ticket = self._ticket(channel, channel)
            drafts = self._drafts(account, send, contacts, ticket) if contacts else []
            book.add_campaign({
                "ticket": ticket,
                "send": send,
                "contacts": contacts,
                "status": "ready_to_be_sent" if contacts else "failed",
                "cost": float(sum((m.cost for m in drafts), Decimal("0"))),
                "estimated_duration": max((m.meta.get("estimated_duration", 0) for m in drafts), default=0),
            })
        except Rejected as rejected:
            return self._refuse(request, rejected)
        mark(request, "query", None)
        return json_response({"ticket_number": ticket}, status=201)

    async def list_campaign_status(self: "Octopush", request: web.Request) -> web.StreamResponse:
        """dev.octopush.com Status of a campaign to existing contacts: 200 {number_of_contacts,
        cost, status}; status ready_to_be_sent | under_computation | failed. Status Voice SMS on
        existing contacts adds estimated_duration (GUESS: seconds of one call, as in the send)."""
        account = self._caller(request, "GET")
        if isinstance(account, web.StreamResponse):
            return account
        try:
            record = Book(self.engine, self.name, account.login).campaign(request.query.get("ticket_number"))
        except Rejected as rejected:
            return self._refuse(request, rejected)
        mark(request, "query", None)
        fields = record.fields
        body: dict[str, Any] = {"number_of_contacts": len(fields["contacts"]), "cost": fields["cost"]}
        if fields["send"].channel == "voice_sms":
            body["estimated_duration"] = fields["estimated_duration"]
        body["status"] = fields["status"]
        return json_response(body)

    async def list_campaign_send(self: "Octopush", request: web.Request) -> web.StreamResponse:
        """dev.octopush.com Confirm SMS on contacts: {"ticket_number"} -> 200 {"sending_date"};
        "400 Bad Request ... as long as the campaign is not ready"."""
        account = self._caller(request, "POST")
        if isinstance(account, web.StreamResponse):
            return account
        try:
            book = Book(self.engine, self.name, account.login)
            record = book.campaign((await self._json_body(request)).get("ticket_number"))
            if record.fields["status"] != "ready_to_be_sent":
                raise Rejected("campaign_not_ready")
            send: Send = record.fields["send"]
            drafts = self._drafts(account, send, record.fields["contacts"], record.fields["ticket"])
        except Rejected as rejected:
            return self._refuse(request, rejected)
        decision = self.engine.submit(Submission(self.name, account, drafts, atomic=True, charge=not send.simulation, store=not send.simulation))
        special = self.special(request, decision)
        if special is not None:
            return special
        if decision.action == "reject":
            return self.reject_decision(request, decision)
        book.close(record)
        mark(request, "query" if send.simulation else "accepted", None, [] if send.simulation else [m.id for m in drafts])
        now = self.engine.clock.now()
        at = send.send_at if send.send_at and send.send_at > now else now
        return json_response({"sending_date": rules.paris_iso(at)})

    async def list_campaign_cancel(self: "Octopush", request: web.Request) -> web.StreamResponse:
        """dev.octopush.com Cancel an SMS campaign on contacts: DELETE {"ticket_number"} -> 204."""
        account = self._caller(request, "DELETE")
        if isinstance(account, web.StreamResponse):
            return account
        try:
            body = await self._json_body(request) if request.can_read_body else dict(request.query)
            book = Book(self.engine, self.name, account.login)
            book.close(book.campaign(body.get("ticket_number")))
        except Rejected as rejected:
            return self._refuse(request, rejected)
        mark(request, "query", None)
        return web.Response(status=204)

    # -- wallet -----------------------------------------------------------------------------
    async def check_balance(self: "Octopush", request: web.Request) -> web.StreamResponse:
        """GET wallet/check-balance (D3): money left, or units of one product in one country."""
        account = self._caller(request, "GET")
        if isinstance(account, web.StreamResponse):
            return account
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
            expiry = datetime.fromtimestamp(self.engine.clock.now(), timezone.utc) + timedelta(days=365)
            body["wallet_packs"] = [{  # one pack holding the whole balance, a year ahead (GUESS)
                "wallet_pack_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"msgemu:octopush:{account.login}")),
                "credit": float(account.balance),
                "expiration_date": expiry.isoformat(timespec="seconds"),
            }]
        mark(request, "query", None)
        return json_response(body)

    async def check_credits(self: "Octopush", request: web.Request) -> web.StreamResponse:
        """GET wallet/check-credits?country_codes[]=FR&... (D4): units of every product per country."""
        account = self._caller(request, "GET")
        if isinstance(account, web.StreamResponse):
            return account
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

    @staticmethod
    def _ticket(channel: str, style: str) -> str:
        """sms_ + 13 hex characters (uniqid-like, D6/D8); voice_ (docs) or vocal_ (the SDK's example)."""
        prefix = "vocal" if style == "vocal" else TICKET_PREFIXES.get(channel, channel)
        return f"{prefix}_{os.urandom(7).hex()[:13]}"  # what secrets.token_hex(7) reads, without its two calls
