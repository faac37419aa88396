"""In-memory state with a retention cap in count and in bytes: the only owner of state.

Messages, requests, events and callback attempts are kept newest-last; past either cap the
oldest are dropped (with their indexes) and counted, so a long soak run keeps a flat memory
profile and QA can see, in /_emulator/health, that something was evicted. Lookups by id and
by phone are indexed, and waiters are woken only by changes to their own phone, so the cost
of a change never grows with the number of stored messages or pending waits.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterable, Iterator

from .model import Account, Event, Message, RequestRecord, slots_setstate, digits

# What one stored item really costs in CPython beyond its variable-length text, measured with
# tracemalloc by benchmarks/retained.py (a retained send, by allocating line) on CPython 3.11:
# message = the Message, its id strings, meta/plans dicts, cost, its entries in the indexes
# (by id, by phone, by provider id and client reference); attempt = the Attempt, its content
# dict, its history (a Transition per step); request = the RequestRecord, its headers dict and
# message ids, the body and response strings' own headers; event = the Event, its sequence
# number and list slots. Text is counted at one byte a character (ASCII strings; others cost
# more, which the margin of these constants absorbs).
MESSAGE_OVERHEAD = 1_800
ATTEMPT_OVERHEAD = 550
REQUEST_OVERHEAD = 650
EVENT_OVERHEAD = 160
CALLBACK_OVERHEAD = 900  # the attempt's dict (unchanged by the round that measured the others)
# A scan of every message (a listing, a metrics scrape) yields to the event loop after this many
# seconds: a request that needs several loop turns (a shared store's sync) then waits a few
# slices, not a few scans (a message a shared store holds undecoded costs ~10 µs to read).
SCAN_SLICE = 0.002
TOMBSTONES = 100_000  # evicted message ids remembered, so a lookup can say "evicted", not "unknown"


@dataclass(slots=True)
class Record:
    """A generic provider-side record (contact, group, blacklist entry, template...)."""

    __setstate__ = slots_setstate  # a Valkey store's pickles from before __slots__ load too

    id: int
    fields: dict[str, Any]


class Directory:
    """Auto-numbered records of one kind for one account (e.g. SMSC contacts).

    Numbers count from 1 per directory; a store shared by several processes hands it
    `id_source` instead, so two processes adding at once never give out the same number."""

    def __init__(self, first_id: int = 1) -> None:
        self._records: OrderedDict[int, Record] = OrderedDict()
        self._next_id = first_id
        self.id_source: Callable[[], int] | None = None

    def add(self, fields: dict[str, Any]) -> Record:
        if self.id_source is not None:
            record_id = self.id_source()
        else:
            record_id, self._next_id = self._next_id, self._next_id + 1
        record = Record(record_id, dict(fields))
        self._records[record.id] = record
        return record

    def __getstate__(self) -> dict[str, Any]:
        return {"_records": self._records, "_next_id": self._next_id}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.id_source = None

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


class Journal:
    """A newest-last list of one kind of record, with the bytes each costs, held to its store's
    caps: a record appended past the count cap, or past the byte cap of all the store's journals
    together, has the store evict the oldest before append returns (one call a record)."""

    def __init__(self, kind: str, store: Store) -> None:
        self.kind = kind  # the store's name for it (messages, requests, events, callbacks)
        self.items: deque[Any] = deque()
        self.costs: deque[int] = deque()
        self.bytes = 0
        self.evicted = 0
        self.store = store  # whose caps it is held to (and whose bytes_used it adds to)

    def append(self, item: Any, cost: int) -> None:
        self.items.append(item)
        self.costs.append(cost)
        self.bytes += cost
        store = self.store
        store.bytes_used += cost
        if len(self.items) > store.retention or store.bytes_used > store.retention_bytes:
            store._enforce_after(self)

    def pop_oldest(self) -> Any:
        cost = self.costs.popleft()
        self.bytes -= cost
        self.store.bytes_used -= cost
        self.evicted += 1
        return self.items.popleft()

    def discard(self, unwanted: Callable[[Any], bool]) -> None:
        """Drop the records `unwanted` picks (not counted as evicted), in place: the deque is
        the one the store exposes (store.requests, store.events, store.callbacks)."""
        kept = [(item, cost) for item, cost in zip(self.items, self.costs) if not unwanted(item)]
        self.items.clear()
        self.costs.clear()
        self.items.extend(item for item, _ in kept)
        self.costs.extend(cost for _, cost in kept)
        before, self.bytes = self.bytes, sum(self.costs)
        self.store.bytes_used -= before - self.bytes

    def __len__(self) -> int:
        return len(self.items)


class Store:
    """The in-memory store (the default): embedded, nothing to install, gone with the process.

    It is also the narrow interface the core talks to: core/redis_store.py implements the same
    on Valkey/Redis for several processes. Objects it hands out (messages, accounts, directories,
    opt-out sets) may be changed in place by their users; those changes reach a shared store
    through `changed()`, `charge()` and `remember()`, and `sync()` / `commit()` bracket a unit
    of work (an HTTP request, a timer). In memory all four cost nothing."""

    shared = False  # True for a store several processes share: requests sync() and commit()

    def __init__(self, retention: int = 100_000, retention_bytes: int = 512 * 1024 * 1024) -> None:
        self.retention = max(1, retention)
        self.retention_bytes = max(64 * 1024, retention_bytes)
        self.accounts: dict[str, list[Account]] = {}
        self._seed_accounts: list[Account] = []
        self._listeners: set[asyncio.Queue] = set()
        self._watchers: dict[str, set[asyncio.Queue]] = {}
        self.closing = False  # the server is shutting down: new waits and streams end at once
        self.reset()

    # -- lifecycle --------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything but the accounts, which go back to their seeded state."""
        self.messages: dict[str, Message] = {}  # by id, in arrival order
        self._index: dict[tuple[str, str, str], str] = {}
        self._keys_of: dict[str, tuple[tuple[str, str, str], ...]] = {}
        # phone key -> the id of its only message, or a deque of ids (oldest first) once it has
        # more: most phones of a load test get one message, and an empty deque alone is 600 bytes
        self._by_phone: dict[str, str | deque[str]] = {}
        # (provider, account) -> its messages' ids in arrival order (a dict as an ordered set): the
        # "messages sent" listings some providers have, bounded with the messages themselves
        self._by_account: dict[tuple[str, str], dict[str, None]] = {}
        self._events_of: dict[str, list[Event]] = {}
        self._callbacks_of: dict[str, list[dict[str, Any]]] = {}
        self._callback_by_id: dict[int, dict[str, Any]] = {}
        self._tombstones: OrderedDict[str, str] = OrderedDict()  # evicted id -> its phone key
        self._evicted_phones: Counter[str] = Counter()
        self.bytes_used = 0  # what the four journals' records cost together (they keep it)
        self._journals = {kind: Journal(kind, self) for kind in ("messages", "requests", "events", "callbacks")}
        self.requests: deque[RequestRecord] = self._journals["requests"].items
        self.events: deque[Event] = self._journals["events"].items
        self.callbacks: deque[dict[str, Any]] = self._journals["callbacks"].items
        self.directories: dict[tuple[str, str, str], Directory] = {}
        self.optouts: dict[tuple[str, str], set[str]] = {}
        self.dedupe: dict[tuple[str, str, str], float] = {}
        self.received: dict[str, deque] = {}  # built-in callback receiver: name -> calls
        self._counters = {kind: itertools.count(1) for kind in ("request", "event", "callback", "delivery")}
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

    def account(self, provider: str, login: str) -> Account | None:
        """The account with this login (a plain loop: callbacks look one up per status change)."""
        for account in self.accounts.get(provider, ()):
            if account.login == login:
                return account
        return None

    def remove_account(self, provider: str, login: str) -> None:
        """Drop an account for good (seeded state included): a deleted namespace's."""
        self.accounts[provider] = [a for a in self.accounts.get(provider, []) if a.login != login]
        self._seed_accounts = [a for a in self._seed_accounts if (a.provider, a.login) != (provider, login)]

    def forget(self, message_ids: set[str], request_ids: set[int], accounts: set[tuple[str, str]]) -> None:
        """Forget some messages (with their indexes, events and callback attempts), some journaled
        requests, and the provider-side records of some (provider, login) accounts: a namespace
        reset, which leaves everything else as it is (and counts nothing as evicted)."""
        for message_id in message_ids:
            self._unindex_message(message_id)
        self._journals["messages"].discard(lambda item: item in message_ids)
        self._journals["requests"].discard(lambda record: record.id in request_ids)
        self._journals["events"].discard(lambda event: event.message_id in message_ids)
        self._journals["callbacks"].discard(lambda attempt: attempt.get("message_id") in message_ids)
        self._callback_by_id = {k: v for k, v in self._callback_by_id.items() if v.get("message_id") not in message_ids}
        for table in (self.directories, self.dedupe):
            for key in [k for k in table if (k[0], k[1]) in accounts]:
                del table[key]
        for key in [k for k in self.optouts if k in accounts]:
            del self.optouts[key]

    # -- messages ---------------------------------------------------------------------------
    def add_message(self, message: Message, keys: Iterable[str] = (), cost: int | None = None) -> None:
        """`cost`: its bytes when known already (a shared store's copy of another process's
        message, held undecoded until read: core/redis_store.py). Both halves at once: a
        send's answer may come between them (Engine, with the memory store)."""
        self.hold_message(message, keys)
        self.file_message(message, cost)

    def hold_message(self, message: Message, keys: Iterable[str] = ()) -> None:
        """The message kept, findable (by id, its provider id and `keys`) and listed by account
        (what a namespace's forget walks): what a send's answer and the rest of its request may
        read. file_message follows (the engine files a send's messages right after its answer,
        the held work's first)."""
        self.messages[message.id] = message
        owner = (message.provider, message.account)
        sent = self._by_account.get(owner)
        if sent is None:
            self._by_account[owner] = {message.id: None}
        else:
            sent[message.id] = None
        owner_keys: tuple = ()
        for index_key in (message.provider_id, *keys) if keys else (message.provider_id,):  # a loop: no generator a message
            if index_key:
                owner_keys += ((message.provider, message.account, str(index_key)),)
        if owner_keys:
            self._index_under(message.id, owner_keys)

    def file_message(self, message: Message, cost: int | None = None) -> None:
        """The rest of adding a message: its phone's list (phone_key: its digits, a text made),
        its place in the journal (priced; the caps may evict the oldest), waiters and listeners
        told. (A message forgotten before it is filed has no phone entry to drop: _unindex_message
        finds none.)"""
        key = phone_key(message.recipient)
        ids = self._by_phone.get(key)
        if ids is None:
            self._by_phone[key] = message.id
        elif type(ids) is str:
            self._by_phone[key] = deque((ids, message.id))
        else:
            ids.append(message.id)
        self._journals["messages"].append(message.id, message_cost(message) if cost is None else cost)
        if self._listeners:
            self.notify({"type": "message", "message": message.id})
        if self._watchers:  # someone waits for a message to this recipient
            self._wake(message)

    def index_message(self, message: Message, key: str) -> None:
        """Make a message findable by another of its ids (client reference, ticket...)."""
        self._index_under(message.id, ((message.provider, message.account, str(key)),))

    def _index_under(self, message_id: str, index_keys: tuple) -> None:
        """A message findable by each (provider, account, key): every key set in one pass."""
        index = self._index
        for index_key in index_keys:
            index[index_key] = message_id
        known = self._keys_of.get(message_id)
        self._keys_of[message_id] = (*known, *index_keys) if known else index_keys

    def find_message(self, provider: str, account: str, key: str) -> Message | None:
        message_id = self._index.get((provider, account, str(key)))
        return self.messages.get(message_id) if message_id else None

    def message(self, message_id: str) -> Message | None:
        return self.messages.get(message_id)

    def was_evicted(self, message_id: str) -> bool:
        """True when this message existed and was dropped by the retention caps."""
        return message_id in self._tombstones

    def evicted_for_phone(self, phone: str) -> int:
        """How many (remembered) evicted messages went to this phone."""
        return self._evicted_phones[phone_key(phone)]

    def account_messages(self, provider: str, account: str) -> list[Message]:
        """An account's messages still kept, oldest first (indexed): what it sent, for the
        providers that list it (SMSC get_messages, Revicom's messages)."""
        ids = self._by_account.get((provider, account), ())
        return [self.messages[i] for i in ids]

    def messages_for_phone(self, phone: str) -> list[Message]:
        """Messages to this phone (same digits, or the same address), oldest first; indexed."""
        ids = self._by_phone.get(phone_key(phone), ())
        if type(ids) is str:
            return [self.messages[ids]]
        return [self.messages[i] for i in ids]

    def query_messages(self, **filters: Any) -> list[Message]:
        """Messages matching every given filter (None filters are ignored), oldest first."""
        wanted = _given(filters)
        candidates: Iterable[Message] = (
            self.messages_for_phone(str(wanted["phone"])) if "phone" in wanted else self.messages.values()
        )
        return [m for m in candidates if message_matches(m, wanted)]

    async def select_messages(self, **filters: Any) -> list[Message]:
        """query_messages for a request handler: a scan of every message (no phone to narrow it
        by) yields to the event loop as it goes (scan_messages), so listing a full store never
        holds up other requests."""
        wanted = _given(filters)
        if "phone" in wanted:  # indexed: nothing to scan
            return self.query_messages(**wanted)
        found = []
        async for message in self.scan_messages():
            if message_matches(message, wanted):
                found.append(message)
        return found

    async def scan_messages(self) -> AsyncIterator[Message]:
        """Every message, oldest first, yielding to the event loop every SCAN_SLICE seconds
        (ids are taken first: a message evicted meanwhile is skipped)."""
        messages = self.messages
        slice_ends = time.monotonic() + SCAN_SLICE
        for message_id in list(messages):  # ids only: a shared store decodes each as it is reached
            message = messages.get(message_id)
            if message is not None:
                yield message
            if time.monotonic() >= slice_ends:
                await asyncio.sleep(0)
                slice_ends = time.monotonic() + SCAN_SLICE

    def events_of(self, message_id: str) -> list[Event]:
        return list(self._events_of.get(message_id, ()))

    def callbacks_of(self, message_id: str) -> list[dict[str, Any]]:
        return list(self._callbacks_of.get(message_id, ()))

    def callback(self, callback_id: int) -> dict[str, Any] | None:
        return self._callback_by_id.get(callback_id)

    # -- journals ---------------------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        """The next number of a kind (request, event, callback): counted here, or handed out
        in blocks by a shared store so that processes never give out the same one."""
        return next(self._counters[kind])

    def new_request_id(self) -> int:
        return self.next_id("request")

    def retry_after(self) -> float:
        """0, or how many seconds a status change should wait (a shared store that does not
        answer, and the numbers it hands out running low: core/store_outage.py). Here: 0."""
        return 0.0

    def add_request(self, record: RequestRecord) -> None:
        self._journals["requests"].append(record, request_cost(record))  # (held to the caps there)
        if self._listeners:
            self.notify({"type": "request", "request": record.id, "outcome": record.outcome})

    def add_event(self, event: Event) -> Event:
        if not event.seq:  # set already when another process's event is applied here
            event.seq = self.next_id("event")
        cost = EVENT_OVERHEAD + len(event.error) if event.error else EVENT_OVERHEAD
        self._journals["events"].append(event, cost)  # (held to the caps there: its message may go)
        known = event.message_id in self.messages  # (not read: a shared store may hold it undecoded)
        if known:
            events = self._events_of.get(event.message_id)
            if events is None:
                self._events_of[event.message_id] = [event]
            else:
                events.append(event)
        if self._listeners:  # nothing built for nobody (event streams subscribe)
            self.notify({"type": "event", "message": event.message_id, "event": event.public()})
        if known and self._watchers:
            # unless the caps just evicted it; as stored (a shared store's _wake decodes it if watched)
            message = dict.get(self.messages, event.message_id)
            if message is not None:
                self._wake(message)  # a status/channel change can make a waiter's filters match
        return event

    def add_callback_attempt(self, attempt: dict[str, Any]) -> dict[str, Any]:
        if "id" not in attempt:
            attempt["id"] = self.next_id("callback")
        self._journals["callbacks"].append(attempt, CALLBACK_OVERHEAD + _text_size(attempt))  # (held to the caps there)
        self._callback_by_id[attempt["id"]] = attempt
        message_id = attempt.get("message_id")
        if message_id in self.messages:
            self._callbacks_of.setdefault(message_id, []).append(attempt)
        if self._listeners:
            self.notify({"type": "callback", "callback": attempt["id"]})
        return attempt

    # -- changes made in place, and units of work ------------------------------------------------
    def changed(self, item: Any) -> None:
        """A message handed out by the store was changed in place (its meta, replies, a cancel).
        Accounts say so through account_changed(); directories and opt-out sets taken from a
        shared store are compared at commit."""

    def account_changed(self, account: Account, old_login: str, balance_set: bool) -> None:
        """An account's login, secrets, currency or (balance_set) balance were changed in place."""

    def charge(self, account: Account, amount: Any) -> None:
        """Take `amount` from an account's balance (a negative amount credits it)."""
        account.balance -= amount

    def seen_at(self, key: tuple[str, str, str]) -> float | None:
        """When this dedupe key (provider, account, key) was last remembered."""
        return self.dedupe.get(key)

    def remember(self, key: tuple[str, str, str], at: float) -> None:
        self.dedupe[key] = at

    def publish(self, name: str, value: Any) -> None:
        """Runtime-level state (scenario, clock, namespaces) for other processes: none here."""

    def tell(self, name: str, value: Any) -> None:
        """Something other running processes should hear of: none here."""

    async def sync(self) -> None:
        """Before reading: see every change other processes committed so far."""

    async def commit(self) -> None:
        """After a unit of work: make its changes visible to other processes (and durable)."""

    # -- retention ------------------------------------------------------------------------------
    def usage(self) -> dict[str, Any]:
        """Sizes, caps and eviction counters, for /_emulator/health."""
        return {
            "retention": self.retention,
            "retention_bytes": self.retention_bytes,
            "bytes": self.bytes_used,
            "kept": {kind: len(j) for kind, j in self._journals.items()},
            "evicted": {kind: j.evicted for kind, j in self._journals.items()},
        }

    def _enforce_after(self, journal: Journal) -> None:
        """A record added to `journal` passed a cap (Journal.append asks): only that journal can
        have passed the count cap (the others were held to it when they grew)."""
        while len(journal.items) > self.retention:
            self._evict(journal.kind)
        if self.bytes_used > self.retention_bytes:
            self._enforce()

    def _enforce(self) -> None:
        """Drop the oldest records past the count cap of each kind, then past the byte cap
        (from the kind that holds the most bytes)."""
        journals = self._journals
        retention = self.retention
        for kind, journal in journals.items():
            while len(journal.items) > retention:
                self._evict(kind)
        if self.bytes_used <= self.retention_bytes:
            return
        while self.bytes_used > self.retention_bytes:
            kind = max(self._journals, key=lambda k: self._journals[k].bytes if len(self._journals[k]) > 1 else -1)
            if len(self._journals[kind]) <= 1:
                break
            self._evict(kind)

    def _evict(self, kind: str) -> None:
        item = self._journals[kind].pop_oldest()
        if kind == "messages":
            self._drop_message(item)
        elif kind == "callbacks":
            self._callback_by_id.pop(item.get("id"), None)
            message_callbacks = self._callbacks_of.get(item.get("message_id"))
            if message_callbacks and message_callbacks[0] is item:
                message_callbacks.pop(0)

    def _drop_message(self, message_id: str) -> None:
        """An evicted message: unindexed, and remembered so a wait for it can say it was evicted."""
        message = self._unindex_message(message_id)
        if message is None:
            return
        key = phone_key(message.recipient)
        self._tombstones[message_id] = key
        self._evicted_phones[key] += 1
        if len(self._tombstones) > TOMBSTONES:
            _, old_key = self._tombstones.popitem(last=False)
            self._evicted_phones[old_key] -= 1
            if self._evicted_phones[old_key] <= 0:
                del self._evicted_phones[old_key]

    def _unindex_message(self, message_id: str) -> Message | None:
        message = self.messages.pop(message_id, None)
        self._events_of.pop(message_id, None)
        self._callbacks_of.pop(message_id, None)
        for index_key in self._keys_of.pop(message_id, ()):
            if self._index.get(index_key) == message_id:
                del self._index[index_key]
        if message is not None:
            owner = (message.provider, message.account)
            sent = self._by_account.get(owner)
            if sent is not None:
                sent.pop(message_id, None)
                if not sent:
                    del self._by_account[owner]
            key = phone_key(message.recipient)
            ids = self._by_phone.get(key)
            if type(ids) is str:
                if ids == message_id:
                    del self._by_phone[key]
            elif ids:
                if ids[0] == message_id:  # eviction is oldest first, so it heads its list
                    ids.popleft()
                elif message_id in ids:
                    ids.remove(message_id)
                if len(ids) == 1:
                    self._by_phone[key] = ids[0]
        return message

    # -- provider-side records ------------------------------------------------------------------
    def directory(self, provider: str, account: str, kind: str) -> Directory:
        key = (provider, account, kind)
        found = self.directories.get(key)
        if found is None:
            found = self.directories[key] = Directory()
        return found

    def optout_set(self, provider: str, account: str) -> set[str]:
        found = self.optouts.get((provider, account))  # not setdefault: no empty set built per lookup
        if found is None:
            found = self.optouts[(provider, account)] = set()
        return found

    # -- change notifications (long polls, server-sent events) -------------------------------------
    def subscribe(self) -> asyncio.Queue:
        """Every change (for event streams)."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self._listeners.add(queue)
        if self.closing:
            queue.put_nowait({"type": "shutdown"})
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._listeners.discard(queue)

    def watch_phone(self, phone: str) -> asyncio.Queue:
        """Messages to this phone as they arrive or change (for long polls): only changes to
        this phone reach the queue; a `None` means the emulator is shutting down."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=100)
        self._watchers.setdefault(phone_key(phone), set()).add(queue)
        if self.closing:
            queue.put_nowait(None)
        return queue

    def unwatch_phone(self, phone: str, queue: asyncio.Queue) -> None:
        key = phone_key(phone)
        queues = self._watchers.get(key)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._watchers[key]

    @property
    def waiting(self) -> int:
        return len({id(q) for queues in self._watchers.values() for q in queues})

    def _wake(self, message: Message) -> None:
        if not self._watchers:
            return
        for queue in self._watchers.get(phone_key(message.recipient), ()):
            _put_dropping_oldest(queue, message)

    def notify(self, change: dict[str, Any]) -> None:
        for queue in list(self._listeners):
            _put_dropping_oldest(queue, change)
        if change.get("type") == "shutdown":
            self.closing = True
            for queues in list(self._watchers.values()):
                for queue in queues:
                    _put_dropping_oldest(queue, None)


def _put_dropping_oldest(queue: asyncio.Queue, item: Any) -> None:
    """A stalled listener loses old changes, never blocks the emulator."""
    if queue.full():
        try:
            queue.get_nowait()
        except asyncio.QueueEmpty:
            pass
    queue.put_nowait(item)


def phone_key(phone: Any) -> str:
    """The index key of a recipient: its digits when it has any (+33 6... == 336...), else its
    exact form (e-mails, ids). Two recipients match when their keys are equal. (The exact form
    of a recipient with digits adds no match: equal texts have equal digits.)"""
    text = str(phone)
    number = digits(text)
    return f"#{number}" if number else f"={text}"


def _given(filters: dict[str, Any]) -> dict[str, Any]:
    """The filters that filter: None and "" ask for nothing."""
    return {k: v for k, v in filters.items() if v not in (None, "")}


def message_matches(message: Message, wanted: dict[str, Any]) -> bool:
    if "provider" in wanted and message.provider != wanted["provider"]:
        return False
    if "phone" in wanted and phone_key(message.recipient) != phone_key(wanted["phone"]):
        return False
    if "channel" in wanted and message.channel != wanted["channel"]:
        return False
    if "status" in wanted and message.status.value != wanted["status"]:
        return False
    if "account" in wanted and message.account != wanted["account"]:
        return False
    return True


def message_cost(message: Message) -> int:
    cost = MESSAGE_OVERHEAD + len(message.recipient) + _dict_size(message.meta)
    for attempt in message.attempts:
        cost += ATTEMPT_OVERHEAD + _dict_size(attempt.content)
    return cost


def _dict_size(value: Any) -> int:
    """_text_size of a dict, in one loop when nothing in it nests (a message's meta and
    content, priced for every message); the general walk otherwise."""
    if type(value) is not dict:
        return _text_size(value)
    size = 64
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            size += len(item)
        elif kind is int or kind is float or kind is bool or item is None:
            size += 16
        else:  # nested, a str subclass or anything else: as _text_size says
            return _text_size(value)
        size += len(key) if type(key) is str else len(str(key))
    return size


def request_cost(record: RequestRecord) -> int:
    cost = REQUEST_OVERHEAD + len(record.body) + len(record.response) + len(record.query) + len(record.path)
    for name, value in record.headers.items():  # a loop, not a generator: every request is priced
        cost += len(name) + len(value)
    return cost


def _text_size(value: Any, depth: int = 0) -> int:
    """Rough bytes of the text inside a small JSON-like value (bounded walk). Every message is
    priced by it, so the common leaves (text, numbers) are sized in place, not by a call each."""
    if isinstance(value, str):
        return len(value)
    if depth > 4:
        return 64
    if isinstance(value, dict):
        size = 64 + _leaves_size(value.values(), depth)
        for key in value:
            size += len(key) if type(key) is str else len(str(key))
        return size
    if isinstance(value, (list, tuple)):
        return 32 + _leaves_size(value, depth)
    return 16


def _leaves_size(items: Iterable[Any], depth: int) -> int:
    other = 16 if depth < 4 else 64  # what the walk says of a number one level down
    size = 0
    for item in items:
        if isinstance(item, str):
            size += len(item)
        elif isinstance(item, (dict, list, tuple)):
            size += _text_size(item, depth + 1)
        else:
            size += other
    return size
