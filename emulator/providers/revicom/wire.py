"""Revicom's wire shapes: a send item parsed into a domain Message, the message object of
Getting Messages, the per-item results of a send, and error bodies.

Pages: the sending pages (request fields, `{"errors", "items": [{"messageUuid", "code"}]}`),
messages/get (query) and, for the message object whose example Revicom's page does not show,
i-Digital Direct's identical platform page (api.docs.direct.i-dgtl.ru/messages/get) [DOC-iD].
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any, Callable

from ...core.model import Attempt, Message, Status, digits
from ...core.text import count_parts
from . import reference
from .rules import local_time

# Doc (callback page): a message not delivered (or read) within its lifetime, by default 25 hours.
DEFAULT_LIFETIME = 25 * 3600
# Doc: useLocalTime=false means Moscow time. GUESS: the subscriber's own zone (useLocalTime=true)
# is taken as Moscow too; the emulator does not know where a number lives.
MOSCOW = timezone(timedelta(hours=3))
OPTIONAL_ITEM_FIELDS = (
    "externalMessageId", "ttl", "hours", "days", "localSendTime", "localCompletionTime",
    "useLocalTime", "shortUrl", "callbackEvents", "callbackUrl",
)


class Rejection(Exception):
    """A request the API refuses as a whole, with the error key of its catalog."""

    def __init__(self, key: str, why: Any = None) -> None:
        super().__init__(key)
        self.key = key
        self.why = why  # core.model.Rejection: the rule behind it, for the request journal


def error_body(entry: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": entry["code"], "msg": entry["msg"]}}


_SENT = ("messageUuid", "code")


def sent_answer_text(errors: Any, items: list[Any]) -> str | None:
    """The answer of a send whose messages were all accepted (the usual one) as the JSON text
    json_response writes (compact, non-ASCII as is): the same string texts its C encoder
    writes, without an encoder set up per answer. None for any other answer (a refused
    message among them): the encoder writes those."""
    if errors is not False:
        return None
    texts = []
    for item in items:
        if type(item) is not dict or tuple(item) != _SENT:
            return None
        uuid, code = item.values()
        if type(uuid) is not str or type(code) is not int or code != 201:
            return None
        texts.append(f'{{"messageUuid":{encode_basestring(uuid)},"code":201}}')
    return '{"errors":false,"items":[' + ",".join(texts) + "]}"


def item_error(entry: dict[str, Any]) -> dict[str, Any]:
    """GUESS: a message refused inside an accepted request (no messageUuid)."""
    return {"code": entry.get("item_code", 422), "errorCode": entry["code"]}


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_code(canonical_status: Status, error: str | None) -> int | None:
    """The integer error code of a failed message: the scenario's, else the default of
    schemas/revicom/references.yaml. Successful statuses carry none."""
    if not canonical_status.is_failure:
        return None
    if error is not None and error.isdigit():
        return int(error)
    return reference.default_error_code(canonical_status.value)


def draft(provider: str, account: str, item: dict[str, Any], price: Callable[[str, int], Decimal],
          traffic_center_id: int) -> Message:
    """A valid item as a domain Message (one channel: single messages do not cascade)."""
    channel = item["channelType"]
    content, otp = _content(channel, item)
    content["_ttl"] = item.get("ttl", DEFAULT_LIFETIME)
    # References: read/unread exist for VIBER, VK and WHATSAPP; unread at the end of the ttl
    content["_unread_at_ttl"] = reference.reports_reads(channel)
    parts = count_parts(content["text"]) if channel == "SMS" else 1
    callback_url = item.get("callbackUrl")
    recipient = digits(item["destination"])
    country = reference.country_of(recipient)
    message = Message(
        provider=provider,
        account=account,
        recipient=recipient,
        attempts=[Attempt(channel, content)],
        client_ref=item.get("externalMessageId"),
        callback_url=callback_url,
        parts=parts,
        cost=price(channel, parts),
        otp=otp,
        meta={
            "item": item,
            # doc: a callbackUrl without callbackEvents is called on the `delivered` event only
            "callbackEvents": list(item.get("callbackEvents", ["delivered"])) if callback_url else [],
            "trafficType": reference.traffic_type(channel),
            "trafficCenterId": traffic_center_id,
            "country": country,
            "sendingMethod": "API",
            "direction": "outbound",
        },
    )
    message.scheduled_at = _scheduled_at(item)
    return message


def _content(channel: str, item: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """What the phone shows (`text`) and the one-time code, if the channel carries one."""
    sender = item["senderName"]
    body = item["content"]
    if channel == "FLASHCALL":
        # doc: the call comes from a number whose last digits are the code
        code = str(body)
        caller = "7" + "".join(random.choice("0123456789") for _ in range(6)) + code
        return {"text": f"Incoming call from +{caller}", "caller": caller, "code": code, "sender": sender}, code
    if channel == "VOICECODE":
        text = body["text"]
        code = digits(text.rsplit(":", 1)[1])
        return {"text": text, "sender": sender}, code
    if channel == "WHATSAPP":
        text = body.get("text") if isinstance(body.get("text"), str) else f"[WhatsApp {body['contentType']}]"
        return {"text": text, "content": body, "sender": sender}, None
    return {"text": body, "sender": sender}, None


def _scheduled_at(item: dict[str, Any]) -> float | None:
    send_at = local_time(item.get("localSendTime"))
    if not send_at:
        return None
    return send_at.replace(tzinfo=MOSCOW).timestamp()


def sent_time(message: Message) -> float | None:
    return next((t.at for t in message.attempts[0].history if t.status == Status.SENT), None)


def message_object(message: Message, status_name: Callable[[Status], str], currency: str) -> dict[str, Any]:
    """One message as Getting Messages returns it ([DOC-iD] field names, sendingMethog sic).
    Fields with nothing behind them here (templateId, dispatchId, brand, region, cascade ids)
    are left out."""
    item = message.meta["item"]
    attempt = message.attempts[0]
    history = attempt.history
    sent = sent_time(message)
    final = message.status.is_final or message.status.is_success
    obj: dict[str, Any] = {
        "createdTime": iso(message.created_at),
        "channelType": item["channelType"],
        "sendingMethog": message.meta.get("sendingMethod", "API"),  # sic: the docs' spelling
        "trafficType": message.meta.get("trafficType"),
        "messageUuid": message.provider_id,
        "trafficCenterId": message.meta.get("trafficCenterId"),
        "senderName": item["senderName"],
        "destination": message.recipient,
        "content": item["content"],
        "tags": list(item.get("tags", [])),
        "totalParts": message.parts,
        "price": {"totalPrice": float(message.cost), "currency": currency, "invoicedParts": message.parts, "final": final},
        "status": status_name(message.status),
    }
    country = message.meta.get("country")
    if country:
        obj["country"] = country[1]
    obj.update({name: item[name] for name in OPTIONAL_ITEM_FIELDS if name in item})
    if sent is not None:
        obj["sentTime"] = iso(sent)
    if history:
        obj["statusTime"] = iso(history[-1].at)
    code = error_code(message.status, attempt.error)
    if code is not None:
        obj["errorCode"] = code
    return obj
