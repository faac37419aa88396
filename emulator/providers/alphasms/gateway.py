"""The one AlphaSMS account model under the three wire formats (JSON, XML, HTTP).

Each wire module parses its own format into the calls below and renders their results; they
all share the same accounts, balance, messages (looked up by client id or gateway id), statuses,
scenarios and magic recipients, because all of it goes through here to core.
"""
from __future__ import annotations

import random
from collections import OrderedDict
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from ...core.engine import Submission
from ..base import note
from ...core.model import Account, Attempt, Message, digits, next_gateway_id
from ...core.text import count_parts
from ...core.validation import schemas_root
from .rules import ClientIds

if TYPE_CHECKING:
    from .provider import AlphaSMS

STATUSES = yaml.safe_load((Path(schemas_root()) / "alphasms" / "statuses.yaml").read_text(encoding="utf-8"))
ASYNC_REFUSALS_KEPT = 10_000  # bounded memory of async items the gateway refused


class Gateway:
    def __init__(self, provider: "AlphaSMS") -> None:
        self.provider = provider
        self.engine = provider.engine
        self.name = provider.name
        # (account, client id) -> error key, for /v1/json items refused after the request was
        # queued: the `status` request by id reports them (there is no per-item answer to carry it)
        self.async_refusals: OrderedDict[tuple[str, str], str] = OrderedDict()

    # -- accounts ---------------------------------------------------------------------------
    def account_for_key(self, key: Any) -> Account | None:
        if not isinstance(key, str) or not key:
            return None
        for account in self.provider.accounts():  # a loop, not a generator: every JSON request authenticates
            if account.secrets.get("api_key") == key:
                return account
        return None

    def account_for_login(self, login: Any, password: Any) -> Account | None:
        """XML API `<package login= password=>`: the cabinet login and password."""
        if not isinstance(login, str) or not isinstance(password, str) or not password:
            return None
        for account in self.provider.accounts():
            if account.login == login and account.secrets.get("password") == password:
                return account
        return None

    # -- messages ---------------------------------------------------------------------------
    def client_ids(self, account: Account) -> ClientIds:
        return ClientIds(lambda key: self.find(account, client_id=key) is not None)

    def new_message(
        self,
        account: Account,
        kind: str,
        phone: Any,
        attempts: list[Attempt],
        client_id: Any = None,
        hook: str | None = None,
        scheduled_at: float | None = None,
        wire: str = "json",
    ) -> Message:
        """A draft in the domain model; `meta` keeps what the answers echo (client id with its
        JSON type, the item type, the wire format it came by)."""
        first = attempts[0]
        parts = count_parts(first.content.get("text", "")) if first.channel == "sms" else 1
        message = Message(
            provider=self.name,
            account=account.login,
            recipient=digits(phone),
            attempts=attempts,
            provider_id=str(next_gateway_id()),
            client_ref=None if client_id is None else str(client_id),
            callback_url=hook,
            parts=parts,
            cost=self.provider.price(first.channel, parts),
            meta={"type": kind, "client_id": client_id, "wire": wire},
            scheduled_at=scheduled_at,
        )
        if kind == "call/otp":
            caller = "380" + "".join(random.choice("0123456789") for _ in range(9))
            message.otp = caller[-4:]
            first.content.update({"caller": caller, "text": f"Incoming call from +{caller}"})
        return message

    def submit(
        self, request: web.Request, account: Account, messages: list[Message]
    ) -> tuple[web.StreamResponse | None, list[str | None]]:
        """Decide every draft at once (per-item outcomes). Returns a scenario's raw reply or fault
        response when there is one, else one error key per draft (None: accepted and stored)."""
        if not messages:
            return None, []
        keys = []  # each message found by its gateway id and its client id (find)
        for message in messages:
            gateway_key = f"gw:{message.provider_id}"
            keys.append((gateway_key,) if message.client_ref is None else (gateway_key, f"id:{message.client_ref}"))
        decision = self.engine.submit(Submission(self.name, account, messages, atomic=False, index_keys=keys))
        special = self.provider.special(request, decision)
        if special is not None:
            return special, []
        errors: list[str | None] = []
        for outcome in decision.outcomes:
            if outcome.error:
                note(request, outcome.reason)
            errors.append(outcome.error or None)
        return None, errors

    def find(self, account: Account, client_id: Any = None, gateway_id: Any = None) -> Message | None:
        if client_id is not None and str(client_id) != "":
            return self.engine.find_message(self.name, account.login, f"id:{client_id}")
        if gateway_id is not None and str(gateway_id) != "":
            return self.engine.find_message(self.name, account.login, f"gw:{gateway_id}")
        return None

    def remember_refusal(self, account: Account, client_id: Any, error: str) -> None:
        if client_id is None:
            return
        self.async_refusals[(account.login, str(client_id))] = error
        while len(self.async_refusals) > ASYNC_REFUSALS_KEPT:
            self.async_refusals.popitem(last=False)

    def refusal(self, account: Account, client_id: Any) -> str | None:
        return self.async_refusals.get((account.login, str(client_id)))

    def is_opted_out(self, account: Account, phone: Any) -> bool:
        return self.engine.is_opted_out(self.name, account.login, digits(phone))

    def cancel(self, message: Message) -> bool:
        return self.engine.cancel(message)

    def reset(self) -> None:
        self.async_refusals.clear()

    # -- statuses, per wire format -----------------------------------------------------------
    @staticmethod
    def status(message: Message, wire: str) -> Any:
        return STATUSES[wire][message.status.value]

    def completed_at(self, message: Message) -> float | None:
        """When the message reached a final status (delivered, read or failed), else None."""
        status = message.status
        if not (status.is_final or status.is_success):
            return None
        for attempt in reversed(message.attempts):
            for transition in reversed(attempt.history):
                if transition.status == status:
                    return transition.at
        return None

    # -- queries ----------------------------------------------------------------------------
    @staticmethod
    def balance(account: Account) -> Decimal:
        return account.balance

    @staticmethod
    def hlr(phone: str) -> dict[str, Any]:
        return _hlr(digits(phone))


_OPERATORS = {  # Ukrainian mobile prefixes after 380 -> operator, for HLR answers
    ("39", "67", "68", "96", "97", "98"): ("Kyivstar", "25503"),
    ("50", "66", "95", "99"): ("Vodafone Ukraine", "25501"),
    ("63", "73", "93"): ("lifecell", "25506"),
}


def _hlr(phone: str) -> dict[str, Any]:
    name, mccmnc = "Kyivstar", "25503"
    for prefixes, (operator, code) in _OPERATORS.items():
        if phone.startswith("380") and phone[3:5] in prefixes:
            name, mccmnc = operator, code
    network = {"name": name, "prefix": phone[3:5], "country": {"name": "Ukraine", "prefix": "380"}}
    return {
        "phone": int(phone) if phone.isdigit() else phone,
        "status": "DELIVERED",
        "imsi": mccmnc + phone[-10:].rjust(10, "0"),
        "mccmnc": mccmnc,
        "ported": False,
        "network": {"origin": network, "ported": network},
    }
