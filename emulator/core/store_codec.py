"""Messages, events and journaled requests as the shared store keeps them: their fields as plain
dicts and tuples, statuses as their strings, pickled. Pickling the dataclasses themselves costs
2-3x more (every Status goes through Enum's Python __reduce_ex__, every Step and Transition
through a class lookup), and a send writes its message three times (accepted, sent, delivered).

A message goes as its values in the order of MESSAGE_LAYOUT (tag "M"), its attempts as tuples
in the order of ATTEMPT_LAYOUT: without its field names a blob is a third smaller (645 -> 411
bytes for an AlphaSMS send), and the store writes each blob to the hash and, with several
processes, to their inboxes, each version. A Message or Attempt whose fields no longer match
the layouts is written by name (tag "m"), as before: a new layout needs a new tag.

Blobs written by an earlier msgemu (by name, or whole pickled objects) are still read.

Events and requests are rows (their fields in order, statuses as strings): the store keeps a
row pickled, and the change feed carries it inside its entry's one pickle, from which another
process builds the object in about a tenth of what unpickling a blob of its own costs.
"""
from __future__ import annotations

import dataclasses
import operator
import pickle
from decimal import Decimal
from typing import Any

from .model import Attempt, Event, Message, RequestRecord, Status, Transition
from .scenario import Step

PROTOCOL = pickle.HIGHEST_PROTOCOL
_STATUS = Status._value2member_map_
PLANS_KEPT = 1024  # delivery plans remembered both ways (most messages share the default one)
_plans_out: dict[int, tuple] = {}  # id(steps) -> (steps, plain tuple): the steps are kept alive
_plans_in: dict[tuple, tuple] = {}  # plain tuple -> steps


def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


_ATTEMPT, _REQUEST = _names(Attempt), _names(RequestRecord)  # slotted: no __dict__
MESSAGE_LAYOUT = ("provider", "account", "recipient", "attempts", "id", "provider_id", "client_ref", "callback_url",
                  "created_at", "request_id", "parts", "cost", "otp", "meta", "inbound", "scheduled_at", "plans", "rule")
ATTEMPT_LAYOUT = ("channel", "content", "status", "history", "error")
_BY_POSITION = _names(Message) == MESSAGE_LAYOUT and _ATTEMPT == ATTEMPT_LAYOUT
_ATTEMPTS, _COST, _PLANS = (MESSAGE_LAYOUT.index(name) for name in ("attempts", "cost", "plans"))
_message_values = operator.itemgetter(*MESSAGE_LAYOUT)  # a message's __dict__ -> its values in layout order


def _fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def _built(cls: type, fields: dict[str, Any]) -> Any:
    """An instance with these fields, as pickle makes one: no __init__, then the class's own
    __setstate__ (model.slots_setstate)."""
    obj = cls.__new__(cls)
    obj.__setstate__(fields)
    return obj


def _status(value: Any) -> Any:
    return _STATUS[value] if value is not None else None


def message_blob(message: Message, keys: list[str]) -> bytes:
    fields = message.__dict__
    if _BY_POSITION and len(fields) == len(MESSAGE_LAYOUT):  # (an attribute beyond the fields: by name)
        values = list(_message_values(fields))
        values[_ATTEMPTS] = [
            (a.channel, a.content, a.status._value_ if a.status is not None else None,
             [(t.at, t.status._value_, t.error) for t in a.history], a.error)
            for a in message.attempts
        ]
        if message.plans:
            values[_PLANS] = {channel: _plain_plan(steps) for channel, steps in message.plans.items()}
        if type(message.cost) is Decimal:
            values[_COST] = str(message.cost)
        return pickle.dumps(("M", tuple(values), keys), PROTOCOL)
    return _message_blob_by_name(message, keys)


def _message_blob_by_name(message: Message, keys: list[str]) -> bytes:
    fields = message.__dict__.copy()
    fields["attempts"] = [_attempt_fields(a) for a in message.attempts]
    if message.plans:
        fields["plans"] = {channel: _plain_plan(steps) for channel, steps in message.plans.items()}
    if type(message.cost) is Decimal:  # its text: a Decimal pickles through Python code (1.4 of 3.5 µs)
        fields["cost"] = str(message.cost)
    return pickle.dumps(("m", fields, keys), PROTOCOL)


def _plain_plan(steps: tuple) -> tuple:
    known = _plans_out.get(id(steps))
    if known is not None and known[0] is steps:
        return known[1]
    plain = tuple((s.after, s.status._value_, s.error) for s in steps)
    if len(_plans_out) >= PLANS_KEPT:
        _plans_out.clear()
    _plans_out[id(steps)] = (steps, plain)
    return plain


def _plan_from(plain: tuple) -> tuple:
    steps = _plans_in.get(plain)
    if steps is None:
        if len(_plans_in) >= PLANS_KEPT:
            _plans_in.clear()
        steps = _plans_in[plain] = tuple(Step(after, _STATUS[status], error) for after, status, error in plain)
    return steps


def _attempt_fields(attempt: Attempt) -> dict[str, Any]:
    fields = _fields(attempt, _ATTEMPT)
    if attempt.status is not None:
        fields["status"] = attempt.status._value_
    fields["history"] = [(t.at, t.status._value_, t.error) for t in attempt.history]
    return fields


def message_from(blob: bytes) -> tuple[Message, list[str]]:
    payload = pickle.loads(blob)
    tag = payload[0]
    if tag == "M":
        _, values, keys = payload
        fields = dict(zip(MESSAGE_LAYOUT, values))
        fields["attempts"] = [_attempt_from_values(*a) for a in fields["attempts"]]
    elif tag == "m":
        _, fields, keys = payload
        fields["attempts"] = [_attempt_from(a) for a in fields["attempts"]]
    else:
        return payload  # (Message, keys) pickled whole by an earlier msgemu
    if fields["plans"]:
        fields["plans"] = {channel: _plan_from(plain) for channel, plain in fields["plans"].items()}
    if type(fields["cost"]) is str:
        fields["cost"] = Decimal(fields["cost"])
    message = Message.__new__(Message)  # as pickle does: no __init__, the fields as they were
    message.__dict__.update(fields)
    return message, keys


def _attempt_from_values(channel: str, content: dict, status: str | None, history: list, error: str | None) -> Attempt:
    attempt = Attempt.__new__(Attempt)
    attempt.channel, attempt.content, attempt.error = channel, content, error
    attempt.status = _status(status)
    attempt.history = [Transition(at, _STATUS[s], e) for at, s, e in history]
    return attempt


def _attempt_from(fields: dict[str, Any]) -> Attempt:
    fields["status"] = _status(fields["status"])
    fields["history"] = [Transition(at, _STATUS[status], error) for at, status, error in fields["history"]]
    return _built(Attempt, fields)


def event_blob(event: Event) -> bytes:
    return row_blob("event", event_row(event))


def row_blob(kind: str, row: tuple) -> bytes:
    """An event's or a request's row as the store keeps it (the change feed carries the row)."""
    return pickle.dumps((_ROW_TAGS[kind], row), PROTOCOL)


_ROW_TAGS = {"event": "E", "request": "R"}


def event_from(blob: bytes) -> Event:
    payload = pickle.loads(blob)
    if not isinstance(payload, tuple):
        return payload  # an Event pickled whole by an earlier msgemu
    if payload[0] == "E":
        return event_from_row(payload[1])
    fields = payload[1]  # ("e", fields): an earlier msgemu's
    fields["status"] = _STATUS[fields["status"]]
    return _built(Event, fields)


def event_row(event: Event) -> tuple:
    return (event.message_id, event.channel, event.status._value_, event.at, event.error, event.seq)


def event_from_row(row: tuple) -> Event:
    message_id, channel, status, at, error, seq = row
    return Event(message_id, channel, _STATUS[status], at, error, seq)


request_row: Any = operator.attrgetter(*_REQUEST)  # RequestRecord -> its fields in order, a tuple


def request_from_row(row: tuple) -> RequestRecord:
    return RequestRecord(*row)


def request_blob(record: RequestRecord) -> bytes:
    return row_blob("request", request_row(record))


def request_from(blob: bytes) -> RequestRecord:
    payload = pickle.loads(blob)
    if not isinstance(payload, tuple):
        return payload  # a RequestRecord pickled whole by an earlier msgemu
    if payload[0] == "R":
        return request_from_row(payload[1])
    return _built(RequestRecord, payload[1])  # ("r", fields): an earlier msgemu's
