"""Rules one message of a send request must follow: schemas/revicom/message.json (one definition
per channelType) and what a schema cannot say (the sending window relative to now).

Pages: api.direct.revicom.ltd/messages/{sms-sending, flashcall-sending, sending-voicecode,
whatsapp-sending, vk-sending}; VIBER has no sending page (only the References table), see the
schema's VIBER definition.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from ...core.model import Rejection
from ...core.validation import Schemas
from .reference import tables

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
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def request_violation(schemas: Schemas, body: Any) -> Rejection | None:
    """The whole request: a JSON array of 1 to 1,000 messages (every sending page)."""
    found = schemas.first_violation("revicom/message#/$defs/request", body)
    return Rejection.schema("invalid_messages_count", found) if found else None


def violation(schemas: Schemas, item: Any, now: float) -> Rejection | None:
    """Why `item` is refused (error key and the rule it breaks), or None when it is valid."""
    if not isinstance(item, dict):
        return Rejection("invalid_request", "rules", detail="a message is not a JSON object")
    channel = item.get("channelType")
    if channel not in tables()["channels"]:
        return Rejection("invalid_channel_type", "rules", pointer="/channelType", detail=f"{channel!r} is not a channel")
    found = schemas.first_violation(f"revicom/message#/$defs/{channel}", item)
    if found is not None:
        parts = found.pointer.split("/")
        return Rejection.schema(FIELD_ERRORS.get(parts[1] if len(parts) > 1 else "", "invalid_request"), found)
    key = _window_violation(item, now)
    if key is None:
        return None
    field = "localSendTime" if key == "invalid_send_time" else "localCompletionTime"
    return Rejection(key, "rules", pointer=f"/{field}", detail="outside the documented sending window")


def _window_violation(item: dict[str, Any], now: float) -> str | None:
    """Doc (SMS/WHATSAPP/VK): localSendTime within [UTC now - 12 h, UTC now + 7 d];
    localCompletionTime from localSendTime up to UTC now + 70 d."""
    if item.get("localSendTime") is None and item.get("localCompletionTime") is None:
        return None  # no window asked for: nothing to compare (most sends)
    utc_now = datetime.fromtimestamp(now, timezone.utc).replace(tzinfo=None)
    send_at = local_time(item.get("localSendTime"))
    if send_at is False or (send_at and not utc_now - timedelta(hours=12) <= send_at <= utc_now + timedelta(days=7)):
        return "invalid_send_time"
    complete_at = local_time(item.get("localCompletionTime"))
    if complete_at is False or (complete_at and not (send_at or utc_now - timedelta(hours=12)) <= complete_at <= utc_now + timedelta(days=70)):
        return "invalid_completion_time"
    return None


def local_time(value: Any) -> datetime | None | bool:
    """None when absent, False when not a real date ('2021-02-30 10:00:00')."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, LOCAL_TIME_FORMAT)
    except (TypeError, ValueError):
        return False
