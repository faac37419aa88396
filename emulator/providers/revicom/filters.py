"""Getting Messages (GET /api/v1/message, api.direct.revicom.ltd/messages/get): every documented
query parameter, parsed and applied; none is ignored.

A value the parameter cannot take (a word where an integer is due, a channel the References page
does not list, a flag other than true/false) refuses the request with 4220 (guess: the status of
that refusal is not published). A filter on something this emulator never has (dispatches,
templates, cascades, inbound messages) is applied all the same and so matches nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from ...core.model import Message, Status, digits
from .reference import tables
from .wire import sent_time

MAX_DIGEST = 10_000  # doc: page * per_page <= 10000


class BadQuery(ValueError):
    """A query parameter Getting Messages would refuse."""


def _int(value: str) -> str:
    int(value)  # ValueError -> BadQuery
    return value


def _enum(name: str, case: Callable[[str], str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = case(value)
        if value not in tables()[name]:
            raise ValueError(value)
        return value

    return parse


def _same(value: str) -> str:
    return value


# "Multiple parameter"s of the page and how one value is read (References page enumerations).
REPEATABLE: dict[str, Callable[[str], str]] = {
    "dispatch_id": _int,
    "message_uuid": _same,
    "destination": digits,
    "status": _enum("statuses", str.lower),
    "traffic_center_id": _int,
    "tags": _same,
    "sending_method": _enum("sending_methods", str.upper),
    "channel_type": _enum("channels", str.upper),
    "traffic_type": _enum("traffic_types", str.upper),
    "template_id": _same,
    "sender_name": _same,
    "direction": _enum("directions", str.lower),
}
FLAGS = ("root", "ready_to_stop", "dispatch")


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
    cascade_message_uuid: str | None = None
    country_code: str | None = None
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
        for name, read in REPEATABLE.items():
            if name in params:
                # repeated (?status=a&status=b), or (GUESS) comma-separated
                raw = [v for given in params.getall(name) for v in given.split(",") if v]
                try:
                    query.values[name] = {read(v) for v in raw}
                except ValueError:
                    raise BadQuery(name) from None
        query.content = params.get("content")
        query.content_nor = params.get("content_nor")
        query.cascade_message_uuid = params.get("cascade_message_uuid")
        if "country_code" in params:
            code = params["country_code"].upper()
            if len(code) != 2 or not code.isalpha():
                raise BadQuery("country_code")
            query.country_code = code
        for name in FLAGS:
            if name in params:
                query.flags[name] = _flag(params, name)
        return query

    def select(self, messages: list[Message], status_name: Callable[[Status], str]) -> tuple[int, list[Message]]:
        found = [m for m in messages if self._matches(m, status_name)]
        found.sort(key=lambda m: m.created_at, reverse=self.descending)
        start = (self.page - 1) * self.per_page
        return len(found), found[start : start + self.per_page]

    def _matches(self, message: Message, status_name: Callable[[Status], str]) -> bool:
        facts = _facts(message, status_name)
        for name, wanted in self.values.items():
            fact = facts[name]
            if isinstance(fact, set):
                if not fact & wanted:
                    return False
            elif fact is None or str(fact) not in wanted:
                return False
        text = str(message.attempts[0].content.get("text", ""))
        if self.content is not None and self.content not in text:
            return False
        if self.content_nor is not None and self.content_nor in text:
            return False
        if self.cascade_message_uuid is not None:
            return False  # no cascade messages here
        if self.country_code is not None and (message.meta.get("country") or ("",))[0] != self.country_code:
            return False
        moment = _sending_time(message)
        if self.time_from is not None and (moment is None or moment < self.time_from):
            return False
        if self.time_to is not None and (moment is None or moment > self.time_to):
            return False
        if self.flags.get("root") is False or self.flags.get("dispatch") is True:
            return False  # root=false: cascade steps from the second on; dispatch=true: dispatch messages
        if self.flags.get("ready_to_stop") and message.status not in (Status.ACCEPTED, Status.QUEUED):
            return False
        return True


def _facts(message: Message, status_name: Callable[[Status], str]) -> dict[str, Any]:
    """What each repeatable filter compares with, for one message."""
    item = message.meta["item"]
    return {
        "dispatch_id": None,  # single messages belong to no dispatch
        "message_uuid": message.provider_id,
        "destination": message.recipient,
        "status": status_name(message.status),
        "traffic_center_id": message.meta.get("trafficCenterId"),
        "tags": set(item.get("tags", [])),
        "sending_method": message.meta.get("sendingMethod", "API"),
        "channel_type": item["channelType"],
        "traffic_type": message.meta.get("trafficType"),
        "template_id": None,  # no registered templates here
        "sender_name": item["senderName"],
        "direction": message.meta.get("direction", "outbound"),
    }


def _sending_time(message: Message) -> float | None:
    """Doc: time_from/time_to bound "the time of sending (or receiving the final unsent status)".
    A message neither sent nor unsent yet counts from its creation (guess)."""
    sent = sent_time(message)
    if sent is not None:
        return sent
    history = message.attempts[0].history
    if message.status in (Status.REJECTED, Status.CANCELLED) and history:
        return history[-1].at
    return message.created_at


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
