"""HTTP API: `GET|POST /api/http.php?key=...&command=...` (used by the official `alphasms/gateway`).

Answers are plain text, one `name:value` line each, newline-terminated
(docs.alphasms.net/api/http/status; the line breaks and `sms_count` as in the fixtures of the
2011 CPAN client Net::SMS::AlphaSMS): send -> `id:<gateway id>` `sms_count:<n>`; balance ->
`balance:<amount>`; receive (status) and delete -> `status:<Name>` `code:<N>`
`status_time:<YYYY/MM/DD>`; price -> `price:<p>` `currency:<c>`; errors -> one `errors:<text>`
line each (documented: `errors:Unknown command`).
Auth: `key`, or `login` + `password` (CPAN client). Parameters as `alphasms/gateway` sends them:
`from`, `to`, `message` (`text` in the CPAN client), `ask_date` (`2024-10-12T12:00:00+0200`),
`flash=1`, `wap=<url>`; Viber: `viber=1`, `viber_type`, `viber_from`, `viber_message`,
`viber_image`, `viber_button`, `viber_url`, `viber_lifetime`, `viber_sms=1` (SMS fallback with
`from` + `message`).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from ...core.model import Attempt, Message, digits
from ..base import BodyTooLarge, answer, mark, read_body

if TYPE_CHECKING:
    from .provider import AlphaSMS

SENDER = re.compile(r"^(?=.*[A-Za-z0-9])[A-Za-z0-9 ._&'-]{1,11}$|^[0-9]{1,15}$")
MAX_TEXT = 5000
VIBER_TYPES = {"text", "image", "button", "text+link", "text+image+link"}
COMMANDS = {"send", "balance", "receive", "delete", "price"}


class HttpWire:
    def __init__(self, provider: "AlphaSMS") -> None:
        self.provider = provider
        self.gateway = provider.gateway

    def error_text(self, *keys: str) -> web.Response:
        return _text(*(f"errors:{self.provider.error(k).get('http') or self.provider.error(k)['text']}" for k in keys))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        provider = self.provider
        if request.method not in ("GET", "POST"):
            return provider.reject(request, "method_not_allowed")
        try:
            params = await _params(request)
        except BodyTooLarge:
            return provider.reject(request, "body_too_large")
        except ValueError:
            return provider.reject(request, "invalid_request")
        if params.get("key") is not None or params.get("login") is None:
            account = self.gateway.account_for_key(params.get("key"))
        else:
            account = self.gateway.account_for_login(params.get("login"), params.get("password"))
        if account is None:
            return provider.reject_auth(request, "access_denied", "key" if params.get("login") is None else "login,password")
        if "message" not in params and "text" in params:
            params["message"] = params["text"]
        command = params.get("command")
        if command not in COMMANDS:
            return provider.reject(request, "unknown_command")
        if command == "send":
            return await self._send(request, account, params)
        mark(request, "query", None)
        if command == "balance":
            return _text(f"balance:{_money(account.balance)}")
        if command == "price":
            phone = digits(params.get("to", ""))
            if not re.fullmatch(r"[0-9]{10,15}", phone):
                return provider.reject(request, "invalid_phone")
            return _text(f"price:{_money(provider.price('sms'))}", f"currency:{account.currency}")
        message = self.gateway.find(account, gateway_id=params.get("id"))
        if message is None:
            return provider.reject(request, "message_not_found")
        if command == "delete" and not self.gateway.cancel(message):
            return provider.reject(request, "cannot_delete")
        return _text(*self._status_lines(message))

    # -- send ---------------------------------------------------------------------------------
    async def _send(self, request: web.Request, account, params: dict[str, str]) -> web.StreamResponse:
        errors = _check(params)
        if errors:
            mark(request, "rejected", errors[0])
            return self.error_text(*errors)
        phone = digits(params["to"])
        if self.gateway.is_opted_out(account, phone):
            return self.provider.reject(request, "opted_out")
        message = self._draft(account, params)
        special, outcome = self.gateway.submit(request, account, [message])
        if special is not None:
            return special
        if outcome[0] is not None:
            return self.provider.reject(request, outcome[0])
        mark(request, "accepted", None, [message.id])
        return _text(f"id:{message.provider_id}", f"sms_count:{message.parts}")

    def _draft(self, account, params: dict[str, str]) -> Message:
        attempts = []
        if params.get("viber") == "1":
            content: dict[str, Any] = {"text": params.get("viber_message", ""), "signature": params.get("viber_from"),
                       "type": params.get("viber_type", "text")}
            for field in ("image", "button", "url"):
                if params.get(f"viber_{field}"):
                    content[field] = params[f"viber_{field}"]
            if params.get("viber_lifetime", "").isdigit():
                content["_ttl"] = int(params["viber_lifetime"])
            attempts.append(Attempt("viber", content))
        if params.get("viber") != "1" or params.get("viber_sms") == "1":
            sms: dict[str, Any] = {"text": params.get("message", ""), "signature": params.get("from")}
            if params.get("flash") in ("1", "true"):
                sms["flash"] = True
            if params.get("wap"):
                sms["url"] = params["wap"]
            attempts.append(Attempt("sms", sms))
        when = _ask_date(params.get("ask_date"))
        now = self.provider.engine.clock.now()
        return self.gateway.new_message(
            account, "http:viber" if params.get("viber") == "1" else "http:sms", params["to"], attempts,
            scheduled_at=when if when and when > now else None, wire="http",
        )

    def _status_lines(self, message: Message) -> tuple[str, str, str]:
        status = self.gateway.status(message, "http")
        at = self.gateway.completed_at(message) or _last_change(message)
        day = datetime.fromtimestamp(at, timezone.utc).strftime("%Y/%m/%d")
        return f"status:{status['name']}", f"code:{status['code']}", f"status_time:{day}"


def _check(params: dict[str, str]) -> list[str]:
    """Every error of a send, in the order the fields are read."""
    errors = []
    if not re.fullmatch(r"[0-9]{10,15}", digits(params.get("to", ""))):
        errors.append("invalid_phone")
    viber = params.get("viber") == "1"
    if viber:
        if not SENDER.match(params.get("viber_from", "")):
            errors.append("alpha_name")
        if params.get("viber_type", "text") not in VIBER_TYPES:
            errors.append("invalid_parameters")
        elif not params.get("viber_message", "").strip() and not params.get("viber_image"):
            errors.append("empty_message")
    if not viber or params.get("viber_sms") == "1":
        if not SENDER.match(params.get("from", "")):
            errors.append("alpha_name")
        text = params.get("message", "")
        if not text.strip() or len(text) > MAX_TEXT:
            errors.append("empty_message")
    if params.get("ask_date") and _ask_date(params["ask_date"]) is None:
        errors.append("invalid_parameters")
    return list(dict.fromkeys(errors))


async def _params(request: web.Request) -> dict[str, str]:
    """Query string and, for POST, a form body: one value per name (the last one wins)."""
    params = dict(request.query)
    if request.method == "POST":
        raw = await read_body(request)
        if raw:
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    return params


def _ask_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


def _last_change(message: Message) -> float:
    times = [t.at for a in message.attempts for t in a.history]
    return max(times) if times else message.created_at


def _money(amount) -> str:
    text = f"{Decimal(str(amount)):.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _text(*lines: str) -> web.Response:
    return answer("".join(f"{line}\n" for line in lines).encode("utf-8"), 200, "text/plain; charset=utf-8")
