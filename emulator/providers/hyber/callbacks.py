"""What GMS Hyber pushes: delivery reports to the message's callback_url (part 4) and subscriber
replies (chapter 6)."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from ...core.callbacks import CallbackRequest
from ...core.model import Account, Event, Message, Status
from . import rules, wire

SEEN_CHANNELS = ("viber", "whatsapp")  # "seen" exists for these only (part 4)
REPLY_CHANNELS = ("viber", "whatsapp")  # 2way replies exist for these only (chapter 6)
REPLY_NAMESPACE = uuid.UUID("5d3b9b7e-8a51-4c39-9a3e-4f2c1f6a9e10")  # umid of WhatsApp replies


def delivery_reports(account: Account | None, message: Message, event: Event) -> list[CallbackRequest]:
    """Documented: one JSON object per final status (delivered, undelivered, expired...),
    `number` a JSON number, `time` in ms; "seen" only when the manager enabled it (account
    secret `dr_seen: "true"`), for Viber/WhatsApp. Inferred: no report for a channel that
    fails while the cascade still has a next channel (the DR carries the message's final
    status); POST with no auth headers; batched mode (secret `dr_batched: "true"`) sends a
    one-element JSON array with `number` as a string, as in the documented batched example."""
    if not message.callback_url or event.status in (Status.ACCEPTED, Status.QUEUED, Status.SENT, Status.UNREAD):
        return []
    attempt = message.attempt(event.channel)
    if attempt is None:
        return []
    if event.status == Status.READ and not (enabled(account, "dr_seen") and event.channel in SEEN_CHANNELS):
        return []
    if event.status.is_failure and attempt is not message.attempts[-1]:
        return []
    report = wire.delivery_report(message, attempt, event.status, event.error, event.at)
    body: Any = [{**report, "number": message.recipient}] if enabled(account, "dr_batched") else report
    return [CallbackRequest(message.callback_url, json.dumps(body, ensure_ascii=False))]


def replies(account: Account | None, message: Message, reply: dict[str, Any]) -> list[CallbackRequest]:
    """Documented payloads of Viber and WhatsApp replies (POST JSON, no auth). The URL "is set up
    on the GMS side": here the account secret `inbound_url`, else the message's callback_url
    (inferred). Replies to a message delivered by SMS or push are not sent (2way exists for
    Viber and WhatsApp only)."""
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
            **wire.extra_id(message),
            "text_to_subscriber": (message.attempt("viber") or message.current).content.get("text"),
            "text_from_subscriber": reply["text"],
        }
    return [CallbackRequest(url, json.dumps(payload, ensure_ascii=False), kind="inbound")]


def enabled(account: Account | None, secret: str) -> bool:
    return bool(account) and str(account.secrets.get(secret, "")).lower() in ("true", "1", "yes")
