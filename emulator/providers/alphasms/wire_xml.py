"""XML API: `POST /api/xml.php` (used by PyPI `alphasms-client`).

`<package key="...">` (or `login=` + `password=`) holding commands in any order: `<message>`
(`<msg recipient sender type [id] [url] [date_beg] [date_end]>text</msg>`...), `<status>` and
`<delete>` (`<msg id=.../>` or `<msg sms_id=.../>`; both answered in a `<status>` section, as
alphasms-client and AlphaSMSKit read them), `<balance/>`, `<prices><phone>N</phone></prices>`
(AlphaSMSKit). No content type check (docs.alphasms.net/api/xml). Dates are ISO 8601 with an
offset (AlphaSMSKit writes and parses `yyyy-MM-dd'T'HH:mm:ssZZZZZ`).
Answers: `<package>` with one section per command; a package error is `<package><error>N</error>`
(codes 201 format, 202 login, 209 key: PyPI alphasms-client); a message's result is the text of its
`<msg id sms_id sms_count>`: 1 accepted, else a 2xx code of the documented status-code table
(208 = "A message with the specified ID already exists"); a status is its 1xx code.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ...core.model import Attempt, Message, digits
from ..base import BodyTooLarge, answer, mark, read_body

if TYPE_CHECKING:
    from .provider import AlphaSMS

CONTENT_TYPE = "text/xml"
ACCEPTED = "1"
SENDER = re.compile(r"^(?=.*[A-Za-z0-9])[A-Za-z0-9 ._&'-]{1,11}$|^[0-9]{1,15}$")
CLIENT_ID = re.compile(r"^[^\s]{1,64}$")
MAX_TEXT = 5000
# XML message types: 0 normal SMS, 1 flash SMS, 2 WAP-push (needs url), 3 voice (landlines)
TYPES = {"0": "sms", "1": "sms", "2": "sms", "3": "voice"}
DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


class XmlWire:
    def __init__(self, provider: "AlphaSMS") -> None:
        self.provider = provider
        self.gateway = provider.gateway

    def package_error(self, key: str) -> web.Response:
        return _render(_element("package", children=[_element("error", str(self.provider.error(key)["xml"]))]))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        provider = self.provider
        if request.method != "POST":
            return provider.reject(request, "method_not_allowed")
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            return provider.reject(request, "body_too_large")
        package = _parse(raw)
        if package is None:
            return provider.reject(request, "invalid_xml")
        if package.get("key") is not None or package.get("login") is None:
            account = self.gateway.account_for_key(package.get("key"))
            if account is None:
                return provider.reject_auth(request, "access_denied", "package/@key")
        else:
            account = self.gateway.account_for_login(package.get("login"), package.get("password"))
            if account is None:
                return provider.reject_auth(request, "wrong_login", "package/@login,@password")
        commands = list(package)
        if not commands or any(c.tag not in ("message", "status", "delete", "balance", "prices") for c in commands):
            return provider.reject(request, "invalid_xml")

        sections: list[ET.Element] = []
        accepted: list[str] = []
        sent = False
        for command in commands:
            if command.tag == "message":
                section = await self._send(request, account, command, accepted)
                if isinstance(section, web.StreamResponse):
                    return section
                sent = True
            elif command.tag == "balance":
                section = _element("balance", children=[
                    _element("amount", _money(account.balance)), _element("currency", account.currency)])
            elif command.tag == "prices":
                section = _element("prices", children=[self._price(account, phone) for phone in command])
            else:
                section = _element("status", children=[self._status(account, msg, command.tag == "delete") for msg in command])
            sections.append(section)
        mark(request, "accepted" if accepted else ("rejected" if sent else "query"), None, accepted)
        return _render(_element("package", children=sections))

    # -- <message> ---------------------------------------------------------------------------------
    async def _send(self, request: web.Request, account, command: ET.Element, accepted: list[str]):
        ids = self.gateway.client_ids(account)
        results: list[ET.Element | None] = []
        drafts: list[tuple[int, Message]] = []
        for msg in command:
            client_id = msg.get("id")
            error = self._check(msg) or ids.claim(client_id)
            if error is None and self.gateway.is_opted_out(account, _phone(msg.get("recipient"))):
                error = "opted_out"
            if error is None:
                drafts.append((len(results), self._draft(account, msg)))
                results.append(None)
            else:
                results.append(self._msg(client_id, None, self.provider.error(error)["xml"]))
        special, errors = self.gateway.submit(request, account, [m for _, m in drafts])
        if special is not None:
            return special
        for (index, message), error in zip(drafts, errors):
            if error is None:
                accepted.append(message.id)
                results[index] = self._msg(message.meta["client_id"], message, ACCEPTED)
            else:
                results[index] = self._msg(message.meta["client_id"], None, self.provider.error(error)["xml"])
        return _element("message", children=results)

    def _check(self, msg: ET.Element) -> str | None:
        if msg.tag != "msg":
            return "invalid_parameters"
        client_id = msg.get("id")
        if client_id is not None and not CLIENT_ID.match(client_id):
            return "invalid_id"
        phone = _phone(msg.get("recipient"))
        if not re.fullmatch(r"[0-9]{10,15}", phone):
            return "invalid_phone"
        if not SENDER.match(msg.get("sender") or ""):
            return "alpha_name"
        kind = msg.get("type", "0")
        if kind not in TYPES or (kind == "2" and not (msg.get("url") or "").startswith(("http://", "https://"))):
            return "invalid_parameters"
        text = msg.text or ""
        if not text.strip() or len(text) > MAX_TEXT:
            return "empty_message"
        for field in ("date_beg", "date_end"):
            if msg.get(field) is not None and _date(msg.get(field)) is None:
                return "invalid_parameters"
        return None

    def _draft(self, account, msg: ET.Element) -> Message:
        kind = msg.get("type", "0")
        content: dict[str, Any] = {"text": msg.text or "", "signature": msg.get("sender")}
        if kind == "1":
            content["flash"] = True
        if kind == "2":
            content["url"] = msg.get("url")
        begin = _date(msg.get("date_beg")) if msg.get("date_beg") else None
        now = self.provider.engine.clock.now()
        end = _date(msg.get("date_end")) if msg.get("date_end") else None
        if end is not None:  # validity: the message expires at date_end
            content["_ttl"] = max(1.0, end - max(now, begin or now))
        return self.gateway.new_message(
            account, f"xml:{kind}", _phone(msg.get("recipient")), [Attempt(TYPES[kind], content)],
            client_id=msg.get("id"), scheduled_at=begin if begin and begin > now else None, wire="xml",
        )

    # -- <status> / <delete> ---------------------------------------------------------------------
    def _status(self, account, msg: ET.Element, delete: bool) -> ET.Element:
        client_id, gateway_id = msg.get("id"), msg.get("sms_id")
        message = self.gateway.find(account, client_id=client_id, gateway_id=gateway_id)
        if message is None:
            return self._msg(client_id, None, self.provider.error("invalid_id")["xml"], gateway_id)
        if delete and not self.gateway.cancel(message):
            return self._msg(client_id, message, self.provider.error("cannot_delete")["xml"])
        element = self._msg(client_id if client_id is not None else message.meta["client_id"], message,
                            str(self.gateway.status(message, "xml")))
        completed = self.gateway.completed_at(message)
        if completed is not None:
            element.set("date_completed", datetime.fromtimestamp(completed, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00"))
        return element

    def _price(self, account, phone: ET.Element) -> ET.Element:
        element = ET.Element("phone", {"price": _money(self.provider.price("sms")), "currency": account.currency})
        element.text = phone.text or ""
        return element

    @staticmethod
    def _msg(client_id: Any, message: Message | None, code: Any, gateway_id: Any = None) -> ET.Element:
        element = ET.Element("msg")
        if client_id is not None:
            element.set("id", str(client_id))
        element.set("sms_id", message.provider_id if message else str(gateway_id or 0))
        element.set("sms_count", str(message.parts) if message else "0")
        element.text = str(code)
        return element


def _parse(raw: bytes) -> ET.Element | None:
    """The <package> element, or None for anything that is not a plain XML package. DTDs are
    refused outright (no entity expansion can blow up memory)."""
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        return None
    try:
        root = ET.fromstring(raw)
    except (ET.ParseError, ValueError, RecursionError):
        return None
    return root if root.tag == "package" else None


def _phone(value: Any) -> str:
    """Ukrainian national (0XXXXXXXXX) or international form -> international digits."""
    phone = digits(value or "")
    if len(phone) == 10 and phone.startswith("0"):
        phone = "38" + phone
    return phone


def _date(value: str) -> float | None:
    for fmt in DATE_FORMATS:
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    return None


def _money(amount) -> str:
    return f"{float(amount):.4f}"


def _element(tag: str, text: str | None = None, children: list[ET.Element | None] | None = None) -> ET.Element:
    element = ET.Element(tag)
    if text is not None:
        element.text = text
    for child in children or []:
        if child is not None:
            element.append(child)
    return element


def _render(package: ET.Element) -> web.Response:
    body = b'<?xml version="1.0" encoding="utf-8" ?>\n' + ET.tostring(package, encoding="utf-8", xml_declaration=False)
    return answer(body, 200, f"{CONTENT_TYPE}; charset=utf-8")
