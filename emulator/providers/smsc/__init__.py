"""SMSC.ru HTTP API (`https://smsc.ru/sys/<command>.php`): wire format only.

Every command takes GET or POST (query, urlencoded or multipart form, or both at once), auth
by login + psw (password or its MD5) or apikey, `charset` for decoding the request and encoding
the answer, and answers in `fmt` 0 text / 1 CSV / 2 XML / 3 JSON, errors included, always with
HTTP 200. Facts and their sources: shared/providers/smsc-alphasms.md part 1 and
shared/seeds/smsc-contacts-groups-errors.txt; docs/providers/smsc.md lists what is inferred.

Modules: request (reading parameters), auth, limits (error 9 / error 4), formats (the four
answer forms), send / status / balance / jobs / phones / senders / history (get.php) for the
commands, book (contacts, groups, blacklist), codes (status/err codes), schedule (time, valid),
callbacks (what SMSC POSTs to the account's handler).
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiohttp import web

from ...core.callbacks import CallbackRequest
from ...core.engine import Engine
from ...core.model import Event, Message
from ...core.validation import Schemas
from ..base import Provider, route_reason
from . import balance, callbacks, formats, history, jobs, phones, reference, send, senders, status, templates, users
from .auth import authenticate, claimed_login
from .call import Call
from .codes import STATUSES
from .limits import CONCURRENT_LIMIT, Limits
from .request import BadRequest, Params, format_of, raw_query, read_json_params, read_params

FORMAT_KEY = web.RequestKey("smsc_format", tuple)  # (fmt, charset) errors are rendered in

Command = Callable[[Call], Awaitable[web.StreamResponse]]
COMMANDS: dict[str, Command] = {
    "send.php": send.handle,
    "status.php": status.handle,
    "balance.php": balance.handle,
    "jobs.php": jobs.handle,
    "phones.php": phones.handle,
    "senders.php": senders.handle,
    "get.php": history.handle,
    "info.php": reference.info,
    "receive_phones.php": reference.receive_phones,
    "get_mnp.php": reference.get_mnp,
    "templates.php": templates.handle,
    "users.php": users.handle,
}
Reader = Callable[[web.Request], Awaitable[Any]]


class SMSC(Provider):
    name = "smsc"
    title = "SMSC.ru HTTP API (send, cost, status, balance, jobs, phones, senders, get, info, templates, users, receive_phones, get_mnp, REST send)"
    statuses = STATUSES
    auth_errors = frozenset({"auth"})
    auth_where = "login,psw|apikey"

    def __init__(self, engine: Engine, schemas: Schemas) -> None:
        super().__init__(engine, schemas)
        self.limits = Limits(engine, self.name)

    def reset(self) -> None:
        self.limits.clear()

    def routes(self) -> list[web.RouteDef]:
        known = [web.route("*", f"/sys/{path}", self._endpoint(command)) for path, command in COMMANDS.items()]
        rest = [web.route("*", path, self._endpoint(send.handle, read_json_params)) for path in ("/rest/send/", "/rest/send")]
        # Anything else still answers in SMSC's error shape for the requested fmt (GUESS: error 1).
        return known + rest + [web.route("*", "/{tail:.*}", self._unknown)]

    def _endpoint(self, command: Command, reader: Reader = read_params) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, command, reader)

        return endpoint

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        request[FORMAT_KEY] = format_of(raw_query(request))
        return self.reject(request, "unknown_command", route_reason(request, "unknown_command"))

    # -- the steps every command shares ----------------------------------------------------------
    async def _serve(self, request: web.Request, command: Command, reader: Reader = read_params) -> web.StreamResponse:
        """Count the request against its login while it is served (also while its body is still
        arriving), read it, check the caller, then let the command answer."""
        query = raw_query(request)  # errors before the parameters are read render in its fmt (render_error)
        serving: list[str] = []
        crowded = False
        try:
            claimed = claimed_login(self.accounts(), query) if query else None  # a POST form names no one here
            if claimed:
                serving.append(claimed)
                crowded = self.limits.enter(claimed) >= CONCURRENT_LIMIT
            try:
                params = await reader(request)
            except BadRequest as exc:
                request[FORMAT_KEY] = (exc.fmt, exc.charset)
                return self.reject(request, exc.key)
            request[FORMAT_KEY] = (params.fmt, params.charset)
            if request.method not in ("GET", "POST"):
                return self.reject(request, "method_not_allowed")
            ip = request.remote or ""
            if self.limits.ip_blocked(ip):
                return self.reject(request, "ip_blocked")
            account = authenticate(self.accounts(), params.values)
            if account is None:
                self.limits.bad_login(ip)
                return self.reject(request, "auth")
            if account.login not in serving:
                serving.append(account.login)
                crowded = self.limits.enter(account.login) >= CONCURRENT_LIMIT or crowded
            if crowded:
                return self.reject(request, "too_many_concurrent")
            return await command(Call(self, request, params, account))
        finally:
            for login in serving:
                self.limits.leave(login)

    # -- the same commands without HTTP (for the SMPP / SMTP front ends) ----------------------
    async def run_command(self, script: str, values: dict[str, str], login: str) -> web.Response:
        """Run one script (e.g. "send.php") with already-decoded parameters for an account, as
        if they had come over HTTP, and return SMSC's answer in the fmt/charset they name.
        Credentials in `values` are not checked: the caller authenticated the session."""
        account = self._account(login)
        command = COMMANDS.get(script)
        context: dict[Any, Any] = {}  # stands in for the request: outcome and format marks
        fmt, charset = format_of(values)
        context[FORMAT_KEY] = (fmt, charset)
        if account is None or command is None:
            return self.reject(context, "auth" if account is None else "unknown_command")  # type: ignore[arg-type]
        params = Params(dict(values), fmt, charset)
        return await command(Call(self, context, params, account))  # type: ignore[arg-type]

    # -- errors -----------------------------------------------------------------------------
    def render_error(self, request: web.Request, key: str, **context: Any) -> web.StreamResponse:
        entry = self.error(key)
        fmt, charset = request.get(FORMAT_KEY) or format_of(raw_query(request))
        message_id = context.get("message_id") if entry.get("with_id") else None
        return formats.respond(formats.error(int(entry["code"]), entry["text"], message_id), fmt, charset)

    # -- callbacks --------------------------------------------------------------------------
    def _account(self, login: str):
        return self.engine.account(self.name, login)  # account_named's lookup, one call less (per status change)

    def status_callbacks(self, message: Message, event: Event) -> list[CallbackRequest]:
        """INFERRED payload: see callbacks.py."""
        if not callbacks.reports(event):
            return []  # not a status SMSC reports: the account is not looked up on every change
        account = self._account(message.account)
        if account is None or not account.secrets.get("callback_url"):
            return []  # no handler configured (status_callback would say None)
        found = callbacks.status_callback(account, message, event)
        return [found] if found else []

    def inbound_callbacks(self, message: Message, reply: dict[str, Any]) -> list[CallbackRequest]:
        """Number the reply for get.php?get_answers, and forward it to the account's handler (GUESS)."""
        answer_id = history.record_answer(self.engine, self.name, message, reply)
        account = self._account(message.account)
        found = callbacks.answer_callback(account, message, answer_id, reply) if account else None
        return [found] if found else []
