"""GMS Hyber JSON v2 endpoints (gms-hyber-api.readthedocs.io), their auth and how each answers:

  POST /{client_id}                                single message (chapter 2)
  POST /{client_id}/batch[/sync], /broadcast[/sync] mass sending (chapter 3)
  GET  /{client_id}/status/{job_id}                campaign status (chapter 3)
  GET  /{client_id}/api/dr/[external/]{id}/simple|advanced   delivery reports (chapter 5)

Success is `{"message_id": uuid}` / `{"job_id": uuid}` / `{"messages": [...]}`, errors
`{"error_code", "error_text"}` (only 36024 is documented; every other code and every HTTP status
of an error is a guess, see schemas/hyber/errors.yaml). Rules: rules.py; shapes: wire.py;
pushed reports and replies: callbacks.py; data: schemas/hyber/.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import uuid
from json.encoder import encode_basestring
from typing import Any

from aiohttp import web

from ...core.callbacks import CallbackRequest
from ...core.engine import Submission
from ...core.model import Account, Event, Message, Rejection
from ..base import BodyTooLarge, Provider, answer, json_response, mark, note, read_body
from . import callbacks, mass, rules, wire

EXTERNAL = "external:"  # index prefix of extra_id lookups
JOBS = "jobs"  # per-account directory of mass-sending campaigns
MAX_JOBS = 10_000  # campaigns kept per account; the oldest is forgotten first
CHUNK = 1_000  # recipients checked / submitted between two yields to the event loop


class Hyber(Provider):
    name = "hyber"
    title = "GMS Hyber JSON v2 (push, viber, sms, whatsapp cascade; batch/broadcast; DR push and GET; 2way replies)"
    statuses = wire.status_table()["statuses"]
    auth_errors = frozenset({"unauthorized"})

    def routes(self) -> list[web.RouteDef]:
        return [
            web.route("*", "/{client_id}", self.send),
            web.route("*", "/{client_id}/{kind:batch|broadcast}", self.send_mass),
            web.route("*", "/{client_id}/{kind:batch|broadcast}/sync", self.send_mass),
            web.route("*", "/{client_id}/status/{job_id}", self.campaign_status),
            web.route("*", "/{client_id}/api/dr/external/{extra_id}/{kind:simple|advanced}", self.report),
            web.route("*", "/{client_id}/api/dr/{message_id}/{kind:simple|advanced}", self.report),
        ]

    def render_error(self, request: web.Request, key: str, **context: Any) -> web.StreamResponse:
        entry = self.error(key)
        headers = {}
        if key == "unauthorized":
            headers["WWW-Authenticate"] = 'Basic realm="hyber"'
        if key == "method_not_allowed":
            headers["Allow"] = context.get("allow", "POST")
        return json_response({"error_code": entry["code"], "error_text": entry["text"]}, entry["http"], headers)

    # -- auth and body ----------------------------------------------------------------------
    def authenticate(self, request: web.Request) -> Account | None:
        """Basic login:password of the account whose client_id is in the path."""
        client_id = request.match_info["client_id"]
        account = None
        for candidate in self.accounts():  # a loop, not a generator: every request authenticates
            if candidate.secrets.get("client_id") == client_id:
                account = candidate
                break
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if account is None or scheme.lower() != "basic":
            return None
        try:
            login, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        same_login = hmac.compare_digest(login.encode(), account.login.encode())
        same_password = hmac.compare_digest(password.encode(), account.secrets.get("password", "").encode())
        return account if sep and same_login and same_password else None

    async def _posted(self, request: web.Request) -> tuple[Account | None, dict[str, Any] | None, str | None]:
        """(account, JSON object body, None) or (None, None, error key) for a POST endpoint."""
        if request.method != "POST":
            return None, None, "method_not_allowed"
        account = self.authenticate(request)
        if account is None:
            return None, None, "unauthorized"
        if request.content_type != "application/json":
            return None, None, "invalid_content_type"
        try:
            body = wire.json_object(await read_body(request))
        except BodyTooLarge:
            return None, None, "body_too_large"
        if body is None:
            return None, None, "invalid_json"
        return account, body, None

    # -- POST /{client_id} ------------------------------------------------------------------
    async def send(self, request: web.Request) -> web.StreamResponse:
        account, body, error = await self._posted(request)
        if error:
            return self.reject(request, error, allow="POST")
        try:
            kinds = rules.validate(self.schemas, body)
        except rules.RuleError as exc:
            return self.reject(request, exc.key, exc.why)
        message = wire.draft(self, account, body, kinds, self.engine.clock.now())
        extra_id = message.meta.get("extra_id")  # found by it too (_index's key)
        keys = [(EXTERNAL + extra_id,)] if extra_id else None
        decision = self.engine.submit(Submission(self.name, account, [message], atomic=True, index_keys=keys))
        special = self.special(request, decision)
        if special is not None:
            return special
        if decision.action == "reject":
            return self.reject_decision(request, decision)
        mark(request, "accepted", None, [message.id])
        return _message_id_response(message.provider_id)

    def _index(self, message: Message) -> None:
        if message.meta.get("extra_id"):
            self.engine.index_message(message, EXTERNAL + message.meta["extra_id"])

    # -- POST /{client_id}/batch|broadcast[/sync] -------------------------------------------
    async def send_mass(self, request: web.Request) -> web.StreamResponse:
        """Chapter 3. A broken shared field or list refuses the request as a whole; a recipient
        whose own message breaks a rule, or that the platform refuses (magic recipient, balance),
        is reported `accepted: false` with its error (guess: the per-recipient refusal shape of
        Table 8.2), the others are sent. /sync answers per recipient; the other two a job_id."""
        account, body, error = await self._posted(request)
        if error:
            return self.reject(request, error, allow="POST")
        kind = request.match_info["kind"]
        list_name = "messages" if kind == "batch" else "recipients"
        if list_name not in body:
            return self.reject(request, "missing_parameter")
        violation = self.schemas.first_violation("hyber/mass", body)
        if violation:
            key = rules.mass_error_for(violation)
            return self.reject(request, key, Rejection.schema(key, violation))
        first_error: str | None = None
        entries: list[Any] = []  # per recipient, in order: a draft Message or a refused entry
        drafts: list[Message] = []
        job_id = str(uuid.uuid4())
        now = self.engine.clock.now()
        for n, recipient in enumerate(mass.recipients(kind, body), 1):
            if n % CHUNK == 0:
                await asyncio.sleep(0)  # up to 50,000 recipients: let other requests through
            single = mass.single_body(kind, body, recipient)
            try:
                kinds = rules.validate(self.schemas, single)
            except rules.RuleError as exc:
                first_error = first_error or exc.key
                note(request, exc.why)
                entries.append(wire.refused_entry(recipient.get("phone_number"), recipient.get("extra_id"), self.error(exc.key)))
                continue
            message = wire.draft(self, account, single, kinds, now, job_id)
            drafts.append(message)
            entries.append(message)
        refused: dict[int, str] = {}
        for start in range(0, max(len(drafts), 1), CHUNK):
            if start:
                await asyncio.sleep(0)
            chunk = drafts[start : start + CHUNK]
            decision = self.engine.submit(Submission(self.name, account, chunk, atomic=False))
            if decision.action in ("raw", "fault"):
                if not start:  # a scenario reply / fault speaks for the whole request
                    return self.special(request, decision)
                refused.update({id(m): "internal" for m in chunk})  # later chunks: refused here
                continue
            if decision.fault:
                self.special(request, decision)  # delay / malformed: applied to the response
            refused.update({id(o.message): o.error for o in decision.outcomes if o.error})
            note(request, decision.first_reason)
        results: list[dict[str, Any]] = []
        accepted: list[str] = []
        for entry in entries:
            if not isinstance(entry, Message):
                results.append(entry)
            elif id(entry) in refused:
                first_error = first_error or refused[id(entry)]
                extra = entry.meta.get("extra_id")
                results.append(wire.refused_entry(entry.recipient, extra, self.error(refused[id(entry)] or "internal")))
            else:
                self._index(entry)
                accepted.append(entry.id)
                results.append({"message": entry.id})
        self._remember_job(account, job_id, results)
        mark(request, "accepted" if accepted else "rejected", first_error, accepted)
        if not request.path.endswith("/sync"):
            return json_response({"job_id": job_id})
        return json_response({"messages": [self._job_entry(account, r, wire.sync_entry) for r in results]})

    def _remember_job(self, account: Account, job_id: str, results: list[dict[str, Any]]) -> None:
        jobs = self.engine.directory(self.name, account.login, JOBS)
        jobs.add({"job_id": job_id, "results": results})
        if len(jobs) > MAX_JOBS:
            jobs.remove(min(record.id for record in jobs))

    def _job_entry(self, account: Account, result: dict[str, Any], render) -> dict[str, Any] | None:
        if "message" not in result:
            return result
        message = self.engine.find_message(self.name, account.login, result["message"])
        return render(message) if message is not None else None

    # -- GET /{client_id}/status/{job_id} ---------------------------------------------------
    async def campaign_status(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            return self.reject(request, "method_not_allowed", allow="GET")
        account = self.authenticate(request)
        if account is None:
            return self.reject(request, "unauthorized")
        jobs = self.engine.directory(self.name, account.login, JOBS).find(job_id=request.match_info["job_id"])
        if not jobs:
            return self.reject(request, "job_not_found")
        results = jobs[0].fields["results"]
        entries = [self._job_entry(account, r, wire.campaign_entry) for r in results]
        mark(request, "query", None, [r["message"] for r in results if "message" in r])
        return json_response({"messages": [e for e in entries if e is not None]})

    # -- GET /{client_id}/api/dr/[external/]{id}/simple|advanced ----------------------------
    async def report(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            return self.reject(request, "method_not_allowed", allow="GET")
        account = self.authenticate(request)
        if account is None:
            return self.reject(request, "unauthorized")
        info = request.match_info
        key = EXTERNAL + info["extra_id"] if "extra_id" in info else info["message_id"]
        message = self.engine.find_message(self.name, account.login, key)
        if message is None:
            return self.reject(request, "message_not_found")
        mark(request, "query", None, [message.id])
        if info["kind"] == "simple":
            return json_response(wire.simple_report(message))
        return json_response(wire.advanced_report(message))

    # -- pushed -----------------------------------------------------------------------------
    def status_callbacks(self, message: Message, event: Event) -> list[CallbackRequest]:
        if not message.callback_url:
            return []  # no report to send: the account is not looked up on every status change
        return callbacks.delivery_reports(self._account(message), message, event)

    def inbound_callbacks(self, message: Message, reply: dict[str, Any]) -> list[CallbackRequest]:
        return callbacks.replies(self._account(message), message, reply)

    def _account(self, message: Message) -> Account | None:
        return self.account_named(message.account)


def _message_id_response(message_id: str) -> web.Response:
    """`{"message_id": ...}` as json_response writes it (the same string text its encoder
    writes, compact), without an encoder set up per send."""
    body = '{"message_id":' + encode_basestring(message_id) + "}"
    return answer(body.encode("utf-8"))
