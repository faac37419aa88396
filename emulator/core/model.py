"""Provider-independent domain objects.

Every provider translates its wire format into these; core logic (engine, store, clock,
callbacks) only ever sees them.
"""
from __future__ import annotations

import enum
import itertools
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .otp import extract_otp

ZERO = Decimal("0")  # money's zero: Decimals are immutable, so one serves every sum and price


def slots_setstate(self: Any, state: Any) -> None:
    """Unpickling for the classes with __slots__: their own pickles ((None, {slot: value})) and
    those written before they had slots (a dict), which a Valkey store kept across an upgrade."""
    if isinstance(state, tuple):
        state = {**(state[0] or {}), **(state[1] or {})}
    for name, value in state.items():
        object.__setattr__(self, name, value)


class Status(str, enum.Enum):
    """Canonical lifecycle of one channel attempt (and of a message, through its last attempt)."""

    ACCEPTED = "accepted"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    UNREAD = "unread"  # delivered, not read within its lifetime (providers that report reads)
    UNDELIVERED = "undelivered"
    EXPIRED = "expired"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    # is_final, is_failure, is_success: plain attributes of each member, set below (not
    # properties: the lifecycle asks them several times per transition)
    is_final: bool
    is_failure: bool
    is_success: bool


SUCCESS_STATUSES = frozenset({Status.DELIVERED, Status.READ, Status.UNREAD})
FAILED_STATUSES = frozenset({Status.UNDELIVERED, Status.EXPIRED, Status.REJECTED, Status.CANCELLED})
# READ and UNREAD are final for the lifecycle; DELIVERED is final unless a later READ is planned.
FINAL_STATUSES = FAILED_STATUSES | {Status.READ, Status.UNREAD}
for _status in Status:
    _status.is_final = _status in FINAL_STATUSES
    _status.is_failure = _status in FAILED_STATUSES
    _status.is_success = _status in SUCCESS_STATUSES
del _status


@dataclass
class Account:
    """A provider account: who may call, and how much money it has left."""

    provider: str
    login: str
    secrets: dict[str, str]
    balance: Decimal = Decimal("100")
    currency: str = "EUR"

    def public(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "login": self.login,
            "credentials": dict(self.secrets),
            "balance": float(self.balance),
            "currency": self.currency,
        }


@dataclass(slots=True)
class Transition:
    """One step of a channel's history: a status reached at a (virtual) time."""

    __setstate__ = slots_setstate

    at: float
    status: Status
    error: str | None = None  # provider-specific error/reason code, if any

    def public(self) -> dict[str, Any]:
        return {"at": self.at, "status": self.status.value, "error": self.error}


@dataclass(slots=True)
class Attempt:
    """One channel of a message's cascade (the only one for single-channel providers)."""

    __setstate__ = slots_setstate

    channel: str
    content: dict[str, Any] = field(default_factory=dict)
    status: Status | None = None  # None until the cascade reaches this channel
    history: list[Transition] = field(default_factory=list)
    error: str | None = None

    @property
    def started(self) -> bool:
        return self.status is not None

    def public(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "content": self.content,
            "status": self.status.value if self.status else None,
            "error": self.error,
            "history": [t.public() for t in self.history],
        }


_NON_DIGITS = re.compile(r"[^0-9]")


def digits(phone: Any) -> str:
    """A phone number reduced to its digits, the form every lookup compares."""
    text = str(phone)
    if text.isascii() and text.isdigit():  # digits only already (the usual number): no regex pass
        return text
    return _NON_DIGITS.sub("", text)


_RANDOM_BLOCK = 4096  # bytes of os.urandom taken at once: 256 UUIDs per system call, not one each
_random = [b"", 0]  # the block, and how much of it is used


def _fresh_random_after_fork() -> None:
    _random[:] = [b"", 0]  # a forked worker never hands out what its parent's block still holds


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_random_after_fork)


def new_uuid() -> str:
    """A random (version 4) UUID as text, what str(uuid.uuid4()) gives, in a third of its
    time: every message gets one. The randomness is os.urandom's, read a block at a time."""
    block, used = _random
    if used >= len(block):
        block, used = os.urandom(_RANDOM_BLOCK), 0
        _random[0] = block
    _random[1] = used + 16
    h = block[used:used + 16].hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


_gateway_ids = itertools.count(100_000_001)
_gateway_id_source: Any = None  # set by a store shared by several processes (ids from blocks)


def next_gateway_id() -> int:
    """Monotonic numeric ids, for providers whose message ids are integers (unique across
    processes when a shared store hands out the numbers)."""
    if _gateway_id_source is not None:
        return _gateway_id_source()
    return next(_gateway_ids)


def use_gateway_ids(source: Any) -> None:
    """Where numeric message ids come from: a callable, or None for this process's counter."""
    global _gateway_id_source
    _gateway_id_source = source


@dataclass
class Message:
    """One recipient of one request, with the ordered channels it may be delivered by."""

    provider: str
    account: str
    recipient: str
    attempts: list[Attempt]
    id: str = field(default_factory=new_uuid)
    provider_id: str = ""  # the id the provider returned to the client
    client_ref: str | None = None  # the client's own id for this message
    callback_url: str | None = None
    created_at: float = 0.0
    request_id: str | None = None
    parts: int = 1
    cost: Decimal = ZERO
    otp: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # provider-specific extras, echoed back
    inbound: list[dict[str, Any]] = field(default_factory=list)  # replies from the subscriber
    scheduled_at: float | None = None  # not sent before this (virtual) time
    plans: dict[str, Any] = field(default_factory=dict, repr=False)  # channel -> planned steps
    rule: dict[str, Any] | None = None  # the scenario/magic rule that decided it (engine._rule_origin)

    def __post_init__(self) -> None:
        if not self.provider_id:
            self.provider_id = self.id

    @property
    def current(self) -> Attempt:
        """The channel the cascade is on now (last started one, else the first)."""
        for attempt in reversed(self.attempts):
            if attempt.status is not None:  # started
                return attempt
        return self.attempts[0]

    @property
    def status(self) -> Status:
        succeeded = self._succeeded_by()
        return succeeded.status if succeeded is not None else self.current.status or Status.ACCEPTED

    @property
    def succeeded(self) -> bool:
        """status.is_success without working out the status (the lifecycle asks at every step)."""
        return self._succeeded_by() is not None

    @property
    def channel(self) -> str:
        succeeded = self._succeeded_by()
        return (succeeded if succeeded is not None else self.current).channel

    def _succeeded_by(self) -> Attempt | None:
        """The first channel that reached a success (delivered, read, unread): the message's
        status and channel are then its, whatever the cascade tried after."""
        for attempt in self.attempts:
            if attempt.status is not None and attempt.status.is_success:
                return attempt
        return None

    @property
    def text(self) -> str:
        """The human-readable text of the current channel (what a phone would show)."""
        content = self.current.content
        return str(content.get("text") or "")

    def attempt(self, channel: str) -> Attempt | None:
        return next((a for a in self.attempts if a.channel == channel), None)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "account": self.account,
            "provider_id": self.provider_id,
            "client_ref": self.client_ref,
            "recipient": self.recipient,
            "channel": self.channel,
            "status": self.status.value,
            "text": self.text,
            "otp": self.otp or extract_otp(self.text),
            "parts": self.parts,
            "cost": float(self.cost),
            "callback_url": self.callback_url,
            "created_at": self.created_at,
            "request_id": self.request_id,
            "attempts": [a.public() for a in self.attempts],
            "inbound": list(self.inbound),
            "meta": self.meta,
            "rule": self.rule,
        }


@dataclass(slots=True)
class Event:
    """A status change of one message's channel, in the order the clock fired them."""

    __setstate__ = slots_setstate

    message_id: str
    channel: str
    status: Status
    at: float
    error: str | None = None
    seq: int = 0

    def public(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "message_id": self.message_id,
            "channel": self.channel,
            "status": self.status.value,
            "at": self.at,
            "error": self.error,
        }


@dataclass(frozen=True)
class Rejection:
    """Why a provider refused a request, so QA can read the rule that fired instead of guessing.

    `rule` names the kind of check: schema | auth | rules | scenario | magic | balance | route |
    http | body | lookup. `pointer` is the JSON pointer or parameter/header name involved;
    `keyword` the JSON-Schema keyword that failed; `scenario` the scenario rule that decided
    ({source, index, name}, plus the recipient for magic ones); `nearest_path` the closest known
    path of an unknown one."""

    key: str | None  # the provider's error key (schemas/<p>/errors.yaml); None for raw replies/faults
    rule: str
    pointer: str | None = None
    keyword: str | None = None
    scenario: dict[str, Any] | None = None
    nearest_path: str | None = None
    detail: str | None = None

    @classmethod
    def schema(cls, key: str, violation: Any) -> "Rejection":
        """From a core.validation.Violation."""
        return cls(key, "schema", pointer=violation.pointer or "/", keyword=violation.keyword, detail=violation.message)

    def public(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "rule": self.rule,
            "pointer": self.pointer,
            "keyword": self.keyword,
            "scenario": self.scenario,
            "nearest_path": self.nearest_path,
            "detail": self.detail,
        }


@dataclass(slots=True)
class RequestRecord:
    """One HTTP request as received and answered: the journal QA reads back."""

    __setstate__ = slots_setstate

    id: int
    at: float
    provider: str | None
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str
    status: int = 0
    response: str = ""
    outcome: str = "unknown"  # accepted | rejected | fault | query | unknown
    error: str | None = None  # symbolic error key when rejected
    message_ids: list[str] = field(default_factory=list)
    reason: Rejection | None = None  # the rule that fired, for rejected (and scenario-decided) requests
    body_size: int = 0  # bytes received; `body` keeps at most the journal's limit of them
    response_size: int = 0

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "provider": self.provider,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "status": self.status,
            "response": self.response,
            "outcome": self.outcome,
            "error": self.error,
            "message_ids": self.message_ids,
            "reason": self.reason.public() if self.reason else None,
            "body_size": self.body_size,
            "response_size": self.response_size,
        }
