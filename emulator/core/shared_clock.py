"""One virtual time and one set of scheduled transitions for every process sharing a store.

Transitions the engine schedules (Clock.schedule) go to the store (a sorted set) instead of
this process's heap. When due, whichever process asks first claims them (one atomic script:
each goes to exactly one process) and fires them here like any local timer, so a status change
and its callback happen once whatever the number of processes. Local timers (a callback's
retries, which belong to the process that started it) stay in this process's heap.

While the store does not answer, transitions are scheduled in this process's heap, so that
lifecycles go on; once it answers again they are handed to it, as if scheduled there.

Manual time is the store's: advance() claims everything due up to the new time, fires it in
order together with what it schedules on the way, then publishes the new time; the other
processes move their clocks there (and fire their own local timers).
"""
from __future__ import annotations

import asyncio
import heapq
from typing import Any

from .clock import Clock
from .store_outage import StoreAway

POLL = 0.02  # real time: seconds between two looks at the store for due transitions
# ...where another process's transitions are left to it for this long past their due time: its
# own poll (every POLL) fires them, on the message it holds decoded, and it writes the next
# version; taken here, the message would cross over (decoded here, then there again). A process
# that stopped or stalls longer has its transitions fired by the others this much later.
OTHERS_GRACE = 0.1


class SharedClock(Clock):
    def __init__(self, mode: str, store: Any) -> None:
        super().__init__(mode)
        self.store = store
        self._advancing_to: float | None = None  # inside advance(): transitions due by then stay here
        self._poller: asyncio.Task | None = None
        store.on_shared["clock"] = self._moved
        store.outage.on_back.append(self._hand_back)

    async def restore(self) -> None:
        """The time the store keeps (a restart, or a process joining others); the first process
        to find none sets it, so every process starts on the same virtual time."""
        state = await self.store.shared_once("clock", self._state())
        if state.get("mode") == self.mode:
            self._manual_now = state["now"]
            self._offset = state["offset"]

    def _state(self) -> dict[str, Any]:
        return {"mode": self.mode, "now": self._manual_now, "offset": self._offset}

    def schedule(self, due: float, key: tuple) -> None:
        if self._advancing_to is not None and due <= self._advancing_to:
            super().schedule(due, key)  # due within the advance under way: it fires here, now
        elif self.store.outage.away:
            super().schedule(due, key)  # the store does not answer: here, so the lifecycle goes on (once: only here)
        else:
            self.store.add_timer(due, key)

    async def advance(self, seconds: float, wait: float = 2.0) -> int:
        if seconds < 0:
            raise ValueError("cannot advance by a negative number of seconds")
        if self.mode == "real":
            self._offset += seconds
            target = self.now()
        else:
            target = self._manual_now + seconds
        if self.store.outage.away:  # the time is the store's: it cannot move without it
            raise StoreAway(f"the shared store does not answer ({self.store.outage.reason}): the clock cannot move")
        self._advancing_to = target
        fired = 0
        try:
            while True:
                await self.store.commit()  # what was scheduled so far is in the store, claimable
                try:
                    claimed = await self.store.claim_due(target)
                except Exception as exc:
                    self.store.unreachable(exc)
                    raise StoreAway(f"the shared store does not answer ({exc}): the clock cannot move") from None
                if claimed:
                    await self.store.sync()  # the messages they are for, committed with them, are in this copy
                for due, key in claimed:
                    super().schedule(due, key)
                count = await self._fire_due(target, wait)
                fired += count
                if not count:
                    break
        finally:
            self._advancing_to = None
            if self.mode == "real":
                self._arm()  # the earliest local timer is nearer in wall time now
        if self.mode == "manual":
            self._manual_now = max(self._manual_now, target)
        self.store.publish("clock", self._state())
        await self.store.commit()
        return fired

    def _hand_back(self) -> None:
        """The store answers again: the transitions scheduled here meanwhile go to it, as every
        other does, so that a restart of this process does not lose them (this process's own poll
        still claims them first)."""
        if self._advancing_to is not None:
            return  # (an advance under way fires what it holds here itself)
        kept = [entry for entry in self._timers if type(entry[2]) is not tuple]
        if len(kept) == len(self._timers):
            return
        for due, _, key in self._timers:
            if type(key) is tuple:
                self.store.add_timer(due, key)
        self._timers = kept
        heapq.heapify(kept)
        self._arm()

    async def pending_count(self) -> int:
        if self.store.outage.away:
            return self.pending  # (the store's own are not known meanwhile)
        try:
            return self.pending + await self.store.timers_pending()
        except Exception:
            return self.pending  # (a store that stopped answering is said by the poll and the commits)

    def _moved(self, state: dict[str, Any]) -> None:
        """Another process moved the shared time: follow, and fire this process's own timers."""
        if state.get("mode") != self.mode:
            return
        self._offset = state["offset"]
        if self.mode == "real":
            self._arm()
        if self.mode == "manual" and state["now"] > self._manual_now:
            self._manual_now = state["now"]
            task = asyncio.get_running_loop().create_task(self._fire_due(self._manual_now))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- real time: due transitions are claimed from the store as they come --------------------
    async def start(self) -> None:
        await super().start()
        if self.mode == "real" and self._poller is None:
            self._poller = asyncio.create_task(self._poll(), name="msgemu-shared-timers")

    async def _poll(self) -> None:
        failures = 0  # in a row
        while self._poller is not None:  # (a client library may turn a cancellation into an error)
            try:
                if not self.store.outage.away:  # (away: claimed once it answers again)
                    claimed = await self.store.claim_due(self.now(), grace=OTHERS_GRACE)
                    if claimed:  # the messages they are for were committed with them: see them first
                        await self.store.sync()
                    for due, key in claimed:
                        super().schedule(due, key)  # due now: the local runner fires it at once
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._poller is None:
                    return
                failures += 1
                if failures > 1:  # (the first: a dropped connection, made again by the next call)
                    self.store.unreachable(exc)  # said once while it lasts (core/store_outage.py)
                    await asyncio.sleep(1.0)
            await asyncio.sleep(POLL)

    async def stop(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            try:
                await poller
            except (asyncio.CancelledError, Exception):
                pass
        await super().stop()
