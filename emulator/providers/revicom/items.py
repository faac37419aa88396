"""One message of a send request: the first rule it breaks, and the draft Message it becomes.

The field rules live in schemas/revicom/message.json (one definition per channelType); what a
schema cannot say (sending window relative to now) is checked here.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable

from ...core.model import Attempt, Message, digits
from ...core.text import count_segments
from ...core.validation import Schemas

CHANNELS = ("SMS", "FLASHCALL", "VOICECODE", "WHATSAPP", "VK")

# First field of a schema violation -> error key (schemas/revicom/errors.yaml).
FIELD_ERRORS = {
    "destination": "invalid_msisdn",
    "content": "invalid_content",
    "senderName": "invalid_sender_name",
    "channelType": "invalid_channel_type",
    "ttl": "invalid_ttl",
    "tags": "invalid_tags",
    "callbackUrl": "invalid_callback_url",
    "callbackEvents": "invalid_callback_events",
    "externalMessageId": "invalid_external_message_id",
    "localSendTime": "invalid_send_time",
    "localCompletionTime": "invalid_completion_time",
    "hours": "invalid_hours",
    "days": "invalid_days",
}

# Doc: a message not delivered within its lifetime (default 25 h) ends `undelivered`.
DEFAULT_LIFETIME = 25 * 3600
# Doc: useLocalTime=false means Moscow time. GUESS: the subscriber's own zone (useLocalTime=true)
# is taken as Moscow too; the emulator does not know where a number lives.
MOSCOW = timezone(timedelta(hours=3))
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def violation(schemas: Schemas, item: Any, now: float) -> str | None:
    """The error key of the first rule `item` breaks, or None when it is a valid message."""
    if not isinstance(item, dict):
        return "invalid_request"
    channel = item.get("channelType")
    if channel not in CHANNELS:
        return "invalid_channel_type"
    found = schemas.first_violation(f"revicom/message#/$defs/{channel}", item)
    if found is not None:
        parts = found.pointer.split("/")
        return FIELD_ERRORS.get(parts[1] if len(parts) > 1 else "", "invalid_request")
    return _window_violation(item, now)


def _window_violation(item: dict[str, Any], now: float) -> str | None:
    """Doc (SMS/WHATSAPP/VK): localSendTime within [UTC now - 12 h, UTC now + 7 d];
    localCompletionTime from localSendTime up to UTC now + 70 d."""
    utc_now = datetime.fromtimestamp(now, timezone.utc).replace(tzinfo=None)
    send_at = _local_time(item.get("localSendTime"))
    if send_at is False or (send_at and not utc_now - timedelta(hours=12) <= send_at <= utc_now + timedelta(days=7)):
        return "invalid_send_time"
    complete_at = _local_time(item.get("localCompletionTime"))
    if complete_at is False or (complete_at and not (send_at or utc_now - timedelta(hours=12)) <= complete_at <= utc_now + timedelta(days=70)):
        return "invalid_completion_time"
    return None


def _local_time(value: Any) -> datetime | None | bool:
    """None when absent, False when not a real date ('2021-02-30 10:00:00')."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, LOCAL_TIME_FORMAT)
    except (TypeError, ValueError):
        return False


def draft(provider: str, account: str, item: dict[str, Any], price: Callable[[str, int], Decimal]) -> Message:
    """A valid item as a domain Message (one channel: Revicom single messages do not cascade)."""
    channel = item["channelType"]
    content, otp = _content(channel, item)
    content["_ttl"] = item.get("ttl", DEFAULT_LIFETIME)
    parts = count_segments(content["text"]).parts if channel == "SMS" else 1
    callback_url = item.get("callbackUrl")
    message = Message(
        provider=provider,
        account=account,
        recipient=digits(item["destination"]),
        attempts=[Attempt(channel, content)],
        client_ref=item.get("externalMessageId"),
        callback_url=callback_url,
        parts=parts,
        cost=price(channel, parts),
        otp=otp,
        # doc: a callbackUrl without callbackEvents is called on the `delivered` event only
        meta={"item": item, "callbackEvents": list(item.get("callbackEvents", ["delivered"])) if callback_url else []},
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
    send_at = _local_time(item.get("localSendTime"))
    if not send_at:
        return None
    return send_at.replace(tzinfo=MOSCOW).timestamp()
