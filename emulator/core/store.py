"""In-memory state with a retention cap: the only owner of state in the emulator.

Messages, requests, events and callback attempts are kept newest-last; past the cap the
oldest are dropped (with their indexes), so a long soak run keeps a flat memory profile.
"""
from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from .model import Account, Event, Message, RequestRecord, digits


@dataclass
class Record:
    """A generic provider-side record (contact, group, blacklist entry, template...)."""

    id: int
    fields: dict[str, Any]


class Directory:
    """Auto-numbered records of one kind for one account (e.g. SMSC contacts)."""

    def __init__(self, first_id: int = 1) -> None:
        self._records: OrderedDict[int, Record] = OrderedDict()
        self._ids = itertools.count(first_id)

    def add(self, fields: dict[str, Any]) -> Record:
        record = Record(next(self._ids), dict(fields))
        self._records[record.id] = record
        return record

    def get(self, record_id: int) -> Record | None:
        return self._records.get(record_id)

    def find(self, **match: Any) -> list[Record]:
        return [r for r in self._records.values() if all(r.fields.get(k) == v for k, v in match.items())]

    def remove(self, record_id: int) -> bool:
        return self._records.pop(record_id, None) is not None

    def __iter__(self) -> Iterator[Record]:
        return iter(list(self._records.values()))

    def __len__(self) -> int:
        return len(self._records)


class Store:
    def __init__(self, retention: int = 100_000) -> None:
        self.retention = max(1, retention)
        self.accounts: dict[str, list[Account]] = {}
        self._seed_accounts: list[Account] = []
        self._listeners: set[asyncio.Queue] = set()
        self.reset()

    # -- lifecycle --------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything but the accounts, which go back to their seeded state."""
        self.messages: OrderedDict[str, Message] = OrderedDict()
        self._index: dict[tuple[str, str, str], str] = {}
        self._keys_of: dict[str, list[tuple[str, str, str]]] = {}
        self.requests: deque[RequestRecord] = deque(maxlen=self.retention)
        self.events: deque[Event] = deque(maxlen=self.retention)
        self.callbacks: deque[dict[str, Any]] = deque(maxlen=self.retention)
        self.directories: dict[tuple[str, str, str], Directory] = {}
        self.optouts: dict[tuple[str, str], set[str]] = {}
        self.dedupe: dict[tuple[str, str, str], float] = {}
        self.received: dict[str, deque] = {}  # built-in callback receiver: name -> calls
        self._request_ids = itertools.count(1)
        self._event_seq = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self.accounts = {}
        for account in self._seed_accounts:
            self.add_account(
                Account(account.provider, account.login, dict(account.secrets), account.balance, account.currency),
                seed=False,
            )
        self.notify({"type": "reset"})

    # -- accounts ---------------------------------------------------------------------------
    def add_account(self, account: Account, seed: bool = True) -> None:
        self.accounts.setdefault(account.provider, []).append(account)
        if seed:
            self._seed_accounts.append(
                Account(account.provider, account.login, dict(account.secrets), account.balance, account.currency)
            )

    def provider_accounts(self, provider: str) -> list[Account]:
        return self.accounts.get(provider, [])

    def remove_account(self, provider: str, login: str) -> None:
        """Drop an account for good (seeded state included): a deleted namespace's."""
        self.accounts[provider] = [a for a in self.accounts.get(provider, []) if a.login != login]
        self._seed_accounts = [a for a in self._seed_accounts if (a.provider, a.login) != (provider, login)]

    def forget(self, message_ids: set[str], request_ids: set[int], accounts: set[tuple[str, str]]) -> None:
        """Forget some messages (with their indexes, events and callback attempts), some journaled
        requests, and the provider-side records of some (provider, login) accounts: a namespace
        reset, which leaves everything else as it is."""
        for message_id in message_ids:
            self.messages.pop(message_id, None)
            for index_key in self._keys_of.pop(message_id, ()):
                if self._index.get(index_key) == message_id:
                    del self._index[index_key]
        self.requests = deque((r for r in self.requests if r.id not in request_ids), maxlen=self.retention)
        self.events = deque((e for e in self.events if e.message_id not in message_ids), maxlen=self.retention)
        self.callbacks = deque((c for c in self.callbacks if c.get("message_id") not in message_ids), maxlen=self.retention)
        for table in (self.directories, self.dedupe):
            for key in [k for k in table if (k[0], k[1]) in accounts]:
                del table[key]
        for key in [k for k in self.optouts if k in accounts]:
            del self.optouts[key]

    # -- messages ---------------------------------------------------------------------------
    def add_message(self, message: Message, keys: Iterable[str] = ()) -> None:
        self.messages[message.id] = message
        for key in (message.provider_id, *keys):
            if key:
                self.index_message(message, key)
        while len(self.messages) > self.retention:
            _, dropped = self.messages.popitem(last=False)
            for index_key in self._keys_of.pop(dropped.id, ()):
                if self._index.get(index_key) == dropped.id:
                    del self._index[index_key]
        self.notify({"type": "message", "message": message.id})

    def index_message(self, message: Message, key: str) -> None:
        """Make a message findable by another of its ids (client reference, ticket...)."""
        index_key = (message.provider, message.account, str(key))
        self._index[index_key] = message.id
        self._keys_of.setdefault(message.id, []).append(index_key)

    def find_message(self, provider: str, account: str, key: str) -> Message | None:
        message_id = self._index.get((provider, account, str(key)))
        return self.messages.get(message_id) if message_id else None

    def message(self, message_id: str) -> Message | None:
        return self.messages.get(message_id)

    def query_messages(self, **filters: Any) -> list[Message]:
        """Messages matching every given filter (None filters are ignored), oldest first."""
        wanted = {k: v for k, v in filters.items() if v not in (None, "")}
        out = []
        for message in self.messages.values():
            if "provider" in wanted and message.provider != wanted["provider"]:
                continue
            if "phone" in wanted and digits(message.recipient) != digits(wanted["phone"]) and message.recipient != wanted["phone"]:
                continue
            if "channel" in wanted and message.channel != wanted["channel"]:
                continue
            if "status" in wanted and message.status.value != wanted["status"]:
                continue
            if "account" in wanted and message.account != wanted["account"]:
                continue
            out.append(message)
        return out

    # -- journals ---------------------------------------------------------------------------
    def new_request_id(self) -> int:
        return next(self._request_ids)

    def add_request(self, record: RequestRecord) -> None:
        self.requests.append(record)
        self.notify({"type": "request", "request": record.id})

    def add_event(self, event: Event) -> Event:
        event.seq = next(self._event_seq)
        self.events.append(event)
        self.notify({"type": "event", "message": event.message_id, "event": event.public()})
        return event

    def add_callback_attempt(self, attempt: dict[str, Any]) -> dict[str, Any]:
        attempt["id"] = next(self._callback_ids)
        self.callbacks.append(attempt)
        self.notify({"type": "callback", "callback": attempt["id"]})
        return attempt

    # -- provider-side records ------------------------------------------------------------------
    def directory(self, provider: str, account: str, kind: str) -> Directory:
        key = (provider, account, kind)
        if key not in self.directories:
            self.directories[key] = Directory()
        return self.directories[key]

    def optout_set(self, provider: str, account: str) -> set[str]:
        return self.optouts.setdefault((provider, account), set())

    # -- change notifications (long polls, server-sent events) -------------------------------------
    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self._listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._listeners.discard(queue)

    def notify(self, change: dict[str, Any]) -> None:
        for queue in list(self._listeners):
            if queue.full():  # a stalled listener loses old changes, never blocks the emulator
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    pass
            queue.put_nowait(change)

