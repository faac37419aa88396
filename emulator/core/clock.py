"""Real or manual virtual clock, and the timers scheduled on it.

Everything that happens "later" (status transitions, callback retries, subscriber replies)
is a timer on this clock, so `--clock manual` + advance() makes a whole lifecycle instant and
deterministic: timers fire in (due time, scheduling order), each awaited before the next.

In real time the timers cost no task each: one loop handle is armed for the earliest timer,
and when it fires every due timer runs right there (a timer whose callback returns a coroutine
only then becomes a task, so a slow callback POST never holds up the others). A cancelled timer
stays in the heap until it comes up, unless most of the heap is cancelled: then the heap is
rebuilt, so cancellations never pile up.

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
from typing import Any, Awaitable, Callable

from .store_outage import StoreAway

log = logging.getLogger("msgemu.clock")

TimerCallback = Callable[[], Awaitable[Any] | Any]
WAIT_ROUNDS = 5  # an advance waits at most this many times its per-task `wait` in all
FIRE_BATCH = 512  # real time: due timers run per loop iteration at most, then I/O gets its turn
# ... and for this long at most: a backlog of timers (after any stall) is worked off between
# turns of requests instead of stalling every request in flight (at 50 connections p99 is the
# few longest stalls; a wake-up in steady load takes ~0.25 ms)
WAKE_BUDGET = 0.001
REBUILD_MIN = 256  # the heap is rebuilt once this many, and more than half of it, are cancelled
# uvloop (libuv) keeps time in whole milliseconds and truncates a delay to them, so a loop timer
# armed for a timer's due time went off up to 1 ms early: nothing was due yet, and the clock
# re-armed for what was left (0 ms to libuv) again and again until it was: ~27 wake-ups a send
# (3 timers). Armed this much later, a loop timer finds its timer due when it goes off.
LOOP_RESOLUTION = 0.001
_BEFORE_ALL = float("-inf")  # armed for "before any timer": what _wake sets while it runs them


class Timer:
    """One scheduled callback. `cancelled = True` (or cancel()) keeps it from firing."""

    __slots__ = ("due", "seq", "callback", "_cancelled", "_clock")

    def __init__(self, due: float, seq: int, callback: TimerCallback | None, clock: Clock | None) -> None:
        self.due = due
        self.seq = seq
        self.callback = callback
        self._cancelled = False
        self._clock = clock  # set while the timer is in its clock's heap

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @cancelled.setter
    def cancelled(self, value: bool) -> None:
        if value and not self._cancelled:
            self._cancelled = True
            clock, self._clock = self._clock, None
            if clock is not None:
                clock._forget_cancelled()

    def cancel(self) -> None:
        self.cancelled = True

    def __repr__(self) -> str:
        return f"<Timer due={self.due:.3f} seq={self.seq}{' cancelled' if self._cancelled else ''}>"


_Timer = Timer  # the name this class had before


def _no_handler(*key: Any) -> None:
    log.error("timer %r fired with no handler", key)


class Clock:
    """A scheduler whose notion of 'now' is either wall time or moved only by advance().

    For subclasses: advance() fires through _fire_due (both modes; manual time lives in
    _manual_now); the real-time runner fires through _wake; both take a due timer out with
    _pop, as (callback, arguments), and run it with _fire (manual) or _run_now (real)."""

    def __init__(self, mode: str = "real", start: float | None = None) -> None:
        if mode not in ("real", "manual"):
            raise ValueError(f"clock mode must be 'real' or 'manual', not {mode!r}")
        self.mode = mode
        self._manual_now = start if start is not None else time.time()
        self._offset = 0.0  # (sets now())
        # heap of (due, seq, timer): compared in C. A timer that is data (schedule()) is its key
        # tuple itself, run as on_timer(*key): no Timer object built for the lifecycle's steps
        self._timers: list[tuple[float, int, Timer | tuple]] = []
        self._cancelled_in_heap = 0
        self._seq = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start() in real mode
        self._handle: asyncio.Handle | None = None  # armed for the earliest timer
        self._armed_due: float | None = None
        self._firing = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._tracked: dict[asyncio.Task, float] = {}  # task -> loop time it was started
        self.on_timer: Callable[..., Any] = _no_handler  # what runs a schedule()d timer (Engine.fire)

    # -- time -------------------------------------------------------------------------------
    # now() is asked ~9 times a send: an attribute holding the function that answers it for the
    # mode and offset (time.time itself, unshifted real time), set again whenever _offset is
    now: Callable[[], float]

    def _manual_time(self) -> float:
        return self._manual_now

    @property
    def _offset(self) -> float:
        return self.__offset

    @_offset.setter
    def _offset(self, offset: float) -> None:
        self.__offset = offset
        if self.mode == "manual":
            self.now = self._manual_time
        elif offset:
            self.now = functools.partial(_shifted_time, offset)
        else:
            self.now = time.time

    # -- timers -----------------------------------------------------------------------------
    def call_at(self, due: float, callback: TimerCallback) -> Timer:
        seq = next(self._seq)
        timer = Timer(due, seq, callback, self)
        self._push(due, seq, timer)
        return timer

    def schedule(self, due: float, key: tuple) -> None:
        """A timer that is data, (kind, message id, arguments...), run by `on_timer` when due.
        Lifecycle transitions are scheduled this way so that a store shared by several
        processes (SharedClock) can keep them, and hand each to exactly one process. The key
        is the heap's entry itself: nothing cancels one of these alone (clear() drops them all)."""
        self._push(due, next(self._seq), key)

    def _push(self, due: float, seq: int, timer: Timer | tuple) -> None:
        heapq.heappush(self._timers, (due, seq, timer))
        if self._loop is not None and (self._armed_due is None or due < self._armed_due):
            self._arm()

    def call_later(self, delay: float, callback: TimerCallback) -> Timer:
        return self.call_at(self.now() + max(0.0, delay), callback)

    @property
    def pending(self) -> int:
        return len(self._timers) - self._cancelled_in_heap

    async def pending_count(self) -> int:
        """Timers not fired yet (SharedClock adds those the store keeps)."""
        return self.pending

    def clear(self) -> None:
        timers, self._timers = self._timers, []
        self._cancelled_in_heap = 0
        for _, _, timer in timers:
            if type(timer) is not tuple:
                timer._clock = None
                timer._cancelled = True
        self._disarm()

    def _forget_cancelled(self) -> None:
        """A timer still in the heap was cancelled: rebuild the heap when most of it is dead."""
        self._cancelled_in_heap += 1
        if self._cancelled_in_heap >= REBUILD_MIN and self._cancelled_in_heap * 2 > len(self._timers):
            self._timers = [entry for entry in self._timers if type(entry[2]) is tuple or not entry[2]._cancelled]
            heapq.heapify(self._timers)
            self._cancelled_in_heap = 0

    def _pop(self) -> tuple[Callable[..., Any], tuple]:
        """The earliest timer out of the heap, as what runs it: (callback, arguments)."""
        timer = heapq.heappop(self._timers)[2]
        if type(timer) is tuple:
            return self.on_timer, timer
        timer._clock = None
        return timer.callback, ()

    def _drop_cancelled(self) -> None:
        timers = self._timers
        while timers and type(timers[0][2]) is not tuple and timers[0][2]._cancelled:
            heapq.heappop(timers)
            self._cancelled_in_heap -= 1

    async def _fire(self, callback: Callable[..., Any], args: tuple) -> None:
        try:
            result = callback(*args)
            if asyncio.iscoroutine(result):
                await result
        except Exception:  # a broken timer must never stop the clock
            log.exception("timer failed")

    def _run_now(self, callback: Callable[..., Any], args: tuple) -> None:
        """Real time: run a due timer here and now; only a coroutine it returns becomes a task."""
        try:
            result = callback(*args)
        except StoreAway:  # a shared store away so long that ids ran out: said once, by the store
            return
        except Exception:  # a broken timer must never stop the clock
            log.exception("timer failed")
            return
        if result is not None:  # None (most timers): no ABC check
            self._spawn(result)

    def _spawn(self, result: Any) -> None:
        """What a real-time timer returned: a coroutine becomes a task of its own."""
        if asyncio.iscoroutine(result):
            task = asyncio.get_running_loop().create_task(_logged(result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

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
        """Fire every timer due by `now` (what advance() does, in both modes)."""
        fired = 0
        deadline = asyncio.get_running_loop().time() + wait * WAIT_ROUNDS
        async with self._firing:
            while True:
                self._drop_cancelled()
                if not self._timers or self._timers[0][0] > now:
                    if await self._settle(deadline, wait):
                        continue  # finished work may have scheduled something due
                    break
                if self.mode == "manual" and self._timers[0][0] > self._manual_now and await self._settle(deadline, wait):
                    continue  # let the work of this instant finish before time moves on
                due = self._timers[0][0]
                if self.mode == "manual":
                    # timers see the time they were due at, so offsets stay exact, and each is
                    # awaited, so advance() returns only once everything due has happened
                    self._manual_now = max(self._manual_now, due)
                    await self._fire(*self._pop())
                else:
                    self._run_now(*self._pop())  # a slow timer (a callback POST) is a task of its own
                    if (fired + 1) % FIRE_BATCH == 0:
                        await asyncio.sleep(0)  # a long jump forward lets the loop serve requests meanwhile
                fired += 1
        return fired

    async def advance(self, seconds: float, wait: float = 2.0) -> int:
        """Move virtual time forward, firing every timer due on the way. Returns how many fired.
        Network work the timers start is waited for `wait` wall-clock seconds at most each."""
        if seconds < 0:
            raise ValueError("cannot advance by a negative number of seconds")
        if self.mode == "real":
            self._offset += seconds
            try:
                return await self._fire_due(self.now(), wait)
            finally:
                self._arm()  # the earliest timer is nearer in wall time now
        target = self._manual_now + seconds
        fired = await self._fire_due(target, wait)
        self._manual_now = target
        return fired

    # -- real-time runner -------------------------------------------------------------------
    async def start(self) -> None:
        if self.mode == "real" and self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._arm()

    async def stop(self) -> None:
        self._disarm()
        self._loop = None
        for task in [*self._tasks, *self._tracked]:
            task.cancel()

    def _disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed_due = None

    def _arm(self) -> None:
        """(Re)arm the one loop handle for the earliest live timer."""
        if self._handle is not None:  # (none after a wake-up, every time a timer has fired)
            self._disarm()
        self._drop_cancelled()
        if self._loop is None or not self._timers:
            self._armed_due = None  # nothing armed: the next timer scheduled arms
            return
        due = self._timers[0][0]
        self._armed_due = due
        delay = due - self.now()
        if delay <= 0:  # due already (a send's first step): the next loop iteration, no loop timer
            self._handle = self._loop.call_soon(self._wake)
        else:
            self._handle = self._loop.call_later(delay + LOOP_RESOLUTION, self._wake)  # (call_at reads the loop's time twice more)

    def _wake(self) -> None:
        """The earliest timer is due: run what is due (FIRE_BATCH or WAKE_BUDGET at most), then re-arm."""
        self._handle = None
        self._armed_due = _BEFORE_ALL  # timers scheduled meanwhile wait for the re-arm below
        try:
            now = self.now()
            timers = self._timers
            until = time.perf_counter() + WAKE_BUDGET
            for _ in range(FIRE_BATCH):
                if not timers:
                    break
                due, _, timer = timers[0]
                if type(timer) is not tuple and timer._cancelled:
                    heapq.heappop(timers)
                    self._cancelled_in_heap -= 1
                    continue
                if due > now:
                    break
                self._run_now(*self._pop())
                timers = self._timers  # a cancellation may have rebuilt the heap
                if time.perf_counter() > until:
                    break  # the rest on the next loop turn (_arm: due already, call_soon)
        finally:
            self._arm()


def _shifted_time(offset: float) -> float:
    return time.time() + offset


async def _logged(work: Awaitable[Any]) -> None:
    try:
        await work
    except StoreAway:  # (said once, by the store)
        pass
    except Exception:  # a broken timer must never stop the clock
        log.exception("timer failed")
