"""POST /api/v1/message without HTTP: validate, draft, submit, answer per item.

Kept free of aiohttp so another front door (SMPP) can send through the same rules and get the
same per-message outcome.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ...core.engine import Decision, Engine, Submission
from ...core.model import Account, Rejection
from ...core.validation import Schemas
from . import rules, wire

@dataclass
class SendResult:
    decision: Decision
    items: list[dict[str, Any]] = field(default_factory=list)  # the answer's "items", in order
    accepted: list[str] = field(default_factory=list)  # internal ids of the accepted messages
    first_error: str | None = None
    first_reason: Rejection | None = None

    @property
    def errors(self) -> bool:
        """Doc: errors=false guarantees every submitted message was generated."""
        return len(self.accepted) < len(self.items)


def send(provider, account: Account, body: Any) -> SendResult:
    """Raise wire.Rejection when the request is refused as a whole (a rule broken by any message:
    4220, doc); otherwise submit and return per-message results (scenario, magic recipient and
    balance refusals are per message, with errors=true)."""
    engine: Engine = provider.engine
    schemas: Schemas = provider.schemas
    why = rules.request_violation(schemas, body)
    if why:
        raise wire.Rejection(why.key, why)
    now = engine.clock.now()
    for index, item in enumerate(body):
        why = rules.violation(schemas, item, now)
        if why:
            raise wire.Rejection(why.key, replace(why, pointer=f"/{index}{why.pointer or ''}"))
    traffic_center = _traffic_center_id(account)
    drafts = [wire.draft(provider.name, account.login, item, provider.price, traffic_center) for item in body]
    decision = engine.submit(Submission(provider.name, account, drafts, atomic=False))
    result = SendResult(decision)
    if decision.action in ("raw", "fault"):
        return result
    for outcome in decision.outcomes:
        if outcome.error:
            result.items.append(wire.item_error(provider.error(outcome.error)))
            result.first_error = result.first_error or outcome.error
            result.first_reason = result.first_reason or outcome.reason
            continue
        result.accepted.append(outcome.message.id)
        result.items.append({"messageUuid": outcome.message.provider_id, "code": 201})
    return result


def _traffic_center_id(account: Account) -> int:
    """The traffic center of the account's key (chosen when the key is created, i-Digital
    Authorization page); account secret `traffic_center_id`, 1 when unset (guess)."""
    try:
        return int(account.secrets.get("traffic_center_id", 1))
    except ValueError:
        return 1
