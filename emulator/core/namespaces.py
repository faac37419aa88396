"""Namespaces: many test runs sharing one emulator without seeing each other.

A namespace is a set of fresh accounts, one per provider, shaped like the demo accounts but with
their own logins and secrets. Every provider already authenticates against accounts, and
everything a request creates (messages, directories, opt-outs, balance) is keyed by its account,
so a namespace needs no copy of the store: it only has to know its accounts. From there:

- a message belongs to the namespace of its (provider, account login);
- an event or a callback attempt to the namespace of its message;
- a journaled request to the namespace whose id appears in its credentials (every namespace
  login and key carries the id, e.g. `ns-1a2b3c4d`), else to that of the messages it created;
- a namespace may have its own scenario, consulted before the magic recipients instead of the
  global one (which still applies to namespaces without their own), with its own `nth` count.

Namespaces survive a global reset (their accounts go back to their first state with everyone
else's); resetting one forgets only what its accounts created.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import itertools
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

from .model import Account, Event, Message, RequestRecord, Status
from .scenario import Action, MatchContext, Scenario, ScenarioSet
from .store import Store

DEFAULT = "default"  # the name that selects what no namespace owns
MAX_NAMESPACES = 1000
ID_PATTERN = re.compile(r"ns-[0-9a-f]{8}")
SMPP_PASSWORD_LENGTH = 8  # SMPP 3.4: a password is at most 8 octets (9 with its NUL)
_ALPHANUMERIC = string.ascii_letters + string.digits
_client_ids = itertools.count(2_000_001)  # numeric ids (Hyber's client_id): apart from the demo's


class TooManyNamespaces(Exception):
    """The bound on live namespaces is reached: delete some first."""


@dataclass
class Namespace:
    name: str
    accounts: list[Account]  # the first state of each account (balances after a reset)
    created_at: float = field(default_factory=time.time)
    scenario: Scenario | None = None
    scenario_text: str | None = None  # what `scenario` was loaded from (shared with other processes)
    _counts: dict[str, list[int]] = field(default_factory=dict, repr=False)  # provider -> [last global nth, own nth]

    def credentials(self) -> dict[str, dict[str, str]]:
        """Per provider, what its clients are configured with: the login and every secret."""
        return {a.provider: {"login": a.login, **a.secrets} for a in self.accounts}

    def public(self) -> dict[str, Any]:
        return {
            "namespace": self.name,
            "created_at": self.created_at,
            "scenario": self.scenario.public() if self.scenario else None,
            "credentials": self.credentials(),
        }

    def nth(self, ctx: MatchContext) -> int:
        """This namespace's own request count for the provider: the engine counts every request
        of the emulator; a new global count for the provider is a new request here."""
        counts = self._counts.setdefault(ctx.provider, [-1, 0])
        if ctx.nth != counts[0]:
            counts[0] = ctx.nth
            counts[1] += 1
        return counts[1]

    def restart_counts(self) -> None:
        self._counts.clear()


class Namespaces:
    """The live namespaces and the lookups that tell what belongs to which."""

    def __init__(self, store: Store, templates: Iterable[Account], limit: int = MAX_NAMESPACES) -> None:
        self.store = store
        self.templates = {}  # provider -> the demo account new ones are shaped like
        for account in templates:
            self.templates.setdefault(account.provider, account)
        self.limit = limit
        self.by_name: dict[str, Namespace] = {}
        self._by_account: dict[tuple[str, str], Namespace] = {}
        # journaled request id -> namespace name (None: the default): each record is read once
        self._request_owners: dict[int, str | None] = {}

    # -- lifecycle --------------------------------------------------------------------------
    def create(self) -> Namespace:
        if len(self.by_name) >= self.limit:
            raise TooManyNamespaces(f"at most {self.limit} namespaces at a time: delete some first")
        name = self._new_name()
        accounts = [_fresh_account(name, template) for template in self.templates.values()]
        namespace = Namespace(name, accounts)
        for account in accounts:
            self.store.add_account(_copy(account))  # seeded: a global reset restores it
            self._by_account[(account.provider, account.login)] = namespace
        self.by_name[name] = namespace
        self._share()
        return namespace

    def get(self, name: str) -> Namespace | None:
        return self.by_name.get(name)

    def reset(self, namespace: Namespace) -> set[str]:
        """Forget what the namespace's accounts created; accounts back to their first state.
        Returns the ids of the messages forgotten."""
        forgotten = self._forget(namespace)
        for first in namespace.accounts:
            live = self.live_account(first)
            if live is not None:
                live.balance, live.currency, live.secrets = first.balance, first.currency, dict(first.secrets)
                self.store.account_changed(live, live.login, balance_set=True)
        namespace.restart_counts()
        self.store.notify({"type": "namespace_reset", "namespace": namespace.name})  # the page keeps the rest
        return forgotten

    def delete(self, namespace: Namespace) -> set[str]:
        forgotten = self._forget(namespace)
        for account in namespace.accounts:
            self.store.remove_account(account.provider, account.login)
            self._by_account.pop((account.provider, account.login), None)
        del self.by_name[namespace.name]
        self.store.notify({"type": "namespace_reset", "namespace": namespace.name})  # the page keeps the rest
        self._share()
        return forgotten

    def after_global_reset(self) -> None:
        """POST /_emulator/reset: counts start again (accounts are restored by the store), and
        request ids too."""
        self._request_owners.clear()
        for namespace in self.by_name.values():
            namespace.restart_counts()

    def set_scenario(self, namespace: Namespace, scenario: Scenario | None, text: str | None = None) -> None:
        namespace.scenario = scenario
        namespace.scenario_text = text if scenario is not None else None
        namespace.restart_counts()  # `nth` counts from the moment a scenario is loaded
        self._share()

    # -- several processes sharing a store ------------------------------------------------------
    def _share(self) -> None:
        """The live namespaces, for the other processes of a shared store (core/redis_store.py)."""
        if self.store.shared:
            self.store.publish("namespaces", self.exported())

    def exported(self) -> dict[str, Any]:
        return {
            ns.name: {"accounts": ns.accounts, "created_at": ns.created_at, "scenario": ns.scenario_text}
            for ns in self.by_name.values()
        }

    def follow(self, shared: dict[str, Any] | None, load: Any) -> None:
        """Take the namespaces another process published; `load(text, source)` reads a scenario."""
        shared = shared or {}
        for name in [n for n in self.by_name if n not in shared]:
            for account in self.by_name.pop(name).accounts:
                self._by_account.pop((account.provider, account.login), None)
        for name, described in shared.items():
            namespace = self.by_name.get(name)
            if namespace is None:
                namespace = self.by_name[name] = Namespace(name, described["accounts"], described["created_at"])
                for account in namespace.accounts:
                    self._by_account[(account.provider, account.login)] = namespace
            if described["scenario"] != namespace.scenario_text:
                text = described["scenario"]
                namespace.scenario = load(text, f"<PUT /_emulator/namespaces/{name}/scenario>") if text else None
                namespace.scenario_text = text
                namespace.restart_counts()

    # -- what belongs to which --------------------------------------------------------------
    def of_account(self, provider: str, login: str) -> Namespace | None:
        return self._by_account.get((provider, login))

    def of_message(self, message: Message | None) -> Namespace | None:
        return self._by_account.get((message.provider, message.account)) if message is not None else None

    def of_message_id(self, message_id: Any) -> Namespace | None:
        return self.of_message(self.store.message(str(message_id))) if message_id else None

    def of_request(self, record: RequestRecord) -> Namespace | None:
        if record.id not in self._request_owners:
            if len(self._request_owners) >= 2 * self.store.retention:  # keep those still journaled
                kept = {r.id for r in self.store.requests}
                self._request_owners = {k: v for k, v in self._request_owners.items() if k in kept}
            found = self._read_owner(record)
            self._request_owners[record.id] = found.name if found else None
        name = self._request_owners[record.id]
        return self.by_name.get(name) if name else None

    def _read_owner(self, record: RequestRecord) -> Namespace | None:
        for text in _credential_texts(record):
            for found in ID_PATTERN.findall(text):
                if found in self.by_name:
                    return self.by_name[found]
        for message_id in record.message_ids:
            namespace = self.of_message_id(message_id)
            if namespace is not None:
                return namespace
        return None

    def owner(self, item: Any) -> Namespace | None:
        """The namespace of a message, request record, event or callback attempt (None: default)."""
        if isinstance(item, Message):
            return self.of_message(item)
        if isinstance(item, RequestRecord):
            return self.of_request(item)
        if isinstance(item, Event):
            return self.of_message_id(item.message_id)
        if isinstance(item, dict):
            return self.of_message_id(item.get("message_id"))
        return None

    def only(self, name: str, items: Iterable[Any]) -> list[Any]:
        """The items of namespace `name` (DEFAULT: those of no namespace)."""
        wanted = None if name == DEFAULT else self.by_name[name]
        return [item for item in items if self.owner(item) is wanted]

    # -- internals ----------------------------------------------------------------------------
    def _forget(self, namespace: Namespace) -> set[str]:
        accounts = {(a.provider, a.login) for a in namespace.accounts}
        # the namespace's own messages, by the store's per-account index (not a pass over all)
        owned = [m for provider, login in accounts for m in self.store.account_messages(provider, login)]
        for message in owned:  # timers still due for them become no-ops
            _silence(message)
        message_ids = {m.id for m in owned}
        request_ids = {r.id for r in self.store.requests if self.of_request(r) is namespace}
        self.store.forget(message_ids, request_ids, accounts)
        return message_ids

    def live_account(self, account: Account) -> Account | None:
        return self.store.account(account.provider, account.login)

    def _new_name(self) -> str:
        while True:
            name = f"ns-{secrets.token_hex(4)}"
            if name not in self.by_name:
                return name


class NamespacedScenarios:
    """What the engine consults: a namespaced request meets its namespace's scenario (else the
    global one) before the magic recipients, counting `nth` within its namespace; any other
    request meets the global set as before. Everything else is the global set's."""

    def __init__(self, scenarios: ScenarioSet, namespaces: Namespaces) -> None:
        self.__dict__["_global"] = scenarios
        self.__dict__["_namespaces"] = namespaces

    def silent_for(self, provider: str, account: str, recipient: Any) -> bool:
        """ScenarioSet.silent_for for a request outside every namespace; False inside one (its
        decide() counts the namespace's `nth`: it must run)."""
        if self._namespaces._by_account.get((provider, account)) is not None:  # of_account's lookup: every message asks
            return False
        return self._global.silent_for(provider, account, recipient)

    def decide(self, ctx: MatchContext) -> Action | None:
        namespace = self._namespaces.of_account(ctx.provider, ctx.account)
        if namespace is None:
            return self._global.decide(ctx)
        local = dataclasses.replace(ctx, nth=namespace.nth(ctx))
        first = namespace.scenario or self._global.active
        for scenario in (first, self._global.magic):
            if scenario is not None:
                action = scenario.decide(local)
                if action is not None:
                    return action
        return None

    @property
    def active(self) -> Any:
        """The global scenario (read on every send: a property, where __getattr__ is only
        reached after a failed lookup has raised)."""
        return self._global.active

    def __getattr__(self, name: str) -> Any:
        return getattr(self._global, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._global, name, value)


def _fresh_account(name: str, template: Account) -> Account:
    """The template's shape with this namespace's values: every login and secret carries the
    namespace id (how a journaled request is told apart), except numeric ids and SMPP
    passwords, which must stay short (system_id <= 15 characters, password <= 8)."""
    login = f"{name}@msgemu.local" if "@" in template.login else name
    secrets_: dict[str, str] = {}
    for key, value in template.secrets.items():
        if value.isdigit():
            secrets_[key] = str(next(_client_ids))
        elif key.startswith("smpp"):
            secrets_[key] = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(SMPP_PASSWORD_LENGTH))
        else:
            secrets_[key] = f"{name}-{key.replace('_', '-')}-{secrets.token_hex(6)}"
    return Account(template.provider, login, secrets_, Decimal(template.balance), template.currency)


def _copy(account: Account) -> Account:
    return Account(account.provider, account.login, dict(account.secrets), account.balance, account.currency)


def _silence(message: Message) -> None:
    """Mark every unfinished channel cancelled without an event: the engine's timers for it skip
    final channels, so a forgotten message produces nothing more."""
    for attempt in message.attempts:
        if attempt.status is None or not attempt.status.is_final:
            attempt.status = Status.CANCELLED


def _credential_texts(record: RequestRecord) -> Iterable[str]:
    """Where a request carries its credentials: query, body, headers (Basic decoded)."""
    yield record.query
    for name, value in record.headers.items():
        yield value
        scheme, _, token = value.partition(" ")
        if name == "authorization" and scheme.lower() == "basic":
            try:
                yield base64.b64decode(token.strip(), validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                pass
    yield record.body
