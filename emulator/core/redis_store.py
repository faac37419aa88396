"""A store on Valkey/Redis (`--store redis://host:port/db`): shared by several msgemu processes,
on one host or many, and kept across restarts by the server's own persistence.

Each process keeps a whole copy in memory (the memory Store this class extends), so reads cost
what they cost in memory and providers stay synchronous. A change is made to the copy at once
and goes out at the end of its unit of work (`commit()`: the end of an HTTP request, of a timer):
one MULTI that persists it (hashes, lists, a sorted set of scheduled transitions) and appends it
to the change feed: the inbox (a stream) of every other process on the roster, which applies it
to its own copy. Nobody reads back its own commits, and a process alone writes no feed entry at
all. A message blob crosses the wire once: the script that numbers the commit writes it to the
hash and packs it into the inbox entries. `sync()` waits until this process has applied
everything committed before it was called (its own commits count as applied: it made them), so
a message sent through one process is seen by the next request to any other ("send here, query
there").

The roster holds each process's lease (renewed every RENEW_EVERY seconds by its reader). A
process joins it in the same MULTI that loads its copy, so every later commit reaches its inbox;
it leaves on close. One silent for LEASE_SECONDS (killed, or stalled) is dropped by the next
commit, its inbox with it; if it comes back it says that it missed commits, as it does when its
inbox was trimmed before it read it (CHANGES_SECONDS), and loads the store again: a worker of
--workers by restarting, a process on its own in place (core/store_start_over.py).

Applying is cheap because it is lazy where it can be: a message version from the feed comes
with a head (id, provider, account, recipient, keys, cost) that indexes it at once, and its
blob is decoded only when something here reads the message (Held, LazyMessages); a version
superseded before anyone reads it is never decoded. Events and requests come as rows inside
the entry's one pickle. Decoded at once: a message this process has unwritten changes to, or
one someone waits on (a long poll on its phone). Each process claims the transitions it
scheduled itself first (core/shared_clock.py), so a message's lifecycle stays in the process
that holds it decoded.

Group commit: one round trip to the store at a time (core/redis_link.py: hiredis-packed, on a
connection of its own). It carries every change made until it leaves, of every unit of work,
and each unit's commit() returns when the trip that carried its changes is back: nothing is
answered before it is in the store. A sync() joins the next trip to leave (never one under way,
which could predate a commit made elsewhere before the sync): that trip's reply is the number
of commits the store holds, its own commit's number when it carries changes, else a GET. So a
request arriving while others commit costs no extra round trip, and a write committed by
another process before the request arrived is counted, then waited for on the change feed.

Numbers that must be unique (request, event, callback ids, providers' numeric message ids,
directory records) come in blocks from counters in the store. Scheduled transitions are claimed
with one atomic script, so each fires in exactly one process (core/shared_clock.py).

While the store does not answer (stopped, restarting, hung), requests are answered from the copy
and what they change waits, bounded, for it to answer again: core/store_outage.py.

A store that answers but was emptied meanwhile (FLUSHALL, FLUSHDB, a restart without
persistence) no longer holds the token (`epoch`) its copies were loaded with. Every round trip
reads it back; a process that finds it gone or changed starts over from the store as it is now,
in place, between two round trips (core/store_start_over.py), so the copies never drift apart
from it and from each other, silently, as they would otherwise (each keeping what it held, the
store keeping neither).

Conflicts: two processes changing the same message at the same instant keep the last write
(a message changes through its own timers, claimed once, so this needs a cancel racing a
status change); balances move by increments, never by overwrite. The store is trusted: values
are pickles (messages, events and requests as plain fields: core/store_codec.py), written and
read only by msgemu processes pointed at it.
"""
from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import pickle
import secrets
from collections import deque
from decimal import Decimal
from functools import partial
from itertools import accumulate, islice
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from . import model
from . import store_codec as codec
from . import store_outage
from .store_start_over import StartOver
from .redis_link import NotSent, Refused, link_for
from .model import Account, Event, Message, RequestRecord
from .store import Directory, Store, message_cost, phone_key

log = logging.getLogger("msgemu.store")

BLOCK = 10_000  # ids fetched at once per kind (one block in use, one whole in hand)...
BLOCK_MAX = 640_000  # ...twice as many when the last one lasted less than LASTS seconds, up to this
LASTS = 60.0  # s
RESTART_MARGIN = 4 * BLOCK_MAX  # counters of an emptied store start this far above the highest number known
SYNC_TIMEOUT = 5.0  # longest a request waits to see other processes' changes before answering anyway
CALL_TIMEOUT = 30.0  # longest a call of the redis client waits for its reply (the link's own: redis_link.TIMEOUT)
CHANGES_KEPT = 100_000  # entries of an inbox kept (approximately) for a process catching up...
CHANGES_SECONDS = 60  # ...and no older than this: an entry carries a commit's objects (about 3 KB a send)
LEASE_SECONDS = 60  # a process not heard of for this long leaves the roster: no more entries for it
RENEW_EVERY = 2.0  # seconds between two renewals of a process's lease (its reader renews it): how soon
# a process dropped from the roster (it stalled) finds out, and loads the store again
DONE_SECONDS = 7 * 86400  # how long the store says which round trip of a process ran last
ID_KINDS = ("request", "event", "callback", "delivery", "gateway", "directory")
ID_BASES = {"gateway": 100_000_000}  # numeric message ids keep their 9-digit look
TRANSITION_IDS = ("event", "callback", "delivery")  # what a status change numbers (retry_after)
ACCEPT_NEED = 1_000  # numbers of each kind a request needs in hand while the store is away (short_of_ids)

# Oldest messages past the count cap leave the store with everything that points at them.
TRIM_MESSAGES = """
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if extra <= 0 then return 0 end
local ids = redis.call('ZRANGE', KEYS[1], 0, extra - 1)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1)
for i = 1, #ids do redis.call('HDEL', KEYS[2], ids[i]) end
return extra
"""


def _arrivals(order: str, arrivals: str) -> str:
    """Lua: the ids in `new` (written for the first time) get the next arrival numbers from the
    counter `arrivals` and join the sorted set `order` (in slices: unpack has a limit)."""
    return f"""
if #new > 0 then
  local first = redis.call('INCRBY', {arrivals}, #new) - #new
  for j = 1, #new, 500 do
    local order = {{}}
    for i = j, math.min(j + 499, #new) do
      order[#order + 1] = first + i
      order[#order + 1] = new[i]
    end
    redis.call('ZADD', {order}, unpack(order))
  end
end
"""


# Messages (id, blob pairs from ARGV[2]) written; one written for the first time gets the next
# arrival number: the store's order of messages is the order they were committed in, whoever
# committed them. None is written into a store that no longer holds the writer's token (KEYS[4]
# against ARGV[1]: it was emptied), where it would come back alone, without its scheduled steps.
PUT_MESSAGES = """
if redis.call('GET', KEYS[4]) ~= ARGV[1] then return 0 end
local new = {}
for i = 2, #ARGV, 2 do
  if redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then new[#new + 1] = ARGV[i] end
end
""" + _arrivals("KEYS[1]", "KEYS[3]") + """
return #new
"""

# One commit: its messages written (as PUT_MESSAGES does) and told to the other processes in one
# call, so each message blob crosses the wire once and goes both to the hash and to the change
# feed entry (field m: the blobs' lengths, comma-separated, a semicolon, then the blobs).
# The change feed is an inbox per process (a stream, ARGV[6] followed by its origin): the entry
# goes to the inbox of every other process in the roster (KEYS[1]: origin -> the end of its
# lease, in ms of the server's clock), never to the committer's own, so nobody reads back what
# it wrote, and a process alone writes no entry at all. A process whose lease ended (it stopped
# without saying so, or stalled that long) leaves the roster and its inbox goes.
# ARGV: an inbox's count bound, the origin, the entry's ops, its age bound in seconds, the number
# of the first (id, blob) pair to write to the hash (pairs before it were written earlier in the
# same MULTI), the inboxes' key prefix, the committer's number for this round trip, the store's
# token the committer was loaded with (KEYS[7]), then the pairs. A store that no longer holds that
# token was emptied: nothing is written or told, and 0 (no commit's number) says so.
# KEYS[6] (the committer's own, expiring) says which of its round trips ran last and the commit
# number it took: a committer whose reply was lost asks it before writing anything again.
# A lease that ended is dropped only when the committer's own lease ends a whole lease later: it
# renewed meanwhile and the other did not. After the store itself was away (restarting, loading
# its data, out of reach) every lease is as old as the outage, and nobody is dropped for it.
# Numbered, so that a process can ask "how many commits are there?" and wait until it has applied
# as many (its own count as applied: it made them). Entries older than ARGV[4] seconds go: an
# inbox's memory is bounded by time as well as by count (a group commit of many sends is large).
PUBLISH = """
if redis.call('GET', KEYS[7]) ~= ARGV[8] then return 0 end
local new, lengths, blobs, pair = {}, {}, {}, 0
local written_from = tonumber(ARGV[5])
for i = 9, #ARGV, 2 do
  pair = pair + 1
  local blob = ARGV[i + 1]
  lengths[pair] = #blob
  blobs[pair] = blob
  if pair >= written_from and redis.call('HSET', KEYS[4], ARGV[i], blob) == 1 then new[#new + 1] = ARGV[i] end
end
""" + _arrivals("KEYS[3]", "KEYS[5]") + """
local n = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[6], ARGV[7] .. ':' .. n, 'EX', DONE_SECONDS)
local roster = redis.call('HGETALL', KEYS[1])
if #roster <= 2 and roster[1] == ARGV[2] then return n end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local oldest = (tonumber(now[1]) - tonumber(ARGV[4])) * 1000
local own = 0
for i = 1, #roster, 2 do
  if roster[i] == ARGV[2] then own = tonumber(roster[i + 1]) end
end
local packed = nil
for i = 1, #roster, 2 do
  local origin = roster[i]
  if origin ~= ARGV[2] then
    local inbox = ARGV[6] .. origin
    local ends = tonumber(roster[i + 1])
    if ends < now_ms and ends + LEASE_MS < own then
      redis.call('HDEL', KEYS[1], origin)
      redis.call('DEL', inbox)
    else
      packed = packed or (table.concat(lengths, ',') .. ';' .. table.concat(blobs))
      redis.call('XADD', inbox, 'MAXLEN', '~', ARGV[1], '*', 'o', ARGV[2], 'n', n, 'ops', ARGV[3], 'm', packed)
      redis.call('XTRIM', inbox, 'MINID', '~', oldest)
    end
  end
end
return n
""".replace("LEASE_MS", str(LEASE_SECONDS * 1000)).replace("DONE_SECONDS", str(DONE_SECONDS))

# A process joins the roster, or says it is still there: its lease ends ARGV[2] seconds from now
# (server time). Returns whether it was missing (joining, or dropped for a lease that ended: it
# missed commits), the commit count (KEYS[2]) at that instant and the store's token (KEYS[3]).
RENEW = """
local now = redis.call('TIME')
local added = redis.call('HSET', KEYS[1], ARGV[1], (tonumber(now[1]) + tonumber(ARGV[2])) * 1000)
return {added, redis.call('GET', KEYS[2]) or '0', redis.call('GET', KEYS[3]) or ''}
"""

# The store was emptied: each id counter (KEYS) goes up to at least ARGV (in the same order: past
# every number known to have been handed out, IdBlocks.start_over), never down.
RAISE_IDS = """
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') < tonumber(ARGV[i]) then redis.call('SET', KEYS[i], ARGV[i]) end
end
"""


def split_blobs(packed: bytes) -> list[bytes]:
    """The message blobs of a change feed entry's field m (their lengths, a semicolon, the blobs)."""
    lengths, _, body = packed.partition(b";")
    if not lengths:
        return []
    ends = list(accumulate(map(int, lengths.split(b","))))
    return [body[start:end] for start, end in zip([0, *ends], ends)]


# Scheduled transitions due by ARGV[1], at most ARGV[2]: each is removed by the one caller that
# gets it, which is what makes a transition fire in exactly one process. Those another process
# scheduled (their member does not start with ARGV[3], the caller's origin) are taken only once
# due by ARGV[1] - ARGV[4] (the grace): the process that scheduled a message's transition holds
# the message decoded, and its own poll takes it first, unless it is stopped or stalled.
# What a claim took is kept under the caller's own key (KEYS[2], expiring) with the claim's number
# (ARGV[5]): a claim whose reply was lost (the connection dropped after it ran) is asked again
# with the same number and answered what it took then, instead of taking more (those would
# never fire: out of the store, and never received).
CLAIM_DUE = """
local last = redis.call('GET', KEYS[2])
if last and string.sub(last, 1, #ARGV[5] + 1) == ARGV[5] .. ':' then
  return cmsgpack.unpack(string.sub(last, #ARGV[5] + 2))
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
if #due == 0 then return due end
local origin, others_until = ARGV[3], tonumber(ARGV[1]) - tonumber(ARGV[4])
local taken, members = {}, {}
for i = 1, #due, 2 do
  if string.sub(due[i], 1, #origin) == origin or tonumber(due[i + 1]) <= others_until then
    taken[#taken + 1] = due[i]
    taken[#taken + 1] = due[i + 1]
    members[#members + 1] = due[i]
  end
end
if #taken == #due then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #due / 2 - 1)  -- the lowest scores: these
elseif #members > 0 then
  redis.call('ZREM', KEYS[1], unpack(members))
end
if #members > 0 then redis.call('SET', KEYS[2], ARGV[5] .. ':' .. cmsgpack.pack(taken), 'EX', DONE_SECONDS) end
return taken
""".replace("DONE_SECONDS", str(DONE_SECONDS))


class StoreUnavailable(RuntimeError):
    """The store cannot be used (not reachable, or no client library): said in one line."""


def connect(url: str):
    """The async client of the `redis` package (or `valkey`, its fork), imported only when used."""
    try:
        from redis import asyncio as client
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as Dropped
    except ImportError:
        try:
            from valkey import asyncio as client  # type: ignore[no-redef]
            from valkey.asyncio.retry import Retry  # type: ignore[no-redef]
            from valkey.backoff import NoBackoff  # type: ignore[no-redef]
            from valkey.exceptions import ConnectionError as Dropped  # type: ignore[no-redef]
        except ImportError:
            raise StoreUnavailable(
                "--store redis:// needs the redis (or valkey) package: pip install 'msgemu[redis]'"
            ) from None
    # bounded waits: a store that hangs (or a network that drops packets) fails a call, never holds it;
    # a call on a pooled connection the server dropped (it restarted) is made once more on a new one
    return client.from_url(url, decode_responses=False, health_check_interval=30,
                           socket_connect_timeout=store_outage.AWAY_AFTER, socket_timeout=CALL_TIMEOUT,
                           retry=Retry(NoBackoff(), 1, supported_errors=(Dropped,)))


def check_url(url: str) -> str:
    """`redis://host:port/db` (or rediss://, unix://, valkey://): a clear error for anything else."""
    scheme = urlsplit(url).scheme
    if scheme == "valkey":
        url = "redis" + url[len("valkey") :]
    elif scheme == "valkeys":
        url = "rediss" + url[len("valkeys") :]
    elif scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"store {url!r}: must be 'memory' or a redis://host:port/db URL")
    return url


class IdBlocks:
    """Numbers handed out synchronously from blocks taken from counters in the store. A whole
    block is kept in hand beside the one in use, and a kind whose last block lasted less than
    LASTS seconds gets one twice as large (up to BLOCK_MAX): what is in hand is then as many
    seconds of that kind, at the rate it goes, as the last block lasted, and a store that stops
    answering is ridden through that long (core/store_outage.py)."""

    def __init__(self, redis: Any, prefix: str, outage: store_outage.Outage | None = None) -> None:
        self._redis = redis
        self._prefix = prefix
        self._outage = outage
        self._blocks: dict[str, deque[list[int]]] = {kind: deque() for kind in ID_KINDS}
        self._size = dict.fromkeys(ID_KINDS, BLOCK)
        self._taken_at: dict[str, float] = {}  # kind -> loop time its last block came
        self._refilling: dict[str, asyncio.Task] = {}
        self._next_try: dict[str, float] = {}  # kind -> loop time: no refill asked before (it just failed)

    async def prime(self) -> None:
        for kind in ID_KINDS:
            await self._take(kind)

    async def _take(self, kind: str) -> None:
        now = asyncio.get_running_loop().time()
        size = self._size[kind]
        if kind in self._taken_at and now - self._taken_at[kind] < LASTS:
            size = min(2 * size, BLOCK_MAX)
        end = int(await self._redis.incrby(f"{self._prefix}ids:{kind}", size)) + ID_BASES.get(kind, 0)
        self._blocks[kind].append([end - size + 1, end])
        self._size[kind] = size
        self._taken_at[kind] = now

    async def start_over(self, held: dict[str, int]) -> None:
        """The store was emptied: its counters go up past the end of every block in hand and the
        highest number the copy held (`held`: every process's, as committed), by a margin for
        the blocks other processes still hold (two each, at most BLOCK_MAX), so no number is
        handed out again; new blocks are taken."""
        ends = [max(max((last for _first, last in self._blocks[kind]), default=0) - ID_BASES.get(kind, 0),
                    held.get(kind, 0)) + RESTART_MARGIN for kind in ID_KINDS]
        await self._redis.eval(RAISE_IDS, len(ID_KINDS), *[f"{self._prefix}ids:{kind}" for kind in ID_KINDS], *ends)
        for kind in ID_KINDS:
            self._blocks[kind].clear()
        await self.prime()

    def short(self, kinds: tuple[str, ...], need: int) -> bool:
        """Fewer than `need` numbers in hand of one of `kinds` (the store did not answer for long)."""
        return any(sum(last - first + 1 for first, last in self._blocks[kind]) < need for kind in kinds)

    def next(self, kind: str) -> int:
        blocks = self._blocks[kind]
        while blocks and blocks[0][0] > blocks[0][1]:
            blocks.popleft()
        if not blocks:
            if self._outage is not None:
                self._outage.short += 1
            raise store_outage.StoreAway(f"no {kind} ids left: the store did not answer while the last {self._size[kind]} went")
        first = blocks[0]
        value = first[0]
        first[0] += 1
        # a whole block in hand beside the one in use: the next is taken as soon as one is begun
        if len(blocks) == 1 and kind not in self._refilling:
            loop = asyncio.get_running_loop()
            if loop.time() >= self._next_try.get(kind, 0.0):
                task = loop.create_task(self._take(kind))
                self._refilling[kind] = task
                task.add_done_callback(partial(self._refilled, kind))
        return value

    def _refilled(self, kind: str, task: asyncio.Task) -> None:
        self._refilling.pop(kind, None)
        if not task.cancelled() and task.exception() is not None:  # the store does not answer: not before RETRY
            self._next_try[kind] = asyncio.get_running_loop().time() + store_outage.RETRY


def _key(*parts: Any) -> bytes:
    return "\x1f".join(str(p) for p in parts).encode()


def _unkey(raw: bytes) -> tuple[str, ...]:
    return tuple(raw.decode().split("\x1f"))


def _micro(amount: Decimal) -> int:
    """Balances move in millionths, as integers the server adds exactly."""
    return int((Decimal(amount) * 1_000_000).to_integral_value())


def _stream_id(raw: Any) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


class Held:
    """Another process's version of a message, not decoded yet: what the indexes need, in plain
    form (from the change feed entry's head), the blob, and the Message this copy handed out
    before, if any (brought up to date in place when the blob is decoded, as an eager apply
    would have done). Decoding costs 10-25 µs and a send changes its message about four times
    (accepted, queued, sent, delivered): a version nobody reads here is never decoded."""

    __slots__ = ("id", "provider", "account", "recipient", "provider_id", "blob", "old")

    def __init__(self, head: tuple, blob: bytes, old: Message | None) -> None:
        self.id, self.provider, self.account, self.recipient, self.provider_id = head[:5]
        self.blob = blob
        self.old = old


class LazyMessages(dict):
    """A shared store's messages by id, where another process's message may be Held: reading
    one (`[]`, get, values, items) decodes it first; `in`, len, iteration over ids and pop (the
    indexes' own bookkeeping, which needs only what Held has) do not."""

    __slots__ = ("_decode",)

    def __init__(self, decode: Callable[[Held], Message]) -> None:
        super().__init__()
        self._decode = decode

    def __getitem__(self, message_id: str) -> Message:
        value = dict.__getitem__(self, message_id)
        return self._decode(value) if type(value) is Held else value

    def get(self, message_id: str, default: Any = None) -> Any:
        value = dict.get(self, message_id, default)
        return self._decode(value) if type(value) is Held else value

    def values(self) -> list[Message]:  # type: ignore[override]
        return [self._decode(v) if type(v) is Held else v for v in list(dict.values(self))]

    def items(self) -> list[tuple[str, Message]]:  # type: ignore[override]
        return [(k, self._decode(v) if type(v) is Held else v) for k, v in list(dict.items(self))]


class Commands:
    """The part of redis-py's pipeline API the store writes with, as plain argument tuples: sent
    as one MULTI through a Link, or through a redis-py pipeline when there is none."""

    def __init__(self) -> None:
        self.list: list[tuple] = []

    def _add(self, *args: Any) -> None:
        self.list.append(args)

    def eval(self, script: str, numkeys: int, *args: Any) -> None:
        self._add("EVAL", script, numkeys, *args)

    def rpush(self, key: str, *values: Any) -> None:
        self._add("RPUSH", key, *values)

    def ltrim(self, key: str, start: int, end: int) -> None:
        self._add("LTRIM", key, start, end)

    def zadd(self, key: str, mapping: dict) -> None:
        self._add("ZADD", key, *[part for member, score in mapping.items() for part in (score, member)])

    def zrem(self, key: str, *members: Any) -> None:
        self._add("ZREM", key, *members)

    def hincrby(self, key: str, field: Any, amount: int) -> None:
        self._add("HINCRBY", key, field, amount)

    def hset(self, key: str, field: Any = None, value: Any = None, mapping: dict | None = None) -> None:
        pairs = [] if field is None else [field, value]
        for name, item in (mapping or {}).items():
            pairs += (name, item)
        self._add("HSET", key, *pairs)

    def hdel(self, key: str, *fields: Any) -> None:
        self._add("HDEL", key, *fields)

    def delete(self, *keys: str) -> None:
        self._add("DEL", *keys)


class RedisStore(StartOver, Store):
    shared = True

    def __init__(self, url: str, retention: int = 100_000, retention_bytes: int = 512 * 1024 * 1024) -> None:
        self._recording = False  # off until open(): seeding and the base class's own reset
        self._outbox: list[tuple] = []
        super().__init__(retention, retention_bytes)
        url = check_url(url)
        query = parse_qs(urlsplit(url).query)
        self.url = url
        self.prefix = (query.pop("prefix", ["msgemu"])[0]) + ":"
        self.origin = secrets.token_hex(8).encode()  # this process, in the roster and the change feed
        self.inbox = self.k("inbox:") + self.origin.decode()  # where the others' commits come to it
        self.on_shared: dict[str, Callable[[Any], Any]] = {}  # runtime-level state: scenario, clock...
        self._redis: Any = None
        self._ids: IdBlocks | None = None
        self._dirty_messages: dict[str, Message] = {}
        self._dirty_other: dict[tuple, Any] = {}  # ("directory"|"optouts", key) -> object
        self._digests: dict[tuple, bytes] = {}
        self._shared_state: dict[str, Any] = {}  # runtime-level state as the store had it at open()
        self._applied = {self.inbox: (0, 0), self.k("changes"): (0, 0)}  # stream -> the last entry read
        self._applied_n = 0  # every commit up to this number is in this copy (applied here, or made here)
        self._own_ahead: set[int] = set()  # numbers of this copy's commits above _applied_n
        self._suspects: set[int] = set()  # numbers missing from the inbox, unless a commit under way has one
        self._committing = False  # a commit of this copy's is under way: its number is not known yet
        self._read_n = 0  # the number of the last entry read from the inbox (they come in order)
        self._renewed = 0.0  # when this process last renewed its lease (loop time)
        self._catching_up: dict[int, tuple[asyncio.Future, asyncio.TimerHandle]] = {}  # count -> applied here
        self._reader: asyncio.Task | None = None
        self._next_trip: asyncio.Future | None = None  # the next round trip: its result is the commit count
        self._trip_under_way: asyncio.Future | None = None
        self._courier: asyncio.Task | None = None
        self._flush_soon: asyncio.Handle | None = None
        self._claim = None
        self._claims = 0  # claims made: each is numbered (CLAIM_DUE's ARGV[5])
        self._claim_lost = False  # the last claim failed: the next asks again with its number
        self._claiming = asyncio.Lock()  # (the poll and a manual advance: one claim at a time)
        self.outage = store_outage.Outage(url)  # while the store does not answer (core/store_outage.py)
        self._outbox_bound = 4 * store_outage.CHUNK  # what waits is folded (store_outage.bound) past this
        self._retrying: asyncio.TimerHandle | None = None
        self._drained = 0  # changes written since the store answered again (said when all are)
        self._left_behind = False  # the last round trip took CHUNK changes and left the rest for the next
        self._trips = 0  # round trips that wrote something: each is numbered (PUBLISH's ARGV[7])
        # a round trip that failed after it was sent (its reply lost: it may have run), with its
        # changes, until the store says whether it ran; only then is anything written again
        self._in_doubt: tuple[int, list[tuple]] | None = None
        self._doubt_gap_below = 0  # a gap in the inbox below this number was taken for it (if it ran)
        self._epoch: bytes | None = None  # the store's token when this copy was loaded (emptied: another)
        self._generation = 0  # one more at each start over: a feed read begun before it is dropped
        self._settled = asyncio.Event()  # cleared while the copy starts over: the feed is not applied meanwhile
        self._settled.set()
        self._started_over = False  # objects from before a start over may still be changed (work under way)
        self._reload_wanted = False  # this copy (a process on its own) missed commits: the next round trip reloads
        # what a copy that missed commits does (workers.py: drain and exit, the parent starts it again)
        self.when_stale: Callable[[], None] | None = None
        self._restarting = False
        self._commits_link = link_for(url)  # None: redis-py for everything (no hiredis, or TLS)
        self._feed_link = link_for(url)

    @property
    def opened(self) -> bool:
        return self._redis is not None

    def k(self, name: str) -> str:
        return self.prefix + name

    # -- opening: a copy of what the store holds, then the change feed from there -------------------
    async def open(self) -> None:
        if self._redis is not None:
            return
        self._redis = connect(self.url)
        try:
            await self._redis.ping()
        except Exception as exc:
            await self._redis.aclose()
            self._redis = None
            raise StoreUnavailable(f"store {self.url}: cannot connect ({exc})") from None
        try:
            await self._say_if_it_evicts()
            self._claim = self._redis.register_script(CLAIM_DUE)
            self._ids = IdBlocks(self._redis, self.prefix, self.outage)
            await self._ids.prime()
            await self._load()
        except Exception as exc:  # it answers, but will not serve as msgemu's store: one line, no traceback
            await self._redis.aclose()
            self._redis = None
            raise StoreUnavailable(f"store {self.url}: cannot be used ({exc}){store_outage.remedy_for(str(exc))}") from None
        model.use_gateway_ids(lambda: self._ids.next("gateway"))
        self._recording = True
        await self.commit()  # seeded accounts the store did not have yet
        self._reader = asyncio.create_task(self._read_changes(), name="msgemu-store-changes")

    async def _say_if_it_evicts(self) -> None:
        """A store with a maxmemory and a policy that evicts keys drops whole keys of msgemu's when
        full (all messages are one hash): said at start, since nothing would say it later."""
        try:
            memory = await self._redis.info("memory")
        except Exception:
            return  # (INFO not allowed to this user: nothing to go on)
        policy = memory.get("maxmemory_policy", "noeviction")
        if memory.get("maxmemory") and policy != "noeviction":
            log.warning("store %s evicts keys when full (maxmemory-policy %s): msgemu's data (all messages "
                        "are one key) would vanish; use maxmemory-policy noeviction, with a maxmemory that holds "
                        "what msgemu keeps (up to --retention-bytes)", self.url, policy)

    async def close(self) -> None:
        if self._redis is None:
            return
        if self.outage.away:  # one more attempt, waited for as long as a request would
            try:
                await asyncio.wait_for(asyncio.shield(self._trip()), store_outage.AWAY_AFTER)
            except asyncio.TimeoutError:
                pass
        else:
            try:
                await self.commit()
            except Exception:
                log.exception("last changes not written to %s", self.url)
        if self.outage.away and self._waiting():
            log.warning("store %s still not reached: %d changes of this process not written to it", self.url, self._waiting())
        if self._retrying is not None:
            self._retrying.cancel()
            self._retrying = None
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            try:
                await reader
            except (asyncio.CancelledError, Exception):
                pass
        model.use_gateway_ids(None)
        try:  # no more entries for this process: the others stop writing to its inbox now
            if self.outage.away:
                raise ConnectionError(self.outage.reason)
            await self._redis.hdel(self.k("roster"), self.origin)
            await self._redis.delete(self.inbox, self._done_key, self.k("claimed:") + self.origin.decode())
        except Exception as exc:
            log.warning("store %s: this process not taken off the roster (%s); its lease ends in %d s",
                        self.url, exc, LEASE_SECONDS)
        for link in (self._commits_link, self._feed_link):
            if link is not None:
                link.close()
        await self._redis.aclose()
        self._redis = None

    async def _load(self, start_over: bool = False, keep_pending: bool = False) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self.k("epoch"), secrets.token_hex(8), nx=True)  # (an empty store: the first to open it)
        restored = list(self._shared_state.items()) if start_over else []
        for name, value in restored:  # the runtime-level state, unless another process restored it first
            pipe.hsetnx(self.k("shared"), name, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        pipe.eval(RENEW, 3, self.k("roster"), self.k("commits"), self.k("epoch"), self.origin, LEASE_SECONDS)  # commits from here on come
        pipe.xrevrange(self.k("changes"), count=1)
        pipe.xrevrange(self.inbox, count=1)  # what the inbox holds is in this copy: read on from its end
        pipe.hgetall(self.k("accounts"))
        pipe.hgetall(self.k("balances"))
        pipe.zrange(self.k("order"), 0, -1)
        pipe.hgetall(self.k("messages"))
        for kind in ("requests", "events", "callbacks"):
            pipe.lrange(self.k(f"journal:{kind}"), 0, -1)
        pipe.hgetall(self.k("directories"))
        pipe.hgetall(self.k("optouts"))
        pipe.hgetall(self.k("dedupe"))
        pipe.hgetall(self.k("shared"))
        _set, *results = await pipe.execute()
        (_joined, commits, epoch), last, inbox_last, accounts, balances, order, messages, requests, events, callbacks, \
            directories, optouts, dedupe, shared = results[len(restored):]
        pending = None
        if start_over:  # (from here on, no await: nothing runs between forgetting and loading)
            pending = self._forget_copy(keep_pending)
        self._epoch = epoch
        self._renewed = asyncio.get_running_loop().time()
        if last:  # (the feed of an earlier msgemu, one stream for all: its writers' entries still apply)
            self._applied[self.k("changes")] = _stream_id(last[0][0])
        self._applied[self.inbox] = _stream_id(inbox_last[0][0]) if inbox_last else (0, 0)
        self._applied_n = self._read_n = int(commits or 0)
        self._load_accounts(accounts, balances)
        for message_id in order:
            blob = messages.get(message_id)
            if blob is not None:
                message, keys = codec.message_from(blob)
                Store.add_message(self, message, keys)
        for blob in requests:
            Store.add_request(self, codec.request_from(blob))
        for blob in events:
            Store.add_event(self, codec.event_from(blob))
        for blob in callbacks:
            Store.add_callback_attempt(self, pickle.loads(blob))
        for raw, blob in directories.items():
            self._put_directory(_unkey(raw), pickle.loads(blob))
        for raw, blob in optouts.items():
            self.optouts[_unkey(raw)] = pickle.loads(blob)
        for raw, at in dedupe.items():
            self.dedupe[_unkey(raw)] = float(at)
        self._shared_state = {name.decode(): pickle.loads(blob) for name, blob in shared.items()}
        if pending is not None:
            self._reattach(*pending)

    def _load_accounts(self, stored: dict[bytes, bytes], balances: dict[bytes, bytes]) -> None:
        """Accounts the store has win over the seeded ones (balances included); seeded ones it
        does not have yet are written to it, so every process starts from the same accounts."""
        known = {(a.provider, a.login): a for accounts in self.accounts.values() for a in accounts}
        for raw, blob in stored.items():
            account: Account = pickle.loads(blob)
            if raw in balances:
                account.balance = Decimal(int(balances[raw])) / 1_000_000
            mine = known.pop((account.provider, account.login), None)
            if mine is not None:
                mine.__dict__.update(account.__dict__)
            else:
                Store.add_account(self, account, seed=True)
        for account in known.values():
            self._outbox.append(_account_op(account.login, account, True, "seed"))

    def shared_state(self, name: str) -> Any:
        """What the store holds for a runtime-level setting (None when never set)."""
        return self._shared_state.get(name)

    # -- the writes of the memory store, recorded ------------------------------------------------
    def _record(self, op: tuple) -> None:
        if self._recording:
            self._outbox.append(op)
            if len(self._outbox) > self._outbox_bound:
                self._bound_outbox()
            self._flush_later()

    def _bound_outbox(self) -> None:
        """What waits for the store, as few changes as write the same (store_outage.bound): it
        grows past a few round trips' worth only while the store does not answer."""
        sizes = {kind: len(self._journals[kind + "s"]) for kind in store_outage.JOURNALS}
        self._outbox = store_outage.bound(self._outbox, self.messages.__contains__, sizes)
        # folded again once a quarter larger: records the copy evicted meanwhile are not held long
        self._outbox_bound = len(self._outbox) + len(self._outbox) // 4 + 4 * store_outage.CHUNK

    def add_account(self, account: Account, seed: bool = True) -> None:
        super().add_account(account, seed)
        self._record(_account_op(account.login, account, True, "seed" if seed else "add"))

    def remove_account(self, provider: str, login: str) -> None:
        super().remove_account(provider, login)
        self._record(("remove_account", provider, login))

    def charge(self, account: Account, amount: Any) -> None:
        super().charge(account, amount)
        self._record(("charge", account.provider, account.login, Decimal(amount)))

    def changed(self, item: Any) -> None:
        if isinstance(item, Message):
            self._touch(item)

    def account_changed(self, account: Account, old_login: str, balance_set: bool) -> None:
        self._record(_account_op(old_login, account, balance_set, "change"))

    def remember(self, key: tuple[str, str, str], at: float) -> None:
        super().remember(key, at)
        self._record(("dedupe", key, at))

    def add_message(self, message: Message, keys: Any = ()) -> None:
        super().add_message(message, keys)
        if self._recording:
            self._dirty_messages.pop(message.id, None)
            self._record(("message", message))

    def index_message(self, message: Message, key: str) -> None:
        super().index_message(message, key)
        self._touch(message)

    def find_message(self, provider: str, account: str, key: str) -> Message | None:
        message = super().find_message(provider, account, key)
        if message is not None:
            self._touch(message)  # providers change what they look up (meta, cancel): sent if it changed
        return message

    def add_request(self, record: RequestRecord) -> None:
        super().add_request(record)
        self._record(("request", record))

    def add_event(self, event: Event) -> Event:
        super().add_event(event)
        if self._recording:
            self._record(("event", event))
            message = self.messages.get(event.message_id)
            if message is not None:
                self._touch(message)
        return event

    def add_callback_attempt(self, attempt: dict[str, Any]) -> dict[str, Any]:
        super().add_callback_attempt(attempt)
        self._record(("callback", attempt))
        return attempt

    def directory(self, provider: str, account: str, kind: str) -> Directory:
        directory = super().directory(provider, account, kind)
        if directory.id_source is None:
            directory.id_source = self._directory_id
        if self._recording:
            self._dirty_other[("directory", (provider, account, kind))] = directory
            self._flush_later()
        return directory

    def _directory_id(self) -> int:
        assert self._ids is not None
        return self._ids.next("directory")

    def optout_set(self, provider: str, account: str) -> set[str]:
        optouts = super().optout_set(provider, account)
        if self._recording:
            self._dirty_other[("optouts", (provider, account))] = optouts
            self._flush_later()
        return optouts

    def forget(self, message_ids: set[str], request_ids: set[int], accounts: set[tuple[str, str]]) -> None:
        super().forget(message_ids, request_ids, accounts)
        self._record(("forget", set(message_ids), set(request_ids), set(accounts)))

    def reset(self) -> None:
        super().reset()
        self.messages = LazyMessages(self._decode_held)
        if getattr(self, "_recording", False):
            self._dirty_messages.clear()
            self._dirty_other.clear()
            self._outbox = [op for op in self._outbox if op[0] == "shared"]
            self._record(("reset", [a for accounts in self.accounts.values() for a in accounts]))

    def next_id(self, kind: str) -> int:
        if self._ids is None:
            return super().next_id(kind)
        return self._ids.next(kind)

    def retry_after(self) -> float:
        """0, or how long a transition should wait: the store did not answer for so long that
        the numbers it needs (its event, a callback's) are running out here."""
        if self._ids is not None and self.outage.away and self._ids.short(TRANSITION_IDS, 64):
            return store_outage.RETRY
        return 0.0

    def short_of_ids(self) -> bool:
        """The store did not answer for so long that a new request could run out of numbers
        half-way (its messages', their events'): refused before anything is done (middleware)."""
        if self._ids is not None and self.outage.away and self._ids.short(ID_KINDS[:5], ACCEPT_NEED):
            self.outage.short += 1
            return True
        return False

    async def shared_once(self, name: str, value: Any) -> Any:
        """The store's value of a runtime-level setting, `value` becoming it when it has none."""
        blob = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        if await self._redis.hsetnx(self.k("shared"), name, blob):
            return value
        return pickle.loads(await self._redis.hget(self.k("shared"), name))

    def publish(self, name: str, value: Any) -> None:
        """Runtime-level state every process must share (the active scenario, the clock): kept
        in the store for processes that start later, and told to those running."""
        self._shared_state[name] = value  # (written again if the store is emptied: _start_over)
        self._record(("shared", name, value))

    def tell(self, name: str, value: Any) -> None:
        """Something the other running processes should hear of, not kept (a call the built-in
        receiver got): their `on_shared[name]` gets it."""
        self._record(("tell", name, value))

    def _touch(self, message: Message) -> None:
        if self._recording:
            self._dirty_messages[message.id] = message
            self._flush_later()

    # -- scheduled transitions ----------------------------------------------------------------------
    def add_timer(self, due: float, key: tuple) -> None:
        self._record(("timer", due, key))

    async def claim_due(self, until: float, limit: int = 1000, grace: float = 0.0) -> list[tuple[float, tuple]]:
        """Scheduled transitions due by `until`, each taken out of the store by this call only;
        those other processes scheduled, only once due by `until - grace`."""
        async with self._claiming:
            if not self._claim_lost:
                self._claims += 1
            self._claim_lost = True
            raw = await self._claim(keys=[self.k("timers"), self.k("claimed:") + self.origin.decode()],
                                    args=[repr(until), limit, self.origin, repr(grace), self._claims])
            self._claim_lost = False
        claimed = []
        for i in range(0, len(raw), 2):
            member = raw[i]
            # (an origin, then the pickle; a store written by an earlier msgemu has the pickle alone)
            _token, *key = pickle.loads(member if member[:1] == b"\x80" else member[len(self.origin):])
            claimed.append((float(raw[i + 1]), tuple(key)))
        return claimed

    async def next_due(self) -> float | None:
        first = await self._redis.zrange(self.k("timers"), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def timers_pending(self) -> int:
        return int(await self._redis.zcard(self.k("timers")))

    # -- units of work: one round trip at a time, shared by everything that waits for it ----------
    def _flush_later(self) -> None:
        """Changes made outside a request (timers, callbacks, SMPP) go out on the next loop turn."""
        if self._flush_soon is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._flush_soon = loop.call_soon(self._spawn_flush)

    def _spawn_flush(self) -> None:
        self._flush_soon = None
        if self._redis is not None and not self.outage.away and (self._outbox or self._dirty_messages or self._dirty_other or self._in_doubt):
            self._trip()  # (while the store is away: the next attempt, _retry, carries it)

    def unreachable(self, exc: BaseException) -> None:
        """The store did not answer (a round trip, the change feed, a claim): requests are answered
        from this copy, changes wait (bounded), one attempt every RETRY seconds; said once."""
        self.outage.failed(str(exc) or type(exc).__name__, self._waiting())
        if self._retrying is None and self._redis is not None:
            self._retrying = asyncio.get_running_loop().call_later(store_outage.RETRY, self._retry)

    def _retry(self) -> None:
        self._retrying = None
        if self._redis is not None and self.outage.away:
            self._trip()  # what waits, or a GET: back once it answers

    def _waiting(self) -> int:
        doubt = len(self._in_doubt[1]) if self._in_doubt is not None else 0
        return len(self._outbox) + len(self._dirty_messages) + len(self._dirty_other) + doubt

    def _overdue(self, trip: asyncio.Future) -> None:
        """A round trip not back after AWAY_AFTER seconds (a store that hangs, or a network that
        drops packets): whoever waits for it is answered from this copy now; the trip goes on,
        and its changes are written when it comes back (or again, when it fails)."""
        if self._trip_under_way is not trip or trip.done():
            return
        self.unreachable(TimeoutError(f"no answer within {store_outage.AWAY_AFTER:.0f} s"))
        for waiting in (trip, self._next_trip):
            if waiting is not None and not waiting.done():
                waiting.set_result(None)

    def _trip(self) -> asyncio.Future:
        """The next round trip to the store (group commit): it leaves once the one under way (if
        any) is back, and carries every change made until it leaves, of every unit of work, in
        one MULTI (or, with nothing to write, one GET of the commit count). Its result is the
        number of commits the store had then (None when it could not be reached)."""
        if self._next_trip is None:
            loop = asyncio.get_running_loop()
            self._next_trip = loop.create_future()
            if self._courier is None:
                self._courier = loop.create_task(self._carry(), name="msgemu-store-commits")
        return self._next_trip

    async def _carry(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._next_trip is not None and self._redis is not None:
                trip, self._next_trip = self._next_trip, None
                self._trip_under_way = trip
                overdue = loop.call_later(store_outage.AWAY_AFTER, self._overdue, trip)
                try:
                    count = await self._first_or_second_try()
                except Exception as exc:
                    count = None
                    self.unreachable(exc)
                finally:
                    overdue.cancel()
                    self._trip_under_way = None
                if count is not None and self._left_behind:  # more than CHUNK was waiting: on with the rest
                    follow = self._trip()
                    if not trip.done():  # its commits return once all of it is in the store
                        follow.add_done_callback(partial(_settle, trip))
                    continue
                if count is not None and self.outage.away:
                    self.outage.recovered(self._drained)
                    self._drained = 0
                if not trip.done():
                    trip.set_result(count)
        finally:
            self._courier = None
            if self._next_trip is not None and not self._next_trip.done():
                self._next_trip.set_result(None)  # the store was closed meanwhile
                self._next_trip = None

    async def _first_or_second_try(self) -> int:
        """A round trip; if it fails while the store answered so far, once more at once (a
        connection the server or a proxy dropped is made again): only then is the store away."""
        try:
            return await self._round_trip()
        except Exception:
            if self.outage.away:
                raise
        return await self._round_trip()

    async def _round_trip(self) -> int:
        if self._in_doubt is not None:
            await self._settle_doubt()
        ops = self._take_outbox()
        if not ops:
            count, epoch = await self._command("MGET", self.k("commits"), self.k("epoch"))
            if epoch != self._epoch:
                return await self._start_over()
            if self._reload_wanted:
                return await self._start_over(emptied=False)
            return int(count or 0)
        if self.outage.away:
            self._drained += len(ops)
        commands = Commands()
        held = self._persist_all(commands, ops)  # the last messages: written by PUBLISH
        pairs: list[Any] = []
        wire = []
        for op in ops:
            if op[0] == "message":  # its blob goes once, as the entry's field m, and by its index
                wire.append(("message", len(pairs) // 2, op[3]))
                pairs += (op[1].id, op[2])
            elif op[0] != "timer":
                wire.append(self._wire(op))
        written_from = len(pairs) // 2 - len(held) + 1
        self._trips += 1
        commands.eval(PUBLISH, 7, self.k("roster"), self.k("commits"), self.k("order"), self.k("messages"),
                      self.k("arrivals"), self._done_key, self.k("epoch"), CHANGES_KEPT, self.origin,
                      pickle.dumps(wire, pickle.HIGHEST_PROTOCOL), CHANGES_SECONDS, written_from, self.k("inbox:"),
                      self._trips, self._epoch, *pairs)
        published = len(commands.list) - 1
        if held and self._journals["messages"].evicted:  # this copy is full (count or bytes): the store keeps as many
            commands.eval(TRIM_MESSAGES, 2, self.k("order"), self.k("messages"), max(1, len(self.messages)))
        self._committing = True
        try:
            results = await self._transaction(commands.list)
            number = int(results[published])
        except Exception as exc:  # nothing accepted is lost: written with the next commit
            if self.outage.away:
                self._drained -= len(ops)
            if isinstance(exc, Refused):  # it ran but in part (a key of the wrong type...): all again
                if type(exc.results[published]) is int and exc.results[published] > 0:
                    self._made_here(exc.results[published])
                self._put_back(ops)
            elif getattr(exc, "sent", True):  # it may have run, its reply lost: asked before the next
                self._in_doubt, self._doubt_gap_below = (self._trips, ops), 0
                self._suspects.clear()  # (its number is not known: no warning meanwhile)
            else:
                self._put_back(ops)
            raise
        finally:
            self._committing = False
        if number == 0:  # emptied: no message was written (its other writes were: journal records...)
            return await self._start_over()
        self._made_here(number)
        if self._reload_wanted:
            return await self._start_over(emptied=False)
        return number

    def _put_back(self, ops: list[tuple]) -> None:
        """Changes a round trip did not write: first in line for the next one."""
        self._outbox[:0] = ops
        if len(self._outbox) > self._outbox_bound:
            self._bound_outbox()

    @property
    def _done_key(self) -> str:
        return self.k("done:") + self.origin.decode()

    async def _settle_doubt(self) -> None:
        """Whether the round trip whose reply was lost ran (the store's note of this process's last
        one, PUBLISH): if it did, its changes are in the store and in the others' inboxes, and
        its commit number is this copy's own; if not, they go again, first in line. Asked
        before anything is written again, so no journal record, charge or feed entry counts twice."""
        trip, ops = self._in_doubt
        note = await self._command("GET", self._done_key)
        self._in_doubt = None
        done, _, number = (note or b"").partition(b":")
        ran = done == str(trip).encode()
        if not ran:
            self._put_back(ops)
        gap_below, self._doubt_gap_below = self._doubt_gap_below, 0
        in_the_gap = ran and gap_below and int(number) < gap_below  # the feed counted it already
        if gap_below and not in_the_gap:
            self._missed(1)  # the gap taken for it was another process's commit, lost
        if ran and not in_the_gap:
            self._made_here(int(number))

    async def _command(self, *args: Any) -> Any:
        """One command on the commits' connection (the link, or redis-py without one): its reply."""
        link = self._commits_link
        if link is None:
            return await self._redis.execute_command(*args)
        return (await link.call([link.pack(*args)]))[0]

    def _made_here(self, number: int) -> None:
        """This copy's own commit `number`: in the copy already, and never in its inbox."""
        self._suspects.discard(number)
        if self._suspects:  # the inbox skipped them, and this commit was not one of them: trimmed
            self._missed(len(self._suspects))
            self._suspects.clear()
        if number == self._applied_n + 1:
            self._applied_n = number  # nobody committed in between
            if self._catching_up:
                self._caught_up()
        elif number > self._applied_n:
            self._own_ahead.add(number)  # others' commits before it: counted once read

    async def _transaction(self, commands: list[tuple]) -> list[Any]:
        """The commands in one MULTI/EXEC: their results (an error in any of them raises)."""
        link = self._commits_link
        if link is None:
            pipe = self._redis.pipeline(transaction=True)
            for command in commands:
                pipe.execute_command(*command)
            results = await pipe.execute(raise_on_error=False)
        else:
            replies = await link.call([link.pack("MULTI"), *[link.pack(*c) for c in commands], link.pack("EXEC")])
            results = replies[-1]
        if not isinstance(results, list):
            raise NotSent(f"transaction not run: {results!r}")
        for result in results:
            if isinstance(result, Exception):
                raise Refused(str(result), results)
        return results

    async def commit(self) -> None:
        """Return once this unit of work's changes are in the store: they leave with the next
        round trip (shared with every unit finished meanwhile), or are already in the one under
        way (taken by another unit's commit or a timer's flush)."""
        if self._redis is None or self.outage.away:
            return  # away: what it changed waits (bounded), written once the store answers again
        if self._outbox or self._dirty_messages or self._dirty_other or self._in_doubt:
            await asyncio.shield(self._trip())
        elif self._trip_under_way is not None:
            await asyncio.shield(self._trip_under_way)

    def _take_outbox(self) -> list[tuple]:
        """What the next round trip carries: what was recorded, then the messages changed in
        place, CHUNK at most (more only after the store was away: the rest goes next)."""
        chunk = store_outage.CHUNK
        self._left_behind = len(self._outbox) > chunk or len(self._dirty_messages) > chunk
        if len(self._outbox) > chunk:
            ops, self._outbox = self._outbox[:chunk], self._outbox[chunk:]
            return [self._serialized(op) for op in ops]  # changed messages go after: their first versions come first
        ops, self._outbox = self._outbox, []
        new = {op[1].id for op in ops if op[0] == "message"}
        dirty = self._dirty_messages
        if len(dirty) > chunk:
            taken = list(islice(dirty.items(), chunk))
            for message_id, _ in taken:
                del dirty[message_id]
        else:
            taken, self._dirty_messages = list(dirty.items()), {}
        for message_id, message in taken:
            if message_id not in new and message_id in self.messages:
                if self._started_over and dict.get(self.messages, message_id) is not message:
                    dict.__setitem__(self.messages, message_id, message)  # changed by work begun before: the newer
                op, digest = self._message_op(message, None)
                if self._digests.get(("message", message_id)) != digest:
                    ops.append(op)
                    self._remember_digest(message_id, digest)
        for (kind, key), value in self._dirty_other.items():
            blob = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
            digest = _digest(blob)
            if self._digests.get((kind, key)) != digest:
                self._digests[(kind, key)] = digest
                ops.append((kind, key, blob))
        self._dirty_other = {}
        return [self._serialized(op) for op in ops]

    def _serialized(self, op: tuple) -> tuple:
        """Objects pickled once, as they are now, for both the store and the change feed (once:
        a commit that failed puts its ops back serialized)."""
        kind = op[0]
        if len(op) == 2:  # recorded: messages, requests, events and callback attempts pickled now
            if kind == "message":  # new here: its cost goes with it
                message_op, digest = self._message_op(op[1], message_cost(op[1]))
                self._remember_digest(op[1].id, digest)
                return message_op
            if kind in ("request", "event"):
                row = self.ROW[kind](op[1])
                return (kind, op[1], codec.row_blob(kind, row), row)
            if kind == "callback":
                return (kind, op[1], self.ENCODE[kind](op[1]), dict(op[1]))
            return op  # (a reset)
        if kind == "account" and len(op) == 5:  # (6 once serialized: a commit that failed comes back)
            return (*op, pickle.dumps(op[2], pickle.HIGHEST_PROTOCOL))
        return op

    def _wire(self, op: tuple) -> tuple:
        """What other processes get: objects as they are now."""
        kind = op[0]
        if kind == "message":
            return (kind, op[2], op[3])  # the blob, and what indexing it takes without decoding it
        if kind in ("request", "event", "callback"):
            return (kind, op[3])  # a row (a callback attempt: its dict), not the blob: one pickle to undo
        if kind == "account":
            return (kind, op[1], op[5], op[3], op[4])
        return op

    def _message_op(self, message: Message, cost: int | None) -> tuple[tuple, bytes]:
        """A message written as it is now: ("message", message, blob, head), and the blob's
        digest. The blob carries the keys it is found by beside its provider id (client
        reference, ticket...); `cost` goes in the head of a message's first version only."""
        keys = [k[2] for k in self._keys_of.get(message.id, ()) if k[2] != message.provider_id]
        blob = codec.message_blob(message, keys)
        return ("message", message, blob, _head(message, keys, cost)), _digest(blob)

    ENCODE = {"request": codec.request_blob, "event": codec.event_blob, "callback": partial(pickle.dumps, protocol=pickle.HIGHEST_PROTOCOL)}
    ROW = {"request": codec.request_row, "event": codec.event_row}

    def _remember_digest(self, message_id: str, digest: bytes) -> None:
        if len(self._digests) > 4 * self.retention:
            self._digests.clear()  # bounded: at worst some unchanged messages are written again
        self._digests[("message", message_id)] = digest

    BATCHED = ("message", "request", "event", "callback", "timer", "charge", "dedupe")

    def _persist_all(self, pipe: Any, ops: list[tuple]) -> list[tuple]:
        """Writes of one kind go as one command until something that is not a plain write comes
        (an account changed, a reset...): a commit of many sends is a message write, a journal
        push per kind, a timer write and one balance increment per account, not commands per send.
        The last message writes are left out, and returned: PUBLISH writes them (after every
        command here, which changes nothing they touch: nothing but plain writes follow them)."""
        batch: dict[str, list] = {kind: [] for kind in self.BATCHED}
        for op in ops:
            if op[0] in batch:
                batch[op[0]].append(op)
                continue
            if op[0] == "tell":
                continue  # told through the change feed only, never kept
            self._persist_batch(pipe, batch)
            self._persist(pipe, op)
        held, batch["message"] = batch["message"], []
        self._persist_batch(pipe, batch)
        return held

    def _persist_batch(self, pipe: Any, batch: dict[str, list]) -> None:
        if batch["message"]:
            args = [part for op in batch["message"] for part in (op[1].id, op[2])]
            pipe.eval(PUT_MESSAGES, 4, self.k("order"), self.k("messages"), self.k("arrivals"), self.k("epoch"), self._epoch, *args)
            if self._journals["messages"].evicted:  # this copy is full (count or bytes): the store keeps as many
                pipe.eval(TRIM_MESSAGES, 2, self.k("order"), self.k("messages"), max(1, len(self.messages)))
        for kind in ("request", "event", "callback"):
            if batch[kind]:
                journal = self.k(f"journal:{kind}s")
                pipe.rpush(journal, *[op[2] for op in batch[kind]])
                kept = self._journals[kind + "s"]
                if kept.evicted:
                    pipe.ltrim(journal, -max(1, len(kept)), -1)
        if batch["timer"]:  # (this process's origin first: its own poll claims them first)
            pipe.zadd(self.k("timers"), {self.origin + pickle.dumps((secrets.token_bytes(6), *op[2])): op[1]
                                         for op in batch["timer"]})
        if batch["charge"]:
            charged: dict[bytes, int] = {}
            for _, provider, login, amount in batch["charge"]:
                field = _key(provider, login)
                charged[field] = charged.get(field, 0) - _micro(amount)
            for field, micros in charged.items():
                pipe.hincrby(self.k("balances"), field, micros)
        if batch["dedupe"]:
            pipe.hset(self.k("dedupe"), mapping={_key(*op[1]): repr(op[2]) for op in batch["dedupe"]})
        for ops in batch.values():
            ops.clear()

    def _persist(self, pipe: Any, op: tuple) -> None:
        kind = op[0]
        if kind == "account":
            _, old_login, account, balance_set, _why, blob = op
            field = _key(account.provider, account.login)
            if old_login != account.login:
                pipe.hdel(self.k("accounts"), _key(account.provider, old_login))
                pipe.hdel(self.k("balances"), _key(account.provider, old_login))
                balance_set = True
            pipe.hset(self.k("accounts"), field, blob)
            if balance_set:
                pipe.hset(self.k("balances"), field, _micro(account.balance))
        elif kind == "remove_account":
            pipe.hdel(self.k("accounts"), _key(op[1], op[2]))
            pipe.hdel(self.k("balances"), _key(op[1], op[2]))
        elif kind == "directory":
            pipe.hset(self.k("directories"), _key(*op[1]), op[2])
        elif kind == "optouts":
            pipe.hset(self.k("optouts"), _key(*op[1]), op[2])
        elif kind == "shared":
            pipe.hset(self.k("shared"), op[1], pickle.dumps(op[2], pickle.HIGHEST_PROTOCOL))
        elif kind == "forget":
            _, message_ids, _request_ids, accounts = op
            if message_ids:
                pipe.hdel(self.k("messages"), *message_ids)
                pipe.zrem(self.k("order"), *message_ids)
            self._rewrite_account_tables(pipe)  # from this copy, which has just forgotten them
            self._rewrite_journals(pipe)
        elif kind == "reset":
            for name in ("messages", "order", "arrivals", "directories", "optouts", "dedupe", "timers", "accounts", "balances"):
                pipe.delete(self.k(name))
            for name in ("requests", "events", "callbacks"):
                pipe.delete(self.k(f"journal:{name}"))
            for account in op[1]:
                field = _key(account.provider, account.login)
                pipe.hset(self.k("accounts"), field, pickle.dumps(account, pickle.HIGHEST_PROTOCOL))
                pipe.hset(self.k("balances"), field, _micro(account.balance))

    def _rewrite_account_tables(self, pipe: Any) -> None:
        """A namespace reset: its directories, opt-outs and dedupe keys are gone from the copy."""
        pipe.delete(self.k("directories"), self.k("optouts"), self.k("dedupe"))
        if self.directories:
            pipe.hset(self.k("directories"), mapping={_key(*k): pickle.dumps(v, pickle.HIGHEST_PROTOCOL) for k, v in self.directories.items()})
        if self.optouts:
            pipe.hset(self.k("optouts"), mapping={_key(*k): pickle.dumps(v, pickle.HIGHEST_PROTOCOL) for k, v in self.optouts.items()})
        if self.dedupe:
            pipe.hset(self.k("dedupe"), mapping={_key(*k): repr(v) for k, v in self.dedupe.items()})

    def _rewrite_journals(self, pipe: Any) -> None:
        for kind, items in (("request", self.requests), ("event", self.events), ("callback", self.callbacks)):
            key = self.k(f"journal:{kind}s")
            pipe.delete(key)
            if items:
                pipe.rpush(key, *[self.ENCODE[kind](item) for item in items])

    # -- other processes' changes -----------------------------------------------------------------
    async def _read_changes(self) -> None:
        """Other processes' commits, from this process's inbox (and the one feed an earlier msgemu
        wrote to), applied in the order they were committed; the lease renewed on the way."""
        failures = 0  # in a row
        while self._reader is not None:  # (a client library may turn a cancellation into an error)
            try:
                if asyncio.get_running_loop().time() - self._renewed >= RENEW_EVERY:
                    await self._renew()
                await self._settled.wait()
                generation = self._generation
                streams = list(self._applied)
                ids = [f"{ms}-{seq}" for ms, seq in self._applied.values()]
                link = self._feed_link
                if link is None:
                    answer = await self._redis.xread(dict(zip(streams, ids)), count=500, block=1000)
                else:
                    raw = (await link.call([link.pack("XREAD", "COUNT", 500, "BLOCK", 1000, "STREAMS", *streams, *ids)]))[0]
                    answer = [(name, [(entry_id, dict(zip(f[::2], f[1::2]))) for entry_id, f in entries])
                              for name, entries in raw or ()]
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._reader is None:
                    return
                failures += 1
                if failures > 1:  # (the first: a dropped connection, made again at once)
                    self.unreachable(exc)  # (said once while it lasts)
                    await asyncio.sleep(store_outage.RETRY)
                continue
            failures = 0
            if generation != self._generation or not self._settled.is_set():
                continue  # the copy started over meanwhile: read on from where its load left the inbox
            entries = [(int(fields.get(b"n", 0)), name, entry_id, fields)
                       for name, stream_entries in answer or () for entry_id, fields in stream_entries]
            if len(answer or ()) > 1:
                entries.sort(key=lambda entry: entry[0])  # (two streams: in the order of their commits)
            for number, name, entry_id, fields in entries:
                if fields.get(b"o") != self.origin:
                    try:
                        self._apply_fields(fields)
                    except Exception:
                        log.exception("change %s from another process not applied", entry_id)
                stream = name.decode() if isinstance(name, bytes) else name
                self._applied[stream] = max(self._applied[stream], _stream_id(entry_id))
                self._read(number)
            if self._catching_up:
                self._caught_up()

    def _read(self, number: int) -> None:
        """Commit `number` read from the inbox: every commit before it is either this copy's own
        or was read before it, unless the inbox lost it (trimmed, read too late)."""
        gap = number - self._applied_n - 1 - sum(1 for n in self._own_ahead if n < number)
        if gap > 0 and self._in_doubt is not None and not self._doubt_gap_below:
            self._doubt_gap_below = number  # our commit whose reply was lost may be one of them
            gap -= 1
        if gap > 0:
            if self._committing and gap <= 64:  # the commit under way may be one of them: told when back
                self._suspects.update(n for n in range(self._applied_n + 1, number) if n not in self._own_ahead)
            else:
                self._missed(gap)
        self._read_n = max(self._read_n, number)
        if number > self._applied_n:
            self._applied_n = number
        while self._applied_n + 1 in self._own_ahead:
            self._applied_n += 1
        if self._own_ahead:
            self._own_ahead = {n for n in self._own_ahead if n > self._applied_n}

    def _missed(self, count: int) -> None:
        remedy = self._reload()
        log.warning("change feed of %s: %d commits of other processes were trimmed before this process read "
                    "them (it was more than %d s behind); %s", self.url, count, CHANGES_SECONDS, remedy)

    def _reload(self) -> str:
        """This copy missed commits: a worker (--workers) is made to restart, loading the store
        afresh; a process on its own loads it again in place, at its next round trip
        (_start_over). Returns what happens, for the line that says so."""
        if self.when_stale is None:
            self._reload_wanted = True
            self._trip()
            return "it loads the store again now"
        if not self._restarting:
            self._restarting = True
            self.when_stale()
        return "this worker restarts to reload"

    async def _renew(self) -> None:
        """Say this process is still there (its lease); if it had been dropped from the roster, it
        missed the commits made meanwhile: said, and counted as read, so requests do not wait
        for them."""
        self._renewed = asyncio.get_running_loop().time()
        added, commits, epoch = await self._redis.eval(RENEW, 3, self.k("roster"), self.k("commits"), self.k("epoch"),
                                                       self.origin, LEASE_SECONDS)
        if epoch != self._epoch:  # emptied, not missed: the next round trip starts over
            self._trip()
            return
        if int(added):
            remedy = self._reload()
            log.warning("store %s: this process was off the roster (silent for more than %d s) and missed other "
                        "processes' commits; %s", self.url, LEASE_SECONDS, remedy)
            self._applied_n = max(self._applied_n, int(commits))
            if self._catching_up:
                self._caught_up()

    def _apply_fields(self, fields: dict[bytes, bytes]) -> None:
        """A change feed entry of another process: its ops, and its message blobs (field m)."""
        packed = fields.get(b"m")
        self._apply(pickle.loads(fields[b"ops"]), split_blobs(packed) if packed else [])

    def _apply(self, ops: list[tuple], blobs: list[bytes] = ()) -> None:  # type: ignore[assignment]
        recording, self._recording = self._recording, False
        try:
            for op in ops:
                self._apply_one(op, blobs)
        finally:
            self._recording = recording

    def _apply_one(self, op: tuple, blobs: list[bytes] = ()) -> None:  # type: ignore[assignment]
        kind = op[0]
        if kind == "message":
            blob = op[1] if type(op[1]) is bytes else blobs[op[1]]  # (bytes: from a msgemu sending them in ops)
            if len(op) == 2:  # from a msgemu that sends no head: decoded at once
                self._apply_message(blob)
            else:
                self._hold_message(blob, op[2])
        elif kind == "request":  # (a blob: from a msgemu that sent no rows)
            Store.add_request(self, codec.request_from(op[1]) if type(op[1]) is bytes else codec.request_from_row(op[1]))
        elif kind == "event":
            Store.add_event(self, codec.event_from(op[1]) if type(op[1]) is bytes else codec.event_from_row(op[1]))
        elif kind == "charge":
            mine = self.account(op[1], op[2])
            if mine is not None:
                mine.balance -= op[3]
        elif kind in ("shared", "tell"):
            if kind == "shared":
                self._shared_state[op[1]] = op[2]
            handler = self.on_shared.get(op[1])
            if handler is not None:
                handler(op[2])
        elif kind == "callback":
            Store.add_callback_attempt(self, pickle.loads(op[1]) if type(op[1]) is bytes else op[1])
        elif kind == "account":
            _, old_login, blob, balance_set, why = op
            account: Account = pickle.loads(blob)
            mine = self.account(account.provider, old_login)
            if mine is None:
                Store.add_account(self, account, seed=why == "seed")
            else:
                balance = mine.balance
                mine.__dict__.update(account.__dict__)
                if not balance_set:
                    mine.balance = balance
        elif kind == "remove_account":
            Store.remove_account(self, op[1], op[2])
        elif kind == "dedupe":
            self.dedupe[op[1]] = op[2]
        elif kind == "directory":
            self._put_directory(op[1], pickle.loads(op[2]))
            self._digests[("directory", op[1])] = _digest(op[2])
        elif kind == "optouts":
            mine = self.optouts.setdefault(op[1], set())
            mine.clear()
            mine.update(pickle.loads(op[2]))
            self._digests[("optouts", op[1])] = _digest(op[2])
        elif kind == "forget":
            Store.forget(self, op[1], op[2], op[3])
        elif kind == "reset":
            self.reset()  # (not recorded: applying, _recording is off)
            for account in op[1]:
                mine = self.account(account.provider, account.login)
                if mine is not None:
                    mine.balance = account.balance
        # ("timer": not in the change feed; scheduled transitions are claimed from the store when due)

    def _apply_message(self, blob: bytes) -> None:
        """Another process's version of a message, decoded now (into the Message this copy
        handed out, if any, so that whoever holds it sees the change)."""
        message, keys = codec.message_from(blob)
        self._remember_digest(message.id, _digest(blob))
        mine = self.messages.get(message.id)
        if mine is None:
            Store.add_message(self, message, keys)
            return
        mine.__dict__.update(message.__dict__)
        self._changed_elsewhere(mine, keys)

    def _hold_message(self, blob: bytes, head: tuple) -> None:
        """Another process's version of a message, indexed from its head and held undecoded
        until something here reads it. Decoded at once when this copy's own unwritten changes
        to it are pending (they must build on it), or when someone waits on its phone."""
        message_id, _provider, _account, _recipient, _provider_id, keys, cost = head
        mine = dict.get(self.messages, message_id)
        if mine is None:
            if cost is None:  # a later version of one this copy never had (or dropped): as it was
                self._apply_message(blob)
            else:
                Store.add_message(self, Held(head, blob, None), keys, cost)
            return
        if type(mine) is Held:
            mine.blob = blob  # the version it held was never read: never decoded
        elif message_id in self._dirty_messages:
            self._apply_message(blob)
            return
        else:
            mine = Held(head, blob, mine)
            dict.__setitem__(self.messages, message_id, mine)
        self._changed_elsewhere(mine, keys)

    def _changed_elsewhere(self, mine: Message | Held, keys: list[str]) -> None:
        """A message this copy had, changed by another process: new index keys, waiters, listeners."""
        for key in keys:
            if (mine.provider, mine.account, str(key)) not in self._index:
                Store.index_message(self, mine, key)
        self._wake(mine)
        if self._listeners:
            self.notify({"type": "message", "message": mine.id})

    def _decode_held(self, held: Held) -> Message:
        message, _keys = codec.message_from(held.blob)
        self._remember_digest(held.id, _digest(held.blob))
        if held.old is not None:
            held.old.__dict__.update(message.__dict__)
            message = held.old
        if dict.get(self.messages, held.id) is held:  # (not if the caps dropped it meanwhile)
            dict.__setitem__(self.messages, held.id, message)
        return message

    def _wake(self, message: Any) -> None:
        """Long polls on this message's phone get it decoded (nobody waiting: nothing to do)."""
        if not self._watchers or phone_key(message.recipient) not in self._watchers:
            return
        if type(message) is Held:
            message = self._decode_held(message)
        super()._wake(message)

    def _put_directory(self, key: tuple, directory: Directory) -> None:
        mine = self.directories.get(key)
        if mine is None:
            directory.id_source = self._directory_id if self._ids else None
            self.directories[key] = directory
        else:
            source = mine.id_source
            mine.__dict__.update(directory.__dict__)
            mine.id_source = source

    async def sync(self) -> None:
        """Wait until this copy has applied every commit made before the call. The number of
        commits is read by the next round trip that leaves after the call (never one already
        under way, which could predate a commit it must see): a commit's own reply carries it,
        so requests arriving while others commit cost no extra round trip."""
        if self._redis is None or self.outage.away:
            return  # answered from this copy (the store not answering is said once: Outage)
        head = await asyncio.shield(self._trip())
        if head is None:
            return
        if self._applied_n >= head:
            return
        known = self._catching_up.get(head)
        if known is None:  # requests that read the same count wait together (one future, one timer)
            loop = asyncio.get_running_loop()
            waiting = loop.create_future()
            self._catching_up[head] = (waiting, loop.call_later(SYNC_TIMEOUT, self._gave_up_on, head))
        else:
            waiting = known[0]
        if not await asyncio.shield(waiting):
            log.warning("answering before other processes' changes arrived (change feed %s behind)", self.url)

    def _caught_up(self, everything: bool = False) -> None:
        for head in [h for h in self._catching_up if everything or h <= self._applied_n]:
            waiting, timer = self._catching_up.pop(head)
            timer.cancel()
            waiting.set_result(True)

    def _gave_up_on(self, head: int) -> None:
        waiting, _timer = self._catching_up.pop(head)
        waiting.set_result(False)


def _account_op(old_login: str, account: Account, balance_set: bool, why: str) -> tuple:
    """An account as it is now, not as it is when the op is written: a charge made after a balance
    was set (the same round trip) goes to the store as an increment of its own, and must not be
    in the balance written too (it was taken twice: the store, and every other copy, ended that
    much lower than this one)."""
    return ("account", old_login, copy.copy(account), balance_set, why)


def _head(message: Message, keys: list[str], cost: int | None) -> tuple:
    """What another process indexes a message version by without decoding it (Held); the cost
    goes with a message's first version only (a later one finds it indexed already)."""
    return (message.id, message.provider, message.account, message.recipient, message.provider_id, keys, cost)


def _settle(trip: asyncio.Future, follow: asyncio.Future) -> None:
    """A trip whose changes took more round trips than one is done when the last of them is."""
    if not trip.done():
        trip.set_result(follow.result())


def _digest(blob: bytes) -> bytes:
    return hashlib.blake2b(blob, digest_size=16).digest()

