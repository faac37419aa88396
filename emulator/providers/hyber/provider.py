"""GMS Hyber JSON v2 (`POST /{client_id}`, `GET /{client_id}/api/dr/...`): wire format only.

Facts: shared/seeds/hyber-json-v2-single.txt (= readthedocs chapter 2) and docs/research/hyber.md.
One request = one phone number and an ordered cascade of channels (push, viber, sms, whatsapp);
each channel's `ttl` makes it expire so the cascade moves on; a delivery stops it. Success is
`{"message_id": uuid}`, errors `{"error_code", "error_text"}` (only 36024 is documented; every
other code and every HTTP status of an error is a guess, see schemas/hyber/errors.yaml).
Delivery reports are POSTed to `callback_url` (final statuses only, documented); replies
(2way) go to the account's `inbound_url` secret, else the message's callback_url (inferred).
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import uuid
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from ...core.callbacks import CallbackRequest
from ...core.engine import Submission
from ...core.model import Account, Attempt, Event, Message, Status, digits
from ...core.text import count_segments
from ..base import BodyTooLarge, NotJSON, Provider, json_response, mark, parse_json, read_body
from . import rules

# canonical status -> (status, substatus, hyber_status per channel; "*" = any channel).
# Documented examples: 2/23/23011 SMS delivered, 2/23/23033 Viber delivered, 2/23/23043 Viber
# template delivered, 3/35/35015 expired (shown for SMS and for Viber), -1 = "not sent to any
# channel or no final status yet" (GET DR). Substatus 11, 12, 36 from a client (C5).
# Everything else (seen = 24, the other channels' details, 12000/11000/36000) is a guess.
STATUSES: dict[str, tuple[int, int, dict[str, int]]] = {
    "accepted": (-1, 12, {"*": 12000}),
    "queued": (-1, 12, {"*": 12000}),
    "sent": (-1, 11, {"*": 11000}),
    "delivered": (2, 23, {"sms": 23011, "viber": 23033, "viber_template": 23043, "push": 23021, "whatsapp": 23051}),
    "read": (2, 24, {"viber": 24033, "viber_template": 24043, "push": 24021, "whatsapp": 24051, "*": 24011}),
    "undelivered": (3, 36, {"sms": 36011, "viber": 36033, "push": 36021, "whatsapp": 36051}),
    "expired": (3, 35, {"*": 35015}),
    "rejected": (3, 36, {"*": 36000}),
    "cancelled": (3, 36, {"*": 36000}),
}
PLATFORM = "hyber"  # sent_via / last_partner when the platform itself blocked the message
EXTERNAL = "external:"  # index prefix of extra_id lookups
SEEN_CHANNELS = ("viber", "whatsapp")  # "seen" exists for these only (docs)
REPLY_CHANNELS = ("viber", "whatsapp")  # 2way replies exist for these only (docs)
REPLY_NAMESPACE = uuid.UUID("5d3b9b7e-8a51-4c39-9a3e-4f2c1f6a9e10")  # umid of WhatsApp replies


class Hyber(Provider):
    name = "hyber"
    title = "GMS Hyber JSON v2 (push, viber, sms, whatsapp cascade; DR push and GET; 2way replies)"
    statuses = STATUSES

    def routes(self) -> list[web.RouteDef]:
        return [
            web.route("*", "/{client_id}", self.send),
            web.route("*", "/{client_id}/api/dr/external/{extra_id}/{kind:simple|advanced}", self.report),
            web.route("*", "/{client_id}/api/dr/{message_id}/{kind:simple|advanced}", self.report),
        ]

    # -- errors -----------------------------------------------------------------------------
    def render_error(self, request: web.Request, key: str, **context: Any) -> web.StreamResponse:
        entry = self.error(key)
        headers = {}
        if key == "unauthorized":
            headers["WWW-Authenticate"] = 'Basic realm="hyber"'
        if key == "method_not_allowed":
            headers["Allow"] = context.get("allow", "POST")
        return json_response({"error_code": entry["code"], "error_text": entry["text"]}, entry["http"], headers)

    # -- auth -------------------------------------------------------------------------------
    def authenticate(self, request: web.Request) -> Account | None:
        """Basic login:password of the account whose client_id is in the path."""
        client_id = request.match_info["client_id"]
        account = next((a for a in self.accounts() if a.secrets.get("client_id") == client_id), None)
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

    # -- POST /{client_id} ------------------------------------------------------------------
    async def send(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return self.reject(request, "method_not_allowed", allow="POST")
        account = self.authenticate(request)
        if account is None:
            return self.reject(request, "unauthorized")
        if request.content_type != "application/json":
            return self.reject(request, "invalid_content_type")
        try:
            body = _json_object(await read_body(request))
        except BodyTooLarge:
            return self.reject(request, "body_too_large")
        if body is None:
            return self.reject(request, "invalid_json")
        violation = self.schemas.first_violation("hyber/send", body)
        if violation:
            return self.reject(request, rules.error_for(violation))
        try:
            kinds = rules.check(body)
        except rules.RuleError as exc:
            return self.reject(request, exc.key)

        message = self._draft(account, body, kinds)
        decision = self.engine.submit(Submission(self.name, account, [message], atomic=True))
        special = self.special(request, decision)
        if special is not None:
            return special
        if decision.action == "reject":
            return self.reject(request, decision.error or "internal")
        if body.get("extra_id"):
            self.engine.index_message(message, EXTERNAL + body["extra_id"])
        mark(request, "accepted", None, [message.id])
        return json_response({"message_id": message.provider_id})

    def _draft(self, account: Account, body: dict[str, Any], kinds: dict[str, str]) -> Message:
        channels: list[str] = body["channels"]
        options = body["channel_options"]
        attempts = [Attempt(ch, {**options[ch], "_ttl": options[ch]["ttl"], "_type": kinds[ch]}) for ch in channels]
        sms_parts = count_segments(options["sms"]["text"]).parts if "sms" in channels else 0
        start = rules.start_epoch(body["start_time"]) if "start_time" in body else None
        return Message(
            provider=self.name,
            account=account.login,
            recipient=digits(body["phone_number"]),
            attempts=attempts,
            client_ref=body.get("extra_id") or None,
            callback_url=body.get("callback_url"),
            parts=max(sms_parts, 1),
            cost=self.price(channels[0], sms_parts if channels[0] == "sms" else 1),
            scheduled_at=start if start and start > self.engine.clock.now() else None,
            meta={
                "client_id": account.secrets.get("client_id"),
                "extra_id": body.get("extra_id"),
                "tag": body.get("tag"),
                "division_code": body.get("division_code"),
                "start_time": body.get("start_time"),
                "sms_parts": sms_parts,
                "ctr": any(options[ch].get("ctr") is True for ch in channels),
            },
        )

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
            return json_response(self._simple_report(message))
        return json_response(self._advanced_report(message))

    def _simple_report(self, message: Message) -> dict[str, Any]:
        final = _is_final(message)
        attempt = message.attempt(message.channel) or message.current
        report = {
            "phone_number": message.recipient,
            "last_partner": _partner(attempt) if final else PLATFORM,
            "message_id": message.provider_id,
            **self._attempt_fields(message, attempt, attempt.status or Status.ACCEPTED),
        }
        if not final:
            report["status"] = -1  # "no final delivery status yet" (documented)
            report.pop("matching_template_id", None)  # known once a Viber attempt has a result
        return report | self._clicks(message)

    def _advanced_report(self, message: Message) -> dict[str, Any]:
        reports = []
        for attempt in message.attempts:
            if attempt.status is None:
                continue  # the cascade never reached this channel
            reports.append({
                "phone_number": message.recipient,
                "message_id": message.provider_id,
                "last_partner": _partner(attempt),
                **self._attempt_fields(message, attempt, attempt.status),
            })
        final = _is_final(message)
        started = any(t.status == Status.QUEUED for a in message.attempts for t in a.history)
        return {
            "reports": reports,
            "started": started,
            "processing": started and not final,
            "delivered_via": _partner(message.attempt(message.channel) or message.current) if final else PLATFORM,
            **self._clicks(message),
            "channels": [{"channel": a.channel, "ttl": a.content["_ttl"]} for a in message.attempts],
        }

    # -- DR push to callback_url ------------------------------------------------------------
    def status_callbacks(self, message: Message, event: Event) -> list[CallbackRequest]:
        """Documented: one JSON object per final status (delivered, undelivered, expired...),
        `number` a JSON number, `time` in ms; "seen" only when the manager enabled it (account
        secret `dr_seen: "true"`), for Viber/WhatsApp. Inferred: no report for a channel that
        fails while the cascade still has a next channel (the DR carries the message's final
        status); POST with no auth headers; batched mode (secret `dr_batched: "true"`) sends a
        one-element JSON array with `number` as a string, as in the documented batched example."""
        if not message.callback_url or event.status in (Status.ACCEPTED, Status.QUEUED, Status.SENT):
            return []
        account = self._account(message)
        attempt = message.attempt(event.channel)
        if attempt is None:
            return []
        if event.status == Status.READ and not (_enabled(account, "dr_seen") and event.channel in SEEN_CHANNELS):
            return []
        if event.status.is_failure and attempt is not message.attempts[-1]:
            return []
        report = {
            "number": int(message.recipient),
            "time": _ms(event.at),
            **_codes_for(message, attempt, event.status, event.error),
            "message_id": message.provider_id,
            **_extra_id(message),
            "sent_via": _partner(attempt, event.status),
            **_sms_parts(message),
            **_template(message, attempt),
            **self._clicks(message),
        }
        if _enabled(account, "dr_batched"):
            body: Any = [{**report, "number": message.recipient}]
        else:
            body = report
        return [CallbackRequest(message.callback_url, json.dumps(body, ensure_ascii=False))]

    # -- 2way replies -----------------------------------------------------------------------
    def inbound_callbacks(self, message: Message, reply: dict[str, Any]) -> list[CallbackRequest]:
        """Documented payloads of Viber and WhatsApp replies (POST JSON, no auth). The URL "is
        set up on the GMS side": here the account secret `inbound_url`, else the message's
        callback_url (inferred). Replies to a message delivered by SMS or push are not sent
        (2way exists for Viber and WhatsApp only)."""
        account = self._account(message)
        url = (account.secrets.get("inbound_url") if account else None) or message.callback_url
        channel = message.channel
        if not url or channel not in REPLY_CHANNELS:
            return []
        moment = datetime.fromtimestamp(reply["at"], timezone.utc)
        if channel == "whatsapp":
            payload = {
                "channel": "whatsapp",
                "phone": message.recipient,
                "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "umid": str(uuid.uuid5(REPLY_NAMESPACE, message.id)),
                "text_from_subscriber": reply["text"],
            }
        else:
            payload = {
                "phone": message.recipient,
                "time": moment.astimezone(rules.KYIV).strftime("%Y-%m-%d %H:%M:%S"),
                "channel": "viber",
                "message_id": message.provider_id,
                **_extra_id(message),
                "text_to_subscriber": (message.attempt("viber") or message.current).content.get("text"),
                "text_from_subscriber": reply["text"],
            }
        return [CallbackRequest(url, json.dumps(payload, ensure_ascii=False), kind="inbound")]

    # -- helpers ----------------------------------------------------------------------------
    def _account(self, message: Message) -> Account | None:
        return next((a for a in self.accounts() if a.login == message.account), None)

    def _attempt_fields(self, message: Message, attempt: Attempt, status: Status) -> dict[str, Any]:
        at = attempt.history[-1].at if attempt.history else message.created_at
        return {
            **_extra_id(message),
            "time": _ms(at),
            **_codes_for(message, attempt, status, attempt.error),
            **(_sms_parts(message) if attempt.channel == "sms" else {}),
            **_template(message, attempt),
        }

    @staticmethod
    def _clicks(message: Message) -> dict[str, int]:
        """`clicks` only when ctr was asked for (documented); nobody clicks in the emulator."""
        return {"clicks": 0} if message.meta.get("ctr") else {}


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        body = parse_json(raw)
    except NotJSON:
        return None
    return body if isinstance(body, dict) else None


def _is_final(message: Message) -> bool:
    if message.status.is_success:
        return True
    last = message.attempts[-1]
    return last.status is not None and last.status.is_failure


def _partner(attempt: Attempt, status: Status | None = None) -> str:
    """The channel that reported, or "hyber" when the platform blocked the message."""
    return PLATFORM if (status or attempt.status) == Status.REJECTED else attempt.channel


def _codes_for(message: Message, attempt: Attempt, status: Status, error: str | None) -> dict[str, int]:
    code, substatus, details = STATUSES[status.value]
    channel = "viber_template" if attempt.channel == "viber" and attempt.content.get("_type") == "template" else attempt.channel
    detail = details.get(channel) or details.get(attempt.channel) or details.get("*") or substatus * 1000
    if status.is_failure and error and error.isdigit():
        detail = int(error)  # a scenario step's `error` is the hyber_status to report
    return {"status": code, "substatus": substatus, "hyber_status": detail}


def _extra_id(message: Message) -> dict[str, str]:
    extra_id = message.meta.get("extra_id")
    return {"extra_id": extra_id} if extra_id else {}


def _sms_parts(message: Message) -> dict[str, int]:
    """Only when the SMS channel was used (documented: missing otherwise)."""
    sms = message.attempt("sms")
    if sms is None or sms.status is None:
        return {}
    delivered = message.meta["sms_parts"] if sms.status.is_success else 0
    return {"total_sms_parts": message.meta["sms_parts"], "delivered_sms_parts": delivered}


def _template(message: Message, attempt: Attempt) -> dict[str, int]:
    """Viber template messages report the matched template's number (documented; the number
    itself is made up here: a stable value derived from the text)."""
    if attempt.channel != "viber" or attempt.content.get("_type") != "template":
        return {}
    text = str(attempt.content.get("text", ""))
    return {"matching_template_id": 1_000_000 + uuid.uuid5(REPLY_NAMESPACE, text).int % 9_000_000}


def _enabled(account: Account | None, secret: str) -> bool:
    return bool(account) and str(account.secrets.get(secret, "")).lower() in ("true", "1", "yes")


def _ms(at: float) -> int:
    return int(round(at * 1000))
