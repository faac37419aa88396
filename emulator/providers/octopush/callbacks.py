"""The JSON bodies Octopush POSTs to the URLs of the account's "Callbacks" settings, and the
status each report carries (schemas/octopush/statuses.yaml, per channel).

Documented: delivery reports (D6 fields, D7 per-channel examples, email with `deliveries`),
voice reports (D10: DELIVERED, NOT_DELIVERED, NOT_DELIVERABLE, BUSY, REFUSED,
BLACKLISTED_NUMBER, with call_duration and charged_duration), inbound replies (D8) and
STOP/opt-out notifications (D9); docs/research/octopush.md section 5.
INFERRED (not published): dates are written in UTC; a voice call lasts its
`estimated_duration` and is charged by started 30 s; an email report carries one delivery per
recipient; `sim_card_number` of a reply is a fixed short code. A voice report carries the
durations both in `meta_data` (D7) and at the top level (D10), so readers of either page work.
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any

import yaml

from ...core.callbacks import CallbackRequest
from ...core.model import Event, Message, Status
from ...core.validation import schemas_root

REPLY_SHORT_CODE = "12345"  # GUESS: the example value of D8
_VOCABULARY_WORD = re.compile(r"[A-Z_]+")


class StatusNames:
    """canonical status (+ a scenario step's error) -> the status a channel's report carries."""

    def __init__(self) -> None:
        self.table: dict[str, dict[str, Any]] = yaml.safe_load(
            (schemas_root() / "octopush" / "statuses.yaml").read_text(encoding="utf-8")
        )
        # channel -> canonical status value -> name: read at every status change, by the member's
        # _value_ (a Status hashes through Enum.__hash__, a Python call; its value is a plain str)
        self._by_status = {channel: {Status(value)._value_: name for value, name in spec["names"].items()} for channel, spec in self.table.items()}

    def names(self, channel: str) -> dict[str, str | None]:
        return self.table.get(channel, self.table["sms"])["names"]

    def reported(self, channel: str, status: Status, error: str | None) -> str | None:
        """A scenario step's Octopush status (BUSY, BAD_DESTINATION...) when it gives one, in
        this channel's words; else the channel's name for the canonical status (None: no report)."""
        if error and _VOCABULARY_WORD.fullmatch(str(error)):
            spec = self.table.get(channel) or self.table["sms"]
            if error in spec["vocabulary"]:
                return str(error)
            if error in spec["equivalent"]:
                return spec["equivalent"][error]
        names = self._by_status.get(channel) or self._by_status["sms"]
        return names[status._value_]


def date(at: float) -> str:
    """The 'Y-m-d H:i:s' format of every Octopush callback date."""
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def delivery_report(url: str, message: Message, event: Event, status: str, history: list[dict[str, str]]) -> CallbackRequest:
    meta = message.meta
    common: dict[str, Any] = {"channel": message.attempts[0].channel, "message_id": meta.get("ticket"), "list_name": meta.get("list_name")}
    unit_price = float(message.cost)
    if common["channel"] == "email":
        template = meta.get("template_name")
        payload = {
            **common,
            "meta_data": {"template_name": template} if template else {},
            "deliveries": [
                {
                    "email": message.recipient,
                    "status": status,
                    "unit_price": unit_price,
                    "delivery_date": date(event.at),
                    "status_history": history,
                }
            ],
        }
    else:
        payload = {
            **common,
            "number": meta.get("number") or message.recipient,
            "status": status,
            "unit_price": unit_price,
            "delivery_date": date(event.at),
            "meta_data": _voice_meta(message, event) if common["channel"] == "voice_sms" else {},
        }
        if common["channel"] == "voice_sms":
            payload["call_duration"] = payload["meta_data"]["call_duration"]
            payload["charged_duration"] = payload["meta_data"]["charged_duration"]
    return CallbackRequest(url, json.dumps(payload, ensure_ascii=False), kind="status")


def _voice_meta(message: Message, event: Event) -> dict[str, Any]:
    answered = event.status.is_success and not event.error
    duration = int(message.meta.get("estimated_duration", 0)) if answered else 0
    return {
        "pressed_keys_code": "",
        "call_duration": duration,
        "charged_duration": 30 * math.ceil(duration / 30) if duration else 0,
    }


def reply(url: str, message: Message, text: str, at: float) -> CallbackRequest:
    payload = {
        "message_id": message.meta.get("ticket"),
        "number": message.meta.get("number") or message.recipient,
        "text": text,
        "sim_card_number": REPLY_SHORT_CODE,
        "reception_date": date(at),
    }
    return CallbackRequest(url, json.dumps(payload, ensure_ascii=False), kind="inbound")


def stop(url: str, message: Message, text: str, at: float) -> CallbackRequest:
    payload = {
        "message_id": message.meta.get("ticket"),
        "number": message.meta.get("number") or message.recipient,
        "text": text,
        "stop_date": date(at),
    }
    return CallbackRequest(url, json.dumps(payload, ensure_ascii=False), kind="inbound")
