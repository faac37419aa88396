"""Real or manual virtual clock, and the timers scheduled on it.

Everything that happens "later" (status transitions, callback retries, subscriber replies)
is a timer on this clock, so `--clock manual` + advance() makes a whole lifecycle instant and
deterministic: timers fire in (due time, scheduling order), each awaited before the next.

A timer may start work that waits on the network (a callback POST): it hands that task to
track(). advance() lets tracked work finish before time moves past the instant that started
it, so retries land at their exact virtual offsets, but each piece of work only `wait`
wall-clock seconds from its start, and the whole advance WAIT_ROUNDS times that at most: one
hanging receiver costs an advance its budget, never its timeouts, and does not keep the
callbacks of healthy receivers from being waited for.
"""
from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

log = logging.getLogger("msgemu.clock")

TimerCallback = Callable[[], Awaitable[Any] | Any]
WAIT_ROUNDS = 5  # an advance waits at most this many times its per-task `wait` in all


@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    callback: TimerCallback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


def _no_handler(*key: Any) -> None:
    log.error("timer %r fired with no handler", key)


class Clock:
    """A scheduler whose notion of 'now' is either wall time or moved only by advance()."""

    def __init__(self, mode: str = "real", start: float | None = None) -> None:
        if mode not in ("real", "manual"):
            raise ValueError(f"clock mode must be 'real' or 'manual', not {mode!r}")
        self.mode = mode
        self._offset = 0.0
        self._manual_now = start if start is not None else time.time()
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._wakeup: asyncio.Event | None = None
        self._runner: asyncio.Task | None = None
        self._firing = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._tracked: dict[asyncio.Task, float] = {}  # task -> loop time it was started
        self.on_timer: Callable[..., Any] = _no_handler  # what runs a schedule()d timer (Engine.fire)

    # -- time -------------------------------------------------------------------------------
    def now(self) -> float:
        if self.mode == "manual":
            return self._manual_now
        return time.time() + self._offset

    # -- timers -----------------------------------------------------------------------------
    def call_at(self, due: float, callback: TimerCallback) -> _Timer:
        timer = _Timer(due, next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        if self._wakeup is not None:
            self._wakeup.set()
        return timer

    def schedule(self, due: float, key: tuple) -> None:
        """A timer that is data, (kind, message id, arguments...), run by `on_timer` when due.
        Lifecycle transitions are scheduled this way so that a store shared by several
        processes (SharedClock) can keep them, and hand each to exactly one process."""
        self.call_at(due, functools.partial(self.on_timer, *key))

    def call_later(self, delay: float, callback: TimerCallback) -> _Timer:
        return self.call_at(self.now() + max(0.0, delay), callback)

    @property
    def pending(self) -> int:
        return sum(1 for t in self._timers if not t.cancelled)

    def clear(self) -> None:
        for timer in self._timers:
            timer.cancelled = True
        self._timers.clear()

    async def _fire(self, timer: _Timer) -> None:
        try:
            result = timer.callback()
            if asyncio.iscoroutine(result):
                await result
        except Exception:  # a broken timer must never stop the clock
            log.exception("timer failed")

    def track(self, task: asyncio.Task) -> None:
        """Background work started by a timer, that advance() may wait for (within its budget)."""
        self._tracked[task] = asyncio.get_running_loop().time()
        task.add_done_callback(lambda done: self._tracked.pop(done, None))

    @property
    def in_flight(self) -> int:
        return sum(1 for t in self._tracked if not t.done())

    async def _settle(self, deadline: float, wait: float) -> bool:
        """Wait for one piece of tracked work to finish, or to use up its `wait`, or for the
        advance's `deadline` (loop time). True when worth looking at the timers again (work
        finished or one more is no longer waited for); False when nothing is left to wait for."""
        now = asyncio.get_running_loop().time()
        pending = {t: start + wait for t, start in self._tracked.items() if not t.done() and start + wait > now}
        if not pending or deadline <= now:
            return False
        timeout = min(deadline, *pending.values()) - now
        await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        return True

    async def _fire_due(self, now: float, wait: float = 0.0) -> int:
        fired = 0
        deadline = asyncio.get_running_loop().time() + wait * WAIT_ROUNDS
        async with self._firing:
            while True:
                while self._timers and self._timers[0].cancelled:
                    heapq.heappop(self._timers)
                if not self._timers or self._timers[0].due > now:
                    if await self._settle(deadline, wait):
                        continue  # finished work may have scheduled something due
                    break
                if self.mode == "manual" and self._timers[0].due > self._manual_now and await self._settle(deadline, wait):
                    continue  # let the work of this instant finish before time moves on
                timer = heapq.heappop(self._timers)
                if self.mode == "manual":
                    # timers see the time they were due at, so offsets stay exact, and each is
                    # awaited, so advance() returns only once everything due has happened
                    self._manual_now = max(self._manual_now, timer.due)
                    await self._fire(timer)
                else:
                    # in real time a slow timer (a callback POST) must not hold up the others
                    task = asyncio.create_task(self._fire(timer))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                fired += 1
        return fired

    async def advance(self, seconds: float, wait: float = 2.0) -> int:
        """Move virtual time forward, firing every timer due on the way. Returns how many fired.
        Network work the timers start is waited for `wait` wall-clock seconds at most each."""
        if seconds < 0:
            raise ValueError("cannot advance by a negative number of seconds")
        if self.mode == "real":
            self._offset += seconds
            return await self._fire_due(self.now(), wait)
        target = self._manual_now + seconds
        fired = await self._fire_due(target, wait)
        self._manual_now = target
        return fired

    # -- real-time runner -------------------------------------------------------------------
    async def start(self) -> None:
        if self.mode == "real" and self._runner is None:
            self._wakeup = asyncio.Event()
            self._runner = asyncio.create_task(self._run(), name="msgemu-clock")

    async def stop(self) -> None:
        for task in [*self._tasks, *self._tracked]:
            task.cancel()
        if self._runner is not None:
            self._runner.cancel()
            try:
                await self._runner
            except asyncio.CancelledError:
                pass
            self._runner = None

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            self._wakeup.clear()
            delay = None
            while self._timers and self._timers[0].cancelled:
                heapq.heappop(self._timers)
            if self._timers:
                delay = self._timers[0].due - self.now()
                if delay <= 0:
                    await self._fire_due(self.now())
                    continue
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass
