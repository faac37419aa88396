"""While a shared store does not answer (stopped, restarting, unreachable, hung): what a process
says, and how much it keeps for later.

The process goes on answering from its own copy (core/redis_store.py): a request neither waits
for the store nor fails because of it, and its changes wait in the process, to be written once
the store answers again. Saying so takes one line when the store goes away, one every REMIND
seconds while it stays away, and one when it is back, never a line per request: at a few
thousand requests a second that would be the log's whole volume.

What waits is bounded by what the process itself keeps (`bound`): only the messages still in
its copy, each once (its latest version), the newest of each journal as many as the copy keeps,
charges added up per account: the same store as writing every change one by one would leave,
as the store keeps no more than the copy either (its retention).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

log = logging.getLogger("msgemu.store")

AWAY_AFTER = 5.0  # s: a request waits this long at most for a round trip to the store, then it is away
RETRY = 0.5  # s: while away, one attempt to reach it this often (carrying what waits)
REMIND = 30.0  # s: while away, one line this often
CHUNK = 2_000  # changes a round trip carries at most: what waited goes out in pieces once back
# the ops bound() may fold: between two of any other kind (an account set, a reset, a namespace
# forgotten...) the store writes them by kind anyway (RedisStore._persist_all), so folding
# inside such a stretch changes nothing it writes
FOLDED = frozenset({"message", "request", "event", "callback", "timer", "charge", "dedupe", "tell"})
JOURNALS = ("request", "event", "callback")


class StoreAway(RuntimeError):
    """What a request needs only the store can give (a block of unique ids) while it does not
    answer: the provider's own server error, without a traceback (the Outage said why, once)."""


def remedy_for(error: str) -> str:
    """What to do about a store that answers but takes no writes: a read-only replica, or full."""
    if "read only replica" in error:
        return ": it is a read-only replica; point --store at its primary"
    if "maxmemory" in error:
        return (": its maxmemory must hold what msgemu keeps (up to --retention-bytes): raise it, "
                "or lower --retention-bytes")
    return ""


class Outage:
    """Whether the store is away, since when and why, and the lines that say so."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.since: float | None = None  # time.monotonic() of the first failure
        self.reason = ""
        self.short = 0  # requests refused for want of unique ids while away (IdBlocks)
        self.on_back: list[Callable[[], None]] = []  # run once it answers again (the clock hands back its timers)
        self._told = 0.0
        self._refusing = False  # what the last line said: not reached, or reached but taking no writes

    @property
    def away(self) -> bool:
        return self.since is not None

    def failed(self, reason: str, waiting: int) -> None:
        now = time.monotonic()
        self.reason = reason
        refusing = bool(remedy_for(reason))  # reached, but taking no writes (read-only replica, full)
        # (a store demoted to a replica first drops its connections: said again, once, when it is known why)
        if self.since is None or (refusing and not self._refusing):
            self.since = self.since or now
            self._told, self._refusing = now, refusing
            if refusing:
                log.warning("store %s takes no writes (%s): answering from this process's copy; its changes are "
                            "kept and written once it takes them again%s", self.url, reason, remedy_for(reason))
            else:
                log.warning("store %s not reached (%s): answering from this process's copy; its changes are kept "
                            "and written once the store answers again", self.url, reason)
        elif now - self._told >= REMIND:
            self._told = now
            log.warning("store %s still not reached after %.0f s (%s); %d changes waiting%s",
                        self.url, now - self.since, reason, waiting, self._refused())

    def recovered(self, written: int) -> None:
        if self.since is None:
            return
        log.warning("store %s answers again after %.1f s; the %d changes kept meanwhile are written%s",
                    self.url, time.monotonic() - self.since, written, self._refused())
        self.since = None
        self._refusing = False
        self.reason = ""
        self.short = 0
        for back in self.on_back:
            back()

    def _refused(self) -> str:
        if not self.short:
            return ""
        return f"; {self.short} requests got the provider's server error: unique ids ran out meanwhile"

    def state(self) -> dict[str, Any]:
        """For /_emulator/health."""
        if self.since is None:
            return {"reachable": True}
        return {"reachable": False, "unreachable_for_seconds": round(time.monotonic() - self.since, 1),
                "reason": self.reason, "refused_for_want_of_ids": self.short}


def bound(ops: list[tuple], kept: Callable[[str], bool], journal_sizes: dict[str, int]) -> list[tuple]:
    """`ops` (recorded or already serialized) as few as write the same: messages no longer `kept`
    dropped and each message's versions folded into one, at the place of its first (the order
    messages arrived in is the order they were first written); of each journal only the newest
    `journal_sizes[kind]`; charges summed per account; dedupe keys written once, last wins."""
    out: list[tuple] = []
    segment: list[tuple] = []
    for op in ops:
        if op[0] in FOLDED:
            segment.append(op)
        else:
            out += _fold(segment, kept)
            segment = []
            out.append(op)
    out += _fold(segment, kept)
    return _newest_journals(out, journal_sizes)


def _fold(segment: list[tuple], kept: Callable[[str], bool]) -> list[tuple]:
    out: list[tuple] = []
    first: dict[str, int] = {}  # message id -> where its op is in out
    charges: dict[tuple[str, str], Any] = {}
    dedupe: dict[Any, tuple] = {}
    for op in segment:
        kind = op[0]
        if kind == "message":
            message_id = op[1].id
            if not kept(message_id):
                continue
            at = first.get(message_id)
            if at is None:
                first[message_id] = len(out)
                out.append(op)
            else:
                out[at] = _later_version(out[at], op)
        elif kind == "charge":
            key = (op[1], op[2])
            charges[key] = charges.get(key, 0) + op[3]
        elif kind == "dedupe":
            dedupe[op[1]] = op
        else:
            out.append(op)
    out += [("charge", provider, login, amount) for (provider, login), amount in charges.items()]
    out += dedupe.values()
    return out


def _later_version(earlier: tuple, later: tuple) -> tuple:
    """One op for two versions of a message. A recorded first version (message, the object) is
    serialized when it leaves, as the message is then: it stays. Two serialized ones (message,
    object, blob, head): the later blob, with the cost the first one's head carried (only a
    message's first version carries it)."""
    if len(earlier) == 2 or len(later) == 2:
        return earlier if len(earlier) == 2 else later
    head = later[3]
    if earlier[3][-1] is not None and head[-1] is None:
        head = (*head[:-1], earlier[3][-1])
    return (later[0], later[1], later[2], head)


def _newest_journals(ops: list[tuple], sizes: dict[str, int]) -> list[tuple]:
    seen = dict.fromkeys(JOURNALS, 0)
    keep = [True] * len(ops)
    for index in range(len(ops) - 1, -1, -1):
        kind = ops[index][0]
        if kind in seen:
            seen[kind] += 1
            if seen[kind] > sizes.get(kind, 0):
                keep[index] = False
    return [op for op, kept in zip(ops, keep) if kept]
