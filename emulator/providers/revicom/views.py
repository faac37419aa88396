"""What Getting Messages answers: the message object and the query filters.

Message object: i-Digital's "get message by uuid" example (docs/research/revicom.md §3,
[DOC-iD]); fields the emulator has no notion of (dispatch, template, traffic center, operator
brand/region) are left out. Query parameters: Revicom's Getting Messages page [DOC].
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from ...core.model import Message, Status, digits

OPTIONAL_ITEM_FIELDS = (
    "externalMessageId", "ttl", "hours", "days", "localSendTime", "localCompletionTime",
    "useLocalTime", "shortUrl", "callbackEvents", "callbackUrl",
)
# Filters the emulator can never match: it has no dispatches, templates or cascades.
NEVER_MATCHING = ("dispatch_id", "template_id", "cascade_message_uuid")
MAX_DIGEST = 10_000  # doc: page * per_page <= 10000


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_code(error: str | None) -> int | None:
    """Revicom error codes are integers (6969, 7060 in the docs); others are not reported."""
    try:
        return int(error) if error is not None else None
    except ValueError:
        return None


def message_object(message: Message, status_name: Callable[[Status], str], currency: str) -> dict[str, Any]:
    item = message.meta["item"]
    attempt = message.attempts[0]
    history = attempt.history
    sent = next((t.at for t in history if t.status == Status.SENT), None)
    final = message.status.is_final or message.status.is_success
    obj: dict[str, Any] = {
        "createdTime": iso(message.created_at),
        "channelType": item["channelType"],
        "sendingMethog": "API",  # sic: the docs' spelling
        "messageUuid": message.provider_id,
        "senderName": item["senderName"],
        "destination": message.recipient,
        "content": item["content"],
        "tags": list(item.get("tags", [])),
        "totalParts": message.parts,
        "price": {"totalPrice": float(message.cost), "currency": currency, "invoicedParts": message.parts, "final": final},
        "status": status_name(message.status),
    }
    obj.update({name: item[name] for name in OPTIONAL_ITEM_FIELDS if name in item})
    if sent is not None:
        obj["sentTime"] = iso(sent)
    if history:
        obj["statusTime"] = iso(history[-1].at)
    code = error_code(attempt.error)
    if code is not None:
        obj["errorCode"] = code
    return obj


class BadQuery(ValueError):
    """A query parameter Getting Messages would refuse."""


@dataclass
class Query:
    page: int = 1
    per_page: int = 100
    descending: bool = True
    time_from: float | None = None
    time_to: float | None = None
    values: dict[str, set[str]] = field(default_factory=dict)  # repeatable filters
    content: str | None = None
    content_nor: str | None = None
    flags: dict[str, bool] = field(default_factory=dict)  # root, ready_to_stop, dispatch

    @classmethod
    def parse(cls, params) -> "Query":
        query = cls(page=_positive(params, "page", 1), per_page=_positive(params, "per_page", 100))
        if query.page * query.per_page > MAX_DIGEST:
            raise BadQuery("page * per_page > 10000")
        # GUESS: the `sort` syntax is not published; "asc"/"createdTime" sorts oldest first
        query.descending = params.get("sort", "desc").lstrip("+") not in ("asc", "createdTime")
        query.time_from = _time(params, "time_from")
        query.time_to = _time(params, "time_to")
        for name in set(params):
            if name in ("page", "per_page", "sort", "time_from", "time_to"):
                continue
            if name in ("content", "content_nor"):
                setattr(query, name, params.get(name))
            elif name in ("root", "ready_to_stop", "dispatch"):
                query.flags[name] = _flag(params, name)
            else:  # "Multiple parameter": repeated, or (GUESS) comma-separated
                query.values[name] = {v for raw in params.getall(name) for v in raw.split(",") if v}
        return query

    def select(self, messages: list[Message], status_name: Callable[[Status], str]) -> tuple[int, list[Message]]:
        found = [m for m in messages if self._matches(m, status_name)]
        found.sort(key=lambda m: m.created_at, reverse=self.descending)
        start = (self.page - 1) * self.per_page
        return len(found), found[start : start + self.per_page]

    def _matches(self, message: Message, status_name: Callable[[Status], str]) -> bool:
        item = message.meta["item"]
        text = message.attempts[0].content.get("text", "")
        checks = {
            "message_uuid": lambda v: message.provider_id in v,
            "destination": lambda v: message.recipient in {digits(x) for x in v},
            "status": lambda v: status_name(message.status) in v,
            "tags": lambda v: bool(v & set(item.get("tags", []))),
            "channel_type": lambda v: item["channelType"] in {x.upper() for x in v},
            "sender_name": lambda v: item["senderName"] in v,
            "sending_method": lambda v: "API" in {x.upper() for x in v},
            "direction": lambda v: "outbound" in v,  # only outbound messages exist here
        }
        for name, wanted in self.values.items():
            if name in NEVER_MATCHING:
                return False
            if name in checks and not checks[name](wanted):
                return False
        if self.content is not None and self.content not in text:
            return False
        if self.content_nor is not None and self.content_nor in text:
            return False
        if self.time_from is not None and message.created_at < self.time_from:
            return False
        if self.time_to is not None and message.created_at > self.time_to:
            return False
        if self.flags.get("root") is False or self.flags.get("dispatch") is True:
            return False  # no cascade steps beyond the first, no dispatch messages
        if self.flags.get("ready_to_stop") and message.status not in (Status.ACCEPTED, Status.QUEUED):
            return False
        return True


def _positive(params, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(name) from None
    if value < 1:
        raise BadQuery(name)
    return value


def _time(params, name: str) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery(name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _flag(params, name: str) -> bool:
    raw = params.get(name, "").lower()
    if raw not in ("true", "false"):
        raise BadQuery(name)
    return raw == "true"
