"""A shared store's copy starting over from the store, in place, between two round trips
(core/redis_store.py's RedisStore mixes this in): when the store was emptied (FLUSHALL,
FLUSHDB, a restart without persistence: its token is gone), and when a process on its own finds
its copy missed commits (off the roster after a stall, or behind a trimmed inbox). A worker of
--workers restarts instead of the latter (workers.py).

The copy forgets what it held and loads the store as it is now. Everything that runs between
forgetting and loading is kept out: the load's reply is awaited first, then the copy is
forgotten and filled in one go; the change feed applies nothing meanwhile and reads on from the
inbox's end as the load saw it. Work under way that still holds objects from before changes
them afterwards: the next round trip writes them (RedisStore._take_outbox takes the newer
object into the copy).
"""
from __future__ import annotations

import logging
from typing import Any

from .model import Message
from .store import Store

log = logging.getLogger("msgemu.store")


class StartOver:
    """The part of RedisStore that loads the store again in place."""

    async def _start_over(self, emptied: bool = True) -> int:
        """This copy forgets what it held and loads the store as it is now, in place, between two
        round trips. `emptied`: the store's token is gone, or another (FLUSHALL...): what this
        copy had not written yet goes too, its id counters go up past every number handed out
        here, and the runtime-level state (scenario, clock, namespaces) is written back unless
        another process did it first. Else this copy missed commits (a process on its own, off
        the roster or behind a trimmed inbox): what it had not written yet stays, to be written
        by the next round trip, and is put back in the fresh copy. Returns the commit count."""
        self._generation += 1
        self._started_over = True
        self._reload_wanted = False
        self._settled.clear()
        try:
            return await self._load_again(emptied)
        finally:
            self._settled.set()

    async def _load_again(self, emptied: bool) -> int:
        before = dict(self._shared_state)
        if emptied:
            log.warning("store %s was emptied (FLUSHALL, FLUSHDB, or a restart without persistence): this process "
                        "starts again from what the store holds now; the %d messages it held before are gone",
                        self.url, len(self.messages))
            await self._ids.start_over(self._numbers_held())
        await self._load(start_over=True, keep_pending=not emptied)
        for name, value in self._shared_state.items():
            handler = self.on_shared.get(name)
            if handler is not None and name != "reset" and before.get(name) != value:
                handler(value)  # another process restored it first: this runtime follows
        self._caught_up(everything=True)
        return self._applied_n

    def _numbers_held(self) -> dict[str, int]:
        """The highest unique number of each kind in this copy (requests, events, callback
        attempts, numeric message ids), whichever process handed it out."""
        held = {"request": max((r.id for r in self.requests), default=0),
                "event": max((e.seq or 0 for e in self.events), default=0),
                "callback": max((a.get("id", 0) for a in self.callbacks), default=0)}
        from .redis_store import ID_BASES  # (at call time: redis_store imports this module)

        base = ID_BASES["gateway"]
        numeric = [int(m.provider_id) for m in dict.values(self.messages) if str(m.provider_id).isdigit()]
        held["gateway"] = max((n - base for n in numeric if n > base), default=0)
        return held

    def _forget_copy(self, keep_pending: bool) -> tuple | None:
        """Everything this copy holds but the accounts (their balances stay: written back by
        _load_accounts if the store has none), and, unless `keep_pending`, what it had not
        written yet; else that, for _reattach."""
        pending = (list(self._outbox), dict(self._dirty_messages), dict(self._dirty_other), self._keys_of) if keep_pending else None
        accounts, recording, self._recording = self.accounts, self._recording, False
        try:
            self.reset()  # (not recorded: the store is not reset, this copy is)
        finally:
            self._recording = recording
        self.accounts = accounts
        if not keep_pending:
            self._outbox, self._dirty_messages, self._dirty_other, self._digests = [], {}, {}, {}
        self._own_ahead.clear()
        self._suspects.clear()
        self._in_doubt, self._doubt_gap_below = None, 0
        return pending

    def _reattach(self, outbox: list[tuple], dirty: dict[str, Message], other: dict[tuple, Any], keys_of: dict) -> None:
        """What this copy had not written yet when it loaded the store again, put back in the
        fresh copy (it stays in line to be written): its messages (newer than the store's),
        journal records, charges, dedupe keys, directories and opt-outs."""
        def readopt(message: Message) -> None:
            if message.id in self.messages:
                dict.__setitem__(self.messages, message.id, message)
            else:
                Store.add_message(self, message, [k[2] for k in keys_of.get(message.id, ()) if k[2] != message.provider_id])

        recording, self._recording = self._recording, False
        try:
            for op in outbox:
                kind = op[0]
                if kind == "message":
                    readopt(op[1])
                elif kind == "request":
                    Store.add_request(self, op[1])
                elif kind == "event":
                    Store.add_event(self, op[1])
                elif kind == "callback":
                    Store.add_callback_attempt(self, op[1])
                elif kind == "charge":
                    account = self.account(op[1], op[2])
                    if account is not None:
                        account.balance -= op[3]
                elif kind == "dedupe":
                    self.dedupe[op[1]] = op[2]
            for message in dirty.values():
                readopt(message)
            for (kind, key), value in other.items():
                if kind == "directory":
                    self._put_directory(key, value)
                elif kind == "optouts":
                    self.optouts[key] = value
        finally:
            self._recording = recording
