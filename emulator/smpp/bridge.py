"""From SMPP to the domain: a complete short message becomes the same Submission an HTTP
provider makes (core.engine.submit with core.model objects), so it is in /_emulator/messages,
the inbox, the provider's own HTTP lookups, the balance, magic recipients and scenarios.

Provider facts (ids, lookup keys, meta the HTTP side reads) come from the profile's YAML."""
from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from ..core.engine import Decision, Engine, Submission
from ..core.model import Account, Attempt, Message, RequestRecord, digits
from ..core.text import count_segments
from .codec import STATUS, STATUS_NAMES
from .profiles import Profile, render

PriceOf = Callable[[str, str, int], Decimal]  # (provider, channel, parts) -> price
SMPP_KEY = "smpp"  # Message.meta key holding what receipts need


@dataclass
class Address:
    ton: int
    npi: int
    addr: str


@dataclass
class Draft:
    """One short message as the ESME submitted it (all parts joined)."""

    source: Address
    destinations: list[Address]
    text: str
    data_coding: int
    registered_delivery: int
    part_ids: list[str]
    scheduled_at: float | None = None
    ttl: float | None = None
    command: str = "submit_sm"


@dataclass
class Result:
    status: int
    message_id: str = ""
    accepted: list[Message] = field(default_factory=list)
    failed: list[tuple[Address, int]] = field(default_factory=list)  # submit_multi unsuccess_sme
    fault: dict[str, Any] | None = None


MAX_REMEMBERED = 200_000  # identical-request memory (the provider's window bounds it too)


class Bridge:
    def __init__(self, engine: Engine, price_of: PriceOf) -> None:
        self.engine = engine
        self.price_of = price_of
        self._recent: OrderedDict[tuple[Any, ...], tuple[float, str]] = OrderedDict()

    # -- ids and lookups --------------------------------------------------------------------------
    def new_id(self, profile: Profile, account: Account) -> str:
        spec = profile.data["message_id"]
        if spec.get("kind") == "counter":
            directory = self.engine.directory(profile.provider, account.login, spec["directory"])
            record = directory.add({})
            directory.remove(record.id)
            return str(record.id)
        return str(uuid.uuid4())

    def find(self, profile: Profile, account: Account, message_id: str) -> Message | None:
        return self.engine.find_message(profile.provider, account.login, f"{SMPP_KEY}:{message_id}")

    # -- submitting -------------------------------------------------------------------------------
    def submit(self, profile: Profile, account: Account, draft: Draft) -> Result:
        message_id = draft.part_ids[0]
        sender = draft.source.addr or str(profile.get("default_sender", ""))
        identical = self._identical(profile, account, draft)
        if identical is not None:
            result = Result(profile.command_status(profile.get("identical_error", "duplicate")))
            self._journal(profile, account, draft, result)
            return result
        messages = [self._message(profile, account, draft, message_id, sender, dest) for dest in draft.destinations]
        multi = draft.command == "submit_multi"
        decision = self.engine.submit(Submission(profile.provider, account, messages, atomic=not multi))
        result = self._result(profile, decision, draft, message_id)
        for message in result.accepted:
            self.register(profile, message, draft.part_ids, sender)
        if result.accepted and profile.get("refuse_identical_within"):
            self._recent[self._identity(profile, account, draft)] = (self.engine.clock.now(), result.accepted[0].id)
            while len(self._recent) > MAX_REMEMBERED:
                self._recent.popitem(last=False)
        self._journal(profile, account, draft, result)
        return result

    @staticmethod
    def _identity(profile: Profile, account: Account, draft: Draft) -> tuple[Any, ...]:
        return (profile.provider, account.login, draft.source.addr, tuple(d.addr for d in draft.destinations), draft.text)

    def _identical(self, profile: Profile, account: Account, draft: Draft) -> str | None:
        """The id of an identical message accepted within the provider's window (SMSC: one
        minute [DOC]); one the store has forgotten (reset, retention) does not count."""
        window = float(profile.get("refuse_identical_within") or 0)
        if not window:
            return None
        now = self.engine.clock.now()
        while self._recent:
            oldest_key, (at, _) = next(iter(self._recent.items()))
            if now - at < window:
                break
            del self._recent[oldest_key]
        seen = self._recent.get(self._identity(profile, account, draft))
        if seen is None or self.engine.store.message(seen[1]) is None:
            return None
        return seen[1]

    def _message(self, profile: Profile, account: Account, draft: Draft, message_id: str, sender: str, dest: Address) -> Message:
        parts = len(draft.part_ids) if len(draft.part_ids) > 1 else count_segments(draft.text).parts
        recipient = digits(dest.addr)
        content: dict[str, Any] = {"text": draft.text, "sender": sender}
        if draft.ttl:
            content["_ttl"] = draft.ttl
        values = {"id": _as_number(message_id), "recipient": recipient, "sender": sender, "text": draft.text}
        secret = profile.get("callback_url_secret")
        message = Message(
            provider=profile.provider,
            account=account.login,
            recipient=recipient,
            attempts=[Attempt(profile.channel, content)],
            parts=parts,
            cost=self.price_of(profile.provider, profile.price_as, parts),
            callback_url=(account.secrets.get(secret) or None) if secret else None,
            scheduled_at=draft.scheduled_at,
        )
        if profile.data["message_id"].get("kind") == "counter":
            message.provider_id = message_id
        else:
            message.id = message.provider_id = message_id if len(draft.destinations) == 1 else message.id
        values["uuid"] = message.id
        message.meta = render(profile.get("meta") or {}, values)
        message.meta[SMPP_KEY] = {
            "ids": list(draft.part_ids),
            "source": [draft.source.ton, draft.source.npi, sender],
            "dest": [dest.ton, dest.npi, dest.addr],
            "registered_delivery": draft.registered_delivery,
            "submitted_at": self.engine.clock.now(),
        }
        return message

    def _result(self, profile: Profile, decision: Decision, draft: Draft, message_id: str) -> Result:
        if decision.action == "fault":
            return Result(STATUS["ESME_RSYSERR"], fault=decision.fault)
        if decision.action == "raw":
            return Result(raw_status(decision.raw or {}))
        if decision.action == "reject":
            return Result(profile.command_status(decision.error), fault=decision.fault)
        result = Result(0, message_id, fault=decision.fault)
        for outcome, dest in zip(decision.outcomes, draft.destinations):
            if outcome.accepted:
                result.accepted.append(outcome.message)
            else:
                result.failed.append((dest, profile.command_status(outcome.error)))
        if not result.accepted:
            result.status = result.failed[0][1] if result.failed else STATUS["ESME_RSUBMITFAIL"]
        return result

    def register(self, profile: Profile, message: Message, ids: list[str], sender: str) -> None:
        """Make the message findable by SMPP ids and by the provider's own HTTP lookups."""
        for part_id in ids:
            self.engine.index_message(message, f"{SMPP_KEY}:{part_id}")
        values = {"id": message.provider_id, "recipient": message.recipient, "sender": sender, "uuid": message.id}
        for pattern in profile.get("index") or []:
            for part_id in ids:
                self.engine.index_message(message, render(pattern, {**values, "id": part_id}))
        for spec in profile.get("directories") or []:
            self.engine.directory(profile.provider, message.account, spec["name"]).add(render(spec["fields"], values))

    def _journal(self, profile: Profile, account: Account, draft: Draft, result: Result) -> None:
        store = self.engine.store
        store.add_request(
            RequestRecord(
                id=store.new_request_id(),
                at=self.engine.clock.now(),
                provider=profile.provider,
                method="SMPP",
                path=draft.command,
                query="",
                headers={"system_id": account.login},
                body=draft.text,
                status=result.status,
                response=f"{STATUS_NAMES.get(result.status, hex(result.status))} message_id={result.message_id}",
                outcome="accepted" if result.accepted else ("fault" if result.fault else "rejected"),
                message_ids=[m.id for m in result.accepted],
            )
        )


def raw_status(raw: dict[str, Any]) -> int:
    """A scenario's raw HTTP reply, over SMPP: 2xx accepted is not expressible; 4xx refused,
    anything else a system error."""
    status = int(raw.get("status", 500))
    return STATUS["ESME_RSUBMITFAIL"] if 400 <= status < 500 else STATUS["ESME_RSYSERR"]


def _as_number(value: str) -> Any:
    return int(value) if value.isdigit() else value
